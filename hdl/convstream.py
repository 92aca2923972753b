"""The streaming lowering of a convolutional LGN: one pixel per clock, one shared tree per channel.

The image enters as a stream of pixels (all ``C`` channel bits of one position) in raster
order. Every stage (``Conv`` or ``OrPool``) is one :class:`Window` (a line buffer and the
counters that say which output position, if any, the newest pixel completes) followed by the
stage's logic: :class:`ChannelTrees`, one instance of each output channel's LUT levels, or
:class:`OrPoolLogic`. The last feature map is gathered by :class:`Collector` and the dense head
(today's :class:`~lgn2rtl.hdl.top.Top`: dense core, GroupSum, argmax) runs on it once per image.

**The tick.** Everything in front of the head runs on one clock enable, the *tick*
(:class:`StreamTop`): a clock in which a pixel is taken, or in which the pipeline drains the
image before (no pixel of the next image has come yet). Counted in ticks, the design is a
fixed linear pipeline: a pixel taken at tick ``t`` is at the same place in every line buffer
``d`` ticks later. So stage ``k`` sees its input position ``(y, x)`` at tick ``y*A + x*B``
after its first one, with *pitches* ``(A, B)`` (``(W, 1)`` for the image; a stride or a pool
multiplies them), and the window cell ``(dy, dx)`` of an output is the tap ``(kh-1-dy)*A +
(kw-1-dx)*B`` ticks behind the newest. Output ``(oy, ox)`` is computed at the tick of input
position ``(oy*sh + kh-1-ph, ox*sw + kw-1-pw)``, its window's bottom-right corner: for the
bottom and right rows of a padded stage that position lies past the image, in the ticks of
the next image's first pixels or of the drain; window cells outside the image are masked to 0
by the counters (zero padding), whatever the line buffer holds there. Stride drops positions;
gaps (ticks between the positions of a sparse stream) pass through the line buffer like any
other tick and are never read.

**Timing.** A new image may follow the last one with no gap: the initiation interval is the
pixels per image. An image's answer leaves ``latency`` clocks after its last pixel when the
input then idles or continues without gaps (later when the next image's first pixels come
with gaps, as the drain then waits for them). Backpressure: the output has a ready, and the
answers wait in a FIFO in which every image holds a place from its first pixel on (as
:class:`~lgn2rtl.hdl.axis.AxisTop` does for samples); ``i_ready`` falls only between images.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..conv import Conv, ConvNetwork, OrPool
from ..ir import ModelError
from .axis import FIFO_LATENCY
from .delay import Delay
from .top import Top

__all__ = ["PORTS", "StageTiming", "Window", "ChannelTrees", "OrPoolLogic", "Collector", "FeaturePipeline", "StreamTop",
           "pixels", "stage_cells", "stream_cost", "stream_timing", "table"]

# the manifest's names for StreamTop's ports
PORTS = {"inputs": {"valid": "i_valid", "ready": "i_ready", "data": "i_data"},
         "outputs": {"valid": "o_valid", "ready": "o_ready", "scores": "o_scores", "class": "o_class"}}
# a line-buffer segment of at least this many bits (ticks x channels) waits in block RAM
RAM_BITS = 1024

Pair = tuple[int, int]


def pixels(width: int) -> stream.Signature:
    """One pixel slot per clock: its channel bits and whether it is an image's first position.
    No ready: the stages move in lockstep on the tick."""
    return stream.Signature(data.StructLayout({"first": 1, "bits": width}), always_ready=True)


@dataclass(frozen=True)
class StageTiming:
    """Where a stage's inputs and outputs fall in ticks (see the module docstring).

    ``pitch`` (A, B): ticks between input rows and columns; ``lead``: ticks from the first
    input to output (0, 0); ``out_pitch``: the outputs' pitches; ``span``: ticks from output
    (0, 0) to the last output; ``latency``: register stages of the stage's logic."""
    stage: Conv | OrPool
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    pitch: Pair
    lead: int
    out_pitch: Pair
    span: int
    latency: int

    @property
    def window(self) -> Pair:
        return self.stage.kernel if isinstance(self.stage, Conv) else self.stage.size

    def offset(self, dy: int, dx: int) -> int:
        """Ticks between window cell (dy, dx) and the newest cell (the bottom-right one)."""
        (kh, kw), (a, b) = self.window, self.pitch
        return (kh - 1 - dy) * a + (kw - 1 - dx) * b


def stream_timing(model: ConvNetwork) -> tuple[list[StageTiming], int]:
    """Every stage's timing, and the ticks from an image's first pixel until the last
    feature bit reaches the collector. ModelError, in one line, for a model whose stages the
    stream cannot compute one output per tick at most, in order, within an image's ticks."""
    model.validate()
    period = model.in_shape[1] * model.in_shape[2]
    shapes = model.shapes()
    pitch, arrive, timings = (model.in_shape[2], 1), 1, []  # the input register: first pixel one tick later
    for i, stage in enumerate(model.stages):
        conv = isinstance(stage, Conv)
        where = f"stage {i} ({'conv' if conv else 'or-pool'})"
        (kh, kw), (sh, sw), (ph, pw) = (stage.kernel if conv else stage.size), stage.stride, stage.padding
        if ph > kh - 1 or pw > kw - 1:
            raise ModelError(f"{where}: padding {ph}x{pw} is not smaller than the {kh}x{kw} window; the streaming "
                             f"lowering computes an output when its window's last real pixel arrives, and "
                             f"this window can lie wholly in the padding")
        (_, oh, ow), (a, b) = shapes[i + 1], pitch
        out_pitch = (sh * a, sw * b)
        lead = (kh - 1 - ph) * a + (kw - 1 - pw) * b
        span = (oh - 1) * out_pitch[0] + (ow - 1) * out_pitch[1]
        if oh > 1 and (ow - 1) * out_pitch[1] >= out_pitch[0]:
            raise ModelError(f"{where}: a row of {ow} outputs every {out_pitch[1]} ticks overruns the "
                             f"{out_pitch[0]} ticks between rows; the streaming lowering needs stride or "
                             f"padding that keep the outputs of a row within it")
        if lead >= period:
            raise ModelError(f"{where}: its first output's window ends {lead} ticks after its first input, "
                             f"past the image's {period} pixels; the streaming lowering cannot wait that long")
        if span >= period:
            raise ModelError(f"{where}: its {oh}x{ow} outputs need {span + 1} ticks, more than the image's "
                             f"{period} pixels; the streaming lowering computes one output per pixel at most")
        latency = len(stage.levels) if conv else 1
        timings.append(StageTiming(stage, shapes[i], shapes[i + 1], pitch, lead, out_pitch, span, latency))
        arrive += lead + latency
        pitch = out_pitch
    return timings, arrive + timings[-1].span


def stream_cost(model: ConvNetwork, ram_bits: int = RAM_BITS) -> dict:
    """``luts``, ``ffs`` and ``brams`` of the pixel pipeline before synthesis, a rough count: a
    LUT4 per tree node of up to 4 inputs (more for wider ones), an OR4 per three more pooled
    cells, two LUTs per counter bit; a flip-flop per line-buffer bit outside block RAM, per tick
    of a stage's lead, per tree node and per collected feature bit; the block RAMs of the
    line-buffer segments that ``Window`` puts in block RAM."""
    luts = ffs = brams = 0
    for t in stream_timing(model)[0]:
        channels = t.in_shape[0]
        counters = sum(max(1, ceil_log2(n + 1)) for n in (*t.out_pitch, *t.out_shape[1:]))
        luts += 2 * counters
        ffs += counters + t.lead  # and the first-pixel flag's wait
        offsets = sorted({t.offset(dy, dx) for _, dy, dx in stage_cells(t.stage, channels)} | {0})
        for a, b in zip(offsets, offsets[1:]):
            segment = Delay.cost(channels, b - a, ram=(b - a) * channels >= ram_bits)
            ffs, luts, brams = ffs + segment["ffs"], luts + segment["luts"], brams + segment["brams"]
        if isinstance(t.stage, Conv):
            for level in t.stage.levels:
                nodes = int(np.prod(level.tables.shape))
                luts += nodes * (1 if level.k <= 4 else 1 << (level.k - 4))
                ffs += nodes
        else:
            cells = t.stage.size[0] * t.stage.size[1]
            luts += channels * -(-(cells - 1) // 3)
            ffs += channels
    out = model.shapes()[-1]
    return {"luts": luts, "ffs": ffs + int(np.prod(out)), "brams": brams}


def table(bits: Sequence[bool], index: Signal) -> Value:
    """``bits[index]`` as a constant looked up by ``index``: a LUT, and a constant 1 or 0 when all agree."""
    if all(bits) or not any(bits):
        return Const(int(all(bits)))
    return Const(sum(int(b) << i for i, b in enumerate(bits)), len(bits)).bit_select(index, 1)


class Window(wiring.Component):
    """The line buffer and output counters of a stage: for every input slot on ``i`` (one per
    tick), ``o`` is valid when the newest pixel completes an output's window, with the
    ``cells`` (channel, dy, dx) of that window, those in the zero padding masked to 0.

    The line buffer is one tapped delay line of all channels, in flip-flops, or a block RAM
    for a segment of ``ram_bits`` bits or more between taps (:class:`~lgn2rtl.hdl.delay.Delay`)."""

    def __init__(self, timing: StageTiming, cells: Sequence[tuple[int, int, int]], ram_bits: int = RAM_BITS):
        self.timing = timing
        self.cells = [tuple(int(v) for v in cell) for cell in cells]
        self.ram_bits = ram_bits
        super().__init__({"i": In(pixels(timing.in_shape[0])), "o": Out(pixels(len(self.cells)))})

    def elaborate(self, platform) -> Module:
        m = Module()
        t = self.timing
        channels, height, width = t.in_shape
        _, oh, ow = t.out_shape
        (sh, sw), (ph, pw) = t.stage.stride, t.stage.padding
        # the line buffer: a tap at every offset a cell reads, the newest being the input itself
        taps = {0: self.i.payload.bits}
        last = 0
        for offset in sorted({t.offset(dy, dx) for _, dy, dx in self.cells} - {0}):
            length = offset - last
            delay = Delay(channels, length, ram=length * channels >= self.ram_bits)
            m.submodules[f"delay{offset}"] = delay
            m.d.comb += delay.i.eq(taps[last])
            taps[offset], last = delay.o, offset

        # output (0, 0) comes `lead` ticks after the first input: its flag waits in a chain of
        # flip-flops (reset, unlike the line buffer's, so no stale flag outlives a reset), which
        # costs no LUTs where a counter would. Then rt runs over a row's out_pitch[0] ticks, ct
        # over a column's out_pitch[1], ox and oy over the outputs.
        (row_ticks, col_ticks) = t.out_pitch
        begin = self.i.valid & self.i.payload.first
        for k in range(t.lead):
            flag = Signal(name=f"lead{k}")
            m.d.sync += flag.eq(begin)
            begin = flag
        # the counters rest at output (0, 0) between images, so that begin needs no mux in front of them
        run_r, rt, ct = Signal(), Signal(range(row_ticks)), Signal(range(col_ticks))
        ox, oy = Signal(range(ow + 1)), Signal(range(oh))
        run, emit, in_row = Signal(), Signal(), table([x < ow for x in range(ow + 1)], ox)
        m.d.comb += [run.eq(begin | run_r), emit.eq(run & (ct == 0) & in_row)]
        with m.If(emit & (oy == oh - 1) & (ox == ow - 1)):
            m.d.sync += [run_r.eq(0), rt.eq(0), ct.eq(0), ox.eq(0), oy.eq(0)]
        with m.Elif(run & (rt == row_ticks - 1)):
            m.d.sync += [run_r.eq(1), rt.eq(0), ct.eq(0), ox.eq(0), oy.eq(oy + 1)]
        with m.Elif(run):
            m.d.sync += [run_r.eq(1), rt.eq(rt + 1), ct.eq(Mux(ct == col_ticks - 1, 0, ct + 1)),
                         ox.eq(Mux((ct == col_ticks - 1) & in_row, ox + 1, ox))]

        # zero padding: cell (dy, dx) of output (oy, ox) is input (oy*sh - ph + dy, ox*sw - pw + dx);
        # whether it lies in the image is a table of the counter, a LUT rather than a comparator
        row_ok = {dy: table([0 <= o * sh - ph + dy < height for o in range(oh)], oy) for dy in {c[1] for c in self.cells}}
        # (ox == ow, after a row's outputs, emits nothing: its entry repeats the last one's)
        col_ok = {dx: table([0 <= min(o, ow - 1) * sw - pw + dx < width for o in range(ow + 1)], ox)
                  for dx in {c[2] for c in self.cells}}
        m.d.comb += [
            self.o.valid.eq(emit),
            self.o.payload.first.eq(emit & (oy == 0) & (ox == 0)),
            self.o.payload.bits.eq(Cat(taps[t.offset(dy, dx)][c] & row_ok[dy] & col_ok[dx]
                                       for c, dy, dx in self.cells)),
        ]
        return m


class ChannelTrees(wiring.Component):
    """One instance of a conv's LUT levels for every output channel: ``i`` carries the window's
    ``cells``, ``o`` each channel's bit ``len(levels)`` ticks later (a register after every level)."""

    def __init__(self, conv: Conv, cells: Sequence[tuple[int, int, int]]):
        self.conv = conv
        index = {tuple(int(v) for v in cell): n for n, cell in enumerate(cells)}
        # per output channel, the window cell each of its leaves reads
        self.leaves = [[index[tuple(int(v) for v in leaf)] for leaf in conv.field[o]] for o in range(conv.out_channels)]
        self.latency = len(conv.levels)
        super().__init__({"i": In(pixels(len(cells))), "o": Out(pixels(conv.out_channels))})

    def elaborate(self, platform) -> Module:
        m = Module()
        valid, first = self.i.valid, self.i.payload.first
        values = [[self.i.payload.bits[n] for n in leaves] for leaves in self.leaves]
        for lv, level in enumerate(self.conv.levels):
            nodes = []
            for o in range(self.conv.out_channels):
                row = []
                for j in range(level.inputs.shape[1]):
                    r = Signal(name=f"l{lv}_c{o}_n{j}", reset_less=True)
                    addr = Cat(values[o][int(s)] for s in level.inputs[o, j])
                    m.d.sync += r.eq(Const(int(level.tables[o, j]), 1 << level.k).bit_select(addr, 1))
                    row.append(r)
                nodes.append(row)
            v, f = Signal(name=f"valid{lv}"), Signal(name=f"first{lv}")
            m.d.sync += [v.eq(valid), f.eq(first)]
            values, valid, first = nodes, v, f
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.first.eq(first),
                     self.o.payload.bits.eq(Cat(row[0] for row in values))]
        return m


class OrPoolLogic(wiring.Component):
    """The OR of each channel's window cells, registered: ``o`` one tick after ``i``."""

    def __init__(self, cells: Sequence[tuple[int, int, int]], channels: int):
        self.groups = [[n for n, cell in enumerate(cells) if cell[0] == c] for c in range(channels)]
        self.latency = 1
        super().__init__({"i": In(pixels(len(cells))), "o": Out(pixels(channels))})

    def elaborate(self, platform) -> Module:
        m = Module()
        bits = Signal(len(self.groups), reset_less=True)
        m.d.sync += [bits.eq(Cat(Cat(self.i.payload.bits[n] for n in group).any() for group in self.groups)),
                     self.o.valid.eq(self.i.valid), self.o.payload.first.eq(self.i.payload.first)]
        m.d.comb += self.o.payload.bits.eq(bits)
        return m


def stage_cells(stage: Conv | OrPool, channels: int) -> list[tuple[int, int, int]]:
    """The window cells a stage reads: a conv's field leaves, a pool's whole window."""
    if isinstance(stage, Conv):
        return sorted({tuple(int(v) for v in leaf) for leaf in stage.field.reshape(-1, 3)})
    return [(c, dy, dx) for c in range(channels) for dy in range(stage.size[0]) for dx in range(stage.size[1])]


class Collector(wiring.Component):
    """Gathers the last feature map: ``features`` holds it in the dense head's order (channel
    c of position p at bit ``c * positions + p``, torch's flatten) from the clock after
    ``done`` (the tick that brought its last pixel) until the next pixel comes."""

    def __init__(self, channels: int, positions: int):
        self.channels, self.positions = channels, positions
        super().__init__({"i": In(pixels(channels)), "done": Out(1), "features": Out(channels * positions)})

    def elaborate(self, platform) -> Module:
        m = Module()
        c, n = self.channels, self.positions
        shift = Signal(c * n, reset_less=True)
        count = Signal(range(n))
        at = Mux(self.i.payload.first, 0, count)
        with m.If(self.i.valid):
            m.d.sync += [shift.eq(Cat(shift[c:], self.i.payload.bits)), count.eq(Mux(at == n - 1, 0, at + 1))]
        # after n pixels, pixel p's channel ch is at bit p*c + ch
        m.d.comb += [self.done.eq(self.i.valid & (at == n - 1)),
                     self.features.eq(Cat(shift[p * c + ch] for ch in range(c) for p in range(n)))]
        return m


class FeaturePipeline(wiring.Component):
    """The input register, every stage (:class:`Window` then its logic) and the
    :class:`Collector`, one slot per clock of its domain (``StreamTop`` gives it the tick).
    ``i`` is the pixel taken in this slot, if valid; ``done`` says this slot brings the last
    feature of an image, which ``features`` holds from the next clock on."""

    def __init__(self, model: ConvNetwork, ram_bits: int = RAM_BITS):
        self.timings, self.last_tick = stream_timing(model)
        self.stages = []
        for timing in self.timings:
            cells = stage_cells(timing.stage, timing.in_shape[0])
            logic = (ChannelTrees(timing.stage, cells) if isinstance(timing.stage, Conv)
                     else OrPoolLogic(cells, timing.in_shape[0]))
            self.stages.append((Window(timing, cells, ram_bits), logic))
        out = self.timings[-1].out_shape
        self.collector = Collector(out[0], out[1] * out[2])
        super().__init__({"i": In(pixels(model.in_shape[0])), "done": Out(1),
                          "features": Out(len(self.collector.features))})

    def elaborate(self, platform) -> Module:
        m = Module()
        pixel = Signal.like(self.i.payload)
        valid = Signal()
        m.d.sync += [valid.eq(self.i.valid), pixel.eq(self.i.payload)]
        source_valid, source_payload = valid, pixel
        for k, (window, logic) in enumerate(self.stages):
            m.submodules[f"window{k}"] = window
            m.submodules[f"logic{k}"] = logic
            m.d.comb += [window.i.valid.eq(source_valid), window.i.payload.eq(source_payload)]
            wiring.connect(m, window.o, logic.i)
            source_valid, source_payload = logic.o.valid, logic.o.payload
        m.submodules.collector = collector = self.collector
        m.d.comb += [collector.i.valid.eq(source_valid), collector.i.payload.eq(source_payload),
                     self.done.eq(collector.done), self.features.eq(collector.features)]
        return m


class StreamTop(wiring.Component):
    """A convolutional model, one pixel per clock: ``i_data`` is a pixel's channels (channel c
    at bit c), taken when ``i_valid`` and ``i_ready``; ``o_scores`` and ``o_class`` are an
    image's answer, given when ``o_valid`` and ``o_ready``. ``head`` is the dense head's
    design. ``initiation_interval`` is the pixels per image; ``latency`` the clocks from an
    image's last pixel taken to its answer on an idle output (see the module docstring)."""
    PORTS = PORTS

    def __init__(self, model: ConvNetwork, head: Top, ram_bits: int = RAM_BITS):
        self.model, self.head = model, head
        self.features = FeaturePipeline(model, ram_bits)
        self.initiation_interval = model.in_shape[1] * model.in_shape[2]
        # ticks after the last pixel's until the collector has the last feature bit
        self.flush = max(0, self.features.last_tick - self.initiation_interval + 1)
        # and the clock in which the tick is registered, and the one in which the head reads the features
        self.stream_latency = self.flush + 2
        self.latency = self.stream_latency + head.latency + FIFO_LATENCY
        # images hold a place in the answer FIFO from their first pixel to their answer taken
        self.depth = -(-(self.initiation_interval + self.latency) // self.initiation_interval) + 1
        self.answers = SyncFIFOBuffered(width=len(head.o_scores) + len(head.o_class), depth=self.depth)
        super().__init__({
            "i_valid": In(1), "i_ready": Out(1), "i_data": In(model.in_shape[0]),
            "o_valid": Out(1), "o_ready": In(1),
            "o_scores": Out(len(head.o_scores)), "o_class": Out(len(head.o_class)),
        })

    @property
    def tree_nodes(self) -> int:
        """LUT nodes of the shared trees: one instance per output channel of each conv."""
        return sum(int(np.prod(level.tables.shape)) for t in self.features.timings if isinstance(t.stage, Conv)
                   for level in t.stage.levels)

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.initiation_interval
        index = Signal(range(p))  # the next pixel's position in its image
        drain = Signal(range(self.flush + 1))
        take, tick = Signal(), Signal()
        reserved = Signal(range(self.depth + 1))  # images begun whose answers have not left
        given = Signal()
        m.d.comb += [
            self.i_ready.eq((index != 0) | (reserved < self.depth)),
            take.eq(self.i_valid & self.i_ready),
            # between images the pipeline also moves without a pixel, to finish the last one
            tick.eq(take | ((drain != 0) & (index == 0))),
        ]
        with m.If(take):
            m.d.sync += index.eq(Mux(index == p - 1, 0, index + 1))
        with m.If(take & (index == p - 1)):
            m.d.sync += drain.eq(self.flush)
        with m.Elif(tick & (drain != 0)):
            m.d.sync += drain.eq(drain - 1)
        m.d.sync += reserved.eq(reserved + (take & (index == 0)) - given)

        # the tick enables every register of the pipeline: it comes from a register of its own,
        # a clock after the slot it marks, so that its fan-out is not behind i_valid's logic
        ticked = Signal()
        m.d.sync += ticked.eq(tick)
        m.submodules.features = EnableInserter(ticked)(features := self.features)
        m.d.sync += [features.i.valid.eq(take), features.i.payload.first.eq(index == 0),
                     features.i.payload.bits.eq(self.i_data)]
        # the head reads the features for one clock; its answer waits in the FIFO for o_ready
        full = Signal()
        m.d.sync += full.eq(ticked & features.done)
        m.submodules.head = head = self.head
        m.submodules.answers = answers = self.answers
        m.d.comb += [
            head.i_valid.eq(full), head.i_data.eq(features.features),
            answers.w_stream.valid.eq(head.o_valid),
            answers.w_stream.payload.eq(Cat(head.o_scores, head.o_class)),
            self.o_valid.eq(answers.r_stream.valid), answers.r_stream.ready.eq(self.o_ready),
            Cat(self.o_scores, self.o_class).eq(answers.r_stream.payload),
            given.eq(answers.r_stream.valid & self.o_ready),
        ]
        return m
