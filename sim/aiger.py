"""And-inverter graphs as Yosys's ``write_aiger -ascii -symbols`` writes them: read, extended, unrolled, simulated.

A literal is ``2 * variable + complement``; variable 0 is the constant (literal 0 false, 1 true).
Yosys numbers inputs, then latches, then AND gates, each gate after its fan-ins, which
:func:`read` checks because every pass here relies on it. Every latch starts in a free state
(the proof's registers have no init values, which Yosys writes as a reset literal equal to
the latch's own; :func:`read` refuses any other).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Aig", "AigerError", "Gates", "Unrolled", "read", "delay", "unroll", "levels", "evaluate", "simulate"]

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass
class Aig:
    """A sequential AIG: variables ``1..n_inputs`` are inputs, the next ``len(latch_next)``
    latches, the rest AND gates (``ands[i]`` = the two fan-in literals of variable
    ``first_and + i``). ``inputs`` and ``outputs`` name each bit ``(name, bit)``; an input
    without a name is a cut point Yosys made (``$anyseq``)."""
    n_inputs: int
    latch_next: np.ndarray
    ands: np.ndarray
    outputs: np.ndarray
    input_names: list[tuple[str, int] | None]
    output_names: list[tuple[str, int]]

    @property
    def first_and(self) -> int:
        return 1 + self.n_inputs + len(self.latch_next)

    @property
    def n_vars(self) -> int:
        return self.first_and + len(self.ands)


class AigerError(Exception):
    """The AIGER file is not what this module reads (an internal error of the proof)."""


def read(aag: Path) -> Aig:
    """The ASCII AIGER ``aag`` with its symbol table (``write_aiger -ascii -symbols``)."""
    lines = aag.read_text().split("\n")
    header = lines[0].split()
    if header[0] != "aag" or len(header) < 6:
        raise AigerError(f"{aag} is not an ASCII AIGER file")
    m, i, l, o, a = map(int, header[1:6])

    def rows(start: int, count: int, width: int) -> np.ndarray:
        text = " ".join(lines[start:start + count])
        return np.array(text.split(), dtype=np.int64).reshape(count, width) if count else np.zeros((0, width), np.int64)

    ins = rows(1, i, 1)[:, 0]
    latches = [line.split() for line in lines[1 + i:1 + i + l]]
    outs = rows(1 + i + l, o, 1)[:, 0]
    ands = rows(1 + i + l + o, a, 3)
    first = 1 + i + l
    if (ins.tolist() != list(range(2, 2 * i + 2, 2)) or m != i + l + a
            or [int(x[0]) for x in latches] != list(range(2 * (i + 1), 2 * first, 2))
            or (a and (ands[:, 0].tolist() != list(range(2 * first, 2 * (m + 1), 2))
                       or not np.all(ands[:, 1] < ands[:, 0]) or not np.all(ands[:, 2] < ands[:, 0])))):
        raise AigerError(f"{aag} is not numbered inputs, latches, then gates in order")
    if any(len(x) < 3 or x[2] != x[0] for x in latches):
        raise AigerError(f"{aag} has a latch with an initial value; the proof's registers must start free")
    input_names: list[tuple[str, int] | None] = [None] * i
    output_names: list[tuple[str, int]] = [("", 0)] * o
    for line in lines[1 + i + l + o + a:]:
        if line[:1] in ("i", "o") and line[1:2].isdigit():
            index, name = line[1:].split(" ", 1)
            base, _, bit = name.partition("[")
            (input_names if line[0] == "i" else output_names)[int(index)] = (base, int(bit[:-1] or 0))
        elif line[:1] == "c":
            break
    return Aig(i, np.array([int(x[1]) for x in latches], dtype=np.int64), ands[:, 1:].copy(), outs,
               input_names, output_names)


def delay(aig: Aig, lits: list[int], cycles: int) -> tuple[Aig, list[int]]:
    """``aig`` with a chain of ``cycles`` new latches behind each of ``lits``, and the literals
    at the chains' ends: ``lits`` as they were ``cycles`` clocks ago. Latches come before gates
    in the numbering, so every gate literal moves up."""
    if cycles == 0:
        return aig, list(lits)
    first, n = aig.first_and, len(lits)

    def moved(x: np.ndarray) -> np.ndarray:
        return np.where(x >= 2 * first, x + 2 * n * cycles, x)

    chain = 2 * (first + np.arange(n * cycles, dtype=np.int64))  # latch c * n + i: lits[i] after c + 1 clocks
    nexts = np.concatenate([moved(np.array(lits, dtype=np.int64)), chain[:-n]])
    extended = Aig(aig.n_inputs, np.concatenate([moved(aig.latch_next), nexts]), moved(aig.ands), moved(aig.outputs),
                   aig.input_names, aig.output_names)
    return extended, chain[-n:].tolist()


class Gates:
    """AND gates appended to an :class:`Aig`, built literal by literal: constants fold and a
    gate asked for twice is made once (structural hashing), so a reference written naively,
    one truth table or adder at a time, stays small. :meth:`aig` returns the graph with them."""

    def __init__(self, aig: Aig):
        self.base = aig
        self.fanins: list[tuple[int, int]] = []
        self.known: dict[tuple[int, int], int] = {}

    def and_(self, a: int, b: int) -> int:
        if a == 0 or b == 0 or a == b ^ 1:
            return 0
        if a == 1 or a == b:
            return b
        if b == 1:
            return a
        key = (a, b) if a < b else (b, a)
        lit = self.known.get(key)
        if lit is None:
            lit = 2 * (self.base.n_vars + len(self.fanins))
            self.fanins.append(key)
            self.known[key] = lit
        return lit

    def or_(self, a: int, b: int) -> int:
        return self.and_(a ^ 1, b ^ 1) ^ 1

    def xor(self, a: int, b: int) -> int:
        return self.or_(self.and_(a, b ^ 1), self.and_(a ^ 1, b))

    def mux(self, s: int, hi: int, lo: int) -> int:
        """``s ? hi : lo``, one AND for a constant arm (a truth table's AND, OR and their kin)."""
        if hi == lo:
            return lo
        if hi == lo ^ 1:
            return self.xor(s, lo)
        if hi in (0, 1):
            return self.or_(s, lo) if hi else self.and_(s ^ 1, lo)
        if lo in (0, 1):
            return self.or_(s ^ 1, hi) if lo else self.and_(s, hi)
        return self.or_(self.and_(s, hi), self.and_(s ^ 1, lo))

    def aig(self, outputs: list[int], names: list[tuple[str, int]]) -> Aig:
        """The base graph with these gates and ``outputs`` (named ``names``) added to its own."""
        ands = np.array(self.fanins, dtype=np.int64).reshape(-1, 2)
        return Aig(self.base.n_inputs, self.base.latch_next, np.concatenate([self.base.ands, ands]),
                   np.concatenate([self.base.outputs, np.array(outputs, dtype=np.int64)]),
                   self.base.input_names, self.base.output_names + list(names))


def levels(fanins: np.ndarray, first: int) -> list[np.ndarray]:
    """Gate indices grouped by logic level, for gates ``fanins`` (literal pairs) numbered from
    variable ``first``; all variables below ``first`` are level 0."""
    level = np.zeros(first + len(fanins), dtype=np.int64)
    var = (fanins >> 1).tolist()
    lv = level.tolist()
    for g, (x, y) in enumerate(var):
        lv[first + g] = max(lv[x], lv[y]) + 1
    gate_level = np.array(lv[first:], dtype=np.int64)
    order = np.argsort(gate_level, kind="stable")
    bounds = np.searchsorted(gate_level[order], np.arange(1, gate_level.max(initial=0) + 2))
    return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def evaluate(fanins: np.ndarray, first: int, groups: list[np.ndarray], values: np.ndarray) -> None:
    """Fill ``values[first:]`` (bit-parallel words per variable) from the variables below ``first``."""
    comp = ((fanins & 1).astype(np.uint64) * _ALL)[:, :, None]
    var = fanins >> 1
    for g in groups:
        values[first + g] = (values[var[g, 0]] ^ comp[g, 0]) & (values[var[g, 1]] ^ comp[g, 1])


@dataclass
class Unrolled:
    """A combinational AIG: ``frames`` copies of a sequential one, only the gates the targets
    need. Variables ``1..len(sources)`` are free: ``sources[v - 1]`` is ``("input", i, frame)``
    or ``("latch", j, 0)`` (an initial state); gates follow in topological order."""
    sources: list[tuple[str, int, int]]
    ands: np.ndarray
    targets: np.ndarray

    @property
    def first_and(self) -> int:
        return 1 + len(self.sources)


def unroll(aig: Aig, frames: int, targets: list[int]) -> Unrolled:
    """Outputs ``targets`` of ``aig`` in its last of ``frames`` cycles, from a free initial state
    and free inputs in every cycle."""
    first, n_latches = aig.first_and, len(aig.latch_next)
    fan = aig.ands.tolist()
    # need[f]: the variables frame f must compute, found from the last frame back
    need = [np.zeros(aig.n_vars, dtype=bool) for _ in range(frames)]
    need[-1][aig.outputs[targets] >> 1] = True
    for f in range(frames - 1, -1, -1):
        mark = need[f]
        for g in range(len(fan) - 1, -1, -1):
            if mark[first + g]:
                a, b = fan[g]
                mark[a >> 1] = mark[b >> 1] = True
        if f:
            latches = np.flatnonzero(mark[1 + aig.n_inputs:first])
            need[f - 1][aig.latch_next[latches] >> 1] = True
    # the free variables first (every frame's inputs, the first frame's latches), then the gates
    sources = [("input", v - 1, f) for f in range(frames) for v in (np.flatnonzero(need[f][1:1 + aig.n_inputs]) + 1).tolist()]
    sources += [("latch", j, 0) for j in np.flatnonzero(need[0][1 + aig.n_inputs:first]).tolist()]
    source_lit = {s: 2 * (n + 1) for n, s in enumerate(sources)}
    new_ands: list[tuple[int, int]] = []
    previous: list[int] = []
    for f in range(frames):
        lit = [0] * aig.n_vars  # the new literal of each variable in this frame
        for v in (np.flatnonzero(need[f][1:first]) + 1).tolist():
            if v <= aig.n_inputs:
                lit[v] = source_lit[("input", v - 1, f)]
            elif f == 0:
                lit[v] = source_lit[("latch", v - 1 - aig.n_inputs, 0)]
            else:
                nxt = int(aig.latch_next[v - 1 - aig.n_inputs])
                lit[v] = previous[nxt >> 1] ^ (nxt & 1)
        base = 2 * (1 + len(sources))
        for g in (np.flatnonzero(need[f][first:])).tolist():
            a, b = fan[g]
            lit[first + g] = base + 2 * len(new_ands)
            new_ands.append((lit[a >> 1] ^ (a & 1), lit[b >> 1] ^ (b & 1)))
        previous = lit
    out = aig.outputs[targets].tolist()
    return Unrolled(sources, np.array(new_ands, dtype=np.int64).reshape(-1, 2),
                    np.array([previous[o >> 1] ^ (o & 1) for o in out], dtype=np.int64))


def simulate(aig: Aig, inputs: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Outputs ``[cycle, output]`` of ``aig`` run on ``inputs`` ``[cycle, input]`` from latch
    values ``state`` (all 0/1)."""
    first = aig.first_and
    groups = levels(aig.ands, first)
    values = np.zeros((aig.n_vars, 1), dtype=np.uint64)
    out = np.zeros((len(inputs), len(aig.outputs)), dtype=np.uint8)
    state = state.astype(np.uint64)
    for f, x in enumerate(inputs):
        values[1:1 + aig.n_inputs, 0] = x
        values[1 + aig.n_inputs:first, 0] = state
        evaluate(aig.ands, first, groups, values)
        bit = values[:, 0] & np.uint64(1)
        out[f] = bit[aig.outputs >> 1] ^ (aig.outputs & 1).astype(np.uint64)
        state = bit[aig.latch_next >> 1] ^ (aig.latch_next & 1).astype(np.uint64)
    return out
