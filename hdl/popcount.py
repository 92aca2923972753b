"""Pipelined population count and group sum, printed as structural Verilog.

A count is a tree.  Its leaves are full adders (three bits) and half adders (two bits),
written as plain logic, two LUTs each and combinational from the inputs: their LUTs have
inputs to spare, so synthesis merges the logic in front of a leaf into it when the signals
that logic reads fit in the four LUT inputs (a full adder absorbs a 2-input gate beside two
plain bits, or two or three gates that share inputs; a half adder absorbs two gates).  Given
what each input is (``cones``), the plan counts that logic too and places every input where it
costs least.  Optional ROM leaves count ten bits in one block RAM for no LUTs at all.  Above
the leaves, ripple-carry adders ``a + b + cin`` sum the partial counts; each takes one more
input bit as its carry-in.

Registers follow the leaves and then every ``stage_levels`` adder levels.  On an iCE40 a
register costs nothing when it follows its own LUT (logic cell = LUT4 + flip-flop), and a
whole cell otherwise: the plan prices every delay register, so it prefers trees whose
operands arrive together.  With ``adders="ice40"`` each adder is written as ``SB_LUT4`` +
``SB_CARRY`` cells, one cell per sum bit: the carry out becomes a LUT output in a cell of the
chain (so its register packs with it), and a carry-in enters through the carry logic of the
cell that outputs the previous adder's top bit.  Written as ``+``, Yosys leaves the carry
out on the carry chain, and nextpnr then spends a cell to bring it out plus one for its
register, and another to feed a carry-in from the fabric: on the shipped model that was 300
of 2,300 cells.  ``adders="generic"`` writes ``+`` for any synthesis tool.

The tree shape comes from a small dynamic program over these costs.  Like the logic layers
(``core.py``), the trees are written as text: a million-gate network has a hundred thousand
GroupSum inputs, which Amaranth needs minutes to elaborate.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, TextIO, Union

from amaranth.utils import ceil_log2

from . import verilog
from .arguments import one_of, positive

__all__ = ["ADDERS", "CELL_MODELS", "ECP5_CELL_MODELS", "ICE40_CELL_MODELS", "Cone", "PopCount", "GroupSum",
           "rom_module"]

MODULE = "lgn_groupsum"
ADDERS = ("generic", "ice40", "ecp5")

Cone = Union[int, frozenset]
"""What feeds one input of a count: an ``int`` is a plain signal (a register output, say) that
needs no LUT, named by an integer id; a ``frozenset`` of such ids is a LUT function of those
signals, computed in the count's first stage and read by nothing else, which a leaf may absorb."""

_EXACT = 64  # counts up to this width are planned exactly; wider ones split like a gate-free plan
# LUT_INIT of an iCE40 chain cell: the sum I1 ^ I2 ^ I3 (I3 is the carry in), and I3 alone
_SUM = "16'h" + format(sum((((a >> 1) ^ (a >> 2) ^ (a >> 3)) & 1) << a for a in range(16)), "04x")
_PASS = "16'hff00"
_NOT_SUM, _NOT_PASS = (f"16'h{int(init[4:], 16) ^ 0xffff:04x}" for init in (_SUM, _PASS))


def _bits(v):
    return max(1, v.bit_length())


def _size(t, rom_inputs):
    """Input bits a (sub)tree counts."""
    if not isinstance(t, tuple):
        return rom_inputs if t == "rom" else t
    return _size(t[0], rom_inputs) + _size(t[1], rom_inputs) + t[2]


def _count(t, kind):
    if not isinstance(t, tuple):
        return int(t == kind)
    return _count(t[0], kind) + _count(t[1], kind)


@dataclass(frozen=True)
class _Config:
    """What a plan depends on besides the width: see :class:`PopCount`."""
    stage_levels: int
    rom_inputs: int
    rom_stages: int
    adders: str
    ff_cost: float  # a flip-flop that cannot pack with its own LUT, in LUTs

    def avail(self, level: int) -> int:
        """Registers between the inputs and a value made at ``level`` (a raw bit is level 0)."""
        return 0 if level == 0 else 1 + (level - 1) // self.stage_levels

    def registered(self, level: int) -> bool:
        return level >= 1 and (level - 1) % self.stage_levels == 0

    @property
    def rom_level(self) -> int:
        # the block RAM's read register ends the first stage; a second one is a stage more
        return 1 if self.rom_stages == 1 else 1 + self.stage_levels

    def adder(self, total: int, cin: int) -> float:
        """Cost of an adder whose result counts up to ``total``: a cell per result bit on iCE40,
        and for ``+`` also the cells nextpnr adds to bring a carry in and out."""
        bits = _bits(total)
        if self.adders == "ice40":
            return bits
        if self.adders == "ecp5":
            return bits / 2  # a CCU2C holds two bits
        return bits + 1 + cin if bits > 2 else 2 + cin


_NONE = (None, 0, 0, 0, None)


def _leaf(n, gates, roms, cfg):
    """Leaf candidates ``(cost, level, ffs, tree)`` for ``n`` bits."""
    if roms:
        if roms == 1 and n == cfg.rom_inputs:  # a gate in an address costs its LUT
            ffs = (cfg.rom_stages - 1) * _bits(n)
            return [(gates + cfg.ff_cost * ffs, cfg.rom_level, ffs, "rom")]
        return []
    if n == 1:
        return [(gates, 0, 0, 1)]
    if n == 2:
        return [(2 + max(0, gates - 2), 1, 0, 2)]
    if n == 3:
        return [(2 + max(0, gates - 1), 1, 0, (1, 1, 1))]
    return []


def _join(n, cin, gc, left, right, cfg):
    """The adder ``left + right + cin`` (a gate on the carry-in if ``gc``)."""
    (ca, la, fa, ta), (cb, lb, fb, tb) = left, right
    level = max(la, lb, 1) + 1
    stage = cfg.avail(level - 1)
    a, b = n - cin - _size(tb, cfg.rom_inputs), _size(tb, cfg.rom_inputs)
    # delay registers: operands made in an earlier stage, and a carry-in bit from the inputs
    # (a gate's first register packs with its LUT: count half of it on average)
    ffs = (stage - cfg.avail(la)) * _bits(a) + (stage - cfg.avail(lb)) * _bits(b) + cin * stage
    cost = ca + cb + cfg.adder(n, cin) + gc + cfg.ff_cost * (ffs - 0.5 * cin * (stage > 0))
    return (cost, level, fa + fb + ffs, (ta, tb, cin))


def _key(c):
    return c[0], c[1], c[2]


@lru_cache(maxsize=None)
def _plan(n, gates, roms, cfg):
    """Cheapest tree counting ``n`` bits with ``roms`` ROM leaves: ``(cost, level, ffs, tree)``.

    ``gates`` of the bits are 2-input gates (or groups of gates that share inputs) that a leaf
    can absorb: a full adder one, a half adder two.  One that no leaf takes costs its own LUT,
    which ``cost`` includes.  ``cost`` is in LUTs (logic cells on iCE40): the leaves and adders,
    plus every delay flip-flop at ``cfg.ff_cost``; ``ffs`` counts those delay flip-flops.  Trees
    are ranked by cost, then by level (latency), then by delay flip-flops.  ``tree`` is ``1``
    (a bit), ``2`` (a half adder), ``(1, 1, 1)`` (a full adder), ``"rom"`` (a ROM counting
    ``rom_inputs`` bits) or ``(left, right, cin)``.  ``cost`` is None when no tree fits.
    """
    if roms * cfg.rom_inputs > n or gates > n or n < 1:
        return _NONE
    if n > _EXACT and gates:
        # Far from the leaves only the number of gates below each side matters: split as the
        # gate-free plan does and share the gates out in proportion.
        ta, tb, cin = _plan(n, 0, roms, cfg)[3]
        a, b = _size(ta, cfg.rom_inputs), _size(tb, cfg.rom_inputs)
        ga = gates * a // (a + b)
        ra = _count(ta, "rom")
        left = _plan(a, min(a, ga), ra, cfg)
        right = _plan(b, min(b, gates - ga), roms - ra, cfg)
        extra = max(0, ga - a) + max(0, gates - ga - b)
        return _join(n, cin, extra, left, right, cfg)
    cands = _leaf(n, gates, roms, cfg)
    for cin in (1, 0) if cfg.adders == "generic" else (0,):
        rest = n - cin
        half = rest // 2
        # Good trees are near balanced; limiting the splits keeps large widths fast.
        lo = max(1, half - 24) if n > _EXACT else 1
        for a in range(lo, half + 1):
            b = rest - a
            if a == b == 1:
                continue  # the half and full adder leaves above
            share = roms * a // max(rest, 1)
            for ra in sorted({max(0, share - 1), share, min(roms, share + 1)}):
                for gc in ((0, 1) if cin and gates else (0,)):  # a gate on a carry-in costs its LUT
                    gg = gates - gc
                    near = gg * a // rest
                    for ga in range(max(0, gg - b), min(a, gg) + 1):
                        if n > 12 and abs(ga - near) > 2:
                            continue
                        left = _plan(a, ga, ra, cfg)
                        right = _plan(b, gg - ga, roms - ra, cfg)
                        if left[0] is not None and right[0] is not None:
                            cands.append(_join(n, cin, gc, left, right, cfg))
    return min(cands, key=_key, default=_NONE)


def _signals(cone):
    return frozenset((cone,)) if isinstance(cone, int) else cone


def _fills(cones, exclude=frozenset()):
    """Group the gates among ``cones`` (indices into it, but those in ``exclude``) for the
    full-adder leaves.

    Returns ``(fills, lone)``: each fill is two or three gates, and maybe one more input, whose
    signals fit one LUT4 (gates that share a signal, or two gates and a plain bit or inverter
    of a signal one of them reads); ``lone`` are the other gates.
    """
    gates = [j for j, c in enumerate(cones) if isinstance(c, frozenset) and len(c) == 2 and j not in exclude]
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
        if len(_signals(c)) != 1 or j in exclude:
            continue
        (s,) = _signals(c)
        mate = next((g for g in readers.get(s, ()) if g in free), None)
        if mate is not None:
            other = next(g for g in free if g != mate)
            fills.append((mate, other, j))
            del free[mate], free[other]
    return fills, [j for j in gates if j in free]


@dataclass
class _Node:
    """A node of the placed tree, for emission: ``kind`` is ``bit``, ``half``, ``full``, ``rom``
    or ``add``; ``slots`` the input slots it reads itself (a leaf's bits, an adder's carry-in)."""
    kind: str
    level: int
    total: int
    slots: list
    children: tuple = ()


class PopCount:
    """Plan of a pipelined population count of ``width`` bits; :meth:`lines` prints it.

    The count of the bits presented in one cycle is ready ``latency`` cycles later; a new
    set of bits is taken every cycle.  The datapath has no reset and no enable.

    The leaves (level 1) are combinational from the inputs, so that synthesis merges the
    logic in front of them into them, and registered; then registers follow every
    ``stage_levels`` adder levels, and the count is always registered.  Without ``cones`` the
    inputs are used in slot order (see :meth:`terms`); with ``cones`` the plan places each
    input itself: gates in leaves, inverters in the other leaf inputs, plain signals and
    spare gates on carry-ins (a spare gate's first register packs with its LUT) and ROM
    addresses.

    Parameters
    ----------
    width : int
        Number of input bits (>= 1).
    stage_levels : int
        Adder levels per pipeline stage (>= 1).
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
        and shapes the tree to absorb the most.
    adders : ``"generic"``, ``"ice40"`` or ``"ecp5"``
        ``+`` for any tool, iCE40 ``SB_LUT4``/``SB_CARRY`` chains (see the module docstring), or
        ECP5 ``CCU2C`` chains.
    ff_cost : float
        What a flip-flop that does not follow its own LUT costs, in LUTs: 1.0 on iCE40 (a
        whole logic cell), less where slices hold spare flip-flops.
    depths : sequence of int, optional
        LUT levels in front of each input in its stage: ROM addresses take the shallowest
        inputs (a block RAM sits in a column a long route away).
    invert : bool
        Output the count inverted (``~count``), for a reader that wants it so: free where the
        count ends in an iCE40 chain, whose LUTs then compute the inverted sum bits.

    Attributes
    ----------
    latency : int
        Clock cycles from the inputs to the count.
    bits : int
        Width of the count.
    half_adders, roms : int
        Number of half-adder leaves and of ROM leaves.
    luts, carries, ffs, lone_ffs : int
        Planned LUT4s (of the tree, and with ``cones`` of the input logic left to LUTs of its
        own), carry cells (``SB_CARRY``, or adder bits on a generic chain), flip-flops, and
        those flip-flops that do not follow a LUT of their own (delays).
    """

    def __init__(self, width: int, *, stage_levels: int = 1, roms: int = 0, rom_inputs: int = 10,
                 rom_stages: int = 2, cones: Sequence[Cone] | None = None, adders: str = "generic",
                 ff_cost: float = 1.0, depths: Sequence[int] | None = None, invert: bool = False):
        positive(width=width, stage_levels=stage_levels, rom_inputs=rom_inputs)
        one_of("rom_stages", rom_stages, (1, 2))
        if not isinstance(roms, int) or roms < 0 or roms * rom_inputs > width:
            raise ValueError(f"roms must be an integer from 0 to width // rom_inputs, not {roms!r}")
        if cones is not None and len(cones) != width:
            raise ValueError(f"{len(cones)} cones given for a {width}-bit count")
        if depths is not None and len(depths) != width:
            raise ValueError(f"{len(depths)} depths given for a {width}-bit count")
        one_of("adders", adders, ADDERS)
        self.width = width
        self.stage_levels = stage_levels
        self.rom_inputs = rom_inputs
        self.rom_stages = rom_stages
        self.adders = adders
        self.invert = invert
        self.bits = ceil_log2(width + 1)
        self._cfg = _Config(stage_levels, rom_inputs, rom_stages, adders, ff_cost)
        fills, lone = _fills(cones) if cones is not None else ([], [])
        _, level, _, self._tree = _plan(width, len(fills) + len(lone), roms, self._cfg)
        self.half_adders = _count(self._tree, 2)
        self.roms = _count(self._tree, "rom")
        self._root = self._placed()
        self.latency = self._cfg.avail(level) + (not self._cfg.registered(level))
        self._depths = depths
        self._order = list(range(width))
        if cones is not None:
            self._order = self._arrange(cones)
        self.luts, self.carries, self.ffs, self.lone_ffs = self._resources(cones)

    # -- the placed tree -------------------------------------------------------------

    def _placed(self) -> _Node:
        """The tree with input slots: half adders take the first slots pairwise, full adders
        the next ones three at a time, bits and carry-ins the next ones in build order, ROMs
        the last ones; slot j counts input ``_order[j]``."""
        rom_base = self.width - self.roms * self.rom_inputs
        fulls_base = 2 * self.half_adders
        singles_base = fulls_base + 3 * sum(1 for _ in self._walk_kind(self._tree, (1, 1, 1)))
        pairs = iter(range(0, fulls_base, 2))
        triples = iter(range(fulls_base, singles_base, 3))
        singles = iter(range(singles_base, rom_base))
        roms = iter(range(rom_base, self.width, self.rom_inputs))
        cfg = self._cfg

        def place(t) -> _Node:
            if t == 1:
                return _Node("bit", 0, 1, [next(singles)])
            if t == 2:
                j = next(pairs)
                return _Node("half", 1, 2, [j, j + 1])
            if t == (1, 1, 1):
                j = next(triples)
                return _Node("full", 1, 3, [j, j + 1, j + 2])
            if t == "rom":
                j = next(roms)
                return _Node("rom", cfg.rom_level, self.rom_inputs, list(range(j, j + self.rom_inputs)))
            left, right = place(t[0]), place(t[1])
            cin = [next(singles)] if t[2] else []
            return _Node("add", max(left.level, right.level, 1) + 1, left.total + right.total + t[2], cin,
                         (left, right))

        return place(self._tree)

    @staticmethod
    def _walk_kind(t, kind):
        if t == kind:
            yield t
        elif isinstance(t, tuple) and t != (1, 1, 1):
            yield from PopCount._walk_kind(t[0], kind)
            yield from PopCount._walk_kind(t[1], kind)

    def _nodes(self) -> Iterator[_Node]:
        stack = [self._root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def terms(self) -> tuple:
        """The sum the adders compute, as nested tuples of input positions.

        The count is the sum of all leaves, parenthesized as in the hardware: a tuple per
        adder, half adder, full adder and ROM.  Every position appears exactly once.
        """
        at = self._order

        def terms(node):
            if node.kind == "bit":
                return at[node.slots[0]]
            if node.kind != "add":
                return tuple(at[j] for j in node.slots)
            return (terms(node.children[0]), terms(node.children[1])) + tuple(at[j] for j in node.slots)

        root = terms(self._root)
        return root if isinstance(root, tuple) else (root,)

    def _stage(self, level: int) -> int:
        """Registers before an adder at ``level`` computes (a leaf: none)."""
        return self._cfg.avail(level - 1) if level > 1 else 0

    def _plain_slots(self) -> tuple[list[list[int]], list[tuple[int, int]]]:
        """The leaves' slot lists (full adders, then half adders), and ``(delay, slot)`` for every
        slot counted without a leaf: carry-ins and bit operands (delayed ``delay`` registers)
        and ROM addresses (delay 0: the block RAM registers its address itself)."""
        leaves, plain = [], []
        for node in self._nodes():
            if node.kind in ("full", "half"):
                leaves.append((node.kind != "full", node.slots))
            elif node.kind == "rom":
                plain.extend((0, j) for j in node.slots)
            elif node.kind == "add":
                plain.extend((self._stage(node.level), j) for j in node.slots)
                plain.extend((self._stage(node.level), c.slots[0]) for c in node.children if c.kind == "bit")
        if self._root.kind == "bit":
            plain.append((1, self._root.slots[0]))
        return [slots for _, slots in sorted(leaves, key=lambda leaf: leaf[0])], plain

    def _arrange(self, cones):
        """``order[slot]``: the input that each slot of :meth:`lines` counts."""
        leaves, plain = self._plain_slots()
        order = [None] * self.width
        # ROM addresses first, from the shallow inputs: plain signals (the lowest ids, model
        # inputs, have no logic in front of them), constants, then gates of shallow signals
        depth = self._depths or [0] * self.width
        kind = lambda j: 0 if isinstance(cones[j], int) else 1 if not cones[j] else 2  # noqa: E731
        shallow = sorted(range(self.width), key=lambda j: (depth[j], kind(j), max(_signals(cones[j]), default=-1)))
        addresses = [slot for d, slot in plain if d == 0]
        for slot, j in zip(addresses, shallow):
            order[slot] = j
        reserved = frozenset(shallow[:len(addresses)])
        plain = [(d, slot) for d, slot in plain if d > 0]
        fills, lone = _fills(cones, reserved)
        fulls = sum(len(slots) == 3 for slots in leaves)
        members = [[] for _ in leaves]
        # Full adders take the fills of two or three gates, then one gate each, half adders
        # two gates; the gates of fills left over go on alone.
        for m, fill in zip(members[:fulls], fills):
            m.extend(fill)
        lone = iter(lone + [j for fill in fills[fulls:] for j in fill if len(_signals(cones[j])) == 2])
        for k, m in enumerate(members[len(fills):]):
            m.extend(j for _, j in zip(range(1 if len(fills) + k < fulls else 2), lone))
        taken = {j for m in members for j in m}
        # Inverters fill the leaves (free there).  Delayed slots take constants (no register at
        # all), then gates (the first register packs with the gate's LUT), then the highest
        # signal ids: a model input (lowest ids in core.py) delayed is a copy of a bus bit, which
        # Yosys merges with the registers that drive the bus (a shift register in
        # boards/ppa.py), and those then route across the chip.  The leaves take what is left.
        inverters = iter(j for j in range(self.width) if j not in taken and j not in reserved
                         and isinstance(cones[j], frozenset) and len(cones[j]) == 1)
        for slots, m in zip(leaves, members):
            m.extend(j for _, j in zip(range(len(slots) - len(m)), inverters))
        left = [j for j in range(self.width) if j not in {j for m in members for j in m} | reserved]
        consts = [j for j in left if cones[j] == frozenset()]
        gates = [j for j in left if isinstance(cones[j], frozenset) and cones[j]]
        plains = sorted((j for j in left if isinstance(cones[j], int)), key=lambda j: -cones[j])
        pool = consts + gates + plains
        delayed = sorted(plain, key=lambda c: -c[0])
        for (_, slot), j in zip(delayed, pool):
            order[slot] = j
        rest = iter(pool[len(delayed):])
        for slots, m in zip(leaves, members):
            m.extend(j for _, j in zip(range(len(slots) - len(m)), rest))
            for slot, j in zip(slots, m):
                order[slot] = j
        return order

    def _resources(self, cones):
        """``(luts, carries, ffs, lone_ffs)`` of the tree as placed and arranged."""
        luts = carries = ffs = lone = 0
        cfg = self._cfg
        gate = (lambda j: isinstance(cones[j], frozenset) and bool(cones[j])) if cones is not None else (
            lambda j: False)
        for node in self._nodes():
            if node.kind in ("full", "half"):
                luts += 2
                used = set()
                for j in sorted((self._order[s] for s in node.slots), key=lambda j: -len(_signals(cones[j]))) \
                        if cones is not None else ():
                    if len(used | _signals(cones[j])) <= 4:
                        used |= _signals(cones[j])
                    else:
                        luts += gate(j)
                ffs += 2 if cfg.registered(1) else 0
            elif node.kind == "rom":
                luts += sum(gate(self._order[j]) for j in node.slots)
                extra = (self.rom_stages - 1) * _bits(node.total)
                ffs += extra
                lone += extra
            elif node.kind == "add":
                stage = self._stage(node.level)
                bits = _bits(node.total)
                if self.adders == "ecp5":  # the bits go to CCU2C cells, none to LUT4s
                    carries += bits + bits % 2
                else:  # a cell per sum bit, with a carry but for the top one
                    luts += bits
                    carries += bits - 1 + bool(node.slots) if bits > 1 else 0
                for child in node.children:
                    width = _bits(child.total)
                    wait = stage - (cfg.avail(child.level) if child.kind != "bit" else 0)
                    if child.kind == "bit":
                        luts += gate(self._order[child.slots[0]])
                        free = gate(self._order[child.slots[0]]) and wait > 0
                    else:
                        free = False
                    ffs += wait * width
                    lone += wait * width - free
                for j in node.slots:
                    luts += gate(self._order[j])
                    free = gate(self._order[j]) and stage > 0
                    ffs += stage
                    lone += stage - free
                if cfg.registered(node.level):
                    ffs += bits
        if not cfg.registered(self._root.level):
            ffs += _bits(self._root.total)
            lone += self._root.kind == "bit"
        return luts, carries, ffs, lone

    # -- Verilog ---------------------------------------------------------------------

    def lines(self, bits: list[str], out: str, prefix: str) -> Iterator[str]:
        """Verilog that counts the signals ``bits`` into the existing ``out`` (``bits`` wide).

        ``bits[j]`` is the input that ``cones[j]`` describes.  Every name it declares starts
        with ``prefix``; registers are clocked by ``clk``.
        """
        if len(bits) != self.width:
            raise ValueError(f"{len(bits)} bits given to a {self.width}-bit count")
        return _Writer(self, [bits[j] for j in self._order], prefix).lines(out)


class _Writer:
    """Prints one :class:`PopCount`: leaves first, then the adders level by level."""

    def __init__(self, pc: PopCount, bits: list[str], prefix: str):
        self.pc, self.bits, self.prefix = pc, bits, prefix
        self.names = iter(range(1 << 30))
        self.decls: list[str] = []
        self.regs: list[tuple[str, str]] = []  # (register, value) of the one clocked block

    def name(self) -> str:
        return f"{self.prefix}{next(self.names)}"

    def wire(self, width: int, expr: str, keep: bool = False) -> str:
        name = self.name()
        self.decls.append(verilog.wire(name, expr, width, keep))
        return name

    def delay(self, v: str, width: int, cycles: int) -> str:
        """``v`` ``cycles`` clocks late.  With iCE40 cells in ``SB_DFF`` cells: Yosys turns a plain
        register behind logic such as ``a & ~b`` into a flip-flop with a reset pin and no LUT, and
        the reset nets then keep eight-cell blocks apart and slow the design down; a cell keeps
        the logic in a LUT whose register packs with it."""
        if cycles and self.pc.adders == "ice40" and not v.isidentifier():
            v = self.wire(width, v)  # a name, for the bit selects below
        for _ in range(cycles):
            r = self.name()
            if self.pc.adders == "ice40":
                self.decls.append(verilog.wire(r, width=width))
                self.decls += [verilog.instance("SB_DFF", f"{r}_ff{k}", {"Q": f"{r}[{k}]", "C": "clk", "D": f"{v}[{k}]"})
                               for k in range(width)]
            else:
                self.decls.append(verilog.reg(r, width))
                self.regs.append((r, v))
            v = r
        return v

    def bit_delay(self, v: str, cycles: int) -> str:
        """An input bit ``cycles`` clocks late, as a name that takes a bit select like every operand."""
        return self.delay(self.wire(1, v), 1, cycles)

    def lines(self, out: str) -> Iterator[str]:
        pc, cfg = self.pc, self.pc._cfg
        value = {}  # node id -> (signal, stage in which it is available)
        by_level = defaultdict(list)
        for node in pc._nodes():
            by_level[node.level].append(node)
        for level in sorted(by_level):
            adds = [n for n in by_level[level] if n.kind == "add"]
            for node in by_level[level]:
                if node.kind not in ("add", "bit"):  # a bit is read where it is used
                    value[id(node)] = self.leaf(node)
            if adds:
                stage = pc._stage(level)
                operands = []
                for node in adds:
                    ops = [self.operand(c, value, stage) for c in node.children]
                    cin = self.bit_delay(self.bits[node.slots[0]], stage) if node.slots else None
                    operands.append((node, ops, cin))
                for node, sum_ in zip(adds, self.adders(operands, pc._root if pc.invert else None)):
                    reg = cfg.registered(level)
                    value[id(node)] = (self.delay(sum_, _bits(node.total), reg), stage + reg)
        root = pc._root
        v, stage = value[id(root)] if root.kind != "bit" else (self.bits[root.slots[0]], 0)
        if pc.invert and not (root.kind == "add" and pc.adders == "ice40"):
            v = self.wire(_bits(root.total), f"~{v}")  # an inverter LUT; a chain inverts for free
        v = self.delay(v, _bits(root.total), pc.latency - stage)
        yield from self.decls
        if self.regs:
            yield verilog.registers(self.regs)
        yield verilog.assign(out, v)

    def operand(self, node: _Node, value: dict, stage: int) -> str:
        if node.kind == "bit":
            return self.bit_delay(self.bits[node.slots[0]], stage)
        v, ready = value[id(node)]
        return self.delay(v, _bits(node.total), stage - ready)

    def leaf(self, node: _Node) -> tuple[str, int]:
        """A leaf's value, registered after level 1 (a ROM's read register is its own)."""
        b = [self.bits[j] for j in node.slots]
        if node.kind == "half":
            s = self.wire(2, f"{{{b[0]} & {b[1]}, {b[0]} ^ {b[1]}}}")
        elif node.kind == "full":
            a, c, d = b
            s = self.wire(2, f"{{({a} & {c}) | ({d} & ({a} ^ {c})), {a} ^ {c} ^ {d}}}")
        else:
            n = self.pc.rom_inputs
            data = self.name()
            self.decls.append(verilog.wire(data, width=_bits(n)))
            self.decls.append(verilog.instance(f"lgn_rom{n}", f"{data}_rom",
                                               {"clk": "clk", "addr": verilog.concat(b), "data": data}))
            stages = self.pc.rom_stages
            return self.delay(data, _bits(n), stages - 1), stages
        return self.delay(s, 2, 1), 1

    def adders(self, operands: list, inverted: _Node | None = None) -> list[str]:
        """The sums of ``(node, (a, b), cin)``, as ``+`` or as iCE40 carry chains; an iCE40 chain
        for the node ``inverted`` computes the sum inverted."""
        if self.pc.adders == "generic":
            # Yosys merges chains of unregistered adders into one multi-operand adder and
            # re-maps it badly; keep stops that, so the tree shape survives synthesis.
            return [self.wire(_bits(node.total), " + ".join([*ops, *([cin] if cin else [])]), keep=True)
                    for node, ops, cin in operands]
        if any(cin is not None for _, _, cin in operands):
            raise ValueError("adders of cells take no carry-in; the plan gives them none")
        if self.pc.adders == "ecp5":
            return [self.ccu2c_chain(node, ops) for node, ops, _ in operands]
        return [self.chain(node, ops, node is inverted) for node, ops, _ in operands]

    def ccu2c_chain(self, node: _Node, operands: list[str]) -> str:
        """An adder as ECP5 ``CCU2C`` cells, two bits each (the propagate LUT ``A ^ B``, the carry
        ``A`` where it does not propagate), as Yosys maps adders of five bits and more: it
        maps smaller ones to LUT4s, and a popcount is mostly small adders."""
        a, b = operands
        widths = [_bits(child.total) for child in node.children]
        width = _bits(node.total)
        x = [f"{a}[{i}]" if i < widths[0] else "1'b0" for i in range(width + width % 2)]
        y = [f"{b}[{i}]" if i < widths[1] else "1'b0" for i in range(width + width % 2)]
        s = self.name()
        self.decls.append(verilog.wire(s, width=len(x)))
        carry = "1'b0"
        for i in range(0, len(x), 2):
            cout = self.name()
            self.decls.append(verilog.wire(cout))
            self.decls.append(verilog.instance(
                "CCU2C", f"{cout}_ccu",
                {"CIN": carry, "A0": x[i], "B0": y[i], "C0": "1'b0", "D0": "1'b1", "A1": x[i + 1], "B1": y[i + 1],
                 "C1": "1'b0", "D1": "1'b1", "S0": f"{s}[{i}]", "S1": f"{s}[{i + 1}]", "COUT": cout},
                {"INIT0": "16'h96aa", "INIT1": "16'h96aa", "INJECT1_0": '"NO"', "INJECT1_1": '"NO"'}))
            carry = cout
        return self.wire(width, f"{s}[{width - 1}:0]")

    def chain(self, node: _Node, operands: list[str], invert: bool = False) -> str:
        """An adder as an iCE40 carry chain: a cell per sum bit (LUT = I1 ^ I2 ^ carry in,
        SB_CARRY the majority of the same) and, when the top bit is the carry out, a cell whose
        LUT passes the carry (its register then packs with it; written as ``+``, nextpnr adds a
        cell to bring the carry out and the register takes another).  No carry-in: feeding one
        through a chain cell (I1 = I2 = cin) crowded the routing so that a 4 x 1000-gate
        model did not route on an UP5K.  ``invert``: the LUTs output the sum bits inverted."""
        a, b = operands
        wa, wb = (_bits(child.total) for child in node.children)
        sum_init, pass_init = (_NOT_SUM, _NOT_PASS) if invert else (_SUM, _PASS)
        bits, carry = [], "1'b0"
        for i in range(_bits(node.total)):
            if i == max(wa, wb):
                bits.append(self.lut(pass_init, "1'b0", "1'b0", carry))
                break
            x = f"{a}[{i}]" if i < wa else "1'b0"
            y = f"{b}[{i}]" if i < wb else "1'b0"
            bits.append(self.lut(sum_init, x, y, carry))
            if i + 1 < _bits(node.total):
                carry = self.carry(x, y, carry)
        return self.wire(len(bits), verilog.concat(bits))

    def lut(self, init: str, i1: str, i2: str, i3: str) -> str:
        o = self.name()
        self.decls.append(verilog.wire(o))
        self.decls.append(verilog.instance("SB_LUT4", f"{o}_lut", {"O": o, "I0": "1'b0", "I1": i1, "I2": i2, "I3": i3},
                                           {"LUT_INIT": init}))
        return o

    def carry(self, i0: str, i1: str, ci: str) -> str:
        o = self.name()
        self.decls.append(verilog.wire(o))
        self.decls.append(verilog.instance("SB_CARRY", f"{o}_carry", {"CO": o, "I0": i0, "I1": i1, "CI": ci}))
        return o


def rom_module(rom_inputs: int) -> Iterator[str]:
    """Module ``lgn_rom<n>``: a registered ROM whose word at ``addr`` is the popcount of ``addr``.

    Written as an initialised memory read into a register, which Yosys maps to block RAM.
    """
    n = rom_inputs
    yield verilog.header(f"lgn_rom{n}", [verilog.port("input", "clk"), verilog.port("input", "addr", n),
                                         verilog.port("output", "data", _bits(n), kind="reg")])
    yield f"    reg [{_bits(n) - 1}:0] counts [0:{(1 << n) - 1}];"
    yield "    integer j;"
    yield f"    initial for (j = 0; j < {1 << n}; j = j + 1)"
    yield f"        counts[j] = {' + '.join(f'j[{b}]' for b in range(n))};"
    yield verilog.register("data", "counts[addr]")
    yield verilog.END


class GroupSum:
    """Per-class popcount of contiguous groups, as module ``lgn_groupsum(clk, i_bits, o_scores)``.

    Class ``c`` counts ``i_bits[c*group_size +: group_size]``; its score is
    ``o_scores[c*bits +: bits]`` with ``bits = ceil_log2(group_size + 1)``, ``latency`` cycles
    later, inverted (``~count``) for the classes in ``inverted``.  ``roms`` is the number of ROM
    leaves per class, or a sequence with one number per class (classes with shorter trees are
    delayed to the common ``latency``).  ``cones`` and
    ``depths``, one per input bit, say what feeds each (see :class:`PopCount`).  Other keyword arguments go to
    every :class:`PopCount`.  An iCE40 UP5K has 30 block RAMs, an ECP5-85 208.
    """

    def __init__(self, classes: int, group_size: int, *, roms=0, cones: Sequence[Cone] | None = None,
                 depths: Sequence[int] | None = None, inverted: frozenset[int] = frozenset(), **kwargs):
        positive(classes=classes)
        per_class = [roms] * classes if isinstance(roms, int) else list(roms)
        if len(per_class) != classes:
            raise ValueError(f"roms must be an integer or one integer per class, not {roms!r}")
        if cones is not None and len(cones) != classes * group_size:
            raise ValueError(f"{len(cones)} cones given for {classes} x {group_size} bits")
        self.classes = classes
        self.group_size = group_size
        self.roms = roms
        g = group_size
        part = lambda seq, c: None if seq is None else seq[c * g:(c + 1) * g]  # noqa: E731
        if not set(inverted) <= set(range(classes)):
            raise ValueError(f"inverted must hold class indices below {classes}, not {sorted(inverted)!r}")
        self.inverted = frozenset(inverted)
        self._counts = [PopCount(g, roms=r, cones=part(cones, c), depths=part(depths, c), invert=c in self.inverted,
                                 **kwargs) for c, r in enumerate(per_class)]
        self.bits = self._counts[0].bits
        self.latency = max(pc.latency for pc in self._counts)
        pad = [(self.latency - pc.latency) * self.bits for pc in self._counts]
        self.luts = sum(pc.luts for pc in self._counts)
        self.carries = sum(pc.carries for pc in self._counts)
        self.ffs = sum(pc.ffs for pc in self._counts) + sum(pad)
        self.lone_ffs = sum(pc.lone_ffs for pc in self._counts) + sum(pad)
        self.brams = sum(pc.roms for pc in self._counts)
        self.cones = list(cones) if cones is not None else []

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
        yield verilog.header(MODULE, [verilog.port("input", "clk"), verilog.port("input", "i_bits", self.classes * g),
                                      verilog.port("output", "o_scores", self.classes * b)])
        for c, pc in enumerate(self._counts):
            yield (f"    // class {c}: {g} bits, {pc.half_adders} half adders, {pc.roms} ROM leaves, "
                   f"{pc.luts} LUTs planned, latency {pc.latency} (+{self.latency - pc.latency})"
                   + (", output inverted" if pc.invert else ""))
            yield verilog.wire(f"count{c}", width=b)
            yield from pc.lines([f"i_bits[{c * g + j}]" for j in range(g)], f"count{c}", f"c{c}_")
            # shorter trees wait for the longest, so that every score comes out together
            pad, score = verilog.delay(f"count{c}", b, self.latency - pc.latency, f"count{c}_d")
            yield from pad
            yield verilog.assign(f"o_scores[{c * b + b - 1}:{c * b}]", score)
        yield verilog.END
        rom_inputs = {pc.rom_inputs for pc in self._counts if pc.roms}
        for n in sorted(rom_inputs):
            yield from rom_module(n)


# Behaviour of the vendor cells that ``adders="ice40"`` and ``"ecp5"`` instance, for simulators
# and for the proof (synthesis uses Yosys's own cell library instead; tests/test_popcount.py
# checks these against it).
ICE40_CELL_MODELS = """\
// Simulation models of the iCE40 cells lgn2rtl instances (SB_LUT4, SB_CARRY, SB_DFF). Not for synthesis.
module SB_LUT4 #(parameter [15:0] LUT_INIT = 16'h0000) (output wire O, input wire I0, I1, I2, I3);
    assign O = LUT_INIT[{I3, I2, I1, I0}];
endmodule
module SB_CARRY (output wire CO, input wire I0, I1, CI);
    assign CO = (I0 & I1) | ((I0 | I1) & CI);
endmodule
module SB_DFF (output reg Q, input wire C, D);
    always @(posedge C) Q <= D;
endmodule
"""
ECP5_CELL_MODELS = """\
// Simulation model of the ECP5 cell lgn2rtl instances (CCU2C, without INJECT1). Not for synthesis.
module CCU2C #(parameter [15:0] INIT0 = 16'h0000, INIT1 = 16'h0000, parameter INJECT1_0 = "YES",
               INJECT1_1 = "YES") (input wire CIN, A0, B0, C0, D0, A1, B1, C1, D1,
                                   output wire S0, S1, COUT);
    wire p0 = INIT0[{D0, C0, B0, A0}], g0 = INIT0[{B0, A0}];
    wire p1 = INIT1[{D1, C1, B1, A1}], g1 = INIT1[{B1, A1}];
    wire c1 = p0 ? CIN : g0;
    assign S0 = p0 ^ CIN;
    assign S1 = p1 ^ c1;
    assign COUT = p1 ? c1 : g1;
endmodule
"""
CELL_MODELS = {"ice40": ICE40_CELL_MODELS, "ecp5": ECP5_CELL_MODELS}
"""The simulation models a design with ``adders=...`` needs, by that value."""
