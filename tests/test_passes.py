"""Every pass keeps the golden model's outputs exactly (property-based, on random networks)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from lgn2rtl import golden, passes
from lgn2rtl.ir import GroupSum, Layer, Network
from lgn2rtl.synthetic import random_network


@st.composite
def networks(draw):
    """Random networks rich in constants, wires and inverters, with mixed k and skip connections."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ks = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4))
    n_inputs = 8
    net = random_network(n_inputs, [12] * len(ks), k=[min(k, n_inputs) for k in ks], classes=3 if len(ks) else 1,
                         seed=seed, skip=True)
    layers = []
    for layer in net.layers:
        tables = layer.tables.copy()
        # make a third of the nodes degenerate: constant, wire or inverter of one input
        pick = rng.random(len(tables)) < 0.33
        m = rng.integers(0, max(layer.k, 1), len(tables))
        addr = np.arange(1 << layer.k, dtype=np.uint64)
        for j in np.flatnonzero(pick):
            kind = rng.integers(0, 4)
            bits = [0, 1, (addr >> np.uint64(m[j])) & np.uint64(1), 1 - ((addr >> np.uint64(m[j])) & np.uint64(1))][kind]
            bits = np.broadcast_to(np.asarray(bits, dtype=np.uint64), addr.shape) if layer.k else np.asarray([kind & 1], dtype=np.uint64)
            tables[j] = np.uint64(sum(int(b) << i for i, b in enumerate(bits.tolist())))
        layers.append(Layer(layer.inputs, tables))
    outputs = rng.integers(0, net.n_signals, size=len(net.outputs))
    return Network(n_inputs, layers, outputs, GroupSum(3)).validate()


@settings(max_examples=60, deadline=None)
@given(networks())
def test_every_pass_keeps_every_score(net):
    x = np.random.default_rng(0).integers(0, 2, (256, net.n_inputs), dtype=np.uint8)
    want = golden.scores(net, x)
    folded = passes.fold(net)
    assert np.array_equal(golden.scores(folded, x), want)
    pruned = passes.prune(folded)
    assert np.array_equal(golden.scores(pruned, x), want)
    assert pruned.n_nodes <= net.n_nodes
    assert np.array_equal(golden.scores(passes.absorb_inverters(net), x), want)
    assert np.array_equal(golden.scores(passes.optimize(net), x), want)


def test_fold_removes_inverter_chains():
    # in -> NOT -> NOT -> AND(with input 1): folding leaves one AND reading the inputs directly
    net = Network(2, [Layer(np.array([[0]]), np.array([1], dtype=np.uint64)),
                      Layer(np.array([[2]]), np.array([1], dtype=np.uint64)),
                      Layer(np.array([[3, 1]]), np.array([8], dtype=np.uint64))],
                  np.array([4]), GroupSum(1)).validate()
    out = passes.optimize(net)
    assert out.n_nodes == 1 and out.layers[0].inputs.tolist() == [[0, 1]] and int(out.layers[0].tables[0]) == 8


def test_fold_merges_duplicates_in_any_input_order():
    # AND(0,1), AND(1,0) and a 3-LUT "a&b" over (2, 0, 1) are one function of inputs 0 and 1
    and3 = sum(1 << addr for addr in range(8) if (addr >> 1) & 1 and (addr >> 2) & 1)
    net = Network(3, [Layer(np.array([[0, 1], [1, 0]]), np.array([8, 8], dtype=np.uint64)),
                      Layer(np.array([[2, 0, 1]]), np.array([and3], dtype=np.uint64))],
                  np.array([3, 4, 5]), GroupSum(1)).validate()
    out = passes.optimize(net)
    assert out.n_nodes == 2  # the two 2-input ANDs merge; the 3-LUT stays a 3-input node
    assert len(set(out.outputs.tolist())) == 2
