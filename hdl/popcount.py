"""Pipelined population count and group sum, printed as structural Verilog.

The count is a tree of ripple-carry adders ``a + b + cin``.  On iCE40 an adder of ``w``-bit
operands is ``w`` LUT4s on an ``SB_CARRY`` chain and takes one more input bit as its carry-in,
so each LUT retires one input bit.  The leaves are full adders (or half adders) written as plain
logic, combinational from the inputs, so that ABC can merge the last logic layer's gates into
them; optional ROM leaves count ten bits in one block RAM for no LUTs at all.  The tree shape
comes from a small dynamic program over these costs.

Like the logic layers (``core.py``), the trees are written as text: a million-gate network has
a hundred thousand GroupSum inputs, which Amaranth needs minutes to elaborate.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator, TextIO

from amaranth.utils import ceil_log2


__all__ = ["PopCount", "GroupSum"]

MODULE = "lgn_groupsum"


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


class PopCount:
    """Plan of a pipelined population count of ``width`` bits; :meth:`lines` prints it.

    The count of the bits presented in one cycle is ready ``latency`` cycles later; a new
    set of bits is taken every cycle.  The datapath has no reset and no enable.

    The leaf level and the first adder level are combinational from the inputs; registers
    follow every ``stage_levels`` adder levels, and the count is always registered.  Inputs
    are used in this order: the first ``2*half_adders`` pairwise by half adders (best fed by
    2-input gates, which the half-adder LUTs absorb), then single bits for full adders and
    carry-ins, and the last ``roms * rom_inputs`` bits address the ROMs (best fed by plain
    registers).

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
        popcount of its address (module ``lgn_rom<rom_inputs>``, see :func:`rom_module`), so
        it counts ``rom_inputs`` bits for no LUTs; its read register ends the first stage.
    rom_inputs : int
        Address bits per ROM: 10 fits an iCE40 ``SB_RAM40_4K`` (1024 x 4), 12 an ECP5
        ``DP16KD`` (4096 x 4).
    rom_stages : int
        Pipeline stages a ROM read takes: 1 (the block RAM's read register) or 2 (one more
        register in the fabric, for timing: block RAMs sit in columns away from the adders).

    Attributes
    ----------
    latency : int
        Clock cycles from the inputs to the count.
    bits : int
        Width of the count.
    half_adders, roms : int
        Number of half-adder pairs at the front and of ROM leaves at the end of the inputs.
    luts, ffs : int
        Planned LUT4s of the adders (leaf gates absorbed in half adders not counted) and
        flip-flops.
    """

    def __init__(self, width: int, *, stage_levels: int = 1, half_adders: bool = False, roms: int = 0,
                 rom_inputs: int = 10, rom_stages: int = 2):
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
        self.bits = ceil_log2(width + 1)
        self.luts, self.ffs, _, self._tree = _plan(width, 0 if half_adders else 2, roms, rom_inputs,
                                                   rom_stages * stage_levels)
        self.half_adders = self._count(self._tree, 2)
        self.roms = self._count(self._tree, "rom")
        # A partly filled last stage still ends in the output register.
        self.latency = max(1, -(-self._level(self._tree) // stage_levels))

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

    def _placed(self):
        """The tree with input positions: ``("bit", j)``, ``("half", j)`` (bits j and j+1),
        ``("rom", j)`` (bits j to j+rom_inputs-1) or ``("add", left, right, cin)`` (cin a
        position or None).  Half adders take the first inputs pairwise, bits and carry-ins the
        next ones in build order, ROMs the last ones."""
        rom_base = self.width - self.roms * self.rom_inputs
        pairs = iter(range(0, 2 * self.half_adders, 2))
        singles = iter(range(2 * self.half_adders, rom_base))
        roms = iter(range(rom_base, self.width, self.rom_inputs))

        def place(t):
            if t == 1:
                return ("bit", next(singles))
            if t == 2:
                return ("half", next(pairs))
            if t == "rom":
                return ("rom", next(roms))
            left, right = place(t[0]), place(t[1])
            return ("add", left, right, next(singles) if t[2] else None)

        return place(self._tree)

    def terms(self) -> tuple:
        """The sum the adders compute, as nested tuples of input positions.

        The count is the sum of all leaves, parenthesized as in the hardware: a tuple per
        adder, half adder and ROM.  Every position appears exactly once.
        """
        def terms(t):
            kind, j = t[0], t[1]
            if kind == "bit":
                return j
            if kind == "half":
                return (j, j + 1)
            if kind == "rom":
                return tuple(range(j, j + self.rom_inputs))
            return (terms(t[1]), terms(t[2])) + (() if t[3] is None else (t[3],))

        root = terms(self._placed())
        return root if isinstance(root, tuple) else (root,)

    def lines(self, bits: list[str], out: str, prefix: str) -> Iterator[str]:
        """Verilog that counts the signals ``bits`` into the existing ``out`` (``bits`` wide).

        Every name it declares starts with ``prefix``; registers are clocked by ``clk``.
        """
        if len(bits) != self.width:
            raise ValueError(f"{len(bits)} bits given to a {self.width}-bit count")
        names = iter(range(1 << 30))
        decls, regs = [], []

        def wire(width, expr, keep=False):
            name = f"{prefix}{next(names)}"
            decls.append(f"    {'(* keep *) ' if keep else ''}wire [{width - 1}:0] {name} = {expr};")
            return name

        def delay(v, width, cycles):
            for _ in range(cycles):
                r = f"{prefix}{next(names)}"
                decls.append(f"    reg [{width - 1}:0] {r};")
                regs.append(f"        {r} <= {v};")
                v = r
            return v

        # Returns (signal, max count, adder level, stage in which the signal is available).
        def build(t):
            kind = t[0]
            if kind == "bit":
                return bits[t[1]], 1, 0, 0
            if kind == "half":
                a, b = bits[t[1]], bits[t[1] + 1]
                return wire(2, f"{{{a} & {b}, {a} ^ {b}}}"), 2, 0, 0
            if kind == "rom":
                n = self.rom_inputs
                addr = ", ".join(reversed(bits[t[1]:t[1] + n]))
                data = f"{prefix}{next(names)}"
                decls.append(f"    wire [{_bits(n) - 1}:0] {data};")
                decls.append(f"    lgn_rom{n} {data}_rom (.clk(clk), .addr({{{addr}}}), .data({data}));")
                return delay(data, _bits(n), self.rom_stages - 1), n, self._level("rom"), self.rom_stages
            va, ma, la, sa = build(t[1])
            vb, mb, lb, sb = build(t[2])
            level = max(la, lb) + 1
            stage = (level - 1) // self.stage_levels
            total = ma + mb + (t[3] is not None)
            terms = [delay(va, _bits(ma), stage - sa), delay(vb, _bits(mb), stage - sb)]
            if t[3] is not None:
                terms.append(delay(bits[t[3]], 1, stage))
            # Yosys merges chains of unregistered adders into one multi-operand adder and
            # re-maps it badly; keep stops that, so the tree shape survives synthesis.
            s = wire(_bits(total), " + ".join(terms), keep=True)
            if level % self.stage_levels == 0:
                return delay(s, _bits(total), 1), total, level, stage + 1
            return s, total, level, stage

        v, total, _, stage = build(self._placed())
        v = delay(v, _bits(total), self.latency - stage)
        yield from decls
        if regs:
            yield "    always @(posedge clk) begin"
            yield from regs
            yield "    end"
        yield f"    assign {out} = {v};"


def rom_module(rom_inputs: int) -> Iterator[str]:
    """Module ``lgn_rom<n>``: a registered ROM whose word at ``addr`` is the popcount of ``addr``.

    Written as an initialised memory read into a register, which Yosys maps to block RAM.
    """
    n = rom_inputs
    yield f"module lgn_rom{n} (input wire clk, input wire [{n - 1}:0] addr, output reg [{_bits(n) - 1}:0] data);"
    yield f"    reg [{_bits(n) - 1}:0] counts [0:{(1 << n) - 1}];"
    yield "    integer j;"
    yield f"    initial for (j = 0; j < {1 << n}; j = j + 1)"
    yield f"        counts[j] = {' + '.join(f'j[{b}]' for b in range(n))};"
    yield "    always @(posedge clk) data <= counts[addr];"
    yield "endmodule"


class GroupSum:
    """Per-class popcount of contiguous groups, as module ``lgn_groupsum(clk, i_bits, o_scores)``.

    Class ``c`` counts ``i_bits[c*group_size +: group_size]``; its score is
    ``o_scores[c*bits +: bits]`` with ``bits = ceil_log2(group_size + 1)``, ``latency`` cycles
    later.  ``roms`` is the number of ROM leaves per class, or a sequence with one number per
    class (classes with shorter trees are delayed to the common ``latency``).  Other keyword
    arguments go to every :class:`PopCount`.  An iCE40 UP5K has 30 block RAMs, an ECP5-85 208.
    """

    def __init__(self, classes: int, group_size: int, *, roms=0, **kwargs):
        if not isinstance(classes, int) or classes < 1:
            raise ValueError(f"classes must be a positive integer, not {classes!r}")
        per_class = [roms] * classes if isinstance(roms, int) else list(roms)
        if len(per_class) != classes:
            raise ValueError(f"roms must be an integer or one integer per class, not {roms!r}")
        self.classes = classes
        self.group_size = group_size
        self.roms = roms
        self._counts = [PopCount(group_size, roms=r, **kwargs) for r in per_class]
        self.bits = self._counts[0].bits
        self.latency = max(pc.latency for pc in self._counts)

    def terms(self) -> list[tuple]:
        """Per class, :meth:`PopCount.terms`: positions within the class's group."""
        return [pc.terms() for pc in self._counts]

    def write(self, out: TextIO) -> None:
        """Print ``lgn_groupsum`` and the ROM module it instances, if any."""
        for line in self._lines():
            out.write(line)
            out.write("\n")

    def _lines(self) -> Iterator[str]:
        g, b = self.group_size, self.bits
        yield f"module {MODULE} ("
        yield "    input wire clk,"
        yield f"    input wire [{self.classes * g - 1}:0] i_bits,"
        yield f"    output wire [{self.classes * b - 1}:0] o_scores"
        yield ");"
        for c, pc in enumerate(self._counts):
            yield f"    // class {c}: {g} bits, {pc.roms} ROM leaves, latency {pc.latency} (+{self.latency - pc.latency})"
            yield f"    wire [{b - 1}:0] count{c};"
            yield from pc.lines([f"i_bits[{c * g + j}]" for j in range(g)], f"count{c}", f"c{c}_")
            score = f"count{c}"
            for k in range(self.latency - pc.latency):
                yield f"    reg [{b - 1}:0] count{c}_d{k};"
                yield f"    always @(posedge clk) count{c}_d{k} <= {score};"
                score = f"count{c}_d{k}"
            yield f"    assign o_scores[{c * b + b - 1}:{c * b}] = {score};"
        yield "endmodule"
        rom_inputs = {pc.rom_inputs for pc in self._counts if pc.roms}
        for n in sorted(rom_inputs):
            yield from rom_module(n)
