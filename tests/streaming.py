"""Stream vectors through Amaranth components in Amaranth's own simulator, one per clock."""
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator


def stream(duts, read):
    """Drive every ``(dut, inputs)`` pair into ``dut.i`` at one sample per clock.

    ``outputs[j][t]`` is ``read(ctx, dut)`` taken ``dut.latency`` cycles after
    ``inputs[t]`` went in. All duts share one simulation, which keeps suites fast.
    """
    top = Module()
    # A latency-0 design has no clocked logic; a dummy flop keeps the sync domain alive.
    dummy = Signal()
    top.d.sync += dummy.eq(~dummy)
    for j, (dut, _) in enumerate(duts):
        top.submodules[f"dut{j}"] = dut
    cycles = max(len(inputs) + dut.latency for dut, inputs in duts)
    outputs = [[] for _ in duts]

    async def testbench(ctx):
        for t in range(cycles):
            for dut, inputs in duts:
                ctx.set(dut.i, inputs[t] if t < len(inputs) else 0)
            for j, (dut, inputs) in enumerate(duts):
                if 0 <= t - dut.latency < len(inputs):
                    outputs[j].append(read(ctx, dut))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return outputs
