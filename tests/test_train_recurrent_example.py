"""examples/train_recurrent_digits.py: its model equals PyTorch's eval output on every test sequence and step, and its RTL passes cocotb."""
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from lgn2rtl import golden, manifest, native
from lgn2rtl.importers import load_model
from lgn2rtl.sim.interleave import drive
from lgn2rtl.sim.runner import simulate_program


def check_example(tmp_path, *args):
    r = subprocess.run([sys.executable, REPO / "examples" / "train_recurrent_digits.py", "-o", tmp_path / "m.lgn",
                        "--rtl", tmp_path / "rtl", *args], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr
    assert re.search(r"scores differ from PyTorch's: 0 of 2880 \(360 test sequences x 8 steps\)", r.stdout), r.stdout
    rec = native.load(tmp_path / "m.lgn")
    v = np.load(tmp_path / "m_vectors.npz")
    scores, states = golden.sequences(rec, v["x"])
    assert np.array_equal(scores / rec.head.tau, v["torch_scores"])  # every sequence, every step
    assert np.array_equal(golden.sequences(load_model(tmp_path / "m_layout.npz"), v["x"])[0], scores)
    m = manifest.load(tmp_path / "rtl")
    p, tokens, expected = drive(rec, v["x"][:60], np.full(60, 8), m, seed=1)
    result = simulate_program(tmp_path / "rtl", p, tokens, expected, build_dir=tmp_path / "sim")
    assert result.ok and result.checked == len(p.answers) > 0
    return np.mean(scores[:, -1].argmax(axis=1) == v["y"])


def test_quick_example(tmp_path):
    assert check_example(tmp_path, "--epochs", "6", "--state", "16", "--hidden", "48", "--hidden", "32",
                         "--group", "6", "--tau", "2") > 0.2


@pytest.mark.slow
def test_default_example(tmp_path):
    assert check_example(tmp_path) > 0.8
