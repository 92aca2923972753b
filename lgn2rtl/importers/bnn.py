"""PyTorch binarized networks: live modules and the npz layout ``lgn2rtl-bnn/1`` (docs/bnn.md).

A BNN built the common way is a stack of blocks ``Linear`` (weights binarized by
sign) -> ``BatchNorm1d`` (optional) -> sign activation, on ±1 inputs. Bit 1 is +1,
bit 0 is -1, and sign(0) = +1 for weights and activations alike (``x >= 0``, as Larq's
and Brevitas' binary quantizers do). A hidden neuron with ``P`` inputs agreeing with
their weights sees the dot product ``y = 2P - F`` (or ``P - F_neg`` on raw 0/1 input
bits) and fires iff its BN output is ``>= 0``; that is folded into one integer
threshold per neuron, exactly:

- batch norm in eval is evaluated as PyTorch's CPU kernel does it in float32:
  ``alpha = weight * (1 / sqrt(var + eps))``, ``shift = fma(-mean, alpha, bias)``,
  ``out = fma(y, alpha, shift)``. A rounded fma is >= 0 iff its exact value is, so
  ``fires = y * alpha + shift >= 0``, computed exactly in float64 (``y * alpha`` has
  at most 48 significant bits) for every ``P`` in ``0..F``: the threshold is whatever
  PyTorch's float output does on every input, not a rounded formula;
- a negative scale makes the neuron fire for small ``P``: its weights are complemented
  (the count becomes ``F - P``), so every neuron stays ``count >= threshold``;
- a zero scale is a constant neuron (threshold 0 or F + 1).

The last block ends either in integer scores (a ``Linear`` without batch norm or
bias: class c's score is its dot product, ``2P - F``, a GroupSum of the XNOR bits
with tau 1/2 and beta -F) or in sign bits counted by a GroupSum (``group_k``).
Neither path imports torch: modules are read by duck typing.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import npz
from ..fields import REAL, Fields
from ..ir import Binarized, GroupSum, Layer, ModelError, Network
from . import live

FORMAT = "lgn2rtl-bnn/1"
CODINGS = ("pm1", "01")  # what a 0 input bit means to the first Linear: -1, or 0
# layout name of each batch-norm array -> the BatchNorm1d attribute it comes from
_BN = {"mean": "running_mean", "var": "running_var", "eps": "eps", "weight": "weight", "bias": "bias"}
_WIRE, _NOT = 0b10, 0b01  # 1-input truth tables


def looks_like(path: Path) -> bool:
    """A zip archive with the layout's marker or its first binarized weight."""
    return bool({"bnn_format", "layer0_weight"} & npz.members(path))


# every array the layout defines; anything else in the archive is refused
KNOWN = re.compile(r"bnn_format|input_coding|group_k|tau|thresholds"
                   r"|layer(0|[1-9][0-9]*)_(weight|bias|bn_(mean|var|eps|weight|bias))")


def load(path: str | Path) -> Network:
    """Read the npz layout into a Network."""
    return from_layout(npz.read(path, ModelError, KNOWN), repr, "bnn-npz")


def from_module(model: Any, thresholds: Any = None, input_coding: str = "pm1") -> Network:
    """The Network a live PyTorch BNN computes in eval mode.

    ``model`` is a ``torch.nn.Sequential`` (or any iterable of modules): an optional
    ``Flatten``, then blocks of a Linear-like module (``.weight`` [out, in], optional
    ``.bias``; the forward uses ``weight >= 0`` as +1), an optional BatchNorm1d-like
    module (``.running_mean``, ``.running_var``, ``.eps``, optional ``.weight`` and
    ``.bias``) and parameter-free modules, which are taken to be the sign activation
    (or identities in eval, like Dropout); optionally a GroupSum (``.k``, ``.tau``) last.
    ``thresholds`` (1-d shared, or [features, levels]) becomes the thermometer encoder;
    ``input_coding`` says whether the first Linear sees input bits as ±1 (``"pm1"``) or
    as 0/1 (``"01"``).
    """
    arrays, names = _layout(model, thresholds, input_coding)
    return from_layout(arrays, lambda key: names.get(key, key), "bnn-module")


def save_layout(model: Any, path: str | Path, thresholds: Any = None, input_coding: str = "pm1") -> None:
    """Write the npz layout of a live model (arguments as for ``from_module``) to ``path``."""
    arrays, names = _layout(model, thresholds, input_coding)
    from_layout(arrays, lambda key: names.get(key, key), "bnn-module")  # refuse a broken model before writing
    npz.write(path, arrays)


def fold(signs: np.ndarray, coding: str, bias: np.ndarray | None = None,
         bn: dict[str, np.ndarray] | None = None, fused: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(signs, thresholds) of the Binarized layer equal to Linear(+bias) -> BatchNorm -> sign.

    ``signs`` [out, F] are the weights as bits; ``bn`` has ``mean``, ``var``, ``eps`` and
    optionally ``weight`` and ``bias`` (float32 values, as PyTorch holds them). ``fused``
    rounds the batch norm as PyTorch's CPU kernel does (two fmas); without it, as ONNX
    Runtime's does (``shift = bias - mean * alpha``, ``out = y * alpha + shift``, every
    product and sum rounded to float32).
    """
    f32 = np.float32
    n, fan_in = signs.shape
    count = np.arange(fan_in + 1, dtype=np.int64)
    # the dot product of the inputs with the weights when `count` inputs agree with them
    offset = -fan_in if coding == "pm1" else -(fan_in - signs.sum(axis=1, dtype=np.int64))[:, None]
    y = (2 if coding == "pm1" else 1) * count + np.broadcast_to(offset, (n, 1))
    # float32 overflows (a value past 3.4e38, var + eps = 0) are what PyTorch computes too;
    # a neuron whose batch norm is not finite is refused below, the warnings would be noise
    with np.errstate(all="ignore"):
        if bias is not None:
            y = y.astype(f32) + bias.astype(f32)[:, None]  # one float32 rounding, as x @ W.T + b
        if bn is None:
            fires = y >= 0
            alpha = np.ones(n, dtype=f32)
        else:
            invstd = f32(1) / np.sqrt(bn["var"].astype(f32) + f32(bn["eps"]))
            alpha = invstd * (f32(1) if bn.get("weight") is None else bn["weight"].astype(f32))
            beta = np.zeros(n, dtype=f32) if bn.get("bias") is None else bn["bias"].astype(f32)
            mean = bn["mean"].astype(f32)
            bad = np.flatnonzero(~(np.isfinite(alpha) & np.isfinite(mean) & np.isfinite(beta)))
            if bad.size:
                raise ModelError(f"the batch norm of neuron {int(bad[0])} is not finite in float32 "
                                 "(var + eps is 0, or a value exceeds float32's range)")
            if fused:
                shift = np.array([_fma32(-m, a, b) for m, a, b in zip(mean.tolist(), alpha.tolist(), beta.tolist())],
                                 dtype=f32)
                scaled = y.astype(np.float64) * alpha[:, None].astype(np.float64)  # exact: 24 x 24 bits
            else:
                shift = beta - mean * alpha
                scaled = (y.astype(f32) * alpha[:, None]).astype(np.float64)
            if not np.all(np.isfinite(shift)):
                raise ModelError(f"the batch norm of neuron {int(np.flatnonzero(~np.isfinite(shift))[0])} "
                                 "overflows float32 (mean times scale exceeds float32's range)")
            # the last rounding keeps the sign of the exact sum, which float64 gets right
            fires = scaled + shift[:, None] >= 0
    flip = alpha < 0  # fires for small counts: complement the weights, which counts F - P
    rising = np.where(flip[:, None], fires[:, :-1] >= fires[:, 1:], fires[:, :-1] <= fires[:, 1:])
    assert rising.all(), "a float32 batch norm is monotone in its input"
    return signs ^ flip[:, None].astype(np.uint8), fan_in + 1 - fires.sum(axis=1).astype(np.int64)


def _fma32(a: float, b: float, c: float) -> float:
    """float32 nearest to a * b + c, computed exactly (ties to even), like a float32 fma."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    near = np.float32(float(exact))  # within one float32 step (float64 then float32 rounds twice)
    if not np.isfinite(near):
        return float(near)
    candidates = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
    best = min(candidates, key=lambda v: (abs(Fraction(float(v)) - exact), int(v.view(np.uint32)) & 1))
    return float(best)


def _layout(model: Any, thresholds: Any, coding: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The layout arrays of a live model, and each array's name in the model (for messages)."""
    modules = live.modules(model)
    where = [f"model[{j}] ({type(m).__name__})" for j, m in enumerate(modules)]
    arrays = {"bnn_format": np.array(FORMAT), "input_coding": np.array(coding)}
    names = {"input_coding": "input_coding="}
    i = -1  # the block being read
    for j, m in enumerate(modules):
        if j == 0 and type(m).__name__ == "Flatten":
            continue
        weight = getattr(m, "weight", None)
        if hasattr(m, "running_mean"):
            if i < 0 or f"layer{i}_bn_mean" in arrays:
                raise ModelError(f"{where[j]}: a batch norm must follow a Linear, one per block")
            if m.running_mean is None or m.running_var is None:
                raise ModelError(f"{where[j]} has no running statistics (track_running_stats=False): "
                                 "in eval it normalizes by each batch, so it is no fixed function")
            for part, attr in _BN.items():
                if getattr(m, attr, None) is not None:
                    arrays[f"layer{i}_bn_{part}"] = live.array(getattr(m, attr))
                    names[f"layer{i}_bn_{part}"] = f"{where[j]}.{attr}"
        elif weight is not None and getattr(weight, "ndim", 0) == 2:
            if "group_k" in arrays:
                raise ModelError(f"{where[j]}: the GroupSum must come last")
            i += 1
            arrays[f"layer{i}_weight"] = _forward_weight(m, where[j])
            names[f"layer{i}_weight"] = f"{where[j]}.weight"
            if getattr(m, "bias", None) is not None:
                arrays[f"layer{i}_bias"] = live.array(m.bias)
                names[f"layer{i}_bias"] = f"{where[j]}.bias"
        elif hasattr(m, "k") and hasattr(m, "tau"):
            arrays["group_k"], arrays["tau"] = live.array(m.k), live.array(m.tau)
            names |= {"group_k": f"{where[j]}.k", "tau": f"{where[j]}.tau"}
        elif weight is not None or any(True for _ in getattr(m, "parameters", lambda: ())()):
            raise ModelError(f"{where[j]} has parameters but is neither a Linear ([out, in] weight), a "
                             "batch norm (running statistics) nor a GroupSum (.k, .tau)")
        else:
            _check_sign(m, where[j])
    if thresholds is not None:
        arrays["thresholds"] = live.thresholds(thresholds)
    return arrays, names


def _forward_weight(m: Any, where: str) -> np.ndarray:
    """The weights the forward multiplies by: Brevitas' ``quant_weight()`` (which must be ±1), else ``.weight``."""
    if not hasattr(m, "quant_weight"):
        return live.array(m.weight)
    q = m.quant_weight()
    values = live.array(getattr(q, "value", q))
    if not np.all(np.abs(values) == 1):
        raise ModelError(f"{where}: its quantized weights are not ±1 (magnitudes {np.unique(np.abs(values))[:3].tolist()}); "
                         "lgn2rtl compiles binary weights of scale 1 (Brevitas: weight_bit_width=1, "
                         "weight_scaling_const=1.0)")
    return values


def _check_sign(m: Any, where: str) -> None:
    """A Brevitas activation quantizer between blocks must be the sign: 1 bit of scale 1."""
    proxy = getattr(m, "act_quant", None)
    if proxy is None or not hasattr(proxy, "scale"):
        return
    scale, bits = live.array(proxy.scale()), live.array(proxy.bit_width())
    if not (np.all(scale == 1) and np.all(bits == 1)):
        raise ModelError(f"{where} quantizes to {bits.ravel()[0]:g} bits of scale {scale.ravel()[0]:g}; between "
                         "binarized layers lgn2rtl needs the sign (Brevitas: a 1-bit act_quant with max_val=1, min_val=-1)")


def from_layout(a: dict[str, np.ndarray], name: Callable[[str], str], source: str, fused: bool = True) -> Network:
    """Check the layout arrays and build the Network; ``name(key)`` says where an array came from,
    ``fused`` how its batch norms round (``fold``)."""
    npz.check_marker(a, "bnn_format", FORMAT, "lgn2rtl.importers.bnn.save_layout", ModelError)
    f = Fields(a, ModelError, name)
    coding = f.text("input_coding") if "input_coding" in a else "pm1"
    if coding not in CODINGS:
        raise ModelError(f"{name('input_coding')} must be one of {', '.join(CODINGS)}, got {coding[:40]!r}")
    n_layers = f.layer_count("weight")
    if n_layers == 0:
        raise ModelError(f"{name('layer0_weight')} is missing: a BNN needs at least one Linear")
    if f.layer_count("bias|bn_[a-z]+") > n_layers:
        raise ModelError(f"the layout has bias or batch-norm arrays of layer {f.layer_count('bias|bn_[a-z]+') - 1}, "
                         f"but its last Linear is layer {n_layers - 1}")
    head_groups = "group_k" in a
    layers, start, width = [], 0, None
    for i in range(n_layers):
        key = f"layer{i}_weight"
        if key not in a:
            raise ModelError(f"{name(key)} is missing, but layer {n_layers - 1} exists (layers are numbered from 0)")
        w = f.array(key, REAL, 2)
        if w.shape[0] == 0 or w.shape[1] == 0:
            raise ModelError(f"{name(key)} must be [out, in] with out, in > 0, got {list(w.shape)}")
        if width is not None and w.shape[1] != width:
            raise ModelError(f"{name(key)} takes {w.shape[1]} inputs, but layer {i - 1} has {width} outputs")
        out = w.shape[0]
        bias = _vector(f, f"layer{i}_bias", out)
        bn = _batchnorm(f, i, out)
        signs = (w >= 0).astype(np.uint8)
        ins = np.broadcast_to(np.arange(start, start + w.shape[1]), w.shape)
        last = i == n_layers - 1
        if last and not head_groups:
            if bn is not None:
                raise ModelError(f"{name(f'layer{i}_bn_mean')}: a batch norm after the last Linear rescales each "
                                 "class its own way, so its argmax is no integer score; drop it, or end in a sign "
                                 "and a GroupSum (group_k)")
            if bias is not None and np.any(bias != 0):
                raise ModelError(f"{name(f'layer{i}_bias')}: the last Linear's scores are integers only without "
                                 "a bias (train it with bias=False)")
            if i == 0 and coding == "01":
                raise ModelError("integer scores straight from 0/1 input bits are no XNOR popcount: "
                                 "add a hidden layer, or feed the model ±1 (input_coding pm1)")
            # class c's score 2P - F is a GroupSum over its F XNOR bits: wires and inverters
            layers.append(Layer(ins.reshape(-1, 1).copy(), np.where(signs.ravel() == 1, _WIRE, _NOT).astype(np.uint64)))
        else:
            signs, theta = fold(signs, coding if i == 0 else "pm1", bias, bn, fused)
            layers.append(Binarized(ins.copy(), signs, theta))
        start, width = start + w.shape[1], out
        if i == 0:
            n_inputs = w.shape[1]
    outputs = np.arange(start, start + len(layers[-1]), dtype=np.int64)
    # count / tau + beta is PyTorch's output: the GroupSum's, or the dot product 2P - F
    if head_groups:
        k = f.integer("group_k", 1)
        if width % k:
            raise ModelError(f"{name('group_k')}: the last layer's {width} outputs do not split into {k} equal groups")
        head = GroupSum(k, f.real("tau", positive=True) if "tau" in a else 1.0)
    else:
        head = GroupSum(width, 0.5, -float(w.shape[1]))
    encoder = live.thermometer(a["thresholds"], n_inputs, name("thresholds")) if "thresholds" in a else None
    return Network(n_inputs, layers, outputs, head, encoder, {"source": source, "input_coding": coding}).validate()


def _vector(f: Fields, key: str, n: int) -> np.ndarray | None:
    """Optional per-neuron array ``key`` of length ``n``."""
    if key not in f:
        return None
    v = f.array(key, REAL, 1)
    if len(v) != n:
        raise ModelError(f"{f.name(key)} has {len(v)} entries for {n} neurons")
    return v


def _batchnorm(f: Fields, i: int, n: int) -> dict | None:
    keys = {part: f"layer{i}_bn_{part}" for part in _BN}
    given = [part for part, key in keys.items() if key in f]
    if not given:
        return None
    for part in ("mean", "var", "eps"):
        if part not in given:
            raise ModelError(f"{f.name(keys[part])} is missing: a batch norm needs mean, var and eps "
                             f"(layer {i} has {', '.join(keys[p] for p in given)})")
    bn = {part: _vector(f, keys[part], n) for part in ("mean", "var", "weight", "bias")}
    bn["eps"] = f.real(keys["eps"])
    if np.any(bn["var"] < 0) or bn["eps"] < 0:
        raise ModelError(f"{f.name(keys['var'])} and {f.name(keys['eps'])} must not be negative")
    return bn
