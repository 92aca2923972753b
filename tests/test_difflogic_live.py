"""Live difflogic-style models: from_module and save_layout against a torch forward written the way difflogic evaluates."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from lgn2rtl import golden
from lgn2rtl.importers import load_model
from lgn2rtl.importers.difflogic import from_module, save_layout
from lgn2rtl.ir import ModelError


def bin_op(a, b, i):
    """difflogic's 16 real-valued ops (difflogic/functional.py), op id i over inputs a, b."""
    return [torch.zeros_like(a), a * b, a - a * b, a, b - a * b, b, a + b - 2 * a * b, a + b - a * b,
            1 - (a + b - a * b), 1 - (a + b - 2 * a * b), 1 - b, 1 - b + a * b, 1 - a, 1 - a + a * b,
            1 - a * b, torch.ones_like(a)][i]


class LogicLayer(torch.nn.Module):
    """Like difflogic's: indices are a plain tuple attribute, so state_dict() holds only the weights."""

    def __init__(self, in_dim, out_dim, weights=None):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.weights = torch.nn.Parameter(torch.randn(out_dim, 16) if weights is None else weights)
        c = torch.randperm(2 * out_dim) % in_dim
        self.indices = tuple(torch.randperm(in_dim)[c].reshape(2, out_dim))

    def forward(self, x):
        assert not self.training
        a, b = x[..., self.indices[0]], x[..., self.indices[1]]
        w = torch.nn.functional.one_hot(self.weights.argmax(-1), 16).to(torch.float32)
        return sum(w[:, i] * bin_op(a, b, i) for i in range(16))


class GroupSum(torch.nn.Module):
    def __init__(self, k, tau):
        super().__init__()
        self.k, self.tau = k, tau

    def forward(self, x):
        return x.reshape(*x.shape[:-1], self.k, x.shape[-1] // self.k).sum(-1) / self.tau


def model(seed=0, widths=(40, 60, 30), n_inputs=32, k=3, tau=7.5, ties=False):
    torch.manual_seed(seed)
    layers, prev = [], n_inputs
    for i, w in enumerate(widths):
        # small integer weights force argmax ties in the middle layer
        weights = torch.randint(0, 3, (w, 16)).float() if ties and i == 1 else None
        layers.append(LogicLayer(prev, w, weights))
        prev = w
    return torch.nn.Sequential(torch.nn.Flatten(), *layers, GroupSum(k, tau)).eval()


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True), (2, True)])
def test_from_module_matches_the_torch_forward(seed, ties):
    m = model(seed, ties=ties)
    x = np.random.default_rng(seed).integers(0, 2, size=(500, 32), dtype=np.uint8)
    with torch.no_grad():
        ref = m(torch.from_numpy(x).float().reshape(500, 4, 8))  # Flatten turns images into bit rows
    net = from_module(m)
    scores, classes = golden.predict(net, x)
    assert np.array_equal(np.round(ref.numpy() * 7.5), scores)
    assert np.array_equal(ref.argmax(-1).numpy(), classes)
    assert (net.n_inputs, [len(layer) for layer in net.layers], net.head.tau) == (32, [40, 60, 30], 7.5)


def test_save_layout_round_trip(tmp_path):
    m = model(3)
    save_layout(m, tmp_path / "model.npz", thresholds=[2.0, 6.0, 10.0, 14.0])
    loaded, live = load_model(tmp_path / "model.npz"), from_module(m, thresholds=[2.0, 6.0, 10.0, 14.0])
    assert loaded.encoder.thresholds.shape == (8, 4)
    assert np.array_equal(loaded.encoder.thresholds, live.encoder.thresholds)
    for a, b in zip(loaded.layers, live.layers, strict=True):
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.tables, b.tables)
    x = np.random.default_rng(3).integers(0, 2, size=(300, 32), dtype=np.uint8)
    assert np.array_equal(golden.scores(loaded, x), golden.scores(live, x))


def _break(change):
    m = model(4)
    change(m)
    return m


@pytest.mark.parametrize("change, message", [
    (lambda m: m.insert(2, torch.nn.ReLU()), r"model\[2\] \(ReLU\) is not a logic layer"),
    (lambda m: m.append(torch.nn.Identity()), r"model\[5\] \(Identity\) should be the GroupSum head"),
    (lambda m: setattr(m[1], "weights", torch.nn.Parameter(torch.randn(40, 8))),
     r"model\[1\] \(LogicLayer\)\.weights must be float \[out, 16\]"),
    (lambda m: setattr(m[2], "indices", (m[2].indices[0][:59], m[2].indices[1][:59])),
     r"model\[2\] \(LogicLayer\)\.indices must be integer \[2, 60\]"),
    (lambda m: setattr(m[2], "indices", (m[2].indices[0], m[2].indices[1] + 40)),
     r"model\[2\] \(LogicLayer\)\.indices reach \d+, but the layer before has 40 outputs"),
    (lambda m: setattr(m[3], "indices", None), r"model\[3\] \(LogicLayer\): \.weights and \.indices"),
    (lambda m: setattr(m[4], "k", 4), "30 outputs do not split into 4 equal groups"),
    (lambda m: setattr(m[4], "tau", "hot"), r"model\[4\] \(GroupSum\)\.tau must be a number"),
])
def test_malformed_live_model(change, message):
    with pytest.raises(ModelError, match=message):
        from_module(_break(change))


def test_nothing_is_written_for_a_malformed_model(tmp_path):
    with pytest.raises(ModelError):
        save_layout(_break(lambda m: m.insert(2, torch.nn.ReLU())), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_not_a_sequential():
    with pytest.raises(ModelError, match="expected a torch.nn.Sequential"):
        from_module(LogicLayer(4, 4))


@pytest.mark.parametrize("zipfile", [True, False])
def test_state_dict_is_refused_with_advice(tmp_path, zipfile):
    m = model(5)
    assert not any("indices" in key for key in m.state_dict())  # difflogic issue #34, reproduced
    torch.save(m.state_dict(), tmp_path / "model.pt", _use_new_zipfile_serialization=zipfile)
    # the CLI detects the checkpoint without importing torch
    probe = ("import sys; from lgn2rtl.cli import main\n"
             "try: main(['info', sys.argv[1]])\n"
             "except SystemExit as e: print(e.code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", probe, tmp_path / "model.pt"], capture_output=True, text=True)
    assert r.stdout.split() == ["2", "False"], r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "issue #34" in r.stderr and 'save_layout(model, "model.npz")' in r.stderr
    with pytest.raises(ModelError, match="issue #34"):
        load_model(tmp_path / "model.pt", "difflogic-npz")
