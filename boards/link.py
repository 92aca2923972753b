"""A compiled design behind a UART: the board side of the inference link.

:class:`Link` takes request frames on ``rx``, feeds each sample into the design and sends an
answer frame per request on ``tx`` (the frames are in :mod:`.protocol`, the rules in
docs/uart-protocol.md). :class:`BoardTop` puts a Link on a board's UART pins and LED for
``platform.build``.
"""
from __future__ import annotations

from pathlib import Path

from amaranth.build import ResourceError
from amaranth.hdl import Cat, ClockSignal, Elaboratable, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, io, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..errors import UserError
from ..hdl.delay import Delay
from .protocol import (ANSWER, CHUNK_BITS, CRC, REQUEST, TAG_BITS, TIMEOUT_BITS, WINDOW,
                       Format, Status)
from .uart import MIN_DIVISOR, RxByte, UartRx, UartTx

__all__ = ["Deframer", "Framer", "Link", "BoardTop", "divisor"]

ACTIVITY_BITS = 1 << 12    # the LED stays lit this long after an answer (36 ms at 115200 baud)
HEARTBEAT_BITS = 1 << 17   # an idle board blinks its LED once in this time (1.1 s at 115200 baud)
MAX_BAUD_ERROR = 0.02
# frame ends wait for a ready-port design's answer in flip-flops up to this latency, beyond in
# block RAM (build leaves that block RAM free when it compiles such a design)
ENDS_IN_FLIP_FLOPS = 16

FrameEnd = data.StructLayout({"tag": TAG_BITS, "status": Status})


def _answer_layout(fmt: Format) -> data.StructLayout:
    return data.StructLayout({"tag": TAG_BITS, "status": Status, "klass": fmt.class_bits,
                              "scores": fmt.classes * fmt.score_bits})


class Deframer(wiring.Component):
    """Turns received bytes into samples: one ``end`` pulse per request frame.

    A frame starts at a REQUEST header and ends, with the status in ``end.payload``, at its CRC
    byte (OK or CRC), at a byte with a framing error (FRAMING), at a header byte (TRUNCATED;
    a REQUEST header also starts the next frame) or after ``timeout`` idle cycles (TIMEOUT).
    Outside a frame, everything but a clean REQUEST header is ignored. While ``end`` is valid
    with status OK, ``data`` holds the frame's input bits. ``end.payload.tag`` is the frame's
    tag once its first two data bytes have arrived (before that, the previous frame's).
    """

    def __init__(self, fmt: Format, timeout: int):
        self.fmt = fmt
        self.timeout = timeout
        super().__init__({
            "byte": In(stream.Signature(RxByte, always_ready=True)),
            "end": Out(stream.Signature(FrameEnd, always_ready=True)),
            "data": Out(fmt.input_bits),
        })

    def elaborate(self, platform):
        m = Module()
        chunks = self.fmt.request_chunks
        # Data bytes shift in from the top: one shared enable, no decoder on the wide register.
        payload = Signal(chunks * CHUNK_BITS)
        tag = Signal(TAG_BITS)  # in place as soon as it has arrived, for error answers
        count = Signal(range(chunks + 1))
        idle = Signal(range(self.timeout + 1))
        m.submodules.crc = crc = CRC.create()
        m.d.comb += self.data.eq(payload[TAG_BITS:TAG_BITS + self.fmt.input_bits])

        byte = self.byte.payload
        header = byte.data[7]
        m.d.sync += self.end.valid.eq(0)

        def end(status):
            m.d.sync += [self.end.valid.eq(1), self.end.payload.tag.eq(tag),
                         self.end.payload.status.eq(status)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.byte.valid & ~byte.error & (byte.data == REQUEST)):
                    m.d.sync += [count.eq(0), idle.eq(0)]
                    m.next = "FRAME"
            with m.State("FRAME"):
                m.d.sync += idle.eq(idle + 1)
                with m.If(self.byte.valid):
                    m.d.sync += idle.eq(0)
                    with m.If(byte.error):
                        end(Status.FRAMING)
                        m.next = "IDLE"
                    with m.Elif(header):
                        end(Status.TRUNCATED)
                        m.d.sync += count.eq(0)
                        with m.If(byte.data != REQUEST):
                            m.next = "IDLE"
                    with m.Elif(count == chunks):
                        with m.If(crc.crc == byte.data[:CHUNK_BITS]):
                            end(Status.OK)
                        with m.Else():
                            end(Status.CRC)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [payload.eq(Cat(payload[CHUNK_BITS:], byte.data[:CHUNK_BITS])),
                                     count.eq(count + 1)]
                        with m.If(count == 0):
                            m.d.sync += tag[:CHUNK_BITS].eq(byte.data)
                        with m.If(count == 1):
                            m.d.sync += tag[CHUNK_BITS:].eq(byte.data)
                        m.d.comb += [crc.valid.eq(1), crc.start.eq(count == 0),
                                     crc.data.eq(byte.data)]
                with m.Elif(idle == self.timeout):
                    end(Status.TIMEOUT)
                    m.next = "IDLE"
        return m


class Framer(wiring.Component):
    """Turns each answer on ``answer`` into an answer frame on ``byte``."""

    def __init__(self, fmt: Format):
        self.fmt = fmt
        super().__init__({
            "answer": In(stream.Signature(_answer_layout(fmt))),
            "byte": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        chunks = self.fmt.answer_chunks
        shift = Signal(chunks * CHUNK_BITS)
        count = Signal(range(chunks))
        m.submodules.crc = crc = CRC.create()

        sent = self.byte.valid & self.byte.ready
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.answer.ready.eq(1)
                with m.If(self.answer.valid):
                    m.d.sync += [shift.eq(self.answer.payload), count.eq(0)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [self.byte.valid.eq(1), self.byte.payload.eq(ANSWER)]
                with m.If(sent):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [self.byte.valid.eq(1), self.byte.payload.eq(shift[:CHUNK_BITS]),
                             crc.data.eq(shift[:CHUNK_BITS]), crc.start.eq(count == 0)]
                with m.If(sent):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [shift.eq(shift[CHUNK_BITS:]), count.eq(count + 1)]
                    with m.If(count == chunks - 1):
                        m.next = "CRC"
            with m.State("CRC"):
                # The CRC register lags one cycle; the UART took a whole byte time since.
                m.d.comb += [self.byte.valid.eq(1), self.byte.payload.eq(crc.crc)]
                with m.If(sent):
                    m.next = "IDLE"
        return m


class Link(wiring.Component):
    """The compiled design behind a UART link (docs/uart-protocol.md).

    ``manifest`` names the design's top module and ports; it is instantiated as a Verilog
    ``Instance``, so its files must be added to the build (as :class:`BoardTop` does).
    ``divisor`` is clock cycles per UART bit (clock frequency / baud). Requests stream in back
    to back; the design sees one sample per request and its answers wait in a FIFO of
    ``depth`` answers until the UART can send them, errors in order with the samples. ``led``
    blinks briefly once per ``heartbeat_bits`` bit times (rounded up to a power of two) and
    stays lit for ``activity_bits`` bit times after every answer, so it glows while samples
    stream.
    """

    def __init__(self, manifest: dict, divisor: int, *, depth: int = WINDOW,
                 timeout_bits: int = TIMEOUT_BITS, activity_bits: int = ACTIVITY_BITS,
                 heartbeat_bits: int = HEARTBEAT_BITS):
        self.manifest = manifest
        self.fmt = Format.from_manifest(manifest)
        # A design with a ready port (AXI4-Stream, e.g. folded layers) takes a sample every
        # initiation_interval clocks. Requests arrive no faster than one frame's bytes apart,
        # so if that is never shorter, the design is ready whenever a request ends.
        frame_clocks = self.fmt.request_bytes * 10 * divisor
        interval = manifest.get("initiation_interval", 1)
        if manifest["inputs"].get("ready") and interval > frame_clocks:
            raise UserError(f"design {manifest['top']} takes a sample every {interval} clocks, and requests "
                            f"can arrive every {frame_clocks} (a {self.fmt.request_bytes}-byte frame): "
                            "fold it less, or lower the baud rate")
        self.divisor = divisor
        self.depth = depth
        self.timeout_bits = timeout_bits
        self.activity_bits = activity_bits
        self.heartbeat_bits = heartbeat_bits
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "led": Out(1)})

    def elaborate(self, platform):
        m = Module()
        fmt, man = self.fmt, self.manifest
        m.submodules.uart_rx = uart_rx = UartRx(self.divisor)
        m.submodules.uart_tx = uart_tx = UartTx(self.divisor)
        m.submodules.deframer = deframer = Deframer(fmt, self.timeout_bits * self.divisor)
        m.submodules.framer = framer = Framer(fmt)
        m.submodules.answers = answers = SyncFIFOBuffered(width=fmt.answer_bits,
                                                          depth=self.depth)
        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx)]
        wiring.connect(m, uart_rx.byte, deframer.byte)
        wiring.connect(m, framer.byte, uart_tx.byte)

        o_valid = Signal()
        o_class = Signal(fmt.class_bits)
        o_scores = Signal(fmt.classes * fmt.score_bits)
        outputs = man["outputs"]
        # ECP5 platforms make "sync" reset-less (GSR clears every flop at start-up): rst is 0 there.
        m.submodules.design = Instance(
            man["top"],
            **{f"i_{man['clock']}": ClockSignal(),
               f"i_{man['reset']}": ResetSignal(allow_reset_less=True),
               f"i_{man['inputs']['valid']}": deframer.end.valid
               & (deframer.end.payload.status == Status.OK),
               f"i_{man['inputs']['data']['name']}": deframer.data,
               f"o_{outputs['valid']}": o_valid,
               f"o_{outputs['class']['name']}": o_class,
               f"o_{outputs['scores']['name']}": o_scores,
               # an AXI4-Stream design: its answers are never held (the answer FIFO has room
               # for every request in flight), so each leaves ``latency`` clocks after its sample
               **({f"i_{outputs['ready']}": 1, f"i_{man['inputs']['last']}": 0} if outputs.get("ready") else {})})

        # Every frame end travels beside its sample through the design, so an error answer
        # never overtakes the answer to an earlier sample; a ready-port design's long wait
        # (folded layers take hundreds of clocks) is a ring in block RAM rather than a
        # flip-flop per bit and clock. A native design's stays in flip-flops, as build planned.
        m.submodules.ends = ends = Delay(1 + FrameEnd.size, man["latency"],
                                         ram=bool(outputs.get("ready")) and man["latency"] > ENDS_IN_FLIP_FLOPS)
        m.d.comb += ends.i.eq(Cat(deframer.end.valid, deframer.end.payload))
        end_valid, end = ends.o[0], FrameEnd(ends.o[1:])
        ok = end.status == Status.OK
        answer = Signal(_answer_layout(fmt))
        m.d.comb += [
            answer.tag.eq(end.tag), answer.status.eq(end.status),
            answer.klass.eq(Mux(ok, o_class, 0)), answer.scores.eq(Mux(ok, o_scores, 0)),
            answers.w_data.eq(answer), answers.w_en.eq(end_valid),
            framer.answer.payload.eq(answers.r_data), framer.answer.valid.eq(answers.r_rdy),
            answers.r_en.eq(framer.answer.ready),
        ]

        # The LED counts bit times, which keeps its counters short and off the critical path.
        bit_time = Signal(range(self.divisor))
        tick = bit_time == 0
        m.d.sync += bit_time.eq(Mux(tick, self.divisor - 1, bit_time - 1))
        activity = Signal(range(self.activity_bits + 1))
        beat = Signal(range(self.heartbeat_bits))  # wraps: its period is a power of two
        with m.If(tick):
            m.d.sync += beat.eq(beat + 1)
        with m.If(end_valid):
            m.d.sync += activity.eq(self.activity_bits)
        with m.Elif(tick & (activity != 0)):
            m.d.sync += activity.eq(activity - 1)
        m.d.comb += self.led.eq((activity != 0) | (beat[-4:] == 0))
        return m


class BoardTop(Elaboratable):
    """A compiled design behind its board's UART, for ``platform.build(BoardTop(...))``.

    Uses the platform's default clock, ``uart`` 0 (``rx``, ``tx``) and ``led`` 0 (or the green
    of ``rgb_led`` 0); adds the design's Verilog files from ``design_dir``.
    """

    def __init__(self, design_dir: Path, manifest: dict, baud: int = 115200):
        self.design_dir = Path(design_dir)
        self.manifest = manifest
        self.baud = baud

    def elaborate(self, platform):
        m = Module()
        for name in self.manifest["files"]:
            platform.add_file(name, (self.design_dir / name).read_text())
        m.submodules.link = link = Link(self.manifest,
                                        divisor(platform.default_clk_frequency, self.baud))
        try:
            uart = platform.request("uart", 0, dir="-")
        except ResourceError:
            raise UserError(f"{type(platform).__name__} has no 'uart' resource: add one for the "
                            "pins of its USB-serial bridge with platform.add_resources") from None
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:
            led = platform.request("rgb_led", 0, dir="-").g
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", led)
        m.d.comb += [link.rx.eq(rx.i), tx.o.eq(link.tx), led.o.eq(link.led)]
        return m


def divisor(clk_frequency: float, baud: int) -> int:
    """Clock cycles per UART bit; raises UserError if the clock cannot make the baud rate."""
    cycles = round(clk_frequency / baud)
    if cycles < MIN_DIVISOR or abs(clk_frequency / cycles / baud - 1) > MAX_BAUD_ERROR:
        raise UserError(f"a {clk_frequency / 1e6:g} MHz clock cannot make {baud} baud "
                        f"within {MAX_BAUD_ERROR:.0%}; choose a lower baud rate")
    return cycles
