"""examples/train_digits.py in a quick mode: it writes a model and vectors that agree with what it prints."""
import re
import subprocess
import sys

import numpy as np

from conftest import REPO
from lgn2rtl import golden, native, vectors


def test_quick_training_writes_a_model_the_golden_model_agrees_with(tmp_path):
    r = subprocess.run([sys.executable, REPO / "examples" / "train_digits.py", "--epochs", "1", "--width", "200",
                        "-o", tmp_path / "m.lgn"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    printed = float(re.search(r"discrete test accuracy \(golden model\): ([\d.]+)", r.stdout).group(1))
    net = native.load(tmp_path / "m.lgn")
    data = vectors.load(tmp_path / "m_vectors.npz", net.n_inputs, net.encoder)  # checks x encodes features
    _, classes = golden.predict(net, data["x"])
    assert printed == round(float(np.mean(classes == data["y"])), 4)
    assert printed > 0.3  # one epoch is far from 90 %, but well above the 10 % of guessing
    # 64 pixels x 4 thermometer levels, and the model carries the encoder that made the bits
    assert net.n_inputs == 256 and data["x"].shape == (360, 256) and data["features"].shape == (360, 64)
    assert data["features"].max() == 16
    assert net.encoder.thresholds.shape == (64, 4)
    levels = data["x"].reshape(-1, 64, 4)
    assert np.all(levels[:, :, :-1] >= levels[:, :, 1:])  # thermometer code: x > t_j implies x > t_(j-1)
    assert [len(layer) for layer in net.layers] == [200, 200]
