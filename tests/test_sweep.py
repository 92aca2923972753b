"""lgn2rtl.sim.sweep against brute force: on small random and-inverter graphs, an output is
``proven`` exactly when it is true on every assignment, and a ``false`` verdict's assignment
makes it false."""
import time

import numpy as np
import pytest

from lgn2rtl.sim.aiger import Unrolled, evaluate, levels
from lgn2rtl.sim.sweep import SweepTimeout, prove_outputs

SOURCES = 6


def truth(u: Unrolled) -> np.ndarray:
    """Each variable's value on all 2**SOURCES assignments (assignment k: source s is bit s of k)."""
    values = np.zeros((u.first_and + len(u.ands), 1), dtype=np.uint64)
    k = np.arange(1 << SOURCES, dtype=np.uint64)
    for s in range(SOURCES):
        values[1 + s, 0] = int(np.bitwise_or.reduce(((k >> np.uint64(s)) & np.uint64(1)) << k))
    evaluate(u.ands, u.first_and, levels(u.ands, u.first_and), values)
    return values[:, 0]


def random_graph(seed: int) -> Unrolled:
    """40 random gates, then gate 30 rebuilt another way, ``(g & z) | (g & ~z)``, and a miter of
    the two: targets are random literals, the miter (true everywhere, but only a SAT proof of
    g = copy shows it) and the constant true."""
    rng = np.random.default_rng(seed)
    first = 1 + SOURCES
    ands = [sorted(rng.integers(2, 2 * (first + g), size=2).tolist(), reverse=True) for g in range(40)]

    def gate(a: int, b: int) -> int:
        ands.append([a, b])
        return 2 * (first + len(ands) - 1)

    g, z = 2 * (first + 30), 2  # z: source 0
    copy = gate(gate(g, z) ^ 1, gate(g, z ^ 1) ^ 1) ^ 1
    miter = gate(gate(g, copy ^ 1) ^ 1, gate(g ^ 1, copy) ^ 1)
    targets = [*rng.integers(0, 2 * (first + len(ands)), size=8).tolist(), miter, 1]
    return Unrolled([("input", s, 0) for s in range(SOURCES)], np.array(ands, dtype=np.int64), np.array(targets))


@pytest.mark.parametrize("seed", range(12))
def test_verdicts_match_brute_force(seed):
    u = random_graph(seed)
    values = truth(u)
    everywhere = np.uint64((1 << (1 << SOURCES)) - 1)
    verdicts, _ = prove_outputs(u, time.monotonic() + 60)
    assert verdicts[-2].result == "proven"  # the miter
    for t, v in zip(u.targets.tolist(), verdicts):
        value = values[t >> 1] ^ (everywhere if t & 1 else np.uint64(0))
        assert (v.result == "proven") == (value == everywhere), (t, v.result)
        if v.result == "false":
            k = int(v.assignment.astype(np.int64) @ (1 << np.arange(SOURCES)))
            assert not (int(value) >> k) & 1, (t, k)


def test_a_passed_deadline_is_a_timeout():
    with pytest.raises(SweepTimeout):
        prove_outputs(random_graph(0), time.monotonic() - 1)
