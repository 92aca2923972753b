"""Pipelined argmax with ties to the lowest index."""
from functools import lru_cache

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2


__all__ = ["Argmax"]


@lru_cache(maxsize=None)
def _shape(n, depth):
    """``(cherries, tree)``: a tree over leaves ``0..n-1`` in order, at most ``depth`` levels deep,
    with the fewest nodes whose children are both leaves ("cherries"); None if none fits.

    ``tree`` is a leaf index or a pair ``(left, right)``. Among equals the most balanced wins.
    """
    if n == 1:
        return 0, 0
    if n > 1 << depth:
        return None
    best = None
    for a in range(n // 2, 0, -1):  # most balanced split first
        left, right = _shape(a, depth - 1), _shape(n - a, depth - 1)
        if left is None or right is None:
            continue
        cherries = left[0] + right[0] + (a == 1 and n == 2)
        if best is None or cherries < best[0]:
            best = (cherries, (left[1], _shift(right[1], a)))
    return best


def _shift(tree, k):
    return tree + k if isinstance(tree, int) else (_shift(tree[0], k), _shift(tree[1], k))


def _depth(tree):
    return 0 if isinstance(tree, int) else 1 + max(_depth(tree[0]), _depth(tree[1]))


class Argmax(wiring.Component):
    """Index of the largest of ``n`` unsigned scores; ties go to the lowest index.

    ``i`` holds the scores packed, score ``k`` in ``i[k*width:(k+1)*width]``.  ``index`` is
    the argmax of the scores ``i`` had ``latency`` cycles earlier and ``scores`` is ``i``
    delayed by the same ``latency``.  A new ``i`` is accepted every cycle; there is no reset
    or enable on the datapath.

    The scores meet in a binary tree of compare-and-select nodes over the leaves in index
    order; a node takes its right operand only if it is strictly greater, so ties go left.
    Registers follow every ``stage_levels`` tree levels and the last level.  The ``scores``
    delay line doubles as the pipeline registers of the leaves.  A node's index is selected a
    stage after its compare, by the registered compare result (so the last select is logic
    after the last register): selects between constant leaf indices become flip-flop resets,
    and a reset pin right behind a compare was the slowest path of the design.

    A carry-chain compare needs one operand inverted.  A select LUT hands its result on in
    whichever polarity its parent wants for free, so only nodes whose two operands are both
    scores ("cherries") pay an inverter LUT per bit.  The tree is shaped to have the fewest
    cherries its depth allows: 3 instead of 5 for 10 scores in 4 levels (75 LUTs on iCE40
    instead of 83 for 6-bit scores).

    Parameters
    ----------
    n : int
        Number of scores (>= 1).
    width : int
        Bits per score (>= 1).
    stage_levels : int
        Tree levels per pipeline stage (>= 1).
    compare : ``"carry"`` or ``"lut"``
        ``"carry"`` compares on the carry chain (``b > a`` is the carry out of ``b + ~a``).
        ``"lut"`` compares in LUT logic (more LUTs, deeper).
    invert_stage : bool
        With ``compare="carry"``, register the inverted scores of the cherries in a stage of
        their own (one more cycle of latency), which keeps the inverter LUTs off the compare path.

    Attributes
    ----------
    latency : int
        Clock cycles from ``i`` to ``index`` and ``scores`` (0 for ``n == 1``).
    cherries : int
        Compare nodes that pay ``width`` inverter LUTs (``compare="carry"``).
    """

    def __init__(self, n, width, *, stage_levels=1, compare="carry", invert_stage=True):
        for name, value in (("n", n), ("width", width), ("stage_levels", stage_levels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if compare not in ("carry", "lut"):
            raise ValueError(f"compare must be 'carry' or 'lut', not {compare!r}")
        self.n = n
        self.width = width
        self.stage_levels = stage_levels
        self.compare = compare
        self.cherries, self._tree = _shape(n, ceil_log2(n))
        self.depth = _depth(self._tree)
        self._offset = int(compare == "carry" and invert_stage and n > 1)
        self.latency = self._offset + -(-self.depth // stage_levels)
        super().__init__({
            "i": In(n * width),
            "index": Out(max(1, ceil_log2(n))),
            "scores": Out(n * width),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        carry = self.compare == "carry"
        names = iter(range(1 << 30))

        def register(v):
            r = Signal(len(v), name=f"r{next(names)}", reset_less=True)
            m.d.sync += r.eq(v)
            return r

        delayed = [self.i]

        def score(k, stage):
            while len(delayed) <= stage:
                delayed.append(register(delayed[-1]))
            return delayed[stage][k * w:(k + 1) * w]

        def delay(v, cycles):
            for _ in range(cycles):
                v = register(v)
            return v

        # build(t, inv) -> (value in polarity inv, its stage, index, its stage, level); the stage
        # is the one in which the signal is available.  A node at level L compares in stage
        # offset + (L-1) // stage_levels.  Its index is selected one stage later, by the
        # registered compare result: a select between constant leaf indices becomes a
        # flip-flop reset, and a reset pin fed by a compare made the slowest path.
        def build(t, inv, root=False):
            if isinstance(t, int):
                return None, None, Const(t, len(self.index)), None, 0
            a, b = t
            a_leaf, b_leaf = isinstance(a, int), isinstance(b, int)
            # the operand a carry compare wants inverted: a select LUT's if there is one
            inv_a = carry and not a_leaf
            inv_b = carry and a_leaf and not b_leaf
            va, sa, ia, ja, la = build(a, inv_a)
            vb, sb, ib, jb, lb = build(b, inv_b)
            level = max(la, lb) + 1
            stage = self._offset + (level - 1) // self.stage_levels
            va = score(a, stage) if a_leaf else delay(va, stage - sa)
            vb = score(b, stage) if b_leaf else delay(vb, stage - sb)
            # c is the carry out; gt = c ^ flip, so that no inverter sits behind the carry chain
            c, flip = Signal(name=f"c{next(names)}"), False
            if not carry:
                m.d.comb += c.eq(vb > va)
            elif inv_a:
                m.d.comb += c.eq((vb + va)[w])                    # b > a: b + ~a >= 2**w
            elif inv_b:
                m.d.comb += c.eq((va + vb + 1)[w])                # b > a: a + ~b + 1 < 2**w
                flip = True
            else:  # a cherry: the inverted left score, registered in a stage of its own or not
                na = delay(~score(a, 0), 1) if self._offset else ~va
                m.d.comb += c.eq((vb + na)[w])

            def select(c, b_value, a_value):
                return Mux(c, a_value, b_value) if flip else Mux(c, b_value, a_value)

            index = select(register(c),
                           ib if b_leaf else delay(ib, stage - jb + 1),
                           ia if a_leaf else delay(ia, stage - ja + 1))
            if root:
                return None, None, index, stage + 1, level
            value = select(c, ~vb if inv != inv_b else vb, ~va if inv != inv_a else va)
            if level % self.stage_levels == 0:
                return register(value), stage + 1, index, stage + 1, level
            return value, stage, index, stage + 1, level

        if self.n == 1:
            m.d.comb += self.index.eq(0)
        else:
            m.d.comb += self.index.eq(build(self._tree, False, root=True)[2])
        for k in range(self.n):
            m.d.comb += self.scores[k * w:(k + 1) * w].eq(score(k, self.latency))
        return m
