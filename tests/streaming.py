"""Stream vectors through components one per clock: Amaranth's simulator or Icarus."""
import subprocess

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


def stream_verilog(duts, tmp_path):
    """Icarus twin of :func:`stream` for Verilog text modules ``name(clk, i, o)``.

    ``duts`` holds ``(verilog, name, in_width, out_width, latency, inputs)``;
    returns one list of outputs per dut, each taken ``latency`` clocks after its input.
    """
    lines = ["`timescale 1ns/1ps", "module tb;", "    reg clk = 0;", "    integer t, f;"]
    cycles = max(len(d[5]) + d[4] for d in duts)
    for j, (_, name, w, b, _, inputs) in enumerate(duts):
        (tmp_path / f"in{j}.hex").write_text("".join(f"{v:x}\n" for v in inputs))
        lines += [f"    reg [{w - 1}:0] i{j}; wire [{b - 1}:0] o{j};",
                  f"    reg [{w - 1}:0] m{j} [0:{len(inputs) - 1}];",
                  f"    {name} u{j} (.clk(clk), .i(i{j}), .o(o{j}));"]
    lines += ["    initial begin", '        f = $fopen("out.txt", "w");']
    lines += [f'        $readmemh("in{j}.hex", m{j});' for j in range(len(duts))]
    lines += [f"        for (t = 0; t < {cycles}; t = t + 1) begin"]
    for j, (_, _, _, _, lat, inputs) in enumerate(duts):
        lines += [f"            i{j} = t < {len(inputs)} ? m{j}[t] : 0;"]
    lines += ["            #1;"]
    for j, (_, _, _, _, lat, inputs) in enumerate(duts):
        lines += [f'            if (t >= {lat} && t < {lat + len(inputs)}) $fdisplay(f, "{j} %h", o{j});']
    lines += ["            clk = 1; #1; clk = 0; #1;", "        end", "        $fclose(f);", "        $finish;",
              "    end", "endmodule"]
    (tmp_path / "tb.v").write_text("\n".join(lines) + "\n")
    (tmp_path / "duts.v").write_text("\n".join(d[0] for d in duts) + "\n")
    subprocess.run(["iverilog", "-o", "sim", "tb.v", "duts.v"], cwd=tmp_path, check=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True)
    outputs = [[] for _ in duts]
    for line in (tmp_path / "out.txt").read_text().split("\n"):
        if line:
            j, value = line.split()
            outputs[int(j)].append(int(value, 16))
    return outputs
