"""The native model file (``.lgn``): a numpy ``.npz`` archive, documented in docs/native-format.md.

Arrays only, never pickles, so it loads without torch and without trusting the
file. ``save`` then ``load`` is lossless.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import npz
from .ir import Binarized, GroupSum, Layer, ModelError, Network, Thermometer

FORMAT = "lgn2rtl-model/1"
# files with binarized layers: a /1 reader refuses them with "upgrade lgn2rtl" instead of misreading them
FORMAT_BINARIZED = "lgn2rtl-model/2"


def save(net: Network, path: str | Path) -> None:
    """Write ``net`` to ``path`` atomically (a temp file renamed into place)."""
    net.validate()
    binarized = any(isinstance(layer, Binarized) for layer in net.layers)
    arrays = {
        "format": np.array(FORMAT_BINARIZED if binarized else FORMAT),
        "n_inputs": np.array(net.n_inputs, dtype=np.int64),
        "n_layers": np.array(len(net.layers), dtype=np.int64),
        "outputs": net.outputs.astype(np.int64),
        "classes": np.array(net.head.classes, dtype=np.int64),
        "tau": np.array(net.head.tau, dtype=np.float64),
        "beta": np.array(net.head.beta, dtype=np.float64),
        "meta": np.array(json.dumps(net.meta, sort_keys=True)),
    }
    for i, layer in enumerate(net.layers):
        # int32 halves the file for all but > 2G-signal networks, which no FPGA holds
        arrays[f"layer{i}_inputs"] = layer.inputs.astype(np.int32)
        if isinstance(layer, Binarized):
            arrays[f"layer{i}_signs"] = layer.signs.astype(np.uint8)
            arrays[f"layer{i}_thresholds"] = layer.thresholds.astype(np.int64)
        else:
            arrays[f"layer{i}_tables"] = layer.tables.astype(np.uint64)
    if net.encoder is not None:
        arrays["thresholds"] = net.encoder.thresholds.astype(np.float64)
    npz.write(path, arrays)


def is_native(path: str | Path) -> bool:
    """True when ``path`` is a zip archive holding our ``format`` marker."""
    return {"format", "n_layers"} <= npz.members(path)


def load(path: str | Path) -> Network:
    """Read a ``.lgn`` file; raise ModelError naming the file on any defect."""
    a = npz.read(path, ModelError)
    try:
        fmt = str(a["format"])
        if fmt not in (FORMAT, FORMAT_BINARIZED):
            raise ModelError(f"format {fmt!r} is not {FORMAT!r} or {FORMAT_BINARIZED!r}; "
                             "upgrade lgn2rtl or re-import the model")
        layers = [_layer(a, i) for i in range(int(a["n_layers"]))]
        encoder = Thermometer(a["thresholds"]) if "thresholds" in a else None
        return Network(int(a["n_inputs"]), layers, a["outputs"].astype(np.int64),
                       GroupSum(int(a["classes"]), float(a["tau"]), float(a["beta"])),
                       encoder, json.loads(str(a["meta"]))).validate()
    except KeyError as e:
        raise ModelError(f"{path}: missing array {e.args[0]!r} (truncated or not an lgn2rtl model)") from None
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None


def _layer(a: dict[str, np.ndarray], i: int) -> Layer | Binarized:
    """Layer ``i``: LUT nodes (``tables``) or binarized neurons (``signs`` and ``thresholds``)."""
    inputs = a[f"layer{i}_inputs"].astype(np.int64)
    if f"layer{i}_tables" in a:
        return Layer(inputs, a[f"layer{i}_tables"].astype(np.uint64))
    if f"layer{i}_signs" not in a and f"layer{i}_thresholds" not in a:
        raise ModelError(f"layer {i} has neither 'layer{i}_tables' (LUT nodes) nor 'layer{i}_signs' and "
                         f"'layer{i}_thresholds' (binarized neurons)")
    signs, thresholds = a[f"layer{i}_signs"], a[f"layer{i}_thresholds"]
    if not np.issubdtype(thresholds.dtype, np.integer):
        raise ModelError(f"layer {i} thresholds must be integers, got {thresholds.dtype}")
    return Binarized(inputs, signs, thresholds.astype(np.int64))
