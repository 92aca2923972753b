"""Every pass keeps the golden model's outputs exactly (property-based, on random and mixed networks)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from lgn2rtl import golden, passes
from lgn2rtl.ir import Binarized, GroupSum, Layer, Network
from lgn2rtl.synthetic import random_network


@st.composite
def networks(draw):
    """Random networks rich in constants, wires and inverters, with mixed k and skip connections.

    A negative k is a binarized layer of that fan-in, with constant neurons among the others.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ks = draw(st.lists(st.integers(-6, 6), min_size=1, max_size=4))
    n_inputs = 8
    net = random_network(n_inputs, [12] * len(ks), k=[min(k, n_inputs) for k in ks], classes=3 if len(ks) else 1,
                         seed=seed, skip=True)
    layers = []
    for layer in net.layers:
        if isinstance(layer, Binarized):
            layers.append(layer)
            continue
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
    for k_max in (3, 4, 6):
        packed = passes.pack_luts(pruned, k_max)
        assert np.array_equal(golden.scores(packed, x), want)
        assert packed.n_nodes <= pruned.n_nodes


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


def test_fold_merges_duplicates_across_layers():
    # XOR(0,1) in layer 0; layer 1 has AND(2, 0) and XOR(1,0) again (a skip connection); layer 2
    # reads both XORs: after folding every reader sees one XOR
    net = Network(2, [Layer(np.array([[0, 1]]), np.array([6], dtype=np.uint64)),
                      Layer(np.array([[2, 0], [1, 0]]), np.array([8, 6], dtype=np.uint64)),
                      Layer(np.array([[2, 4]]), np.array([6], dtype=np.uint64))],
                  np.array([3, 5]), GroupSum(1)).validate()
    folded = passes.fold(net)
    assert folded.layers[2].inputs.tolist() == [[2, 2]]
    x = np.array([[a, b] for a in (0, 1) for b in (0, 1)], dtype=np.uint8)
    assert np.array_equal(golden.scores(folded, x), golden.scores(net, x))


def test_fold_merges_every_copy_of_a_wide_layer():
    # 1000 nodes that are a few distinct 3-input functions repeated: one of each survives
    rng = np.random.default_rng(7)
    base = random_network(16, [10], k=3, classes=1, seed=3)
    full = np.flatnonzero(passes.depends(base.layers[0]).all(axis=1))
    assert len(full) > 5
    pick = rng.choice(full, 1000)
    layer = Layer(base.layers[0].inputs[pick], base.layers[0].tables[pick])
    net = Network(16, [layer], np.arange(16, 1016), GroupSum(1)).validate()
    folded = passes.fold(net)
    assert len(np.unique(folded.outputs)) == len(np.unique(pick))


def test_pack_luts_merges_a_cone_into_one_lut4():
    # AND(XOR(0,1), OR(2,3)): three 2-input gates, one 4-input function; a second reader
    # of the XOR (an output) keeps it from merging when it is also an output
    gates = Network(4, [Layer(np.array([[0, 1], [2, 3]]), np.array([6, 14], dtype=np.uint64)),
                        Layer(np.array([[4, 5]]), np.array([8], dtype=np.uint64))],
                    np.array([6]), GroupSum(1)).validate()
    x = np.array([[(a >> i) & 1 for i in range(4)] for a in range(16)], dtype=np.uint8)
    packed = passes.pack_luts(gates, 4)
    assert packed.n_nodes == 1 and packed.layers[0].k == 4
    assert np.array_equal(golden.scores(packed, x), golden.scores(gates, x))
    assert passes.pack_luts(gates, 3).n_nodes == 2  # XOR or OR merges, not both
    shared = Network(4, gates.layers, np.array([6, 4]), GroupSum(1)).validate()
    assert passes.pack_luts(shared, 4).n_nodes == 2  # the XOR is an output: only the OR merges


def test_pack_luts_shrinks_the_fixture(fixture_dir):
    from lgn2rtl.importers import load_model
    net = passes.prune(passes.absorb_inverters(passes.fold(load_model(fixture_dir / "circuit.json"))))
    packed = passes.pack_luts(net)
    assert packed.n_nodes < net.n_nodes and passes.lut4_estimate(packed) < passes.lut4_estimate(net)
    assert max(layer.k for layer in packed.layers) <= 4


def test_prune_moves_small_nodes_that_only_outputs_read_to_the_last_layer():
    # layer 0: AND(0,1) (read only by an output), XOR(2,3) (read by layer 1), OR(0,1,2) as a
    # 3-LUT (read only by an output); layer 1: AND(XOR, 0). The 2-input AND moves next to the
    # layer-1 node, where a popcount leaf can absorb it; the XOR and the 3-input node stay.
    or3 = sum(1 << addr for addr in range(1, 8))
    net = Network(4, [Layer(np.array([[0, 1, 0], [2, 3, 2], [0, 1, 2]]),
                            np.array([0x88, 0x66, or3], dtype=np.uint64)),
                      Layer(np.array([[5, 0]]), np.array([8], dtype=np.uint64))],
                  np.array([4, 6, 7]), GroupSum(1)).validate()
    pruned = passes.prune(net)
    layer = pruned.signal_layer()
    assert layer[pruned.outputs].tolist() == [1, 0, 1]
    assert sorted(pruned.layers[1].inputs[:, :2].tolist()) == [[0, 1], [4, 0]]  # AND(0,1) and AND(XOR, 0)
    x = np.array([[(a >> i) & 1 for i in range(4)] for a in range(16)], dtype=np.uint8)
    assert np.array_equal(golden.scores(pruned, x), golden.scores(net, x))


def test_fold_moves_inverters_into_weights_and_constants_out_of_neurons():
    # NOT(in0) feeds a neuron; a theta > F neuron is a constant 0 that an OR reads
    net = Network(2, [Layer(np.array([[0]]), np.array([1], dtype=np.uint64)),
                      Binarized(np.array([[2, 1], [0, 1]]), np.array([[1, 1], [1, 0]], dtype=np.uint8), np.array([2, 3])),
                      Layer(np.array([[3, 4]]), np.array([14], dtype=np.uint64))],
                  np.array([5]), GroupSum(1)).validate()
    out = passes.optimize(net)
    x = np.array([[a, b] for a in (0, 1) for b in (0, 1)], dtype=np.uint8)
    assert np.array_equal(golden.scores(out, x), golden.scores(net, x))
    neurons = [layer for layer in out.layers if isinstance(layer, Binarized)]
    assert len(neurons) == 1 and neurons[0].inputs.tolist() == [[0, 1]] and neurons[0].signs.tolist() == [[0, 1]]
    assert out.n_nodes == 1  # the inverter and the constant neuron are gone; the OR is a wire to the neuron


def test_absorb_inverters_complements_a_neuron():
    # an inverter of a neuron that only the count reads: not(P >= t) is (F - P) >= F + 1 - t
    net = Network(3, [Binarized(np.array([[0, 1, 2]]), np.array([[1, 0, 1]], dtype=np.uint8), np.array([2])),
                      Layer(np.array([[3]]), np.array([1], dtype=np.uint64))], np.array([4]), GroupSum(1)).validate()
    out = passes.absorb_inverters(net)
    assert out.outputs.tolist() == [3]
    assert out.layers[0].signs.tolist() == [[0, 1, 0]] and out.layers[0].thresholds.tolist() == [2]
    x = np.array([[(v >> i) & 1 for i in range(3)] for v in range(8)], dtype=np.uint8)
    assert np.array_equal(golden.scores(out, x), golden.scores(net, x))


def test_inputs_no_live_node_reads_never_matter(fixture_dir):
    # what `info` reports as "inputs read": every input that changes an output is among them
    from lgn2rtl.importers import load_model
    net = load_model(fixture_dir / "circuit.json")
    read = passes.live_signals(passes.optimize(net))[:net.n_inputs]
    x = np.random.default_rng(0).integers(0, 2, size=(1024, net.n_inputs), dtype=np.uint8)
    base = golden.eval_signals(net, x)[net.outputs]

    def matters(i):
        y = x.copy()
        y[:, i] ^= 1
        return (golden.eval_signals(net, y)[net.outputs] != base).any()
    assert 0 < (~read).sum() < net.n_inputs
    assert not any(matters(i) for i in np.flatnonzero(~read))
    assert all(read[i] for i in range(net.n_inputs) if matters(i))


def _one_round(net):
    for step in passes.PIPELINE:
        net = step(net)
    return net


def test_optimize_repeats_while_a_round_removes_nodes():
    # packing the conv example's pooling chains leaves gates fold turns into wires, which free
    # more merges: a second round removes nodes, a third would not, and the function is unchanged
    from pathlib import Path
    from lgn2rtl import native, vectors
    net = native.load(Path(__file__).parents[1] / "examples" / "conv_digits.lgn")
    once, full = _one_round(net), passes.optimize(net)
    assert full.n_nodes < once.n_nodes
    assert _one_round(full).n_nodes >= full.n_nodes
    x = vectors.random(200, net.n_inputs, seed=1)
    assert np.array_equal(golden.scores(full, x), golden.scores(net, x))


def test_a_network_one_round_leaves_at_its_fixed_point_is_that_round_s_output():
    # the shipped fixture: a second round removes nothing, so the design stays as it was
    from pathlib import Path
    from lgn2rtl.importers import load_model
    net = load_model(Path(__file__).parent / "data" / "torchlogix_digits_s1" / "circuit.json")
    once = _one_round(net)
    assert _one_round(once).n_nodes == once.n_nodes
    assert passes.optimize(net).digest() == once.digest()
