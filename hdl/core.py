"""The logic layers as a structural Verilog module, written as text.

Amaranth needs minutes and gigabytes to elaborate a million single-bit gates
(docs/toolchain.md), and its netlist-style output is slow for Icarus, so the
layers are printed straight from the IR and, chained with the GroupSum trees,
instanced from Amaranth (``Datapath``). Pipeline registers sit after the layers the schedule
names (``schedule.Schedule.core_cuts``), but
never after the last layer: the GroupSum's leaves follow combinationally so synthesis can
merge last-stage gates into their LUTs, and :func:`cones` tells the GroupSum which inputs
those gates are, so that it places them in its leaves (``passes.prune`` moves the small
nodes that only the count reads into the last layer for this). A binarized
layer (``binarized.py``) pipelines itself: its popcounts start in the stage
of the layer before it and take their own latency.

With an on-chip encoder (``features``, lgn2rtl/features.py) the core takes raw feature codes
and its first "layer" is the thermometer's comparators: a cut at ``schedule.ENCODER`` gives
them a stage of their own, otherwise they share the first stage with the first logic layers.
"""
from __future__ import annotations

from typing import TextIO

import numpy as np
from amaranth.hdl import ClockSignal, Instance, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..features import FeatureFormat, constants
from ..ir import Binarized, Layer, Network
from ..passes import depends
from . import binarized, verilog
from .popcount import MODULE as GROUPSUM, Cone, GroupSum
from .schedule import binarized_latency, layer_stages

MODULE = "lgn_core"
DATAPATH = "lgn_datapath"


def stages(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> np.ndarray:
    """Pipeline stage in which each layer's outputs are ready (``schedule.layer_stages``)."""
    return layer_stages(net, cuts, features)


def read_stages(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> np.ndarray:
    """Pipeline stage in which each layer reads its inputs (a binarized layer: before its popcount)."""
    return stages(net, cuts, features) - [binarized_latency(layer) if isinstance(layer, Binarized) else 0
                                          for layer in net.layers]


def bus_width(net: Network, features: FeatureFormat | None = None) -> int:
    """Bits of ``i_data``: the input bits, or the raw feature codes of an on-chip encoder."""
    return net.n_inputs if features is None else features.width


def latency(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> int:
    """Register stages the core adds between its input and its (combinational) outputs."""
    return int(stages(net, cuts, features)[-1])


def made_in(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> np.ndarray:
    """Pipeline stage in which each signal is computed (model inputs: stage 0)."""
    return np.concatenate([[0], stages(net, cuts, features)])[net.signal_layer() + 1]


def cones(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None,
          read_elsewhere: np.ndarray | None = None) -> list[Cone]:
    """What the GroupSum counts at each output (``popcount.Cone``).

    A LUT node of the last stage that no node reads, nor anything outside the core
    (``read_elsewhere``), is the set of signals it reads: a popcount leaf can absorb its LUT.
    Any other output is a plain signal, named by its id.
    """
    read = np.zeros(net.n_signals, dtype=bool)
    if read_elsewhere is not None:
        read[read_elsewhere] = True
    for layer in net.layers:
        read[layer.inputs[depends(layer)]] = True
    late = made_in(net, cuts, features) == stages(net, cuts, features)[-1]
    own = np.zeros(net.n_signals, dtype=bool)
    own[net.outputs] = True
    own &= late & ~read
    own[:net.n_inputs] = False
    cone = {}
    for start, layer in zip(net.layer_starts.tolist(), net.layers):
        rows = np.flatnonzero(own[start:start + len(layer)]).tolist()
        if rows and isinstance(layer, Layer):  # a neuron's bit comes from its own count
            dep = depends(layer)
            cone.update((start + r, frozenset(layer.inputs[r][dep[r]].tolist())) for r in rows)
    return [cone.get(s, s) for s in net.outputs.tolist()]


def depths(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> list[int]:
    """LUT levels in front of each output within the core's last stage: 0 for a model input or
    a register, a layer's position in the stage for a node of it (the GroupSum's ROM leaves
    take only shallow inputs: a block RAM sits in a column a long route away)."""
    stage_of = stages(net, cuts, features)
    last = stage_of[-1]
    level = np.zeros(net.n_signals, dtype=np.int64)
    depth = 0
    for i, (start, layer) in enumerate(zip(net.layer_starts.tolist(), net.layers)):
        if stage_of[i] == last:
            depth += 1
            level[start:start + len(layer)] = depth
    made = made_in(net, cuts, features)
    level[made < last] = 0
    return level[net.outputs].tolist()


def _last_read(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None) -> tuple[np.ndarray, np.ndarray]:
    """Per signal: the stage it is made in, and the last stage that reads it (the GroupSum
    reads the outputs in the core's last stage)."""
    made = made_in(net, cuts, features)
    last = made.copy()
    for layer, s in zip(net.layers, read_stages(net, cuts, features)):
        np.maximum.at(last, layer.inputs.ravel(), s)
    np.maximum.at(last, net.outputs, stages(net, cuts, features)[-1])
    return made, last


def register_cost(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> tuple[int, int]:
    """``(flip-flops, lone)`` of the core's pipeline registers; ``lone`` are those that do not
    follow a LUT of their own: a model input, a signal that also has a reader in the stage
    it is made in, or any register after the first on a signal that skips stages."""
    made, last = _last_read(net, cuts, features)
    ffs = np.maximum(last - made, 0)
    reads_here = np.zeros(net.n_signals, dtype=bool)
    for layer, s in zip(net.layers, read_stages(net, cuts, features)):
        ins = layer.inputs.ravel()
        reads_here[ins[made[ins] == s]] = True
    lut = np.arange(net.n_signals) >= net.n_inputs
    packs = lut & (ffs > 0) & ~reads_here
    return int(ffs.sum()), int(ffs.sum() - packs.sum())


def write_core(net: Network, cuts: tuple[int, ...], out: TextIO, features: FeatureFormat | None = None) -> None:
    """Print module ``lgn_core(clk, i_data, o_bits)``; o_bits[j] is signal net.outputs[j].

    ``i_data`` holds the input bits, or with ``features`` the raw feature codes.  ``cuts`` are
    the layers after which a register stage sits (``schedule.Schedule.core_cuts``).
    Written a layer at a time: a million nodes take seconds, not minutes.
    """
    stage_of_layer, reads = stages(net, cuts, features), read_stages(net, cuts, features)
    # the last stage a signal is read in decides how many registered copies it needs
    made, last = _last_read(net, cuts, features)
    # cur[sig]: the name under which the stage being written reads signal sig
    cur = [f"i_data[{i}]" for i in range(net.n_inputs)] + [""] * net.n_nodes

    where = ", ".join(map(str, cuts)) if cuts else "none"
    out.write(f"// Generated by lgn2rtl: {len(net.layers)} layers, {net.n_nodes} nodes, "
              f"registers after layers: {where}; latency {latency(net, cuts, features)}.\n")
    out.write(_header(MODULE, net, features, "o_bits", len(net.outputs)) + "\n")
    if features is not None:
        _encoder(net, features, cur, out)
    registered = 0  # the stage the names in cur belong to

    def registers_up_to(stage: int) -> None:
        nonlocal registered
        for s in range(registered + 1, stage + 1):
            _registers(s, np.flatnonzero((made < s) & (last >= s)).tolist(), net.n_inputs, cur, out)
        registered = max(registered, stage)

    for i, (layer, start) in enumerate(zip(net.layers, net.layer_starts.tolist())):
        registers_up_to(int(reads[i]))
        sigs = range(start, start + len(layer))
        if isinstance(layer, Binarized):
            out.write(f"    // layer {i}: {len(layer)} binarized neurons, fan-in {layer.fan_in}, "
                      f"popcount latency {binarized_latency(layer)}\n")
            binarized.write_layer(layer, start, cur, out)
            cur[start:start + len(layer)] = [f"n{sig}" for sig in sigs]
            continue
        ins, tables = layer.inputs.tolist(), layer.tables.tolist()
        out.write(f"    // layer {i}: {len(layer)} nodes, k={layer.k}\n")
        if layer.k == 2:  # the common case, a few times faster than verilog.gate()
            out.write("".join([f"{verilog.wire(f'n{sig}', verilog.GATE2[t](cur[a], cur[b]))}\n"
                               for sig, (a, b), t in zip(sigs, ins, tables)]))
        else:
            out.write("".join([f"{verilog.wire(f'n{sig}', verilog.gate(t, [cur[x] for x in row]))}\n"
                               for sig, row, t in zip(sigs, ins, tables)]))
        cur[start:start + len(layer)] = [f"n{sig}" for sig in sigs]
    registers_up_to(int(stage_of_layer[-1]))  # outputs made before a final binarized layer
    # one concatenation, not one assign per bit: Icarus wakes every reader of the bus for
    # each bit assign, which made whole-design simulation 12x slower
    out.write(verilog.assign("o_bits", verilog.concat([cur[sig] for sig in net.outputs.tolist()], one_a_line=True))
              + f"\n{verilog.END}\n")


def _header(name: str, net: Network, features: FeatureFormat | None, output: str, width: int) -> str:
    """The header of a datapath module: ``clk``, ``i_data`` and one output bus."""
    return verilog.header(name, [verilog.port("input", "clk"), verilog.port("input", "i_data", bus_width(net, features)),
                                 verilog.port("output", output, width)])


def _encoder(net: Network, features: FeatureFormat, cur: list[str], out: TextIO) -> None:
    """Thermometer comparators: input bit f*levels + j is code f > constant [f, j]."""
    levels = net.n_inputs // features.count
    w = features.bits
    out.write(f"    // thermometer encoder: {features.count} features, {features.describe()}\n")
    for f, row in enumerate(constants(net.encoder.thresholds, features.frac).tolist()):
        lo, hi = f * w, f * w + w - 1
        if features.signed:  # flipping the sign bit maps two's complement onto an order-keeping unsigned code
            code = f"{{~i_data[{hi}], i_data[{hi - 1}:{lo}]}}" if w > 1 else f"~i_data[{lo}]"
            row = [c - features.lo for c in row]
        else:
            code = f"i_data[{hi}:{lo}]"
        for j, c in enumerate(row):
            sig = f * levels + j
            out.write(verilog.wire(f"e{sig}", f"{code} > {w}'d{c}") + "\n")
            cur[sig] = f"e{sig}"


def _registers(stage: int, crossing: list[int], n_inputs: int, cur: list[str], out: TextIO) -> None:
    regs = [f"i{sig}_r{stage}" if sig < n_inputs else f"n{sig}_r{stage}" for sig in crossing]
    out.write(f"    // pipeline registers into stage {stage}: {len(crossing)}\n")
    out.write("".join(f"{verilog.reg(r)}\n" for r in regs))
    out.write(verilog.registers([(r, cur[sig]) for sig, r in zip(crossing, regs)]) + "\n")
    for sig, r in zip(crossing, regs):
        cur[sig] = r


def write_datapath(net: Network, cuts: tuple[int, ...], groupsum: GroupSum, out: TextIO,
                   features: FeatureFormat | None = None) -> None:
    """Print ``lgn_core``, ``lgn_groupsum`` and ``lgn_datapath(clk, i_data, o_scores)`` chaining them.

    The chain lives in Verilog because the bus between the two can be wider than the
    65535 bits Amaranth allows a signal.
    """
    write_core(net, cuts, out, features)
    groupsum.write(out)
    n_bits, n_scores = len(net.outputs), groupsum.classes * groupsum.bits
    out.write("\n".join([
        _header(DATAPATH, net, features, "o_scores", n_scores),
        verilog.wire("bits", width=n_bits),
        verilog.instance(MODULE, "core", {"clk": "clk", "i_data": "i_data", "o_bits": "bits"}),
        verilog.instance(GROUPSUM, "groupsum", {"clk": "clk", "i_bits": "bits", "o_scores": "o_scores"}),
        verilog.END, ""]))


class Datapath(wiring.Component):
    """Instance of ``lgn_datapath``: ``o`` is the packed GroupSum scores, ``latency`` cycles after ``i``.

    The Verilog itself comes from :func:`write_datapath`; Amaranth only sees a black box.
    """

    def __init__(self, net: Network, cuts: tuple[int, ...], groupsum: GroupSum,
                 features: FeatureFormat | None = None):
        self.latency = latency(net, cuts, features) + groupsum.latency
        super().__init__({"i": In(bus_width(net, features)), "o": Out(groupsum.classes * groupsum.bits)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.datapath = Instance(DATAPATH, i_clk=ClockSignal(), i_i_data=self.i, o_o_scores=self.o)
        return m
