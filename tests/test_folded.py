"""Folded binarized layers (hdl/folded.py): every sample equals the golden model's neurons under
random stalls on both sides, and the initiation interval measured equals the predicted one."""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from lgn2rtl.golden import eval_signals, unpack
from lgn2rtl.ir import Binarized, GroupSum, ModelError, Network
from lgn2rtl.hdl.folded import FoldedChain, Folding, parse_folding, split


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


def test_refused_folding_quotes_the_values():
    net = bnn([24, 8, 4])
    layers, _ = split(net)
    with pytest.raises(ModelError, match="layer 0: PE=3 must divide its 8 neurons and SIMD=4 its fan-in 24"):
        FoldedChain(layers, parse_folding("3,4", layers), net.n_inputs)
    with pytest.raises(ModelError, match="gives 3 foldings for 2"):
        parse_folding("1,1;1,1;1,1", layers)
