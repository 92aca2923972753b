"""SAT sweeping: prove the outputs of a combinational AIG constant true, merging equal nodes on the way.

A miter of two circuits that compute the same thing through much the same structure (the
compiled core and the network it came from, two adder trees over the same bits) is hard for
a SAT solver as a whole but easy node by node. So, as in ABC's ``fraig``:

1. simulate the graph on random input words; nodes with equal (or complementary) values are
   candidates for being equal;
2. in topological order, rebuild each gate over the already merged fan-ins (structural
   hashing: a gate seen before is reused), and ask an incremental SAT solver whether it
   equals its candidate; if so, every later reader uses the candidate instead, so the next
   question is about a small cone between merged points. A satisfying assignment is a new
   input pattern that tells apart more false candidates;
3. each output is then one last SAT question, usually already decided by the merges.

Every merge is a proven equivalence (UNSAT of both differences) and the last question is
asked of the merged graph, so the result is exact: ``proven`` means the output is true for
every assignment of the free variables. A question a solver cannot settle within a conflict
budget merges nothing (the node stays), which costs time, never soundness.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from pysat.solvers import Solver

from .aiger import Unrolled, evaluate, levels

__all__ = ["Verdict", "SweepTimeout", "prove_outputs"]

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_WORDS = 8  # 512 random patterns before any counterexample refines the candidates
_BUDGET = 2000  # conflicts per candidate question: beyond that, leave the pair unmerged
_SOLVER = "minisat22"  # incremental with assumptions and a conflict budget, and quick per call


class SweepTimeout(Exception):
    """The deadline passed before every output was decided."""


@dataclass
class Verdict:
    """Per output: ``proven``, or ``false`` with ``assignment`` (one bit per free variable)."""
    result: str
    assignment: np.ndarray | None = None


@dataclass
class SweepStats:
    """What the sweep did: gates in the graph, gates left after merging, SAT questions asked."""
    gates: int = 0
    kept: int = 0
    questions: int = 0
    refinements: int = 0


def prove_outputs(u: Unrolled, deadline: float, seed: int = 0) -> tuple[list[Verdict], SweepStats]:
    """Decide, for each of ``u.targets``, whether it is true for every assignment of the sources."""
    return _Sweep(u, seed).run(deadline)


class _Sweep:
    def __init__(self, u: Unrolled, seed: int):
        self.u = u
        self.first = u.first_and
        self.n = self.first + len(u.ands)
        self.groups = levels(u.ands, self.first)
        self.rng = np.random.default_rng(seed)
        self.values = np.zeros((self.n, _WORDS), dtype=np.uint64)
        self.values[1:self.first] = self.rng.integers(0, 1 << 63, size=(self.first - 1, _WORDS), dtype=np.uint64) * 2 \
            + self.rng.integers(0, 2, size=(self.first - 1, _WORDS), dtype=np.uint64)
        evaluate(u.ands, self.first, self.groups, self.values)
        self.pending: list[np.ndarray] = []  # satisfying assignments not yet simulated
        self.stats = SweepStats(gates=len(u.ands))

    def signatures(self) -> tuple[list[int], list[int]]:
        """Per variable, a hash of its simulated values up to complement, and its phase."""
        phase = (self.values[:, 0] & np.uint64(1)).astype(np.uint64)
        norm = self.values ^ (phase * _ALL)[:, None]
        mult = (np.arange(norm.shape[1], dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
        with np.errstate(over="ignore"):
            h = (norm * mult).sum(axis=1, dtype=np.uint64) ^ (norm[:, 0] >> np.uint64(29))
        return h.tolist(), phase.astype(np.int64).tolist()

    def refine(self) -> None:
        """Simulate the pending satisfying assignments as a new word of patterns."""
        word = self.rng.integers(0, 1 << 63, size=self.first - 1, dtype=np.uint64) * 2
        for k, a in enumerate(self.pending[:64]):
            bit = np.uint64(1 << k)
            word = np.where(a.astype(bool), word | bit, word & ~bit)
        self.pending = self.pending[64:]
        column = np.zeros((self.n, 1), dtype=np.uint64)
        column[1:self.first, 0] = word
        evaluate(self.u.ands, self.first, self.groups, column)
        self.values = np.concatenate([self.values, column], axis=1)
        self.stats.refinements += 1

    def run(self, deadline: float) -> tuple[list[Verdict], SweepStats]:
        solver = Solver(name=_SOLVER)
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), solver.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return self._run(solver, deadline), self.stats
        finally:
            timer.cancel()
            solver.delete()

    def _assignment(self, solver: Solver) -> np.ndarray:
        model = solver.get_model()
        n = self.first - 1
        # solver variable v + 1 is source v (1-based); a source the solver never saw is 0
        values = np.zeros(n, dtype=np.uint8)
        known = np.array(model[1:n + 1] if len(model) > n else model[1:], dtype=np.int64)
        values[:len(known)] = known > 0
        return values

    def _differ(self, solver: Solver, x: int, y: int) -> bool | None:
        """Whether literals ``x`` and ``y`` can differ (None: the budget ran out). A difference
        found becomes a pattern for the next refinement."""
        self.stats.questions += 1
        for assume in ([x, -y], [-x, y]):
            solver.conf_budget(_BUDGET)
            answer = solver.solve_limited(assumptions=assume, expect_interrupt=True)
            if answer:
                self.pending.append(self._assignment(solver))
                return True
            if answer is None:
                return None
        return False

    def _run(self, solver: Solver, deadline: float) -> list[Verdict]:
        false = 1  # solver variable 1 is the constant: the literal 1 is false
        solver.add_clause([-1])
        # rep[v]: the solver literal variable v of the graph is merged into
        rep = [false] + [v + 1 for v in range(1, self.first)] + [0] * len(self.u.ands)
        top = self.first
        hashes, phase = self.signatures()
        seen: dict[int, int] = {hashes[0]: 0}
        for v in range(1, self.first):
            seen.setdefault(hashes[v], v)
        strash: dict[tuple[int, int], int] = {}
        fan = self.u.ands.tolist()
        for g, (a, b) in enumerate(fan):
            if g % 4096 == 0 and time.monotonic() > deadline:
                raise SweepTimeout
            v = self.first + g
            x = -rep[a >> 1] if a & 1 else rep[a >> 1]
            y = -rep[b >> 1] if b & 1 else rep[b >> 1]
            if x == false or y == false or x == -y:
                z = false
            elif x == -false or x == y:
                z = y
            elif y == -false:
                z = x
            else:
                key = (x, y) if x < y else (y, x)
                z = strash.get(key)
                if z is None:
                    top += 1
                    z = top
                    solver.add_clause([-z, x])
                    solver.add_clause([-z, y])
                    solver.add_clause([z, -x, -y])
                    strash[key] = z
                    self.stats.kept += 1
            leader = seen.setdefault(hashes[v], v)
            # a gate folded to a constant is as merged as it gets
            if leader != v and abs(z) != false:
                c = rep[leader] if phase[leader] == phase[v] else -rep[leader]
                differ = None if c == z else self._differ(solver, z, c)
                if differ is False:
                    z = c
                elif differ and len(self.pending) >= 64:
                    # 64 told-apart pairs make a new word of patterns; the candidates change with it
                    self.refine()
                    hashes, phase = self.signatures()
                    seen = {}
                    for w in range(v + 1):
                        seen.setdefault(hashes[w], w)
            rep[v] = z
        verdicts = []
        for t in self.u.targets.tolist():
            lit = -rep[t >> 1] if t & 1 else rep[t >> 1]
            if lit == -false:
                verdicts.append(Verdict("proven"))
                continue
            if time.monotonic() > deadline:  # the timer's interrupt may have been spent already
                raise SweepTimeout
            answer = solver.solve_limited(assumptions=[-lit], expect_interrupt=True)
            if answer is None:
                raise SweepTimeout
            verdicts.append(Verdict("false", self._assignment(solver)) if answer else Verdict("proven"))
        return verdicts
