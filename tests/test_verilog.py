"""The Verilog writer (lgn2rtl.hdl.verilog), simulated with Icarus: every gate and truth table
against the node's own table, and a delay line against the cycles it claims."""
import subprocess

import numpy as np
import pytest

from lgn2rtl.hdl import verilog

K = 4  # inputs a[0..3] cover every address of every node up to k = 4


def simulate(tmp_path, module: str, testbench: str) -> list[str]:
    (tmp_path / "tb.v").write_text(module + "\n" + testbench)
    subprocess.run(["iverilog", "-g2012", "-s", "tb", "-o", "sim", "tb.v"], cwd=tmp_path, check=True,
                   capture_output=True, text=True)
    run = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True, text=True)
    return [line for line in run.stdout.splitlines() if line and not line.startswith("VCD")]


def nodes() -> list[tuple[int, int]]:
    """(k, table): all 16 two-input gates, every one- and zero-input table, random wider ones."""
    rng = np.random.default_rng(5)
    return ([(0, t) for t in range(2)] + [(1, t) for t in range(4)] + [(2, t) for t in range(16)]
            + [(k, int(rng.integers(0, 1 << (1 << k)))) for k in (3, 4) for _ in range(4)])


def test_gates_and_truth_tables_compute_their_table(tmp_path):
    names = [f"a[{i}]" for i in range(K)]
    lines = [verilog.header("dut", [verilog.port("input", "a", K), verilog.port("output", "g", len(nodes())),
                                    verilog.port("output", "t", len(nodes()))])]
    for j, (k, table) in enumerate(nodes()):
        lines.append(verilog.assign(f"g[{j}]", verilog.gate(table, names[:k])))
        lines += verilog.truth_table(f"s{j}", table, names[:k])
        lines.append(verilog.assign(f"t[{j}]", f"s{j}"))
    lines.append(verilog.END)
    out = simulate(tmp_path, "\n".join(lines), f"""
module tb;
    reg [{K - 1}:0] a;
    wire [{len(nodes()) - 1}:0] g, t;
    dut d (.a(a), .g(g), .t(t));
    integer i;
    initial for (i = 0; i < {1 << K}; i = i + 1) begin a = i; #1 $display("%b %b", g, t); end
endmodule
""")
    assert len(out) == 1 << K
    for addr, line in enumerate(out):
        g, t = (bits[::-1] for bits in line.split())  # bit j first
        for j, (k, table) in enumerate(nodes()):
            want = str((table >> (addr & ((1 << k) - 1))) & 1)
            assert (g[j], t[j]) == (want, want), (k, table, addr)


@pytest.mark.parametrize("reset", [None, "rst"])
def test_a_delay_line_is_late_by_its_cycles(tmp_path, reset):
    lines, late = verilog.delay("x", 4, 3, "x_d", reset=reset)
    assert late == "x_d3" and verilog.delay("x", 4, 0, "x_d") == ([], "x")
    module = "\n".join([
        verilog.header("dut", [verilog.port("input", "clk"), verilog.port("input", "rst"),
                               verilog.port("input", "x", 4), verilog.port("output", "y", 4)]),
        *lines, verilog.assign("y", late), verilog.END])
    out = simulate(tmp_path, module, """
module tb;
    reg clk = 0, rst = 0;
    reg [3:0] x = 0;
    wire [3:0] y;
    dut d (.clk(clk), .rst(rst), .x(x), .y(y));
    integer i;
    initial for (i = 0; i < 12; i = i + 1) begin
        x = i + 1; rst = i == 6; #1 clk = 1; #1 clk = 0; $display("%0d", y);
    end
endmodule
""")
    got = [int(v) if v.isdigit() else None for v in out]
    # after edge i, y holds x from edge i - 2 (three registers); a reset at edge 6 clears
    # them all, so only the delay line with a reset gives 0 at edges 6 to 8
    for i, y in enumerate(got):
        if i >= 2:
            assert y == (0 if reset and 6 <= i <= 8 else i - 1), (i, got)
