"""Folded binarized layers, as FINN folds them: PE neurons in parallel, SIMD inputs per clock.

A layer of ``n`` neurons of fan-in ``F`` folded by (PE, SIMD) visits its neurons in
``n / PE`` neuron folds and, within each, its inputs in ``F / SIMD`` input folds: one clock
per (neuron fold, input fold), so ``(n / PE) * (F / SIMD)`` clocks per sample. Its weights are
a memory of that many words of ``PE * SIMD`` bits (word ``nf * F/SIMD + sf`` holds, at bit
``p * SIMD + s``, the sign of neuron ``nf * PE + p`` for input ``sf * SIMD + s``), which Yosys
maps to block RAM or, when small, to LUTs. Each of the PE lanes XNORs its SIMD weights with
SIMD input bits, counts the agreements, adds them to its accumulator and, at the last input
fold, compares the total with the neuron's threshold (a second memory, one word per neuron
fold); the result bits are gathered into the layer's output vector.

Layers talk through streams (valid/ready) and chain as a dataflow pipeline: a layer keeps
its finished output in its output register until the next layer takes it, and takes its next
sample while that one is computed, so the slowest layer sets the initiation interval. A lane's
count is an Amaranth adder tree with one register behind it, not
:class:`~lgn2rtl.hdl.popcount.PopCount`: that tree is printed Verilog with registers after its
levels and no enable, while a folded lane must hold its state when the stream stalls.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..ir import Binarized, Layer, ModelError, Network
from .axis import PORTS, AxisTop

__all__ = ["BRAM_SHAPES", "Folding", "FoldedLayer", "FoldedChain", "FoldedTop", "memory_brams", "parse_folding",
           "sample", "split"]


@dataclass(frozen=True)
class Folding:
    """PE neurons computed in parallel, SIMD inputs consumed per clock."""
    pe: int
    simd: int

    def check(self, layer: Binarized, index: int) -> None:
        """Refuse a folding that does not divide ``layer`` (layer ``index`` of its network)."""
        if self.pe < 1 or self.simd < 1 or len(layer) % self.pe or layer.fan_in % self.simd:
            raise ModelError(f"layer {index}: PE={self.pe} must divide its {len(layer)} neurons and "
                             f"SIMD={self.simd} its fan-in {layer.fan_in}")

    def cycles(self, layer: Binarized) -> int:
        """Clocks per sample: (neurons / PE) x (fan-in / SIMD)."""
        return (len(layer) // self.pe) * (layer.fan_in // self.simd)

    def unfolded(self, layer: Binarized) -> bool:
        return self.pe == len(layer) and self.simd == layer.fan_in

    def to_json(self) -> dict:
        return {"pe": self.pe, "simd": self.simd}


def parse_folding(text: str, layers: Sequence[Binarized]) -> list[Folding]:
    """``PE,SIMD`` for every layer, or ``PE,SIMD;PE,SIMD;...`` one per layer, as ``compile --fold`` takes it."""
    try:
        specs = [tuple(int(v) for v in part.split(",")) for part in text.split(";")]
        foldings = [Folding(*spec) for spec in specs]
    except (TypeError, ValueError):
        raise ModelError(f"--fold {text!r}: give PE,SIMD (integers), or PE,SIMD;PE,SIMD;... one per "
                         f"binarized layer") from None
    if len(foldings) == 1:
        foldings *= len(layers)
    if len(foldings) != len(layers):
        raise ModelError(f"--fold {text!r} gives {len(foldings)} foldings for {len(layers)} leading binarized layers")
    return foldings


def sample(width: int) -> stream.Signature:
    """A stream of one sample per transfer: its bits and the AXI4-Stream ``last`` it came with."""
    return stream.Signature(data.StructLayout({"bits": width, "last": 1}))


def split(net: Network) -> tuple[list[Binarized], Network]:
    """The leading binarized layers of ``net`` (to fold) and the rest, a network over the last
    one's outputs (built as today's unfolded design).  Each folded layer must read only the layer
    before it (the first: the model inputs), as a stream carries nothing else."""
    count = next((i for i, layer in enumerate(net.layers) if not isinstance(layer, Binarized)), len(net.layers))
    if count == 0:
        raise ModelError("the model has no leading binarized layer to fold")
    starts = net.layer_starts
    for i in range(count):
        lo, hi = (0, net.n_inputs) if i == 0 else (starts[i - 1], starts[i])
        if net.layers[i].inputs.min() < lo or net.layers[i].inputs.max() >= hi:
            raise ModelError(f"layer {i} reads signals outside the layer before it; folded layers "
                             f"stream one layer's outputs to the next")
    base = starts[count - 1]
    rest = net.layers[count:]
    if any(layer.inputs.min() < base for layer in rest) or net.outputs.min() < base:
        raise ModelError(f"a signal from before layer {count - 1} skips it; folded layers stream "
                         f"one layer's outputs to the next")
    tail = [replace(layer, inputs=layer.inputs - base) for layer in rest]
    outputs = net.outputs - base
    if not tail:  # a network needs a layer: the GroupSum then reads a layer of wires (table 0b10: out = in)
        tail = [Layer(inputs=outputs[:, None], tables=np.full(len(outputs), 0b10, dtype=np.uint64))]
        outputs = np.arange(len(outputs)) + int(starts[count] - base)
    return net.layers[:count], Network(n_inputs=int(starts[count] - base), layers=tail,
                                       outputs=outputs, head=net.head).validate()


GROUP = 8  # input bits a lane counts in one group: a few LUT levels, as the sum of the groups
LATENCY = 4  # clocks a folded layer adds to its folds: count, sum, accumulate, the handshake

# the shapes (depth, width) of one block RAM, by part family: iCE40 SB_RAM40_4K, ECP5 DP16KD
BRAM_SHAPES = {"ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
               "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))}


def memory_brams(depth: int, width: int, family: str) -> int:
    """Block RAMs a ``depth`` x ``width`` memory takes in its best shape on ``family`` (0 where
    lgn2rtl uses none).  An upper bound: Yosys may put a small memory in LUTs instead."""
    return min(((-(-depth // d)) * (-(-width // w)) for d, w in BRAM_SHAPES.get(family, ())), default=0)


def count_bits(fan_in: int) -> int:
    """Bits of a folded neuron's count and threshold: up to F + 1, the "never" threshold."""
    return ceil_log2(fan_in + 2)


def layer_brams(layer: Binarized, folding: Folding, family: str) -> int:
    """Block RAMs a folded layer's weights and thresholds may take on ``family``: an upper bound,
    since Yosys may put either in LUTs (with the weights alone, the shipped BNN folded 4,16 came
    out one block RAM over the icebreaker's 30 in ``build``)."""
    return (memory_brams(folding.cycles(layer), folding.pe * folding.simd, family)
            + memory_brams(len(layer) // folding.pe, folding.pe * count_bits(layer.fan_in), family))


def _count(bits: Value) -> Value:
    """Number of ones in ``bits``, as a balanced tree of adders."""
    if len(bits) == 1:
        return bits
    half = len(bits) // 2
    return _count(bits[:half]) + _count(bits[half:])


class FoldedLayer(wiring.Component):
    """One binarized layer folded by ``folding``; ``i`` takes the layer's input vector (bit k is
    signal ``sources[k]``), ``o`` gives its neurons' bits (bit j is neuron j).

    From a sample taken on ``i`` to its bits valid on ``o`` is ``cycles + 3`` clocks; a new
    sample is taken in the clock its predecessor's last fold starts, so one leaves every
    ``cycles`` clocks while ``o`` is taken at once.  ``o`` stays valid until taken, and the
    layer holds (every fold frozen) only when a finished sample finds ``o`` still full.
    """

    def __init__(self, layer: Binarized, folding: Folding, index: int = 0):
        folding.check(layer, index)
        self.folding, self.neurons, self.fan_in = folding, len(layer), layer.fan_in
        # the input vector is the sorted set of signals each neuron reads, all in its own order
        self.sources = np.unique(layer.inputs[0])
        order = np.argsort(layer.inputs, axis=1, kind="stable")
        if len(self.sources) != self.fan_in or (np.take_along_axis(layer.inputs, order, 1) != self.sources).any():
            raise ModelError(f"layer {index}: its neurons read different inputs; a folded layer needs "
                             f"every neuron to read the same {self.fan_in} signals")
        self.signs = np.take_along_axis(layer.signs.astype(np.uint8), order, 1)  # [neuron, source]
        # theta <= 0 is always on and theta > F always off: clamp into what the compare can hold
        self.thresholds = np.clip(layer.thresholds.astype(np.int64), 0, self.fan_in + 1)
        self.cycles = folding.cycles(layer)
        super().__init__({"i": In(sample(self.fan_in)), "o": Out(sample(self.neurons))})

    def _weight_words(self) -> list[int]:
        pe, simd = self.folding.pe, self.folding.simd
        blocks = self.signs.reshape(self.neurons // pe, pe, self.fan_in // simd, simd).transpose(0, 2, 1, 3)
        flat = blocks.reshape(-1, pe * simd)
        return [int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little") for row in flat]

    def _threshold_words(self, width: int) -> list[int]:
        per_fold = self.thresholds.reshape(-1, self.folding.pe)
        return [sum(int(t) << (p * width) for p, t in enumerate(row)) for row in per_fold]

    def elaborate(self, platform) -> Module:
        m = Module()
        pe, simd = self.folding.pe, self.folding.simd
        neuron_folds, input_folds = self.neurons // pe, self.fan_in // simd
        width = count_bits(self.fan_in)
        m.submodules.weights = weights = Memory(shape=pe * simd, depth=self.cycles, init=self._weight_words())
        m.submodules.thresholds = thresholds = Memory(shape=pe * width, depth=neuron_folds,
                                                      init=self._threshold_words(width))
        w_read, t_read = weights.read_port(), thresholds.read_port()

        # A fold moves through four stages: issue (read the memories, pick the input slice),
        # count (XNOR each lane's SIMD bits and count them in groups of GROUP), sum (add the
        # groups' counts) and accumulate (add, compare, gather).  The registers between keep the
        # block RAM's clock-to-out, the adder tree and the accumulator on separate clocks.
        # ``ctl`` says what a stage's fold is.
        ctl = data.StructLayout({"live": 1, "first": 1, "fold_end": 1, "sample_end": 1, "last": 1})
        x, last, busy = Signal(self.fan_in), Signal(), Signal()
        step, nf, sf = Signal(range(self.cycles)), Signal(range(neuron_folds)), Signal(range(input_folds))
        x_slice, read_ctl, count_ctl, sum_ctl = Signal(simd), Signal(ctl), Signal(ctl), Signal(ctl)
        groups = [range(g, min(g + GROUP, simd)) for g in range(0, simd, GROUP)]
        partial = [[Signal(range(len(g) + 1), name=f"part{p}_{j}") for j, g in enumerate(groups)] for p in range(pe)]
        counts = [Signal(range(simd + 1), name=f"count{p}") for p in range(pe)]
        theta_count, theta = Signal(pe * width), Signal(pe * width)
        acc = [Signal(width, name=f"acc{p}") for p in range(pe)]
        bits, gathered = Signal(self.neurons), Signal(self.neurons)

        # the only stall: a finished sample whose output register is still full
        advance = ~(sum_ctl.live & sum_ctl.sample_end & self.o.valid & ~self.o.ready)
        final = step == self.cycles - 1
        m.d.comb += [
            w_read.addr.eq(step), w_read.en.eq(advance),
            t_read.addr.eq(nf), t_read.en.eq(advance),
            self.i.ready.eq(advance & (~busy | final)),
        ]
        with m.If(advance):
            now = {"live": busy, "first": sf == 0, "fold_end": sf == input_folds - 1, "sample_end": final,
                   "last": last}
            m.d.sync += [x_slice.eq(x.word_select(sf, simd)), *(read_ctl[k].eq(v) for k, v in now.items()),
                         count_ctl.eq(read_ctl), sum_ctl.eq(count_ctl),
                         theta_count.eq(t_read.data), theta.eq(theta_count)]
            for p in range(pe):
                agree = ~(x_slice ^ w_read.data[p * simd:(p + 1) * simd])
                m.d.sync += [part.eq(_count(agree[g.start:g.stop])) for part, g in zip(partial[p], groups)]
                m.d.sync += counts[p].eq(sum(partial[p]))
            with m.If(busy):
                m.d.sync += step.eq(step + 1), sf.eq(sf + 1)
                with m.If(sf == input_folds - 1):
                    m.d.sync += sf.eq(0), nf.eq(nf + 1)
                with m.If(final):
                    m.d.sync += busy.eq(0), step.eq(0), nf.eq(0)
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += [x.eq(self.i.payload.bits), last.eq(self.i.payload.last), busy.eq(1),
                             step.eq(0), nf.eq(0), sf.eq(0)]

        fires = []
        for p in range(pe):
            total = Signal(width, name=f"total{p}")
            m.d.comb += total.eq(counts[p] + Mux(sum_ctl.first, 0, acc[p]))
            fires.append(total >= theta[p * width:(p + 1) * width])
            with m.If(sum_ctl.live & advance):
                m.d.sync += acc[p].eq(total)
        # neuron folds finish in order: shifting each one's bits in from the top leaves fold nf at
        # bits [nf*PE, (nf+1)*PE) after the last, with no decoder of nf on the path
        m.d.comb += gathered.eq(Cat(bits[pe:], *fires))
        with m.If(sum_ctl.live & advance & sum_ctl.fold_end):
            m.d.sync += bits.eq(gathered)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(sum_ctl.live & advance & sum_ctl.sample_end):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.bits.eq(gathered),
                         self.o.payload.last.eq(sum_ctl.last)]
        return m


class FoldedChain(wiring.Component):
    """Folded layers one after the other: ``i`` takes model input bits, ``o`` gives the last
    layer's neurons.  ``cycles`` is each layer's clocks per sample, ``initiation_interval`` the
    largest, and ``latency`` the clocks from a sample taken on ``i`` to its transfer on an idle
    ``o`` (each layer: its cycles, three more for the count, sum and accumulate stages, one to the
    handshake)."""

    def __init__(self, layers: Sequence[Binarized], foldings: Sequence[Folding], n_inputs: int):
        if len(foldings) != len(layers):
            raise ModelError(f"{len(foldings)} foldings given for {len(layers)} binarized layers")
        self.layers = [FoldedLayer(layer, f, i) for i, (layer, f) in enumerate(zip(layers, foldings))]
        self.n_inputs = n_inputs
        self.cycles = [layer.cycles for layer in self.layers]
        self.initiation_interval = max(self.cycles)
        self.latency = sum(c + LATENCY for c in self.cycles)
        super().__init__({"i": In(sample(n_inputs)), "o": Out(sample(self.layers[-1].neurons))})

    def elaborate(self, platform) -> Module:
        m = Module()
        source, base, start = self.i, 0, self.n_inputs  # base: signal id of the source's bit 0
        for index, layer in enumerate(self.layers):
            m.submodules[f"layer{index}"] = layer
            m.d.comb += [
                layer.i.valid.eq(source.valid),
                source.ready.eq(layer.i.ready),
                layer.i.payload.bits.eq(Cat(*(source.payload.bits[int(s) - base] for s in layer.sources))),
                layer.i.payload.last.eq(source.payload.last),
            ]
            source, base, start = layer.o, start, start + layer.neurons
        wiring.connect(m, wiring.flipped(self.o), source)
        return m


class FoldedTop(wiring.Component):
    """``chain`` in front of ``tail`` (today's design of the rest of the network behind its
    AXI4-Stream ports), with ``tail``'s port names: a sample taken on ``s_axis`` streams through
    the folded layers into ``tail``, whose answer leaves on ``m_axis``.  ``latency`` is the
    clocks from a sample taken to its answer taken on idle ports; one sample is taken every
    ``initiation_interval`` clocks at most."""

    def __init__(self, chain: FoldedChain, tail: AxisTop):
        self.chain, self.tail = chain, tail
        self.latency = chain.latency + tail.latency
        self.initiation_interval = chain.initiation_interval
        ins, outs = PORTS["inputs"], PORTS["outputs"]
        super().__init__({
            ins["valid"]: In(1), ins["ready"]: Out(1), ins["data"]: In(chain.n_inputs), ins["last"]: In(1),
            **{name: Out(len(getattr(tail, name))) if name != outs["ready"] else In(1)
               for name in outs.values()},
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.chain = chain = self.chain
        m.submodules.tail = tail = self.tail
        ins, outs = PORTS["inputs"], PORTS["outputs"]
        m.d.comb += [
            chain.i.valid.eq(getattr(self, ins["valid"])),
            getattr(self, ins["ready"]).eq(chain.i.ready),
            chain.i.payload.bits.eq(getattr(self, ins["data"])),
            chain.i.payload.last.eq(getattr(self, ins["last"])),
            getattr(tail, ins["valid"]).eq(chain.o.valid),
            chain.o.ready.eq(getattr(tail, ins["ready"])),
            getattr(tail, ins["data"]).eq(chain.o.payload.bits),
            getattr(tail, ins["last"]).eq(chain.o.payload.last),
            getattr(tail, outs["ready"]).eq(getattr(self, outs["ready"])),
            *(getattr(self, name).eq(getattr(tail, name)) for name in outs.values() if name != outs["ready"]),
        ]
        return m
