"""A UART for 8N1 serial lines: 8 data bits, least significant first, no parity, one stop bit.

The line idles high; a byte is a low start bit, the 8 data bits and a high stop bit, each
``divisor`` clock cycles long (``divisor`` = clock frequency / baud rate, rounded). Both ends'
bit rates must agree within about 4 %, which ``divisor >= 4`` leaves room for.

Written here because amaranth-stdio, whose serial port would do, has only a placeholder
release on PyPI (version 0), and a ``pip install`` user must be able to build a board.
"""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import cdc, data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RxByte", "UartRx", "UartTx", "MIN_DIVISOR"]

MIN_DIVISOR = 4

RxByte = data.StructLayout({"data": 8, "error": 1})


def _check_divisor(divisor: int) -> int:
    if not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be an integer >= {MIN_DIVISOR}, not {divisor!r}")
    return divisor


class UartRx(wiring.Component):
    """Receives bytes from ``rx``.

    ``rx`` passes a two-flop synchronizer. A byte begins at a falling edge; the start bit is
    checked in its middle (a shorter low pulse is a glitch and ignored) and each later bit is
    sampled in its middle, so bytes may follow each other with no idle time.

    Each byte is offered for one cycle on ``byte``; there is no backpressure. ``error`` is set
    when the stop bit was low (a framing error: a break, noise or the wrong baud rate); the
    receiver then waits for the line to go high before it looks for the next start bit.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "byte": Out(stream.Signature(RxByte, always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.synchronizer = cdc.FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(self.divisor))  # cycles left until the next sampling point
        bits = Signal(range(8))
        shift = Signal(8)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        m.d.sync += self.byte.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If((timer == 0) & line):
                    m.next = "IDLE"
                with m.Elif(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), shift.eq(Cat(shift[1:], line)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    m.d.sync += [self.byte.valid.eq(1), self.byte.payload.data.eq(shift),
                                 self.byte.payload.error.eq(~line)]
                    m.next = "IDLE"
                    with m.If(~line):
                        m.next = "BREAK"  # don't take a held-low line for more start bits
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Sends each byte accepted on ``byte`` on ``tx``.

    ``byte.ready`` is high while the transmitter is idle, including the cycle in which the last
    stop bit ends, so bytes offered back to back leave with no idle time between them.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "tx": Out(1, init=1),
            "byte": In(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))  # cycles left of the bit on the line
        shift = Signal(9)  # the bits still to send after the one on the line: data, stop
        bits = Signal(range(10))
        m.d.comb += self.byte.ready.eq((bits == 0) & (timer == 0))

        with m.If(self.byte.valid & self.byte.ready):
            m.d.sync += [self.tx.eq(0), shift.eq(Cat(self.byte.payload, 1)), bits.eq(9),
                         timer.eq(self.divisor - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Elif(bits != 0):
            m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift[1:]), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]
        return m
