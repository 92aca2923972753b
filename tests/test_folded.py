"""Folded binarized layers (hdl/folded.py): every sample equals the golden model's neurons under
random stalls on both sides, and the initiation interval measured equals the predicted one; the
compiled folded design passes cocotb (sim/tb.py, check_axis_design) and a flipped weight fails it."""
import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from lgn2rtl import golden
from lgn2rtl.errors import UserError
from lgn2rtl.golden import eval_signals, unpack
from lgn2rtl.hdl import emit
from lgn2rtl.ir import Binarized, GroupSum, ModelError, Network
from lgn2rtl.hdl.folded import FoldedChain, FoldedLayer, Folding, parse_folding, split
from lgn2rtl.sim.runner import simulate


def bnn(sizes, seed=0):
    """A fully connected BNN ``sizes[0] -> ... -> sizes[-1]``, rows in shuffled input order."""
    rng = np.random.default_rng(seed)
    layers, start = [], 0
    for fan_in, n in zip(sizes, sizes[1:]):
        inputs = np.stack([start + rng.permutation(fan_in) for _ in range(n)])
        layers.append(Binarized(inputs=inputs, signs=rng.integers(0, 2, (n, fan_in), dtype=np.uint8),
                                thresholds=rng.integers(-1, fan_in + 3, n)))
        start += fan_in
    outputs = np.arange(start, start + sizes[-1])
    return Network(n_inputs=sizes[0], layers=layers, outputs=outputs, head=GroupSum(1)).validate()


def neurons(net, x):
    """The last layer's bits for each row of ``x``."""
    sig = unpack(eval_signals(net, x), len(x))  # [N, signals]
    return sig[:, net.layer_starts[-2]:net.layer_starts[-1]]


def run(chain, x, hold=0.0, seed=0):
    """Stream ``x`` through ``chain``, each side pausing with probability ``hold``; return the
    outputs in order and the clocks of the input transfers."""
    rng = random.Random(seed)
    outputs, taken = [], []

    async def bench(ctx):
        sent, cycle = 0, 0
        while len(outputs) < len(x):
            feed = sent < len(x) and rng.random() >= hold
            ctx.set(chain.i.valid, feed)
            if feed:
                ctx.set(chain.i.payload.bits, int("".join(map(str, x[sent][::-1])), 2))
            ctx.set(chain.o.ready, rng.random() >= hold)
            *_, i_ok, o_ok, bits = await ctx.tick().sample(
                chain.i.valid & chain.i.ready, chain.o.valid & chain.o.ready, chain.o.payload.bits)
            if i_ok:
                sent += 1
                taken.append(cycle)
            if o_ok:
                outputs.append([(bits >> j) & 1 for j in range(len(chain.o.payload.bits))])
            cycle += 1
            assert cycle < 100 * len(x) * chain.initiation_interval

    sim = Simulator(chain)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(outputs), taken


@pytest.mark.parametrize("folding", ["1,1", "2,4", "4,8;2,2", "8,24;4,8"])
def test_chain_equals_golden_under_stalls(folding):
    net = bnn([24, 8, 4])
    layers, _ = split(net)
    chain = FoldedChain(layers, parse_folding(folding, layers), net.n_inputs)
    x = np.random.default_rng(1).integers(0, 2, (40, 24), dtype=np.uint8)
    got, _ = run(chain, x, hold=0.4, seed=3)
    assert (got == neurons(net, x)).all()


@pytest.mark.parametrize("folding", ["1,1", "2,4;1,8", "8,3;4,1", "8,24;4,8"])
def test_initiation_interval_measured(folding):
    net = bnn([24, 8, 4])
    layers, _ = split(net)
    chain = FoldedChain(layers, parse_folding(folding, layers), net.n_inputs)
    x = np.random.default_rng(2).integers(0, 2, (12, 24), dtype=np.uint8)
    got, taken = run(chain, x)
    assert (got == neurons(net, x)).all()
    assert set(np.diff(taken[2:])) == {chain.initiation_interval}
    assert chain.initiation_interval == max(Folding(*map(int, f.split(","))).cycles(layer)
                                            for f, layer in zip(folding.split(";") * 2, layers))


def test_a_flipped_weight_is_seen():
    net = bnn([24, 8, 4])
    layers, _ = split(net)
    x = np.random.default_rng(1).integers(0, 2, (40, 24), dtype=np.uint8)
    want = neurons(net, x)
    layers[1].signs[2, 5] ^= 1  # the hardware's copy only: the golden answer stays the old one
    got, _ = run(FoldedChain(layers, parse_folding("2,4", layers), net.n_inputs), x)
    assert (got != want).any()


@pytest.mark.filterwarnings("ignore:.*created but never used")  # the component refused in its __init__
def test_refused_folding_quotes_the_values():
    net = bnn([24, 8, 4])
    layers, _ = split(net)
    with pytest.raises(ModelError, match="layer 0: PE=3 must divide its 8 neurons and SIMD=4 its fan-in 24"):
        FoldedChain(layers, parse_folding("3,4", layers), net.n_inputs)
    with pytest.raises(ModelError, match="gives 3 foldings for 2"):
        parse_folding("1,1;1,1;1,1", layers)


def classified(sizes, classes, seed=0):
    """``bnn(sizes)`` whose last layer's bits are counted in ``classes`` groups."""
    net = bnn(sizes, seed)
    return Network(n_inputs=net.n_inputs, layers=net.layers, outputs=net.outputs, head=GroupSum(classes)).validate()


def cocotb_check(net, tmp_path, fold, golden_net=None, samples=120):
    """Compile ``net`` folded by ``fold`` and check it in cocotb against ``golden_net`` (default:
    itself) under random pauses on both AXI4-Stream ports."""
    design = tmp_path / "design"
    m = emit.compile_design(net, design, part="ice40-up5k", interface="axis", fold=fold)
    x = np.random.default_rng(4).integers(0, 2, size=(samples, net.n_inputs), dtype=np.uint8)
    scores, classes = golden.predict(golden_net or net, x)
    return m, simulate(design, x, scores, classes, build_dir=tmp_path / "sim", seed=2)


def test_folded_design_passes_cocotb_with_the_predicted_interval(tmp_path):
    net = classified([24, 16, 8], 2)
    m, r = cocotb_check(net, tmp_path, "4,6;2,4")
    assert r.ok, r.errors
    assert (r.checked, r.mismatches) == (120, 0)
    assert m["folding"] == [{"layer": 0, "neurons": 16, "fan_in": 24, "pe": 4, "simd": 6, "cycles": 16},
                            {"layer": 1, "neurons": 8, "fan_in": 16, "pe": 2, "simd": 4, "cycles": 16}]
    assert m["initiation_interval"] == 16 == r.interval_measured
    assert r.latency_measured == m["latency"] == m["pipeline"]["folded"] + m["pipeline"]["groupsum"] + \
        m["pipeline"]["argmax"] + m["pipeline"]["core"] + 2


def test_folded_design_with_a_flipped_weight_fails_cocotb(tmp_path):
    net = classified([24, 16, 8], 2)
    x = np.random.default_rng(4).integers(0, 2, size=(120, 24), dtype=np.uint8)
    bad = classified([24, 16, 8], 2)
    # the first weight of the first layer whose flip changes some answer on these rows
    for j, i in np.ndindex(bad.layers[0].signs.shape):
        bad.layers[0].signs[j, i] ^= 1
        if (golden.predict(bad, x)[0] != golden.predict(net, x)[0]).any():
            break
        bad.layers[0].signs[j, i] ^= 1
    m, r = cocotb_check(bad, tmp_path, "4,6;2,4", golden_net=net)
    assert not r.ok and r.mismatches > 0


def test_unfolded_is_todays_design(tmp_path):
    net = classified([24, 16, 8], 2)
    m = emit.compile_design(net, tmp_path / "design", part="ice40-up5k", fold="16,24;8,16")
    assert m["initiation_interval"] == 1 and m["folding"] == [] and m["interface"] == "native"


def test_folding_needs_the_axis_interface(tmp_path):
    with pytest.raises(UserError, match="--fold 2,4: .* compile it with --interface axis"):
        emit.compile_design(classified([24, 16, 8], 2), tmp_path / "design", part="ice40-up5k", fold="2,4")


def test_weight_block_rams_in_their_best_shape():
    from lgn2rtl.hdl.folded import memory_brams
    assert memory_brams(32, 256, "ice40") == 16  # 256 x 16 blocks, 16 side by side
    assert memory_brams(256, 32, "ice40") == 2
    assert memory_brams(64, 128, "ecp5") == 4  # 512 x 36
    assert memory_brams(64, 128, "generic") == 0


@pytest.mark.filterwarnings("ignore:.*created but never used")  # the component refused in its __init__
def test_split_refuses_what_a_stream_cannot_carry():
    net = bnn([24, 8, 4])
    skip = Network(n_inputs=24, layers=net.layers, outputs=np.arange(24, 36), head=GroupSum(1)).validate()
    with pytest.raises(ModelError, match="a signal from before layer 1 skips it"):
        split(skip)  # the outputs read layer 0 past layer 1
    row = net.layers[0].inputs.copy()
    row[1, 0] = row[1, 1]  # neuron 1 reads one input twice and another not at all
    uneven = Network(n_inputs=24, layers=[replace(net.layers[0], inputs=row)], outputs=np.arange(24, 32),
                     head=GroupSum(1)).validate()
    with pytest.raises(ModelError, match="layer 0: its neurons read different inputs"):
        FoldedLayer(split(uneven)[0][0], Folding(1, 1))
