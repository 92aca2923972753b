"""BNN import: batch-norm folding against PyTorch's eval output on every count, live modules, the npz layout."""
import numpy as np
import pytest
import torch

from lgn2rtl import golden
from lgn2rtl.importers import detect, load_model
from lgn2rtl.importers.bnn import fold, from_module, save_layout
from lgn2rtl.ir import Binarized, ModelError


def torch_fires(bn, dots):
    """PyTorch's sign(BN(dot)) >= 0 for dot products [C, counts], one channel per row."""
    with torch.no_grad():
        return (bn(torch.from_numpy(np.ascontiguousarray(dots.T, dtype=np.float32))) >= 0).numpy().T


def bn_arrays(bn):
    return {"mean": bn.running_mean.numpy(), "var": bn.running_var.numpy(), "eps": bn.eps,
            "weight": None if bn.weight is None else bn.weight.detach().numpy(),
            "bias": None if bn.bias is None else bn.bias.detach().numpy()}


def folded_fires(signs, theta, original, fan_in):
    """Each neuron's output for every count of inputs agreeing with the original weights."""
    count = np.arange(fan_in + 1)
    flipped = np.any(signs != original, axis=1)[:, None]
    return np.where(flipped, fan_in - count, count) >= theta[:, None]


def random_bn(rng, channels, fan_in, eps):
    """Statistics that put many ties and near-ties on integer dot products; some scales 0 or negative."""
    bn = torch.nn.BatchNorm1d(channels, eps=eps).eval()
    with torch.no_grad():
        mean = rng.integers(-fan_in, fan_in + 1, channels) + rng.choice([0, 0.5, 1e-7, 0.3], channels)
        bn.running_mean.copy_(torch.tensor(mean, dtype=torch.float32))
        bn.running_var.copy_(torch.tensor(np.exp(rng.normal(0, 3, channels)) + (eps == 0), dtype=torch.float32))
        gamma = rng.normal(0, 1, channels) * (rng.random(channels) > 0.1)
        bn.weight.copy_(torch.tensor(gamma, dtype=torch.float32))
        bn.bias.copy_(torch.tensor(rng.normal(0, 1, channels) * (rng.random(channels) > 0.3), dtype=torch.float32))
    return bn


@pytest.mark.parametrize("coding", ["pm1", "01"])
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.0])
def test_fold_equals_pytorch_on_every_count(coding, eps):
    rng = np.random.default_rng(int(eps * 1e5) + len(coding))
    mismatches = flips = constants = 0
    for trial in range(40):
        channels, fan_in = int(rng.integers(1, 40)), int(rng.integers(1, 200))
        bn = random_bn(rng, channels, fan_in, eps)
        w = rng.integers(0, 2, (channels, fan_in)).astype(np.uint8)
        count = np.arange(fan_in + 1)
        # the dot product PyTorch's Linear computes when `count` inputs agree with the weights
        dots = 2 * count - fan_in if coding == "pm1" else count - (fan_in - w.sum(axis=1))[:, None]
        dots = np.broadcast_to(dots, (channels, fan_in + 1))
        signs, theta = fold(w, coding, None, bn_arrays(bn))
        mismatches += int(np.sum(folded_fires(signs, theta, w, fan_in) != torch_fires(bn, dots)))
        flips += int(np.sum(np.any(signs != w, axis=1)))
        constants += int(np.sum((theta <= 0) | (theta > fan_in)))
    assert mismatches == 0
    assert flips > 20 and constants > 5  # negative scales and zero scales were exercised


@pytest.mark.parametrize("mean, var, weight, bias, fan_in", [
    # the real-valued output at dot 10 is -1e-7 (off), but in float32 the shift bias - mean
    # rounds to -10 and the output is exactly 0 (on)
    (10.0, 1.0, 1.0, -1e-7, 10),
    # the shift rounded once (fma, as PyTorch's kernel) says off at dot 62; rounding mean * alpha
    # first would say on (found by searching random statistics)
    (57.68574142456055, 4.0, 3.0, -6.471392631530762, 62),
])
def test_fold_follows_float32_rounding(mean, var, weight, bias, fan_in):
    bn = torch.nn.BatchNorm1d(1, eps=0.0).eval()
    with torch.no_grad():
        for buffer, value in ((bn.running_mean, mean), (bn.running_var, var), (bn.weight, weight), (bn.bias, bias)):
            buffer.fill_(value)
    w = np.ones((1, fan_in), np.uint8)
    signs, theta = fold(w, "pm1", None, bn_arrays(bn))
    dots = 2 * np.arange(fan_in + 1)[None] - fan_in
    assert np.array_equal(folded_fires(signs, theta, w, fan_in), torch_fires(bn, dots))


def test_fold_with_bias_and_without_batch_norm():
    rng = np.random.default_rng(7)
    fan_in, channels = 40, 30  # below the BLAS block, where x @ W.T + b rounds the bias once
    lin = torch.nn.Linear(fan_in, channels)
    bn = random_bn(rng, channels, fan_in, 1e-5)
    w = (lin.weight.detach().numpy() >= 0).astype(np.uint8)
    bias = lin.bias.detach().numpy() * 20
    x = torch.tensor(np.array([[(2 * (v >> i & 1) - 1) for i in range(fan_in)] for v in
                               rng.integers(0, 2**fan_in, 3000)], dtype=np.float32))
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(2.0 * w - 1))
        lin.bias.copy_(torch.tensor(bias))
        dots = (x @ lin.weight.T).numpy()
        for norm in (bn, None):
            want = ((norm(lin(x)) if norm else lin(x)) >= 0).numpy()
            signs, theta = fold(w, "pm1", bias, None if norm is None else bn_arrays(bn))
            agree = (dots + fan_in) / 2
            count = np.where(np.any(signs != w, axis=1), fan_in - agree, agree)
            assert np.array_equal(count >= theta, want)


class Sign(torch.nn.Module):
    def forward(self, x):
        return torch.where(x >= 0, 1.0, -1.0)


class GroupSum(torch.nn.Module):
    def __init__(self, k, tau):
        super().__init__()
        self.k, self.tau = k, tau

    def forward(self, x):
        return ((x + 1) / 2).reshape(len(x), self.k, -1).sum(-1) / self.tau  # counts the +1 bits


def trained_like(dims, group_k=None, seed=0):
    """A BNN with random weights and statistics as training would leave them (some scales negative)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mods = []
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        mods.append(torch.nn.Linear(a, b, bias=False))
        with torch.no_grad():  # binarized weights, stored as ±1
            mods[-1].weight.copy_(torch.where(mods[-1].weight >= 0, 1.0, -1.0))
        if i < len(dims) - 2 or group_k:
            mods += [random_bn(rng, b, a, 1e-5), torch.nn.Dropout(0.1), Sign()]
    if group_k:
        mods.append(GroupSum(group_k, 3.0))
    return torch.nn.Sequential(torch.nn.Flatten(), *mods).eval()


def torch_forward(model, bits, coding="pm1"):
    x = torch.tensor(bits * 2.0 - 1 if coding == "pm1" else bits * 1.0, dtype=torch.float32)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.numpy().copy()))
             for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        out = model(x).numpy()
    for h in hooks:
        h.remove()
    return out, seen


@pytest.mark.parametrize("dims, group_k", [([33, 20, 14, 10], None), ([16, 21, 12], 4), ([9, 10], None)])
def test_live_module_equals_pytorch(dims, group_k):
    model = trained_like(dims, group_k)
    net = from_module(model)
    bits = np.random.default_rng(1).integers(0, 2, (500, dims[0]), dtype=np.uint8)
    out, dots = torch_forward(model, bits)
    scores, classes = golden.predict(net, bits)
    f32 = np.float32  # PyTorch's own arithmetic: float scores, exactly
    assert np.array_equal(scores.astype(f32) / f32(net.head.tau) + f32(net.head.beta), out)
    assert np.array_equal(classes, out.argmax(axis=1))
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    counts = golden.binarized_counts(net, bits)
    assert sorted(counts) == [i for i, layer in enumerate(net.layers) if isinstance(layer, Binarized)]
    for i, dot in zip(counts, dots):  # pre-threshold sums of every hidden neuron
        flipped = np.any(net.layers[i].signs != (linears[i].weight.detach().numpy() >= 0), axis=1)
        assert np.array_equal(np.where(flipped, -1, 1) * (2 * counts[i] - net.layers[i].fan_in), dot)


def test_first_layer_on_raw_bits_and_thresholds():
    model = trained_like([12, 15, 10], seed=3)
    net = from_module(model, thresholds=[0.5, 1.5, 2.5], input_coding="01")
    bits = np.random.default_rng(2).integers(0, 2, (400, 12), dtype=np.uint8)
    out, _ = torch_forward(model, bits, "01")
    assert np.array_equal(golden.predict(net, bits)[1], out.argmax(axis=1))
    assert net.encoder.thresholds.shape == (4, 3) and net.meta["input_coding"] == "01"


def test_layout_file_is_the_same_network(tmp_path):
    model = trained_like([20, 16, 10], seed=4)
    save_layout(model, tmp_path / "bnn.npz", thresholds=[1.0, 2.0])
    assert detect(tmp_path / "bnn.npz") == "bnn-npz"
    net, live = load_model(tmp_path / "bnn.npz"), from_module(model, thresholds=[1.0, 2.0])
    bits = np.random.default_rng(3).integers(0, 2, (300, 20), dtype=np.uint8)
    assert np.array_equal(golden.scores(net, bits), golden.scores(live, bits))
    assert np.array_equal(net.encoder.thresholds, live.encoder.thresholds)


@pytest.mark.parametrize("build, message", [
    (lambda: torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, track_running_stats=False)),
     "no running statistics"),
    (lambda: torch.nn.Sequential(torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3)), "must follow a Linear"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.PReLU(), torch.nn.Linear(3, 2)),
     "model[1] (PReLU) has parameters"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False), torch.nn.BatchNorm1d(3)),
     "batch norm after the last Linear"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(4, 3)), "without a bias"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), GroupSum(4, 1.0)),
     "6 outputs do not split into 4"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(5, 2)),
     "takes 5 inputs, but layer 0 has 3 outputs"),
])
def test_live_module_errors_name_the_module(build, message):
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        from_module(build().eval())


def brevitas_bnn(dims, scale=1.0, act_scale=1.0):
    """A Brevitas BNN: binary QuantLinear weights, BatchNorm1d, binary QuantIdentity activations."""
    # a test extra, so its absence is a broken set-up, not a reason to skip the Brevitas checks
    import brevitas.nn as qnn
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
    torch.manual_seed(0)
    mods = []
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        mods.append(qnn.QuantLinear(a, b, bias=False, weight_quant=SignedBinaryWeightPerTensorConst,
                                    weight_scaling_const=scale))
        if i < len(dims) - 2:
            # a binary activation's scale is max(|min_val|, |max_val|)
            mods += [torch.nn.BatchNorm1d(b), qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst,
                                                                min_val=-act_scale, max_val=act_scale)]
    model = torch.nn.Sequential(*mods).train()
    with torch.no_grad():
        for _ in range(10):  # running statistics, as training leaves them
            model(torch.randint(0, 2, (64, dims[0])).float() * 2 - 1)
    return model.eval()


def test_brevitas_bnn_equals_its_forward():
    model = brevitas_bnn([20, 16, 12, 10])
    net = from_module(model)
    bits = np.random.default_rng(1).integers(0, 2, (1000, 20), dtype=np.uint8)
    with torch.no_grad():
        out = model(torch.tensor(bits * 2.0 - 1, dtype=torch.float32))
    out = getattr(out, "value", out).numpy()
    scores, classes = golden.predict(net, bits)
    assert np.array_equal(scores / net.head.tau + net.head.beta, out)
    assert np.array_equal(classes, out.argmax(axis=1))


@pytest.mark.parametrize("scales, message", [
    ((0.1, 1.0), r"model\[0\] \(QuantLinear\): its quantized weights are not ±1"),
    ((1.0, 0.5), r"model\[2\] \(QuantIdentity\) quantizes to 1 bits of scale 0.5"),
])
def test_brevitas_scales_other_than_one_are_refused(scales, message):
    with pytest.raises(ModelError, match=message):
        from_module(brevitas_bnn([8, 6, 4], *scales))
