"""The CLI with a recurrent model: info, import, compile, simulate take it; the rest refuse it in one line."""
import json

import numpy as np
import pytest

from inprocess import lgn2rtl
from lgn2rtl import native
from lgn2rtl.synthetic import random_recurrent


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "r.lgn"
    native.save(random_recurrent(6, 9, [24, 20, 16, 12], k=[2, 3, 2, 2], classes=3, seed=5, readout="end"), path)
    return path


def test_compile_and_simulate(tmp_path, model):
    r = lgn2rtl("compile", model, "-o", tmp_path / "out", "--pipeline", "1")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["inputs"]["last"] == "i_last" and m["outputs"]["last"] == "o_last"
    assert m["recurrent"]["interleave"] == m["pipeline"]["core"] + 1
    assert f"{m['recurrent']['interleave']} interleaved sequence(s), one token per clock" in r.stdout
    r = lgn2rtl("simulate", model, "--random", "30", "--steps", "6", "--design", tmp_path / "out", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stdout + r.stderr
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["result"] == "pass" and record["sequences"] == 30 and record["checked"] > 0


@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-85k"])
def test_simulate_the_netlist(tmp_path, model, target):
    r = lgn2rtl("simulate", model, "--random", "20", "--netlist", target, "--pipeline", "1", "-o", tmp_path / "s.json")
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["simulated"]["target"] == target and record["result"] == "pass"


def test_simulate_sequences_from_a_file(tmp_path, model):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "v.npz", x=rng.integers(0, 2, (12, 5, 6), dtype=np.uint8), lengths=rng.integers(1, 6, 12))
    r = lgn2rtl("simulate", model, "--vectors", tmp_path / "v.npz")
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5, 7), dtype=np.uint8))
    r = lgn2rtl("simulate", model, "--vectors", tmp_path / "bad.npz")
    assert r.returncode == 2 and "'x' has shape [3, 5, 7], the model needs sequences [N, T, 6]" in r.stderr


@pytest.mark.parametrize("args", [["predict", "--vectors", "v.npz"], ["prove"], ["compile", "--encoder", "-o", "o"]])
def test_commands_without_recurrent_support_refuse_in_one_line(tmp_path, model, args):
    r = lgn2rtl(args[0], model, *args[1:])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "recurrent model" in r.stderr


def test_info_and_import(tmp_path, model):
    r = lgn2rtl("info", model)
    assert r.returncode == 0 and "recurrent cell over 6 token bits and a 9-bit state" in r.stdout
    r = lgn2rtl("import", model, "-o", tmp_path / "again.lgn")
    assert r.returncode == 0 and native.load(tmp_path / "again.lgn").digest() == native.load(model).digest()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-85k"])
def test_synth_reports_tokens_per_second(tmp_path, model, target):
    r = lgn2rtl("synth", model, "--target", target, "--pipeline", "1", "-o", tmp_path / "syn")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "syn" / "report.json").read_text())
    slots = report["recurrent"]["interleave"]
    assert slots > 1 and report["fmax_mhz"] > 20 and report["harness"]["shift_ffs"] == 6 + 2  # token, valid, last
    assert f"Mtoken/s over {slots} interleaved sequences" in r.stdout
