"""Pipelined population count and group sum.

The count is a tree of ripple-carry adders ``a + b + cin``.  On iCE40 an adder of ``w``-bit
operands is ``w`` LUT4s on an ``SB_CARRY`` chain and takes one more input bit as its carry-in,
so each LUT retires one input bit.  The leaves are full adders (or half adders) written as plain
logic, combinational from ``i``, so that ABC can merge the last logic layer's gates into them;
optional ROM leaves count ten bits in one block RAM for no LUTs at all.  The tree shape comes
from a small dynamic program over these costs.
"""
from functools import lru_cache

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2


__all__ = ["PopCount", "GroupSum"]


def _bits(v):
    return max(1, v.bit_length())


def _adder_cost(a, b):
    # Yosys maps a 1-bit adder to two LUTs (sum, carry), wider ones to one LUT per column.
    return 2 if _bits(a) == 1 and _bits(b) == 1 else max(_bits(a), _bits(b))


@lru_cache(maxsize=None)
def _plan(n, half_adder_cost, roms=0, rom_inputs=10, rom_depth=1):
    """Cheapest tree counting ``n`` bits with ``roms`` ROM leaves: ``(luts, ffs, depth, tree)``.

    Trees are ranked by LUTs, then by flip-flops (a register after every adder level, plus
    the delay lines that carry-in bits and shallower subtrees wait in), then by depth.
    ``tree`` is ``1`` (a bit), ``2`` (a half adder), ``"rom"`` (a ROM counting ``rom_inputs``
    bits) or ``(left, right, cin)``.  ``luts`` is None when no tree fits.
    """
    if roms * rom_inputs > n:
        return (None, 0, 0, None)
    if roms == 0 and n == 1:
        return (0, 0, 0, 1)
    if roms == 1 and n == rom_inputs:
        return (0, rom_depth * _bits(n), rom_depth, "rom")
    best = (half_adder_cost, 0, 0, 2) if roms == 0 and n == 2 else None
    for cin in (1, 0):
        rest = n - cin
        half = rest // 2
        # Good trees are near balanced; limiting the splits keeps large widths fast.
        lo = max(1, half - 24) if n > 64 else 1
        for a in range(lo, half + 1):
            b = rest - a
            share = roms * a // rest
            for ra in sorted({max(0, share - 1), share, min(roms, share + 1)}):
                ca, fa, da, ta = _plan(a, half_adder_cost, ra, rom_inputs, rom_depth)
                cb, fb, db, tb = _plan(b, half_adder_cost, roms - ra, rom_inputs, rom_depth)
                if ca is None or cb is None:
                    continue
                depth = max(da, db) + 1
                ffs = (fa + fb + _bits(n) + cin * (depth - 1)
                       + (depth - 1 - da) * _bits(a) + (depth - 1 - db) * _bits(b))
                cand = (ca + cb + _adder_cost(a, b), ffs, depth, (ta, tb, cin))
                if best is None or cand[:3] < best[:3]:
                    best = cand
    return best or (None, 0, 0, None)


class PopCount(wiring.Component):
    """Population count of ``i``, pipelined.

    ``o`` is the number of set bits that ``i`` had ``latency`` clock cycles earlier; a new ``i``
    is accepted every cycle.  The datapath has no reset and no enable.

    The leaf level and the first adder level are combinational from ``i``; registers follow
    every ``stage_levels`` adder levels, and ``o`` is always registered.  Inputs are used in
    this order: ``i[:2*half_adders]`` pairwise by half adders (best fed by 2-input gates, which
    the half-adder LUTs absorb), then single bits for full adders and carry-ins, and the last
    ``roms * rom_inputs`` bits address the ROMs (best fed by plain registers).

    Parameters
    ----------
    width : int
        Number of input bits (>= 1).
    stage_levels : int
        Adder levels per pipeline stage (>= 1).
    half_adders : bool
        Plan half-adder leaves (``True``), free only where both inputs are 2-input gates that
        ABC folds into the two half-adder LUTs, or full-adder leaves (``False``), which
        measured as small or smaller and faster on real networks.
    roms : int
        Number of ROM leaves.  Each is a ``2**rom_inputs``-entry block RAM holding the
        popcount of its address, so it counts ``rom_inputs`` bits for no LUTs; its read
        register ends the first stage.
    rom_inputs : int
        Address bits per ROM: 10 fits an iCE40 ``SB_RAM40_4K`` (1024 x 4), 12 an ECP5
        ``DP16KD`` (4096 x 4).
    rom_stages : int
        Pipeline stages a ROM read takes: 1 (the block RAM's read register) or 2 (one more
        register in the fabric, for timing: block RAMs sit in columns away from the adders).

    Attributes
    ----------
    latency : int
        Clock cycles from ``i`` to ``o``.
    half_adders : int
        Number of half-adder pairs at the front of ``i``.
    roms : int
        Number of ROM leaves at the end of ``i``.
    luts : int
        Planned LUT4 count of the adders (leaf gates absorbed in half adders not counted).
    """

    def __init__(self, width, *, stage_levels=1, half_adders=False, roms=0, rom_inputs=10, rom_stages=2):
        for name, value in (("width", width), ("stage_levels", stage_levels), ("rom_inputs", rom_inputs)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if rom_stages not in (1, 2):
            raise ValueError(f"rom_stages must be 1 or 2, not {rom_stages!r}")
        if not isinstance(roms, int) or roms < 0 or roms * rom_inputs > width:
            raise ValueError(f"roms must be an integer from 0 to width // rom_inputs, not {roms!r}")
        self.width = width
        self.stage_levels = stage_levels
        self.rom_inputs = rom_inputs
        self.rom_stages = rom_stages
        self.luts, self.ffs, _, self._tree = _plan(width, 0 if half_adders else 2, roms, rom_inputs,
                                         rom_stages * stage_levels)
        self.half_adders = self._count(self._tree, 2)
        self.roms = self._count(self._tree, "rom")
        # A partly filled last stage still ends in the output register.
        self.latency = max(1, -(-self._level(self._tree) // stage_levels))
        super().__init__({"i": In(width), "o": Out(ceil_log2(width + 1))})

    @classmethod
    def _count(cls, t, kind):
        if not isinstance(t, tuple):
            return int(t == kind)
        return cls._count(t[0], kind) + cls._count(t[1], kind)

    def _level(self, t):
        if not isinstance(t, tuple):
            # A ROM leaf ends the first stage (or two) through the block RAM's read register.
            return self.stage_levels * self.rom_stages if t == "rom" else 0
        return 1 + max(self._level(t[0]), self._level(t[1]))

    def elaborate(self, platform):
        m = Module()
        pairs = iter(range(self.half_adders))
        rom_base = self.width - self.roms * self.rom_inputs
        roms = iter(range(self.roms))
        singles = iter(range(2 * self.half_adders, rom_base))
        names = iter(range(1 << 30))

        def delay(v, cycles):
            for _ in range(cycles):
                r = Signal(len(v), name=f"d{next(names)}", reset_less=True)
                m.d.sync += r.eq(v)
                v = r
            return v

        # Returns (value, max count, adder level, stage in which the value is available).
        def build(t):
            if t == 1:
                return self.i[next(singles)], 1, 0, 0
            if t == 2:
                k = next(pairs)
                a, b = self.i[2 * k], self.i[2 * k + 1]
                s = Signal(2, name=f"ha{k}")
                m.d.comb += s.eq(Cat(a ^ b, a & b))
                return s, 2, 0, 0
            if t == "rom":
                k = next(roms)
                n = self.rom_inputs
                mem = Memory(shape=_bits(n), depth=1 << n, init=[bin(x).count("1") for x in range(1 << n)])
                m.submodules[f"rom{k}"] = mem
                port = mem.read_port(domain="sync")
                m.d.comb += port.addr.eq(self.i[rom_base + k * n:rom_base + (k + 1) * n])
                return delay(port.data, self.rom_stages - 1), n, self._level(t), self.rom_stages
            va, ma, la, sa = build(t[0])
            vb, mb, lb, sb = build(t[1])
            level = max(la, lb) + 1
            stage = (level - 1) // self.stage_levels
            total = ma + mb + t[2]
            # Yosys merges chains of unregistered adders into one multi-operand adder and
            # re-maps it badly; keep stops that, so the tree shape survives synthesis.
            s = Signal(_bits(total), name=f"add{next(names)}", attrs={"keep": 1})
            e = delay(va, stage - sa) + delay(vb, stage - sb)
            if t[2]:
                e = e + delay(self.i[next(singles)], stage)
            m.d.comb += s.eq(e)
            if level % self.stage_levels == 0:
                r = Signal(len(s), name=f"{s.name}_q", reset_less=True)
                m.d.sync += r.eq(s)
                return r, total, level, stage + 1
            return s, total, level, stage

        v, _, _, stage = build(self._tree)
        m.d.comb += self.o.eq(delay(v, self.latency - stage))
        return m


class GroupSum(wiring.Component):
    """Per-class popcount of contiguous groups.

    Class ``c`` counts ``i[c*group_size:(c+1)*group_size]``; its score is
    ``o[c*bits:(c+1)*bits]`` with ``bits = ceil_log2(group_size + 1)``, ``latency`` cycles later.
    ``roms`` is the number of ROM leaves per class, or a sequence with one number per class
    (classes with shorter trees are delayed to the common ``latency``).  Other keyword
    arguments go to every :class:`PopCount`.  An iCE40 UP5K has 30 block RAMs, an ECP5-85
    208.
    """

    def __init__(self, classes, group_size, *, roms=0, **kwargs):
        if not isinstance(classes, int) or classes < 1:
            raise ValueError(f"classes must be a positive integer, not {classes!r}")
        per_class = [roms] * classes if isinstance(roms, int) else list(roms)
        if len(per_class) != classes:
            raise ValueError(f"roms must be an integer or one integer per class, not {roms!r}")
        self.classes = classes
        self.group_size = group_size
        self.roms = roms
        self._counts = [PopCount(group_size, roms=r, **kwargs) for r in per_class]
        self.bits = len(self._counts[0].o)
        self.latency = max(pc.latency for pc in self._counts)
        super().__init__({"i": In(classes * group_size), "o": Out(classes * self.bits)})

    def elaborate(self, platform):
        m = Module()
        g, b = self.group_size, self.bits
        for c, pc in enumerate(self._counts):
            m.submodules[f"count{c}"] = pc
            m.d.comb += pc.i.eq(self.i[c * g:(c + 1) * g])
            score = pc.o
            for k in range(self.latency - pc.latency):
                r = Signal(b, name=f"score{c}_d{k}", reset_less=True)
                m.d.sync += r.eq(score)
                score = r
            m.d.comb += self.o[c * b:(c + 1) * b].eq(score)
        return m
