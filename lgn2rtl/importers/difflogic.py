"""difflogic models saved in the npz layout lgn2rtl documents (README, "Model formats").

difflogic keeps each layer's connections (``indices``) outside ``state_dict()``
(its issue #34), so a saved state_dict alone cannot be compiled. The layout
stores, per layer i: ``layer{i}_weights`` float [out, 16] (op = argmax) and
``layer{i}_indices`` int [2, out] (rows a, b: outputs of layer i-1, or model
inputs for layer 0); then ``group_k`` (classes), ``tau`` and optional
``thresholds`` (thermometer levels, shared by all features when 1-d) and
``n_inputs``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import npz
from ..ir import GroupSum, Layer, ModelError, Network, Thermometer, op_table

_TABLES = np.array([op_table(op) for op in range(16)], dtype=np.uint64)


def looks_like(path: Path) -> bool:
    """A zip archive with difflogic per-layer weights."""
    return "layer0_weights" in npz.members(path)


def load(path: str | Path) -> Network:
    """Read the npz layout into a Network."""
    a = npz.read(path, ModelError)
    n_layers = len([k for k in a if re.fullmatch(r"layer\d+_weights", k)])
    missing = [f"layer{i}_indices" for i in range(n_layers) if f"layer{i}_indices" not in a]
    if missing:
        raise ModelError(f"{missing[0]} is missing. difflogic keeps connections outside state_dict() "
                         "(difflogic issue #34), so weights alone cannot be compiled: save each layer's "
                         "indices too (layer{i}_indices = torch.stack(layer.indices), see README 'Model formats')")
    for key, what in (("group_k", "GroupSum classes"), ("tau", "GroupSum tau")):
        if key not in a or a[key].ndim != 0 or not np.issubdtype(a[key].dtype, np.number):
            raise ModelError(f"array {key!r} ({what}) must be a number")
    for i in range(n_layers):
        w, idx = a[f"layer{i}_weights"], a[f"layer{i}_indices"]
        if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] != 16 or not np.issubdtype(w.dtype, np.floating):
            raise ModelError(f"layer{i}_weights must be float [out, 16] with out > 0, got {w.dtype} {list(w.shape)}")
        if idx.shape != (2, w.shape[0]) or not np.issubdtype(idx.dtype, np.integer):
            raise ModelError(f"layer{i}_indices must be integer [2, {w.shape[0]}] to match layer{i}_weights, "
                             f"got {idx.dtype} {list(idx.shape)}")
    levels = a["thresholds"].shape[-1] if "thresholds" in a and a["thresholds"].ndim else 1
    # the layout may omit n_inputs: the last input read, rounded up to whole thermometer features
    n_inputs = int(a["n_inputs"]) if "n_inputs" in a else -(-(int(a["layer0_indices"].max()) + 1) // levels) * levels
    layers, prev_start, prev_width = [], 0, n_inputs
    for i in range(n_layers):
        w, idx = a[f"layer{i}_weights"], a[f"layer{i}_indices"]
        if idx.min() < 0 or idx.max() >= prev_width:
            raise ModelError(f"layer{i}_indices reach {int(idx.max())}, but the layer before has {prev_width} outputs")
        layers.append(Layer(idx.T.astype(np.int64) + prev_start, _TABLES[np.argmax(w, axis=1)]))
        prev_start, prev_width = prev_start + prev_width, w.shape[0]
    outputs = np.arange(prev_start, prev_start + prev_width, dtype=np.int64)
    encoder = None
    if "thresholds" in a:
        t = a["thresholds"].astype(np.float64)
        encoder = Thermometer(np.tile(t, (n_inputs // levels, 1)) if t.ndim == 1 else t)
    return Network(n_inputs, layers, outputs, GroupSum(int(a["group_k"]), float(a["tau"])), encoder,
                   {"source": "difflogic-npz"}).validate()
