"""boards/uart.py in Amaranth's simulator, against serial waveforms built here bit by bit."""
import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from lgn2rtl.boards.uart import UartRx, UartTx


def waveform(data: list[int], bit_cycles: int, stop: int = 1) -> list[int]:
    """The 8N1 line levels, one per clock, for ``data`` sent back to back."""
    levels = []
    for byte in data:
        for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
            levels += [bit] * bit_cycles
    return levels


def receive(divisor: int, levels: list[int]) -> list[tuple[int, int]]:
    """(byte, error) for each byte UartRx takes from the line ``levels`` (then idle)."""
    dut = UartRx(divisor)
    got = []

    async def bench(ctx):
        for level in levels + [1] * (12 * divisor):
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.byte.valid):
                got.append((ctx.get(dut.byte.payload.data), ctx.get(dut.byte.payload.error)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_tx_sends_8n1_back_to_back(divisor):
    data = [0x55, 0x00, 0xFF, 0xA5, 0x3C]
    dut = UartTx(divisor)
    line = []

    async def bench(ctx):
        ctx.set(dut.byte.valid, 1)
        for byte in data:
            ctx.set(dut.byte.payload, byte)
            await ctx.tick().until(dut.byte.ready)  # the byte is taken at this edge
        ctx.set(dut.byte.valid, 0)

    async def probe(ctx):
        async for _, _, tx in ctx.tick().sample(dut.tx):
            line.append(tx)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(probe)
    sim.run_until(1e-6 * (len(data) * 10 * divisor + 20))
    start = line.index(0)
    assert set(line[:start]) == {1}
    assert line[start:start + len(data) * 10 * divisor] == waveform(data, divisor)
    assert set(line[start + len(data) * 10 * divisor:]) == {1}


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_rx_takes_back_to_back_bytes(divisor):
    data = [0x00, 0xFF, 0x55, 0xAA, 0x81, 0x7E]
    assert receive(divisor, waveform(data, divisor)) == [(b, 0) for b in data]


@pytest.mark.parametrize("bit_cycles", [31, 33])
def test_rx_tolerates_a_3_percent_baud_error(bit_cycles):
    data = [0x00, 0xFF, 0x96, 0x69]
    assert receive(32, waveform(data, bit_cycles)) == [(b, 0) for b in data]


def test_rx_ignores_a_glitch_shorter_than_half_a_bit():
    glitch = [1] * 8 + [0] * 3 + [1] * 20
    assert receive(8, glitch + waveform([0x42], 8)) == [(0x42, 0)]


def test_rx_flags_a_low_stop_bit_and_sits_out_a_break():
    divisor = 8
    levels = (waveform([0x42], divisor, stop=0) + [1] * divisor  # framing error, then idle
              + [0] * (30 * divisor) + [1] * divisor              # a break: one error only
              + waveform([0x24], divisor))
    assert receive(divisor, levels) == [(0x42, 1), (0x00, 1), (0x24, 0)]


def test_tx_to_rx_loopback_at_the_minimum_divisor():
    data = [random.Random(5).randrange(256) for _ in range(40)]
    m = Module()
    m.submodules.tx = tx = UartTx(4)
    m.submodules.rx = rx = UartRx(4)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def send(ctx):
        ctx.set(tx.byte.valid, 1)
        for byte in data:
            ctx.set(tx.byte.payload, byte)
            await ctx.tick().until(tx.byte.ready)
        ctx.set(tx.byte.valid, 0)

    async def take(ctx):
        async for _, _, valid, byte in ctx.tick().sample(rx.byte.valid, rx.byte.payload):
            if valid:
                got.append((byte.data, byte.error))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_process(take)
    sim.run_until(1e-6 * (len(data) * 40 + 50))
    assert got == [(b, 0) for b in data]

