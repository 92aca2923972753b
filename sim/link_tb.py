"""cocotb testbench for a UART board top in the wrapper :class:`lgn2rtl.sim.link_runner.LinkBench`
builds (ports ``rst``, ``rx``, ``tx``, ``led``; the wrapper makes the clock, ``CLOCK_NS``).

Everything crosses real serial waveforms: bytes go onto ``rx`` bit by bit (8N1, ``divisor``
clock cycles per bit) and ``tx`` is decoded the same way, so the top's own UART is under test.
The bench knows nothing of frames. Run by :class:`~lgn2rtl.sim.link_runner.LinkBench`; the
job comes as JSON in the file named by ``LGN2RTL_LINK_JOB``, the results go as JSON to the
file named by ``LGN2RTL_LINK_RESULTS``.

``replay`` sends ``bytes`` (with ``stop`` bits and ``gaps``, idle bit times before each
byte), waits until ``expect`` bytes came back on ``tx`` or ``patience_bits`` passed, then
listens ``linger_bits`` more. Results: ``received`` ([cycle, byte, stop bit] each),
``sent_cycle`` (when the last byte was sent), ``led`` ([cycle, value] per change), ``cycles``.

``bridge`` connects a pseudo-terminal to the top: it writes the terminal's path to
``pty_file``, serializes what a program writes there onto ``rx`` (flipping bit 0 of the
bytes whose indices are in ``flip``, as line noise would) and writes what comes back on
``tx`` to the terminal, until that program closes the terminal or ``seconds`` of wall time
pass. Results: ``bytes_in``, ``bytes_out``, ``cycles``, ``closed`` (False on the time limit).
"""
import json
import os
import time
import tty
from pathlib import Path

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, Timer

__all__ = ["JOB_ENV", "RESULTS_ENV", "CLOCK_NS", "replay", "bridge"]

JOB_ENV = "LGN2RTL_LINK_JOB"
RESULTS_ENV = "LGN2RTL_LINK_RESULTS"
CLOCK_NS = 10
RESET_CYCLES = 4


class _Wire:
    """The serial lines of the top and its clock."""

    def __init__(self, dut, divisor: int):
        self.dut = dut
        self.bit_ns = divisor * CLOCK_NS

    async def reset(self) -> None:
        self.dut.rx.value = 1
        self.dut.rst.value = 1
        await Timer(RESET_CYCLES * CLOCK_NS, "ns")
        self.dut.rst.value = 0

    @staticmethod
    def cycle() -> int:
        return int(get_sim_time("ns")) // CLOCK_NS

    async def idle(self, bits: float) -> None:
        await Timer(bits * self.bit_ns, "ns")

    async def send(self, byte: int, stop: int = 1, gap_bits: int = 0) -> None:
        """Put one byte on ``rx``: start bit, 8 data bits LSB first, stop bit."""
        if gap_bits:
            await self.idle(gap_bits)
        for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
            self.dut.rx.value = bit
            await self.idle(1)
        self.dut.rx.value = 1

    async def listen(self, deliver) -> None:
        """Call ``deliver(cycle, byte, stop_bit)`` for every byte the top sends on ``tx``."""
        while True:
            await FallingEdge(self.dut.tx)
            start = self.cycle()
            await self.idle(1.5)  # to the middle of data bit 0
            byte = 0
            for i in range(8):
                byte |= int(self.dut.tx.value) << i
                await self.idle(1)
            deliver(start, byte, int(self.dut.tx.value))


async def _watch(signal, changes: list) -> None:
    changes.append([_Wire.cycle(), int(signal.value)])
    while True:
        await signal.value_change
        changes.append([_Wire.cycle(), int(signal.value)])


def _job() -> dict:
    return json.loads(Path(os.environ[JOB_ENV]).read_text())


def _write_results(results: dict) -> None:
    Path(os.environ[RESULTS_ENV]).write_text(json.dumps(results))


@cocotb.test()
async def replay(dut) -> None:
    """Send the job's bytes, collect what comes back."""
    job = _job()
    wire = _Wire(dut, job["divisor"])
    await wire.reset()
    received, led = [], []
    cocotb.start_soon(wire.listen(lambda *byte: received.append(list(byte))))
    cocotb.start_soon(_watch(dut.led, led))
    for byte, stop, gap in zip(job["bytes"], job["stop"], job["gaps"]):
        await wire.send(byte, stop, gap)
    sent = wire.cycle()
    while len(received) < job["expect"] and wire.cycle() < sent + job["patience_bits"] * job["divisor"]:
        await wire.idle(10)
    await wire.idle(job["linger_bits"])
    _write_results({"received": received, "sent_cycle": sent, "led": led, "cycles": wire.cycle()})


@cocotb.test()
async def bridge(dut) -> None:
    """Serve the top on a pseudo-terminal until the program on the other end closes it."""
    job = _job()
    wire = _Wire(dut, job["divisor"])
    await wire.reset()
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    path = Path(job["pty_file"])
    path.with_suffix(".tmp").write_text(os.ttyname(slave))
    path.with_suffix(".tmp").rename(path)  # the other side polls for the file: no half paths

    counts = {"bytes_in": 0, "bytes_out": 0}

    def deliver(cycle: int, byte: int, stop: int) -> None:
        os.write(master, bytes([byte]))
        counts["bytes_out"] += 1

    cocotb.start_soon(wire.listen(deliver))
    flip = set(job.get("flip", []))
    deadline = time.monotonic() + job["seconds"]
    closed = False
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            data = b""
        except OSError:  # EIO: the last holder of the terminal closed it
            closed = True
            break
        if data and slave is not None:
            # The program has the terminal open now; once it closes it, reads fail with EIO.
            os.close(slave)
            slave = None
        for byte in data:
            await wire.send(byte ^ (counts["bytes_in"] in flip))
            counts["bytes_in"] += 1
        if not data:
            await wire.idle(10)
    os.close(master)
    if slave is not None:
        os.close(slave)
    _write_results({**counts, "cycles": wire.cycle(), "closed": closed})
