"""Pipelined argmax with ties to the lowest index."""
from functools import lru_cache

from amaranth.hdl import Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .arguments import one_of, positive


__all__ = ["Argmax", "COMPARES"]

COMPARES = ("carry", "ice40", "lut")


@lru_cache(maxsize=None)
def _shape(n, width, stage_levels, offset, inverters=True):
    """``(cost, tree)``: the tree over leaves ``0..n-1`` in order, ``ceil_log2(n)`` levels deep,
    that costs the fewest logic cells on an iCE40 (see :func:`_options`).

    ``tree`` is a leaf index or a pair ``(left, right)``. Among equals the most balanced wins.
    """
    options = _options(0, n, n, width, stage_levels, offset, inverters)
    return min((cost, tree) for level, (cost, tree) in options.items()
               if level <= max(1, ceil_log2(n)))


def _stage(level, stage_levels, offset):
    """The stage in which a node at ``level`` compares."""
    return offset + (level - 1) // stage_levels


@lru_cache(maxsize=None)
def _options(lo, hi, n, width, stage_levels, offset, inverters):
    """``{level: (cost, tree)}``: the cheapest subtree over leaves ``lo..hi-1`` for each level of
    its root.  A node pays its compare's carry cells, the cell that brings the result out and
    its register, its select LUTs, inverters for a cherry (if ``inverters``: none where the
    cherries' left scores come inverted), and every register its operands wait
    in: a leaf waits from the argmax's input to its compare stage in flip-flops of its own (a
    logic cell each on iCE40), a subtree from the stage its value is ready in."""
    if hi - lo == 1:
        return {0: (0, lo)}
    idx = max(1, ceil_log2(n))
    best = {}
    for mid in range(lo + 1, hi):
        for la, (ca, ta) in _options(lo, mid, n, width, stage_levels, offset, inverters).items():
            for lb, (cb, tb) in _options(mid, hi, n, width, stage_levels, offset, inverters).items():
                level = max(la, lb) + 1
                stage = _stage(level, stage_levels, offset)
                cost = ca + cb + 2 * width + 2 + idx  # compare chain, result out and its register, selects
                if la == lb == 0:
                    cost += width * inverters + (stage * width if offset else 0)  # inverters; the other leaf waits
                for lc in (la, lb):
                    if lc == 0:
                        cost += 0 if la == lb == 0 else stage * width
                        continue
                    ready = _stage(lc, stage_levels, offset) + (lc % stage_levels == 0)
                    registered = lc % stage_levels == 0
                    cost += max(0, stage - ready - (not registered)) * (width + idx)
                balance = abs((mid - lo) - (hi - mid))
                if level not in best or (cost, balance) < best[level][:2]:
                    best[level] = (cost, balance, (ta, tb))
    return {level: (cost, tree) for level, (cost, _, tree) in best.items()}


def _cherry_lefts(tree):
    """The left leaves of the compares of two leaves."""
    if isinstance(tree, int):
        return []
    if isinstance(tree[0], int) and isinstance(tree[1], int):
        return [tree[0]]
    return _cherry_lefts(tree[0]) + _cherry_lefts(tree[1])


def _depth(tree):
    return 0 if isinstance(tree, int) else 1 + max(_depth(tree[0]), _depth(tree[1]))


class Argmax(wiring.Component):
    """Index of the largest of ``n`` unsigned scores; ties go to the lowest index.

    ``i`` holds the scores packed, score ``k`` in ``i[k*width:(k+1)*width]``.  ``index`` is
    the argmax of the scores ``i`` had ``latency`` cycles earlier (the scores themselves wait
    in a ``delay.Delay`` beside it).  A new ``i`` is accepted every cycle; there is no reset
    or enable on the datapath.

    The scores meet in a binary tree of compare-and-select nodes over the leaves in index
    order; a node takes its right operand only if it is strictly greater, so ties go left.
    Registers follow every ``stage_levels`` tree levels and the last level; a leaf compared at
    a later level waits in registers of its own.  A node's index is selected a
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
    compare : ``"carry"``, ``"ice40"`` or ``"lut"``
        ``"carry"`` compares on the carry chain (``b > a`` is the carry out of ``b + ~a``),
        ``"ice40"`` the same in iCE40 ``SB_CARRY`` cells with the result in a LUT of the chain;
        ``"lut"`` compares in LUT logic (more LUTs, deeper).
    invert_stage : bool
        With ``compare="carry"``, register the inverted scores of the cherries in a stage of
        their own (one more cycle of latency), which keeps the inverter LUTs off the compare path.
    inverted_in : bool
        Without an invert stage, the cherries' left scores arrive inverted (``inverted`` says
        which): a count that ends in a LUT inverts for free, and on an iCE40 the inverter
        between the score register and the compare chain was the slowest path of the design
        (the LUT of the chain's first cell, routed back into its carry input).
    select_stage : bool
        Select a node's larger value a stage after its compare, from the registered result (a
        level takes two stages): the compare chain and the select LUT no longer share a path,
        for parts where registers are cheap.

    Attributes
    ----------
    latency : int
        Clock cycles from ``i`` to ``index`` (0 for ``n == 1``).
    cherries : int
        Compare nodes that pay ``width`` inverter LUTs (``compare="carry"``; none with
        ``inverted_in``).
    inverted : frozenset of int
        The scores ``i`` must hold inverted (``~score``): with ``inverted_in``, the cherries'
        left leaves; else none.
    """

    def __init__(self, n, width, *, stage_levels=1, compare="carry", invert_stage=True, select_stage=False,
                 inverted_in=False):
        positive(n=n, width=width, stage_levels=stage_levels)
        if select_stage and stage_levels != 1:
            raise ValueError(f"select_stage takes one level per stage, not stage_levels={stage_levels!r}")
        one_of("compare", compare, COMPARES)
        self.n, self.width, self.stage_levels, self.compare = n, width, stage_levels, compare
        self._offset = int(compare != "lut" and invert_stage and n > 1)
        inverts = inverted_in and compare != "lut" and not self._offset
        self._tree = _shape(n, width, stage_levels, self._offset, not inverts)[1]
        self.inverted = frozenset(_cherry_lefts(self._tree) if inverts else ())
        self.cherries = 0 if self.inverted else len(_cherry_lefts(self._tree))
        self.depth = _depth(self._tree)
        self.select_stage = select_stage and n > 1
        self.latency = self._offset + -(-self.depth // stage_levels) * (2 if self.select_stage else 1) \
            - self.select_stage
        super().__init__({
            "i": In(n * width),
            "index": Out(max(1, ceil_log2(n))),
        })

    def resources(self) -> dict:
        """Planned ``luts``, ``carries``, ``ffs`` and ``lone_ffs`` (flip-flops that do not follow a
        LUT of their own): a select LUT per score bit and node but the root, an inverter per bit
        of a cherry, about one LUT per node for the index; a carry chain per compare."""
        self.elaborate(None)._MustUse__used = True  # built to count its registers, not to be used
        nodes = self.n - 1
        carry = self.compare != "lut"
        return {"luts": max(0, nodes - 1) * self.width + (self.cherries * self.width if carry else
                                                           nodes * self.width) + nodes,
                "carries": nodes * self.width if carry else 0,
                "ffs": self._ffs["all"], "lone_ffs": self._ffs["lone"]}

    def elaborate(self, platform):
        m = Module()
        w = self.width
        carry = self.compare != "lut"
        names = iter(range(1 << 30))

        def carry_out(x, y, cin):
            """The carry out of ``x + y + cin`` (``w`` bits each)."""
            if self.compare == "carry":
                return (x + y + cin)[w]
            # iCE40 cells: the chain, and a cell of it whose LUT passes the carry out to the
            # fabric (written as ``+``, nextpnr adds that cell after packing, a routing hop away)
            c = Const(cin, 1)
            for i in range(w):
                co = Signal(name=f"co{next(names)}")
                m.submodules += Instance("SB_CARRY", o_CO=co, i_I0=x[i], i_I1=y[i], i_CI=c)
                c = co
            o = Signal(name=f"gt{next(names)}")
            m.submodules += Instance("SB_LUT4", p_LUT_INIT=Const(0xFF00, 16), o_O=o,
                                     i_I0=0, i_I1=0, i_I2=0, i_I3=c)
            return o

        ffs = self._ffs = {"all": 0, "lone": 0}

        def register(v, packs=True):
            # packs: v is a LUT's output, which the register shares a logic cell with
            r = Signal(len(v), name=f"r{next(names)}", reset_less=True)
            m.d.sync += r.eq(v)
            ffs["all"] += len(v)
            ffs["lone"] += 0 if packs and not isinstance(v, Const) else len(v)
            return r

        delayed = {}  # (leaf, stage): its score as it was ``stage`` cycles ago

        def score(k, stage):
            if (k, stage) not in delayed:
                delayed[k, stage] = self.i[k * w:(k + 1) * w] if stage == 0 else \
                    register(score(k, stage - 1), packs=False)
            return delayed[k, stage]

        def delay(v, cycles):
            for k in range(cycles):
                v = register(v, packs=k == 0)
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
            stage = self._offset + (level - 1) // self.stage_levels * (2 if self.select_stage else 1)
            va = score(a, stage) if a_leaf else delay(va, stage - sa)
            vb = score(b, stage) if b_leaf else delay(vb, stage - sb)
            # c is the carry out; gt = c ^ flip, so that no inverter sits behind the carry chain
            c, flip = Signal(name=f"c{next(names)}"), False
            if not carry:
                m.d.comb += c.eq(vb > va)
            elif inv_a:
                m.d.comb += c.eq(carry_out(vb, va, 0))            # b > a: b + ~a >= 2**w
            elif inv_b:
                m.d.comb += c.eq(carry_out(va, vb, 1))            # b > a: a + ~b + 1 < 2**w
                flip = True
            elif a in self.inverted:  # a cherry whose left score arrives inverted
                m.d.comb += c.eq(carry_out(vb, va, 0))
            else:  # a cherry: the inverted left score, registered in a stage of its own or not
                na = delay(~score(a, 0), 1) if self._offset else ~va
                m.d.comb += c.eq(carry_out(vb, na, 0))

            def select(c, b_value, a_value):
                return Mux(c, a_value, b_value) if flip else Mux(c, b_value, a_value)

            rc = register(c, packs=not carry)
            index = select(rc, ib if b_leaf else delay(ib, stage - jb + 1),
                           ia if a_leaf else delay(ia, stage - ja + 1))
            if root:
                return None, None, index, stage + 1, level
            # the polarity each operand's value is in: an inverted input leaf's is inverted
            pa = inv_a or a in self.inverted
            vb, va = (~vb if inv != inv_b else vb), (~va if inv != pa else va)
            if self.select_stage:  # the operands wait a stage for the registered compare
                value = select(rc, register(vb, packs=False), register(va, packs=False))
                return register(value), stage + 2, index, stage + 1, level
            value = select(c, vb, va)
            if level % self.stage_levels == 0:
                return register(value), stage + 1, index, stage + 1, level
            return value, stage, index, stage + 1, level

        if self.n == 1:
            m.d.comb += self.index.eq(0)
        else:
            m.d.comb += self.index.eq(build(self._tree, False, root=True)[2])
        return m
