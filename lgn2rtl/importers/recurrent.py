"""Recurrent logic-gate networks (RDDLGN-style): live models and their npz layout (docs/recurrent.md).

The layout stores a cell of two-input gate layers the way difflogic stores a network,
per layer i ``layer{i}_weights`` float [out, 16] (op = argmax, lowest id on ties) and
``layer{i}_indices`` int [2, out] (rows a, b: outputs of layer i-1, or for layer 0 the
[x_t; h_{t-1}] bits), plus ``rdlgn_format``, ``n_x``, ``init`` (h_0, 0/1 [n_state]),
``classes``, ``tau`` and ``readout``. The last layer's first ``n_state`` gates are h_t, the rest
the head's bits in ``classes`` groups. ``from_module`` reads a live model by duck typing
(examples/recurrent_dlgn.py's ``RecurrentDLGN``: ``.n_x``, ``.n_state``, ``.init``, ``.layers``
with ``.weights`` and ``.indices``, ``.classes``, ``.tau``, ``.readout``); neither imports torch.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import npz
from ..fields import BITS, INTEGER, Fields
from ..ir import READOUTS, GroupSum, Layer, ModelError, Network, Recurrent
from ..limits import MAX_SIGNALS
from . import live
from .difflogic import OP_TABLES

FORMAT = "lgn2rtl-rdlgn/1"
KNOWN = re.compile(r"rdlgn_format|n_x|init|classes|tau|readout|layer(0|[1-9][0-9]*)_(weights|indices)")


def looks_like(path: Path) -> bool:
    return "rdlgn_format" in npz.members(path)


def load(path: str | Path) -> Recurrent:
    """Read the npz layout into a Recurrent model."""
    a = npz.read(path, ModelError, KNOWN)
    return _model(a, lambda key: f"array {key!r}")


def from_module(model: Any) -> Recurrent:
    """The Recurrent model a live ``RecurrentDLGN``-like module computes in eval mode."""
    arrays, names = _layout(model)
    return _model(arrays, names.get)


def save_layout(model: Any, path: str | Path) -> None:
    """Write the npz layout of a live model to ``path``, after checking it makes a sound model."""
    arrays, names = _layout(model)
    _model(arrays, names.get)
    npz.write(path, arrays)


def _layout(model: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The layout arrays of a live model, and each array's name in the model (for messages)."""
    kind = type(model).__name__
    missing = [a for a in ("n_x", "n_state", "init", "layers", "classes", "tau", "readout") if not hasattr(model, a)]
    if missing:
        raise ModelError(f"a {kind} is not a recurrent logic-gate model: it lacks .{', .'.join(missing)}")
    init = live.array(model.init)
    if init.dtype.kind == "f":  # a float buffer of a torch module; anything but 0/1 is refused below
        init = init.astype(np.uint8) if np.all((init == 0) | (init == 1)) else init
    arrays = {"rdlgn_format": np.array(FORMAT), "n_x": np.array(model.n_x), "init": init,
              "classes": np.array(model.classes), "tau": np.array(model.tau, dtype=np.float64),
              "readout": np.array(str(model.readout))}
    names = {key: f"model.{key}" for key in arrays}
    for i, m in enumerate(live.modules(model.layers)):
        where = f"model.layers[{i}]"
        live.layer(m, where, ("weights", "indices"), "logic layer", ".weights [out, 16] and .indices (a, b)")
        arrays[f"layer{i}_weights"] = live.array(m.weights)
        arrays[f"layer{i}_indices"] = np.stack([live.array(v) for v in m.indices])
        names |= {f"layer{i}_weights": f"{where}.weights", f"layer{i}_indices": f"{where}.indices"}
    return arrays, names


def _model(a: dict[str, np.ndarray], name) -> Recurrent:
    """Check the layout arrays and build the model; ``name(key)`` says where an array came from."""
    f = Fields(a, ModelError, name)
    fmt = f.text("rdlgn_format")
    if fmt != FORMAT:
        raise ModelError(f"{name('rdlgn_format')} is {fmt[:100]!r}, not {FORMAT!r}; upgrade lgn2rtl")
    n_x = f.integer("n_x", 1, MAX_SIGNALS)
    init = f.array("init", BITS, 1)
    classes, tau = f.integer("classes", 1), f.real("tau", positive=True)
    readout = f.text("readout")
    if readout not in READOUTS:
        raise ModelError(f"{name('readout')} is {readout[:40]!r}, not one of {', '.join(READOUTS)}")
    n_layers = f.layer_count("weights|indices")
    if n_layers == 0:
        raise ModelError(f"{name('layer0_weights')} is missing: the cell needs at least one layer")
    layers, start, width = [], 0, n_x + len(init)
    for i in range(n_layers):
        w = f.array(f"layer{i}_weights", "f", 2)
        idx = f.array(f"layer{i}_indices", INTEGER, 2)
        if w.shape[0] == 0 or w.shape[1] != 16:
            raise ModelError(f"{name(f'layer{i}_weights')} must be float [out, 16] with out > 0, got {list(w.shape)}")
        if idx.shape != (2, w.shape[0]):
            raise ModelError(f"{name(f'layer{i}_indices')} must be integer [2, {w.shape[0]}], got {list(idx.shape)}")
        bad = np.argwhere((idx < 0) | (idx >= width))
        if bad.size:
            r, j = map(int, bad[0])
            raise ModelError(f"{name(f'layer{i}_indices')}[{r}][{j}] is {int(idx[r, j])}; the layer reads "
                             f"{width} bits (0..{width - 1})")
        layers.append(Layer(idx.T.astype(np.int64) + start, OP_TABLES[np.argmax(w, axis=1)]))
        start += width
        width = w.shape[0]
    n_state = len(init)
    if width <= n_state or (width - n_state) % classes:
        raise ModelError(f"the last layer has {width} gates: {n_state} for the state leave {width - n_state}, "
                         f"which do not split into {classes} non-empty groups")
    cell = Network(n_x + n_state, layers, np.arange(start + n_state, start + width, dtype=np.int64),
                   GroupSum(classes, tau))
    return Recurrent(n_x, cell, np.arange(start, start + n_state, dtype=np.int64), init.astype(np.uint8),
                     readout).validate()
