"""torch-dwn models: from_module, save_layout and the dwn-npz layout against DWN's eval forward, then in cocotb.

torch-dwn 1.1.1 does not install here (its setup.py builds a CUDA extension:
"CUDA_HOME environment variable is not set") and has no CPU forward (its
EFDFunction raises on CPU tensors). So the modules below reproduce its source:
the same attributes, and a forward that computes what its EFD CUDA kernel,
STE, learnable mapping, GroupSum and DistributiveThermometer compute.
The ``test_real_torch_dwn_*`` tests run the real package: its Python sources,
vendored in tests/data/torch_dwn_1_1_1, with only the CUDA kernel replaced by
``efd`` on a CPU.
"""
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lgn2rtl import golden
from lgn2rtl.features import FeatureFormat
from lgn2rtl.importers import detect, load_model
from lgn2rtl.importers.dwn import from_module, save_layout
from lgn2rtl.ir import ModelError
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.sim.runner import simulate
from test_rtl import assert_passes, run

# torch-dwn 1.1.1's Python sources, vendored (MIT; provenance in its README)
VENDORED = Path(__file__).resolve().parent / "data" / "torch_dwn_1_1_1"


@pytest.fixture(scope="session")
def torch_dwn():
    """The real torch-dwn 1.1.1: an installed one if there is, else the copy in tests/data.

    pip cannot install it on a CPU machine (its setup.py builds a CUDA extension), but its
    Python modules import on a CPU (only ``import efd_cuda`` waits for CUDA), so its five
    ``.py`` files are kept in tests/data and put on sys.path.
    """
    if importlib.util.find_spec("torch_dwn") is None:
        sys.path.insert(0, str(VENDORED))
    dwn = importlib.import_module("torch_dwn")
    if not torch.cuda.is_available():  # no CPU kernel in torch-dwn: run its EFD forward as efd() does
        dwn.lut_layer.EFDFunction.forward = staticmethod(lambda ctx, x, mapping, luts, alpha, beta:
                                                         efd(x, mapping, luts))
    return dwn


def efd(x, mapping, luts):
    """EFD forward as torch-dwn's CUDA kernel computes it: address bit l is x[mapping[j, l]] > 0."""
    addr = sum((x[:, mapping[:, l].long()] > 0).long() << l for l in range(mapping.shape[1]))
    return luts[torch.arange(len(luts)), addr]


class LearnableMapping(torch.nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.weights = torch.nn.Parameter(weights)  # [input_size, output_size * n]
        self.tau = 0.001

    def forward(self, x):
        return x[:, self.weights.argmax(dim=0)]


class LUTLayer(torch.nn.Module):
    """torch_dwn.LUTLayer's attributes and forward, with its EFD kernel run on the CPU."""

    def __init__(self, input_size, luts, mapping, ste=True):
        super().__init__()
        self.input_size, self.output_size, self.n = input_size, luts.shape[0], luts.shape[1].bit_length() - 1
        self.ste = ste
        if isinstance(mapping, LearnableMapping):
            self.mapping = mapping
        else:
            self.mapping = torch.nn.Parameter(mapping.int(), requires_grad=False)
        self.luts = torch.nn.Parameter(luts)

    def forward(self, x):
        if isinstance(self.mapping, LearnableMapping):
            x = self.mapping(x)
            mapping = torch.arange(self.output_size * self.n).reshape(self.output_size, self.n)
        else:
            mapping = self.mapping
        x = efd(x, mapping, self.luts)
        return (x > 0).float() if self.ste else x


class GroupSum(torch.nn.Module):
    """torch_dwn.GroupSum (utils.py): optional column permutation, k contiguous groups, sum / tau."""

    def __init__(self, k, tau=1, randperm=False):
        super().__init__()
        self.k, self.tau = k, tau
        self.randperm = torch.randperm(randperm) if randperm else None

    def forward(self, x):
        if self.randperm is not None:
            x = x[:, self.randperm]
        return x.view(*x.shape[:-1], self.k, x.shape[-1] // self.k).sum(dim=-1) / self.tau


class DistributiveThermometer:
    """torch_dwn.DistributiveThermometer (binarization.py): quantile thresholds, bit = x > threshold."""

    def __init__(self, num_bits, feature_wise=True):
        self.num_bits, self.feature_wise, self.thresholds = num_bits, feature_wise, None

    def fit(self, x):
        data = torch.sort(x.flatten())[0] if not self.feature_wise else torch.sort(x, dim=0)[0]
        idx = torch.tensor([int(data.shape[0] * i / (self.num_bits + 1)) for i in range(1, self.num_bits + 1)])
        t = data[idx]
        self.thresholds = torch.permute(t, (*range(1, t.ndim), 0))
        return self

    def binarize(self, x):
        return (x.unsqueeze(-1) > self.thresholds).float()


def random_luts(out, k, gen):
    luts = torch.rand(out, 1 << k, generator=gen) * 2 - 1
    # exact zeros of both signs: DWN's STE outputs luts > 0, so they must read as 0
    zero = torch.rand(out, 1 << k, generator=gen) < 0.1
    return torch.where(zero, torch.where(torch.rand(out, 1 << k, generator=gen) < 0.5, 0.0, -0.0), luts)


def dwn_model(k, widths=(60, 40), n_inputs=24, classes=4, tau=2.5, learnable=False, perm=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    layers, prev = [], n_inputs
    for i, out in enumerate(widths):
        if learnable and i == 0:
            mapping = LearnableMapping(torch.rand(prev, out * k, generator=gen))
        else:
            mapping = torch.randint(0, prev, (out, k), generator=gen)
        layers.append(LUTLayer(prev, random_luts(out, k, gen), mapping))
        prev = out
    torch.manual_seed(seed)  # GroupSum draws its permutation from the global generator
    return torch.nn.Sequential(*layers, GroupSum(classes, tau, randperm=prev if perm else False)).eval()


def assert_same_as_dwn(model, net, x_bits, x_in=None):
    """golden.predict on the bits equals DWN's forward (on ``x_in``, default the bits) on every row."""
    with torch.no_grad():
        ref = model(torch.from_numpy(x_bits).float() if x_in is None else x_in)
    scores, classes = golden.predict(net, x_bits)
    assert np.array_equal(np.round(ref.numpy() * net.head.tau), scores)
    assert np.array_equal(ref.argmax(-1).numpy(), classes)


def test_address_bit_order_and_sign():
    # one 3-LUT reading inputs 5, 2, 7: address = x5 + 2*x2 + 4*x7; only entries 1 and 6 are positive
    luts = torch.tensor([[-0.5, 0.25, 0.0, -1.0, -0.0, -0.1, 1.0, -0.2]])
    layer = LUTLayer(8, luts, torch.tensor([[5, 2, 7]]))
    net = from_module(torch.nn.Sequential(layer, GroupSum(1)))
    assert net.layers[0].inputs.tolist() == [[5, 2, 7]]
    assert int(net.layers[0].tables[0]) == (1 << 1) | (1 << 6)
    x = np.array([[(v >> i) & 1 for i in range(8)] for v in range(256)], dtype=np.uint8)
    assert_same_as_dwn(torch.nn.Sequential(layer, GroupSum(1)), net, x)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("learnable, perm", [(False, False), (True, True)])
def test_from_module_matches_dwn_forward(k, learnable, perm):
    m = dwn_model(k, learnable=learnable, perm=perm, seed=k)
    net = from_module(m)
    assert [layer.k for layer in net.layers] == [k, k] and net.meta["source"] == "torch-dwn-module"
    x = np.random.default_rng(k).integers(0, 2, (400, 24), dtype=np.uint8)
    assert_same_as_dwn(m, net, x)


def test_not_fed_bits_dwn_reads_inputs_above_zero():
    # DWN addresses its LUTs with x > 0, so the first layer sees real inputs as bits "x > 0"
    m = dwn_model(4, seed=9)
    x = torch.randn(300, 24, generator=torch.Generator().manual_seed(9))
    assert_same_as_dwn(m, from_module(m), (x > 0).numpy().astype(np.uint8), x)


def test_thermometer_with_repeated_thresholds():
    # skewed features (mostly 0, like background pixels) give repeated quantile thresholds
    gen = torch.Generator().manual_seed(5)
    x = torch.where(torch.rand(500, 6, generator=gen) < 0.6, 0.0, torch.randint(1, 17, (500, 6), generator=gen).float())
    thermo = DistributiveThermometer(4).fit(x)
    assert torch.any(thermo.thresholds[:, 1:] == thermo.thresholds[:, :-1])
    m = dwn_model(6, widths=(50, 30), n_inputs=24, classes=3, seed=5)
    net = from_module(m, thermometer=thermo)
    bits = net.encoder.encode(x.numpy())
    assert np.array_equal(bits, thermo.binarize(x).flatten(start_dim=1).numpy())
    assert_same_as_dwn(m, net, bits)
    # the thermometer may also lead the module list
    assert np.array_equal(from_module([thermo, *m]).encoder.thresholds, net.encoder.thresholds)


def test_shared_thresholds():
    x = torch.rand(200, 8, generator=torch.Generator().manual_seed(2))
    thermo = DistributiveThermometer(3, feature_wise=False).fit(x)
    m = dwn_model(3, n_inputs=24, seed=2)
    net = from_module(m, thermometer=thermo)
    assert net.encoder.thresholds.shape == (8, 3)
    bits = net.encoder.encode(x.numpy())
    assert np.array_equal(bits, thermo.binarize(x).flatten(start_dim=1).numpy())
    assert_same_as_dwn(m, net, bits)


def test_save_layout_round_trip(tmp_path):
    gen = torch.Generator().manual_seed(3)
    thermo = DistributiveThermometer(4).fit(torch.randint(0, 5, (300, 6), generator=gen).float())
    m = dwn_model(5, learnable=True, perm=True, seed=3)
    save_layout(m, tmp_path / "model.npz", thermometer=thermo)
    assert detect(tmp_path / "model.npz") == "dwn-npz"
    loaded, live = load_model(tmp_path / "model.npz"), from_module(m, thermometer=thermo)
    for a, b in zip(loaded.layers, live.layers, strict=True):
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.tables, b.tables)
    assert np.array_equal(loaded.outputs, live.outputs)
    assert np.array_equal(loaded.encoder.thresholds, live.encoder.thresholds)
    assert loaded.meta["source"] == "torch-dwn-npz" and loaded.head == live.head
    x = np.random.default_rng(3).integers(0, 2, (300, 24), dtype=np.uint8)
    assert_same_as_dwn(m, loaded, x)


def test_difflogic_layout_is_not_taken_for_dwn(fixture_dir):
    assert detect(fixture_dir / "difflogic_layout.npz") == "difflogic-npz"


@pytest.mark.parametrize("change, message", [
    (lambda m: setattr(m[1], "ste", False), "ste=False"),
    (lambda m: m.append(torch.nn.Flatten()), "should be the GroupSum head"),
    (lambda m: m.insert(1, torch.nn.Flatten()), "Flatten may only come first"),
    (lambda m: setattr(m[0].mapping, "weights", torch.nn.Parameter(torch.rand(24, 7))), "do not fit together"),
])
def test_from_module_refuses(change, message):
    m = dwn_model(2, learnable=True)
    change(m)
    with pytest.raises(ModelError, match=message):
        from_module(m)


def test_unfitted_thermometer_is_refused():
    with pytest.raises(ModelError, match="fit"):
        from_module(dwn_model(2), thermometer=DistributiveThermometer(2))


def layout(tmp_path, mutate):
    save_layout(dwn_model(3, widths=(20, 12), n_inputs=10, classes=3), tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as z:
        a = dict(z)
    mutate(a)
    with open(tmp_path / "bad.npz", "wb") as f:
        np.savez(f, **a)
    return tmp_path / "bad.npz"


BAD = {
    "missing mapping": (lambda a: a.pop("layer1_mapping"), "'layer1_mapping' is missing"),
    "missing luts": (lambda a: a.pop("layer0_luts"), "'layer0_luts' is missing"),
    "mismatched shapes": (lambda a: a.__setitem__("layer1_mapping", a["layer1_mapping"][:, :2]), "must be integer [12, 3]"),
    "k > 6": (lambda a: a.update(layer0_luts=np.ones((20, 128)), layer0_mapping=np.zeros((20, 7), np.int32)),
              "7-input LUTs; lgn2rtl supports at most 6"),
    "not 2**n entries": (lambda a: a.__setitem__("layer0_luts", np.ones((20, 12))), "12 entries per LUT"),
    "unknown parametrization": (lambda a: a.__setitem__("dwn_format", np.array("lgn2rtl-dwn/9")), "'lgn2rtl-dwn/9'"),
    "no marker": (lambda a: a.pop("dwn_format"), "is missing, expected 'lgn2rtl-dwn/1'"),
    "mapping out of range": (lambda a: a["layer1_mapping"].__setitem__((0, 0), 20), "reads input 20, but the layer before has 20"),
    "negative mapping": (lambda a: a["layer0_mapping"].__setitem__((3, 1), -1), "reads input -1, but the model has 10"),
    "groups": (lambda a: a.__setitem__("group_k", np.array(5)), "12 outputs do not split into 5"),
    "permutation": (lambda a: a.__setitem__("group_perm", np.zeros(12, np.int64)), "permutation"),
    "thresholds": (lambda a: a.__setitem__("thresholds", np.ones(3)), "3 shared levels do not divide the 10"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_are_refused(tmp_path, case):
    mutate, message = BAD[case]
    path = layout(tmp_path, mutate)
    with pytest.raises(ModelError) as e:
        load_model(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("case", ["missing mapping", "mismatched shapes", "k > 6", "unknown parametrization"])
def test_cli_bad_file_one_line_exit_2(tmp_path, case):
    mutate, message = BAD[case]
    path = layout(tmp_path, mutate)
    r = subprocess.run([sys.executable, "-m", "lgn2rtl", "info", str(path)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr and str(path) in r.stderr


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_dwn_networks_pass_cocotb(tmp_path, k):
    m = dwn_model(k, widths=(200, 100), n_inputs=64, classes=5, learnable=k % 2 == 0, perm=True, seed=k)
    save_layout(m, tmp_path / "model.npz")
    net = load_model(tmp_path / "model.npz")
    x = np.random.default_rng(k).integers(0, 2, (200, 64), dtype=np.uint8)
    assert_same_as_dwn(m, net, x)
    assert_passes(*run(net, x, tmp_path, pipeline=1 + k % 2), len(x))


@pytest.mark.slow
def test_two_layers_of_1000_lut6_pass_cocotb(tmp_path):
    gen = torch.Generator().manual_seed(11)
    features = torch.randint(0, 17, (400, 64), generator=gen).float()
    thermo = DistributiveThermometer(8).fit(features)
    m = dwn_model(6, widths=(1000, 1000), n_inputs=512, classes=10, tau=1 / 0.3, learnable=True, seed=11)
    net = from_module(m, thermometer=thermo)
    bits = net.encoder.encode(features.numpy())
    assert_same_as_dwn(m, net, bits, thermo.binarize(features).flatten(start_dim=1))
    manifest, result = run(net, bits, tmp_path, pipeline=1)
    assert manifest["nodes"]["before_opt"] == 2000
    assert_passes(manifest, result, len(bits))


def forward(model, x):
    """The model's eval forward, on the GPU where torch-dwn has its kernel."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.no_grad():
        return model.to(device).eval()(x.to(device)).cpu()


def real_model(dwn, n_inputs, seed, classes=4, tau=3.0):
    """Learnable, random and arange mappings; n = 6, 4 and 2; a GroupSum with a permutation."""
    torch.manual_seed(seed)  # torch-dwn draws mappings, LUTs and randperm from the global generator
    layers = [dwn.LUTLayer(n_inputs, 60, n=6, mapping="learnable"),
              dwn.LUTLayer(60, 48, n=4, mapping="random"),
              dwn.LUTLayer(48, 24, n=2, mapping="arange")]
    gen = torch.Generator().manual_seed(seed)
    for layer in layers:  # exact zeros of both signs beside torch-dwn's own uniform LUTs
        layer.luts.data = random_luts(layer.output_size, layer.n, gen)
    return torch.nn.Sequential(*layers, dwn.GroupSum(classes, tau=tau, randperm=24))


def test_real_torch_dwn_luts_and_mappings(torch_dwn):
    m = real_model(torch_dwn, 32, seed=4)
    assert isinstance(m[0].mapping, torch_dwn.LearnableMapping) and m[-1].randperm is not None
    net = from_module(m)
    assert [layer.k for layer in net.layers] == [6, 4, 2]
    x = np.random.default_rng(4).integers(0, 2, (300, 32), dtype=np.uint8)
    ref = forward(m, torch.from_numpy(x).float())
    scores, classes = golden.predict(net, x)
    assert np.array_equal(np.round(ref.numpy() * 3), scores)
    assert np.array_equal(ref.argmax(-1).numpy(), classes)


@pytest.fixture(scope="module")
def digits_split():
    from sklearn.datasets import load_digits
    d = load_digits()
    return torch.from_numpy(d.data[:1400]).float(), torch.from_numpy(d.data[1400:]).float()


@pytest.mark.parametrize("kind, feature_wise", [("DistributiveThermometer", True),
                                                ("DistributiveThermometer", False),
                                                ("GaussianThermometer", True)])
def test_real_torch_dwn_thermometer_as_encoder(torch_dwn, digits_split, kind, feature_wise):
    """fit on raw digits, binarize, the LUT layers and GroupSum in torch-dwn; the thermometer
    carried as the model's encoder, and lgn2rtl's golden model on the raw features."""
    train, test = digits_split
    thermo = getattr(torch_dwn, kind)(3, feature_wise=feature_wise).fit(train)
    m = real_model(torch_dwn, 64 * 3, seed=6, classes=6, tau=2.0)
    net = from_module(m, thermometer=thermo)
    assert net.encoder.thresholds.shape == (64, 3)
    bits = thermo.binarize(test).flatten(start_dim=1)
    assert np.array_equal(net.encoder.encode(test.numpy()), bits.numpy())
    ref = forward(m, bits)
    scores, classes = golden.predict_features(net, test.numpy())
    assert np.array_equal(np.round(ref.numpy() * 2), scores)
    assert np.array_equal(ref.argmax(-1).numpy(), classes)


@pytest.mark.parametrize("kind", ["DistributiveThermometer", "GaussianThermometer"])
def test_real_torch_dwn_encoder_on_chip_passes_cocotb(torch_dwn, digits_split, tmp_path, kind):
    """Raw digits into the on-chip encoder: quantile thresholds (integers, many repeats: border
    pixels are always 0) in 5-bit codes; Gaussian ones (real numbers) in fixed point."""
    train, test = digits_split
    thermo = getattr(torch_dwn, kind)(4).fit(train)
    t = thermo.thresholds
    assert torch.any(t[:, 1:] == t[:, :-1])
    m = real_model(torch_dwn, 64 * 4, seed=8, classes=6)
    net = from_module(m, thermometer=thermo)
    fmt = FeatureFormat.for_network(net, bits=5 if kind == "DistributiveThermometer" else None)
    assert (fmt.frac > 0) == (kind == "GaussianThermometer")
    manifest = compile_design(net, tmp_path / "design", pipeline=1, features=fmt)
    ref = forward(m, thermo.binarize(test).flatten(start_dim=1))
    scores, classes = np.round(ref.numpy() * 3).astype(np.int64), ref.argmax(-1).numpy()
    result = simulate(tmp_path / "design", fmt.codes(test.numpy()), scores, classes, build_dir=tmp_path / "sim")
    assert_passes(manifest, result, len(test))
