"""difflogic models: live ``torch.nn`` models and the npz layout lgn2rtl documents (README, "Model formats").

difflogic keeps each layer's connections (``indices``) outside ``state_dict()``
(its issue #34), so a saved state_dict alone cannot be compiled. The layout
stores, per layer i: ``layer{i}_weights`` float [out, 16] (op = argmax) and
``layer{i}_indices`` int [2, out] (rows a, b: outputs of layer i-1, or model
inputs for layer 0); then ``group_k`` (classes), ``tau`` and optional
``thresholds`` (thermometer levels, shared by all features when 1-d) and
``n_inputs``. ``save_layout`` writes it from a live model; ``from_module``
reads the live model directly. Neither imports difflogic or torch: modules are
read by duck typing (``.weights``, ``.indices``, ``.k``, ``.tau``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import npz
from ..fields import INTEGER, Fields
from ..ir import GroupSum, Layer, ModelError, Network, op_table
from ..limits import MAX_SIGNALS
from . import live

# truth table of each difflogic op id, indexed by the argmax of a gate's weights
OP_TABLES = np.array([op_table(op) for op in range(16)], dtype=np.uint64)

ADVICE = ("difflogic keeps connection indices outside state_dict() (difflogic issue #34), so weights alone "
          "cannot describe the network: on the live model run "
          "lgn2rtl.importers.difflogic.save_layout(model, \"model.npz\") and compile that file")


def looks_like(path: Path) -> bool:
    """A zip archive with difflogic per-layer weights."""
    return "layer0_weights" in npz.members(path)


def is_torch_checkpoint(path: Path) -> bool:
    """A ``torch.save`` file: a zip holding ``data.pkl``, or a bare pickle (torch's legacy format)."""
    if any(name.rsplit("/", 1)[-1] == "data.pkl" for name in npz.members(path)):
        return True
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # pickle PROTO opcode


def refuse_checkpoint(path: Path) -> None:
    """Raise the explanation of difflogic issue #34 when ``path`` is a torch checkpoint."""
    if is_torch_checkpoint(path):
        raise ModelError(f"a PyTorch checkpoint (torch.save) such as a state_dict cannot be compiled: {ADVICE}")


# every array the layout defines; anything else in the archive is refused
KNOWN = re.compile(r"layer(0|[1-9][0-9]*)_(weights|indices)|group_k|tau|thresholds|n_inputs")


def load(path: str | Path) -> Network:
    """Read the npz layout into a Network."""
    refuse_checkpoint(Path(path))
    a = npz.read(path, ModelError, KNOWN)
    return _network(a, lambda key: key if key.startswith("layer") else f"array {key!r}", "difflogic-npz")


def from_module(model: Any, thresholds: Any = None) -> Network:
    """The Network a live difflogic-style model computes in eval mode.

    ``model`` is a ``torch.nn.Sequential`` (or any iterable of modules): an
    optional ``Flatten``, then logic layers with ``.weights`` [out, 16] (op =
    argmax, lowest id on ties) and ``.indices`` (a, b), then a GroupSum with
    ``.k`` and ``.tau``. ``thresholds`` (1-d shared, or [features, levels])
    becomes the thermometer encoder.
    """
    arrays, names = _layout(model, thresholds)
    return _network(arrays, names.__getitem__, "difflogic-module")


def save_layout(model: Any, path: str | Path, thresholds: Any = None) -> None:
    """Write the npz layout of a live model (what difflogic's state_dict cannot hold) to ``path``."""
    arrays, names = _layout(model, thresholds)
    _network(arrays, names.__getitem__, "difflogic-module")  # refuse a broken model before writing
    npz.write(path, arrays)


def _layout(model: Any, thresholds: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The layout arrays of a live model, and each array's name in the model (for messages)."""
    modules, where, body, head = live.sequential(model, "logic layers", lambda m: False)
    arrays, names = {}, {"group_k": f"{where[head]}.k", "tau": f"{where[head]}.tau",
                         "n_inputs": f"{where[body[0]]}.in_dim", "thresholds": "thresholds="}
    for i, j in enumerate(body):
        m = live.layer(modules[j], where[j], ("weights", "indices"), "logic layer", ".weights [out, 16] and .indices (a, b)")
        try:
            arrays[f"layer{i}_weights"] = live.array(m.weights)
            arrays[f"layer{i}_indices"] = np.stack([live.array(v) for v in m.indices])
        except (TypeError, ValueError, RuntimeError) as e:
            raise ModelError(f"{where[j]}: .weights and .indices (a, b) must be tensors or arrays ({e})") from None
        names |= {f"layer{i}_weights": f"{where[j]}.weights", f"layer{i}_indices": f"{where[j]}.indices"}
    arrays["group_k"] = live.array(modules[head].k)
    arrays["tau"] = live.array(modules[head].tau)
    if isinstance(getattr(modules[body[0]], "in_dim", None), int):
        arrays["n_inputs"] = np.array(modules[body[0]].in_dim)
    if thresholds is not None:
        arrays["thresholds"] = live.thresholds(thresholds)
    return arrays, names


def _network(a: dict[str, np.ndarray], name: Callable[[str], str], source: str) -> Network:
    """Check the layout arrays and build the Network; ``name(key)`` says where an array came from."""
    f = Fields(a, ModelError, name)
    n_layers = f.layer_count("weights|indices")
    for i in range(max(n_layers, 1)):  # at least layer 0, so a layout without layers says so
        for part in ("weights", "indices"):
            if f"layer{i}_{part}" not in a:
                raise ModelError(f"{name(f'layer{i}_{part}')} is missing. {ADVICE if part == 'indices' else ''}".rstrip())
    classes, tau = f.integer("group_k", 1), f.real("tau", positive=True)
    for i in range(n_layers):
        w = f.array(f"layer{i}_weights", "f", 2)
        idx = f.array(f"layer{i}_indices", INTEGER, 2)
        if w.shape[0] == 0 or w.shape[1] != 16:
            raise ModelError(f"{name(f'layer{i}_weights')} must be float [out, 16] with out > 0, "
                             f"got {w.dtype} {list(w.shape)}")
        if idx.shape != (2, w.shape[0]):
            raise ModelError(f"{name(f'layer{i}_indices')} must be integer [2, {w.shape[0]}] to match "
                             f"{name(f'layer{i}_weights')}, got {idx.dtype} {list(idx.shape)}")
    t = a.get("thresholds")
    if t is not None and (t.ndim not in (1, 2) or t.size == 0):
        raise ModelError(f"{name('thresholds')} must be numbers [features, levels] or [levels], "
                         f"got {t.dtype} {list(t.shape)}")
    levels = 1 if t is None else t.shape[-1]
    # the layout may omit n_inputs: the last input read, rounded up to whole thermometer features
    n_inputs = f.integer("n_inputs", 1, MAX_SIGNALS) if "n_inputs" in a else \
        -(-(int(a["layer0_indices"].max()) + 1) // levels) * levels
    layers, prev_start, prev_width = [], 0, n_inputs
    for i in range(n_layers):
        w, idx = a[f"layer{i}_weights"], a[f"layer{i}_indices"]
        if idx.min() < 0 or idx.max() >= prev_width:
            before = f"the model has {prev_width} inputs" if i == 0 else f"the layer before has {prev_width} outputs"
            raise ModelError(f"{name(f'layer{i}_indices')} reach {int(idx.max() if idx.max() >= prev_width else idx.min())}, "
                             f"but {before}")
        # np.argmax, like torch.argmax, picks the lowest op id on ties
        layers.append(Layer(idx.T.astype(np.int64) + prev_start, OP_TABLES[np.argmax(w, axis=1)]))
        prev_start, prev_width = prev_start + prev_width, w.shape[0]
    outputs = np.arange(prev_start, prev_start + prev_width, dtype=np.int64)
    encoder = None if t is None else live.thermometer(t, n_inputs, name("thresholds"))
    return Network(n_inputs, layers, outputs, GroupSum(classes, tau), encoder, {"source": source}).validate()
