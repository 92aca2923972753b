"""lgn2rtl.sim.reference against the golden model: the AND gates it builds compute the network's
output bits on every input tried, and aiger's delay lines hold a value the cycles they say."""
import numpy as np
import pytest

from lgn2rtl import golden, vectors
from lgn2rtl.sim import aiger, reference
from lgn2rtl.synthetic import random_network


def inputs_only(n: int) -> aiger.Aig:
    """An AIG of ``n`` inputs named ``("x", i)`` and nothing else."""
    return aiger.Aig(n, np.zeros(0, np.int64), np.zeros((0, 2), np.int64), np.zeros(0, np.int64),
                     [("x", i) for i in range(n)], [])


@pytest.mark.parametrize("k", [2, 3, 6, [-7, 2, -5]])
def test_the_reference_computes_the_network(k):
    net = random_network(12, [24, 24, 12], k=k, classes=2, seed=4, skip=True)
    gates = aiger.Gates(inputs_only(net.n_inputs))
    outs = reference.network(gates, net, [2 * (i + 1) for i in range(net.n_inputs)])
    aig = gates.aig(outs, [("o", j) for j in range(len(outs))])
    x = vectors.random(200, net.n_inputs, seed=1)
    want = golden.unpack(golden.eval_signals(net, x), len(x))[:, net.outputs]
    got = np.array([aiger.simulate(aig, row[None], np.zeros(0, np.uint8))[0] for row in x])
    assert (got == want).all()


def test_structural_hashing_makes_a_gate_once():
    gates = aiger.Gates(inputs_only(2))
    a, b = 2, 4
    assert gates.and_(a, b) == gates.and_(b, a) and len(gates.fanins) == 1
    assert gates.and_(a, a ^ 1) == 0 and gates.and_(a, 1) == a and gates.mux(a, 1, 0) == a


def test_a_delay_line_holds_each_value_its_cycles():
    base = inputs_only(3)
    gates = aiger.Gates(base)
    aig = gates.aig([gates.and_(2, 4)], [("and", 0)])  # a gate, which the latches must renumber
    aig, late = aiger.delay(aig, [2, 6], 2)
    aig = aiger.Gates(aig).aig(late, [("late", 0), ("late", 1)])
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.uint8)
    out = aiger.simulate(aig, x, np.zeros(len(aig.latch_next), np.uint8))
    assert out[:, 0].tolist() == [1, 0, 0]  # the gate still reads inputs 0 and 1
    assert out[2, 1:].tolist() == [1, 0]  # inputs 0 and 2 of cycle 0
