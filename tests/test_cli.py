"""The CLI end to end, as a user runs it."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from lgn2rtl import native
from lgn2rtl.synthetic import random_network


def lgn2rtl(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_compile_is_deterministic(tmp_path, fixture_dir):
    for out in ("a", "b"):
        lgn2rtl("compile", fixture_dir / "circuit.json", "-o", tmp_path / out)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"lgn_top.v", "lgn_core.v", "manifest.json"} <= set(files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["nodes"] == {"before_opt": 984, "after_opt": 486}
    assert manifest["inputs"]["data"] == {"name": "i_data", "width": 256}


def test_predict_reproduces_torch_scores(tmp_path, fixture_dir):
    lgn2rtl("predict", fixture_dir / "circuit.json", "--vectors", fixture_dir / "vectors.npz", "-o", tmp_path / "p.npz")
    v, p = np.load(fixture_dir / "vectors.npz"), np.load(tmp_path / "p.npz")
    tau = 500 / 10 / 3
    assert np.array_equal(p["scores"], np.round(v["torch_scores"] * tau).astype(np.int64))
    assert np.array_equal(p["class"], np.argmax(v["torch_scores"], axis=1))


def test_simulate_random_vectors_passes(tmp_path):
    native.save(random_network(12, [30, 20], k=3, classes=4, seed=2), tmp_path / "m.lgn")
    r = lgn2rtl("simulate", tmp_path / "m.lgn", "--random", 60, "--pipeline", 1)
    assert "samples 60/60" in r.stdout and "mismatches 0" in r.stdout and "PASS" in r.stdout
    assert "simulator icarus:" in r.stderr  # --simulator auto says what it picked and why


@pytest.mark.slow  # a Verilator build: 20 s on an idle machine
def test_simulate_fixture_with_verilator(fixture_dir):
    r = lgn2rtl("simulate", fixture_dir / "circuit.json", "--vectors", fixture_dir / "vectors.npz",
                "--simulator", "verilator")
    assert "samples 397/397   mismatches 0" in r.stdout and "verilator" in r.stdout
    assert r.stdout.rstrip().endswith("PASS")


def test_vectors_of_the_wrong_width_are_refused(tmp_path):
    native.save(random_network(12, [8], classes=2), tmp_path / "m.lgn")
    np.savez(tmp_path / "v.npz", x=np.zeros((3, 11), dtype=np.uint8))
    r = lgn2rtl("predict", tmp_path / "m.lgn", "--vectors", tmp_path / "v.npz", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: {tmp_path / 'v.npz'}: 'x' has shape [3, 11], the model needs [N, 12]"


def test_output_directory_of_a_user_is_never_replaced(tmp_path):
    native.save(random_network(4, [4], classes=2), tmp_path / "m.lgn")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    r = lgn2rtl("compile", tmp_path / "m.lgn", "-o", tmp_path / "mine", check=False)
    assert r.returncode == 2 and "not written by lgn2rtl" in r.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


@pytest.mark.slow
def test_synth_example_for_ice40(tmp_path):
    lgn2rtl("synth", REPO / "examples" / "digits.lgn", "--target", "ice40-up5k", "-o", tmp_path / "syn")
    report = json.loads((tmp_path / "syn" / "report.json").read_text())
    manifest = json.loads((tmp_path / "syn" / "manifest.json").read_text())
    assert 300 < report["luts"] < 5280 and report["ffs"] > 0
    assert report["fmax_mhz"] > 20
    assert report["latency_cycles"] == manifest["latency"]
    # the report carries the IR's node counts and says that synthesis verified nothing
    assert report["nodes"] == manifest["nodes"] and report["nodes"]["after_opt"] < report["nodes"]["before_opt"]
    assert report["verification"]["ran"] == []
    text = (tmp_path / "syn" / "report.txt").read_text()
    assert f"{manifest['nodes']['before_opt']} imported, {manifest['nodes']['after_opt']} after" in text
    assert re.search(r"^verification +none in this run", text, re.M)
    assert (tmp_path / "syn" / "resources.png").read_bytes().startswith(b"\x89PNG")


def test_info_shows_each_pass(fixture_dir):
    r = lgn2rtl("info", fixture_dir / "circuit.json")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.stdout.splitlines()
            if line.count("│") == 6}
    assert rows["import"] == "938" and rows["fold"] == "589" and rows["prune"] == "543"
    assert rows["pack_luts"] == "486"
    read = [line.split("│")[5].strip() for line in r.stdout.splitlines() if line.count("│") == 6]
    assert read and all(cell.endswith(" of 256") for cell in read)


def test_shipped_bnn_info_and_predict(tmp_path):
    r = lgn2rtl("info", REPO / "examples" / "bnn_digits.lgn")
    assert "128 inputs, 704 nodes, 2 layers" in r.stdout and "F=128" in r.stdout and "popcount(xnor) >= θ" in r.stdout
    assert "tau=0.5, beta=-64" in r.stdout
    lgn2rtl("predict", REPO / "examples" / "bnn_digits.lgn", "--vectors", REPO / "examples" / "bnn_digits_vectors.npz",
            "-o", tmp_path / "p.npz")
    v, p = np.load(REPO / "examples" / "bnn_digits_vectors.npz"), np.load(tmp_path / "p.npz")
    assert np.array_equal(2 * p["scores"] - 64, v["torch_scores"])  # the PyTorch model's own outputs
    assert np.mean(p["class"] == v["y"]) > 0.9
