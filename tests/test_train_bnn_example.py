"""examples/train_bnn_digits.py: its model equals PyTorch's eval output on every test row and neuron, and its RTL passes cocotb."""
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from lgn2rtl import golden, native
from lgn2rtl.importers import load_model
from lgn2rtl.sim.runner import simulate


def check_example(tmp_path, *args):
    r = subprocess.run([sys.executable, REPO / "examples" / "train_bnn_digits.py", "-o", tmp_path / "m.lgn",
                        "--rtl", tmp_path / "rtl", *args], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert re.search(r"rows whose scores or class differ from PyTorch's: 0, 0 of 360", r.stdout), r.stdout
    net = native.load(tmp_path / "m.lgn")
    v = np.load(tmp_path / "m_vectors.npz")
    layout = np.load(tmp_path / "m_layout.npz")  # PyTorch's own parameters
    # the integer scores are PyTorch's float outputs (2P - F) and give its classes, row by row
    scores, classes = golden.predict(net, v["x"])
    assert np.array_equal(scores / net.head.tau + net.head.beta, v["torch_scores"])
    assert np.array_equal(classes, v["torch_scores"].argmax(axis=1))
    # every hidden neuron's pre-threshold sum; a neuron with a negative BN scale counts the complement
    counts = golden.binarized_counts(net, v["x"])
    assert sorted(counts) == list(range(len(net.layers) - 1))
    for i, c in counts.items():
        flipped = np.any(net.layers[i].signs != (layout[f"layer{i}_weight"] >= 0), axis=1)
        assert np.array_equal(np.where(flipped, -1, 1) * (2 * c - net.layers[i].fan_in), v[f"torch_dot{i}"])
    # the layout file is the same network
    assert np.array_equal(golden.scores(load_model(tmp_path / "m_layout.npz"), v["x"]), scores)
    result = simulate(tmp_path / "rtl", v["x"], scores, classes, build_dir=tmp_path / "sim")
    assert result.ok and result.checked == 360 and result.mismatches == 0
    return np.mean(classes == v["y"])


def test_quick_example(tmp_path):
    assert check_example(tmp_path, "--epochs", "2", "--hidden", "16", "--hidden", "12") > 0.3


@pytest.mark.slow
def test_default_example(tmp_path):
    assert check_example(tmp_path) > 0.9
