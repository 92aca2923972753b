"""Pipelined argmax with ties to the lowest index."""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2


__all__ = ["Argmax"]


class Argmax(wiring.Component):
    """Index of the largest of ``n`` unsigned scores; ties go to the lowest index.

    ``i`` holds the scores packed, score ``k`` in ``i[k*width:(k+1)*width]``.  ``index`` is
    the argmax of the scores ``i`` had ``latency`` cycles earlier and ``scores`` is ``i``
    delayed by the same ``latency``.  A new ``i`` is accepted every cycle; there is no reset
    or enable on the datapath.

    The scores meet in a binary tree of compare-and-select nodes, paired left to right so
    that every left subtree covers a power-of-two block of indices.  Registers follow every
    ``stage_levels`` tree levels and the last level.  The ``scores`` delay line doubles as the
    pipeline registers of the leaves.

    Parameters
    ----------
    n : int
        Number of scores (>= 1).
    width : int
        Bits per score (>= 1).
    stage_levels : int
        Tree levels per pipeline stage (>= 1).
    compare : ``"carry"`` or ``"lut"``
        ``"carry"`` compares on the carry chain (``b > a`` is the carry out of ``b + ~a``): the
        select LUTs hand inner left operands on already inverted, so only the first level
        needs inverters.  ``"lut"`` compares in LUT logic (more LUTs, deeper).
    invert_stage : bool
        With ``compare="carry"``, register the inverted left operands of the first level in
        a stage of their own (one more cycle of latency), which keeps the inverter LUTs off
        the compare path.

    Attributes
    ----------
    latency : int
        Clock cycles from ``i`` to ``index`` and ``scores`` (0 for ``n == 1``).
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
        self.depth = ceil_log2(n)
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

        def greater_lut(b, a):
            gt = Const(0, 1)
            for k in range(w):
                gt = (b[k] & ~a[k]) | (~(b[k] ^ a[k]) & gt)
            return gt

        # The tree shape comes first, so that every node knows whether its parent uses it as
        # a left operand (wanted inverted by a carry-chain compare) before it is built.
        counts = [self.n]
        while counts[-1] > 1:
            counts.append((counts[-1] + 1) // 2)

        def left_operand(level, k):
            if level + 1 >= len(counts):
                return False
            # The odd one out moves up unchanged and is placed again there.
            if counts[level] % 2 and k == counts[level] - 1:
                return left_operand(level + 1, counts[level + 1] - 1)
            return k % 2 == 0

        # An item is a leaf (its score index) or a node (value, inverted, index bits).  Leaves
        # are read from the delay line at whatever stage they are needed.
        items = list(range(self.n))
        stage = 0
        if self._offset:
            items = [(register(~score(k, 0)), True, Const(0, 0)) if left_operand(0, k) else k
                     for k in items]
            stage = 1

        def operand(item, inverted):
            if isinstance(item, int):
                v, inv = score(item, stage), False
            else:
                v, inv = item[0], item[1]
            return ~v if inv != inverted else v

        for level in range(1, len(counts)):
            last = level == len(counts) - 1
            new = []
            for k in range(0, len(items) - 1, 2):
                a, b = items[k], items[k + 1]
                ia = Const(0, 0) if isinstance(a, int) else a[2]
                ib = Const(0, 0) if isinstance(b, int) else b[2]
                gt = Signal(name=f"gt{next(names)}")
                if carry:
                    m.d.comb += gt.eq((operand(b, False) + operand(a, True))[w])
                else:
                    m.d.comb += gt.eq(greater_lut(operand(b, False), operand(a, False)))
                index = Cat(Mux(gt, Cat(ib, Const(0, len(ia) - len(ib))), ia), gt)
                if last:
                    new.append((None, False, index))
                    break
                inv = carry and left_operand(level, k // 2)
                best = Mux(gt, operand(b, inv), operand(a, inv))
                new.append((best, inv, index))
            if len(items) % 2:
                new.append(items[-1])
            items = new
            if level % self.stage_levels == 0 or last:
                items = [item if isinstance(item, int) else
                         (None if item[0] is None else register(item[0]), item[1], register(item[2]))
                         for item in items]
                stage += 1
        if self.n == 1:
            m.d.comb += self.index.eq(0)
        else:
            m.d.comb += self.index.eq(items[0][2])
        for k in range(self.n):
            m.d.comb += self.scores[k * w:(k + 1) * w].eq(score(k, self.latency))
        return m
