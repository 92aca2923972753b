"""Pipelined population count and group sum, printed as structural Verilog.

The count is a tree of ripple-carry adders ``a + b + cin``.  On iCE40 an adder of ``w``-bit
operands is ``w`` LUT4s on an ``SB_CARRY`` chain and takes one more input bit as its carry-in,
so each LUT retires one input bit.  The leaves are full adders (three bits) and half adders
(two bits) written as plain logic, two LUTs each, combinational from the inputs.  Their LUTs
have inputs to spare, so ABC merges the logic in front of a leaf into it when the signals that
logic reads fit in the four LUT inputs: a full adder absorbs a 2-input gate beside two plain
bits or inverters, or two or three gates that share inputs; a half adder absorbs two gates.
Given what each input is (``cones``), the plan counts that logic too and places every input
where it costs least.  Optional ROM leaves count ten bits in one block RAM for no LUTs at all.
The tree shape comes from a small dynamic program over these costs.

Like the logic layers (``core.py``), the trees are written as text: a million-gate network has
a hundred thousand GroupSum inputs, which Amaranth needs minutes to elaborate.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Iterator, TextIO, Union

from amaranth.utils import ceil_log2


__all__ = ["Cone", "PopCount", "GroupSum"]

MODULE = "lgn_groupsum"

Cone = Union[int, frozenset]
"""What feeds one input of a count: an ``int`` is a plain signal (a register output, say) that
needs no LUT, named by an integer id; a ``frozenset`` of such ids is a LUT function of those
signals, computed in the count's first stage and read by nothing else, which a leaf may absorb."""

_EXACT = 64  # counts up to this width are planned exactly; wider ones split like a gate-free plan


def _bits(v):
    return max(1, v.bit_length())


def _adder_cost(a, b):
    # Yosys maps a 1-bit adder to two LUTs (sum, carry), wider ones to one LUT per column.
    return 2 if _bits(a) == 1 and _bits(b) == 1 else max(_bits(a), _bits(b))


def _size(t, rom_inputs):
    """Input bits a (sub)tree counts."""
    if not isinstance(t, tuple):
        return rom_inputs if t == "rom" else t
    return _size(t[0], rom_inputs) + _size(t[1], rom_inputs) + t[2]


def _count(t, kind):
    if not isinstance(t, tuple):
        return int(t == kind)
    return _count(t[0], kind) + _count(t[1], kind)


def _tree_luts(t):
    """LUTs of the tree itself (leaves and adders), without any input logic."""
    if t == 2 or t == (1, 1, 1):
        return 2
    if not isinstance(t, tuple):
        return 0
    return _tree_luts(t[0]) + _tree_luts(t[1]) + _adder_cost(_size(t[0], 1), _size(t[1], 1))


def _join(n, a, b, cin, left, right, extra):
    """Cost of the adder ``left + right + cin`` over subtrees of ``a`` and ``b`` bits."""
    ca, fa, da, ta = left
    cb, fb, db, tb = right
    depth = max(da, db) + 1
    ffs = (fa + fb + _bits(n) + cin * (depth - 1)
           + (depth - 1 - da) * _bits(a) + (depth - 1 - db) * _bits(b))
    return (ca + cb + _adder_cost(a, b) + extra, ffs, depth, (ta, tb, cin))


_NONE = (None, 0, 0, None)


@lru_cache(maxsize=None)
def _plan(n, gates=0, roms=0, rom_inputs=10, rom_depth=1, half_level=0):
    """Cheapest tree counting ``n`` bits with ``roms`` ROM leaves: ``(luts, ffs, depth, tree)``.

    ``gates`` of the bits are 2-input gates (or groups of gates that share inputs) that a leaf
    can absorb: a full adder one, a half adder two.  One that no leaf takes costs its own LUT,
    which ``luts`` includes.  Trees are ranked by LUTs, then by flip-flops (a register after
    every adder level, plus the delay lines that carry-in bits and shallower subtrees wait in),
    then by depth.  ``tree`` is ``1`` (a bit), ``2`` (a half adder, registered like a full
    adder with ``half_level=1``, else part of its parent's stage), ``"rom"`` (a ROM counting
    ``rom_inputs`` bits) or ``(left, right, cin)``; ``(1, 1, 1)`` is a full adder.  ``luts`` is
    None when no tree fits.
    """
    if roms * rom_inputs > n or gates > n:
        return _NONE
    if roms == 1 and n == rom_inputs:
        return (gates, rom_depth * _bits(n), rom_depth, "rom")  # a gate in an address costs its LUT
    if n == 1:
        return (gates, 0, 0, 1) if roms == 0 else _NONE
    if n > _EXACT and gates:
        # Far from the leaves only the number of gates below each side matters: split as the
        # gate-free plan does and share the gates out in proportion.
        ta, tb, cin = _plan(n, 0, roms, rom_inputs, rom_depth, half_level)[3]
        a, b = _size(ta, rom_inputs), _size(tb, rom_inputs)
        ga = gates * a // (a + b)
        ra = _count(ta, "rom")
        left = _plan(a, min(a, ga), ra, rom_inputs, rom_depth, half_level)
        right = _plan(b, min(b, gates - ga), roms - ra, rom_inputs, rom_depth, half_level)
        return _join(n, a, b, cin, left, right, max(0, ga - a) + max(0, gates - ga - b))
    cands = []
    if roms == 0 and n == 2:
        cands.append((2 + max(0, gates - 2), 2 * half_level, half_level, 2))
    if roms == 0 and n == 3:
        cands.append((2 + max(0, gates - 1), 2, 1, (1, 1, 1)))
    for cin in (1, 0):
        rest = n - cin
        half = rest // 2
        # Good trees are near balanced; limiting the splits keeps large widths fast.
        lo = max(1, half - 24) if n > _EXACT else 1
        for a in range(lo, half + 1):
            b = rest - a
            if a == b == 1 and roms == 0:
                continue  # the half and full adder leaves above
            share = roms * a // rest
            for ra in sorted({max(0, share - 1), share, min(roms, share + 1)}):
                for gc in ((0, 1) if cin and gates else (0,)):  # a gate on a carry-in costs its LUT
                    gg = gates - gc
                    near = gg * a // rest
                    for ga in range(max(0, gg - b), min(a, gg) + 1):
                        if n > 12 and abs(ga - near) > 2:
                            continue
                        left = _plan(a, ga, ra, rom_inputs, rom_depth, half_level)
                        right = _plan(b, gg - ga, roms - ra, rom_inputs, rom_depth, half_level)
                        if left[0] is not None and right[0] is not None:
                            cands.append(_join(n, a, b, cin, left, right, gc))
    return min(cands, key=lambda c: c[:3], default=_NONE)


def _signals(cone):
    return frozenset((cone,)) if isinstance(cone, int) else cone


def _fills(cones):
    """Group the gates among ``cones`` (indices into it) for the full-adder leaves.

    Returns ``(fills, lone)``: each fill is two or three gates, and maybe one more input, whose
    signals fit one LUT4 (gates that share a signal, or two gates and a plain bit or inverter
    of a signal one of them reads); ``lone`` are the other gates.
    """
    gates = [j for j, c in enumerate(cones) if isinstance(c, frozenset) and len(c) == 2]
    readers = defaultdict(list)
    for j in gates:
        for s in cones[j]:
            readers[s].append(j)
    free = dict.fromkeys(gates)  # insertion-ordered, for a deterministic result
    fills = []
    for s in sorted(readers, key=lambda s: -len(readers[s])):
        group = [j for j in readers[s] if j in free]
        while len(group) >= 2:  # all read s: three of them need only four signals
            take, group = group[:3], group[3:]
            fills.append(tuple(take))
            for g in take:
                del free[g]
    for j, c in enumerate(cones):
        if len(free) < 2:
            break
        if len(_signals(c)) != 1:
            continue
        (s,) = _signals(c)
        mate = next((g for g in readers.get(s, ()) if g in free), None)
        if mate is not None:
            other = next(g for g in free if g != mate)
            fills.append((mate, other, j))
            del free[mate], free[other]
    return fills, [j for j in gates if j in free]


class PopCount:
    """Plan of a pipelined population count of ``width`` bits; :meth:`lines` prints it.

    The count of the bits presented in one cycle is ready ``latency`` cycles later; a new
    set of bits is taken every cycle.  The datapath has no reset and no enable.

    A full adder is the tree's first level, and so is a half adder that absorbs gates (one
    that does not is part of its parent adder's level).  Registers follow every
    ``stage_levels`` levels and the count is always registered; everything before the first
    register is combinational from the inputs, so that synthesis merges the logic in front of
    the leaves into them.

    Without ``cones`` the inputs are used in this order: the first ``2*half_adders`` pairwise
    by half adders, then single bits for full adders and carry-ins, and the last
    ``roms * rom_inputs`` bits address the ROMs.  With ``cones`` :meth:`lines` places each
    input itself: gates in leaves, inverters in the other leaf inputs, plain signals on
    carry-ins (the highest ids on the longest-delayed) and ROM addresses.

    Parameters
    ----------
    width : int
        Number of input bits (>= 1).
    stage_levels : int
        Adder levels per pipeline stage (>= 1).
    half_adders : bool
        Plan as if every input were a 2-input gate (half-adder leaves absorb two); without
        ``cones`` the plan cannot know better.
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
    cones : sequence of :data:`Cone`, optional
        What feeds each input.  The plan then counts the input logic its leaves cannot absorb
        and shapes the tree to absorb the most: for 50 inputs of which 20 are gates, half
        adders take the gates that the 13 full adders of the gate-free tree leave over.

    Attributes
    ----------
    latency : int
        Clock cycles from the inputs to the count.
    bits : int
        Width of the count.
    half_adders, roms : int
        Number of half-adder leaves and of ROM leaves.
    luts, ffs : int
        Planned LUT4s (of the tree, and with ``cones`` of the input logic left to LUTs of its
        own) and flip-flops.
    """

    def __init__(self, width: int, *, stage_levels: int = 1, half_adders: bool = False, roms: int = 0,
                 rom_inputs: int = 10, rom_stages: int = 2, cones: Sequence[Cone] | None = None):
        for name, value in (("width", width), ("stage_levels", stage_levels), ("rom_inputs", rom_inputs)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if rom_stages not in (1, 2):
            raise ValueError(f"rom_stages must be 1 or 2, not {rom_stages!r}")
        if not isinstance(roms, int) or roms < 0 or roms * rom_inputs > width:
            raise ValueError(f"roms must be an integer from 0 to width // rom_inputs, not {roms!r}")
        if cones is not None and len(cones) != width:
            raise ValueError(f"{len(cones)} cones given for a {width}-bit count")
        self.width = width
        self.stage_levels = stage_levels
        self.rom_inputs = rom_inputs
        self.rom_stages = rom_stages
        self.bits = ceil_log2(width + 1)
        fills, lone = _fills(cones) if cones is not None else ([], [])
        gates = width if half_adders else len(fills) + len(lone)
        # A half adder that absorbs gates gets a register of its own, like a full adder: behind
        # its LUT in the same stage, an adder made the slowest path.  Without gates it stays
        # combinational into its adder, which saves a stage where the width is a power of two.
        self._half_level = int(gates > 0)
        self.luts, self.ffs, _, self._tree = _plan(width, gates, roms, rom_inputs, rom_stages * stage_levels,
                                                   self._half_level)
        self.half_adders = _count(self._tree, 2)
        self.roms = _count(self._tree, "rom")
        # A partly filled last stage still ends in the output register.
        self.latency = max(1, -(-self._level(self._tree) // stage_levels))
        self._order = list(range(width))
        if cones is not None:
            self._order = self._arrange(cones, fills, lone)
            self.luts = _tree_luts(self._tree) + self._unabsorbed(cones)

    def _level(self, t):
        if not isinstance(t, tuple):
            # A ROM leaf ends the first stage (or two) through the block RAM's read register.
            return self.stage_levels * self.rom_stages if t == "rom" else self._half_level * (t == 2)
        return 1 + max(self._level(t[0]), self._level(t[1]))

    def _placed(self):
        """The tree with slot positions: ``("bit", j)``, ``("half", j)`` (slots j and j+1),
        ``("rom", j)`` (slots j to j+rom_inputs-1) or ``("add", left, right, cin)`` (cin a
        position or None).  Half adders take the first slots pairwise, bits and carry-ins the
        next ones in build order, ROMs the last ones; slot j counts input ``_order[j]``."""
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
        at = self._order

        def terms(t):
            kind, j = t[0], t[1]
            if kind == "bit":
                return at[j]
            if kind == "half":
                return (at[j], at[j + 1])
            if kind == "rom":
                return tuple(at[j:j + self.rom_inputs])
            return (terms(t[1]), terms(t[2])) + (() if t[3] is None else (at[t[3]],))

        root = terms(self._placed())
        return root if isinstance(root, tuple) else (root,)

    def _leaves(self):
        """Slots by what :meth:`lines` does with them: the leaves' slot lists (full adders,
        then half adders), and the carry-in and ROM-address slots, those that wait longest in
        delay registers first."""
        fulls, halves, carries = [], [], []  # carries: (register stages it waits, slot)

        def walk(t):  # returns t's level
            kind = t[0]
            if kind == "half":
                halves.append([t[1], t[1] + 1])
                return self._half_level
            if kind != "add":
                return 0 if kind == "bit" else self._level("rom")
            left, right, cin = t[1:]
            if left[0] == right[0] == "bit" and cin is not None:
                fulls.append([left[1], right[1], cin])
                return 1
            level = max(walk(left), walk(right)) + 1
            wait = (level - 1) // self.stage_levels
            carries.extend((wait, c[1]) for c in (left, right) if c[0] == "bit")
            if cin is not None:
                carries.append((wait, cin))
            return level

        root = self._placed()
        if root[0] == "bit":  # a count of one bit
            carries.append((0, root[1]))
        walk(root)
        roms = range(self.width - self.roms * self.rom_inputs, self.width)
        return fulls + halves, [j for _, j in sorted(carries, key=lambda c: -c[0])] + list(roms)

    def _arrange(self, cones, fills, lone):
        """``order[slot]``: the input that each slot of :meth:`lines` counts."""
        leaves, plain = self._leaves()
        fulls = len(leaves) - self.half_adders
        members = [[] for _ in leaves]
        # Full adders take the fills of two or three gates, then one gate each, half adders
        # two gates; the gates of fills left over go on alone.
        for m, fill in zip(members[:fulls], fills):
            m.extend(fill)
        lone = iter(lone + [j for fill in fills[fulls:] for j in fill if len(_signals(cones[j])) == 2])
        for k, m in enumerate(members[len(fills):]):
            m.extend(j for _, j in zip(range(1 if len(fills) + k < fulls else 2), lone))
        taken = {j for m in members for j in m}
        # Inverters fill the leaves (free there), plain signals and constants the carry-ins and
        # ROM addresses, the highest ids the longest-delayed: a model input (lowest ids in
        # core.py) delayed is a copy of a bus bit, which Yosys merges with the registers that
        # drive the bus (a shift register in boards/synth.py), and those then route across the chip.
        inverters = iter(j for j in range(self.width)
                         if j not in taken and isinstance(cones[j], frozenset) and len(cones[j]) == 1)
        for slots, m in zip(leaves, members):
            m.extend(j for _, j in zip(range(len(slots) - len(m)), inverters))
        taken = {j for m in members for j in m}
        rest = iter(sorted((j for j in range(self.width) if j not in taken), key=lambda j: (
            (0, -cones[j]) if isinstance(cones[j], int) else (1, 0) if not cones[j] else (2, 0))))
        order = [None] * self.width
        for slot, j in zip(plain, rest):
            order[slot] = j
        for slots, m in zip(leaves, members):
            m.extend(j for _, j in zip(range(len(slots) - len(m)), rest))
            for slot, j in zip(slots, m):
                order[slot] = j
        return order

    def _unabsorbed(self, cones):
        """Inputs whose logic needs a LUT of its own as arranged: off the leaves, or too many signals."""
        leaves, plain = self._leaves()
        count = sum(isinstance(cones[self._order[s]], frozenset) and bool(cones[self._order[s]]) for s in plain)
        for slots in leaves:
            used = set()
            for j in sorted((self._order[s] for s in slots), key=lambda j: -len(_signals(cones[j]))):
                if len(used | _signals(cones[j])) <= 4:
                    used |= _signals(cones[j])
                else:
                    count += isinstance(cones[j], frozenset) and bool(cones[j])
        return count

    def lines(self, bits: list[str], out: str, prefix: str) -> Iterator[str]:
        """Verilog that counts the signals ``bits`` into the existing ``out`` (``bits`` wide).

        ``bits[j]`` is the input that ``cones[j]`` describes.  Every name it declares starts
        with ``prefix``; registers are clocked by ``clk``.
        """
        if len(bits) != self.width:
            raise ValueError(f"{len(bits)} bits given to a {self.width}-bit count")
        bits = [bits[j] for j in self._order]
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
                s = wire(2, f"{{{a} & {b}, {a} ^ {b}}}")
                level = self._half_level
                if level and level % self.stage_levels == 0:
                    return delay(s, 2, 1), 2, level, 1
                return s, 2, level, 0
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
    class (classes with shorter trees are delayed to the common ``latency``).  ``cones``, one
    per input bit, say what feeds each (see :class:`PopCount`).  Other keyword arguments go to
    every :class:`PopCount`.  An iCE40 UP5K has 30 block RAMs, an ECP5-85 208.
    """

    def __init__(self, classes: int, group_size: int, *, roms=0, cones: Sequence[Cone] | None = None, **kwargs):
        if not isinstance(classes, int) or classes < 1:
            raise ValueError(f"classes must be a positive integer, not {classes!r}")
        per_class = [roms] * classes if isinstance(roms, int) else list(roms)
        if len(per_class) != classes:
            raise ValueError(f"roms must be an integer or one integer per class, not {roms!r}")
        if cones is not None and len(cones) != classes * group_size:
            raise ValueError(f"{len(cones)} cones given for {classes} x {group_size} bits")
        self.classes = classes
        self.group_size = group_size
        self.roms = roms
        g = group_size
        self._counts = [PopCount(g, roms=r, cones=None if cones is None else cones[c * g:(c + 1) * g], **kwargs)
                        for c, r in enumerate(per_class)]
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
            yield (f"    // class {c}: {g} bits, {pc.half_adders} half adders, {pc.roms} ROM leaves, "
                   f"{pc.luts} LUTs planned, latency {pc.latency} (+{self.latency - pc.latency})")
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
