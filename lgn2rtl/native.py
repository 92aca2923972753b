"""The native model file (``.lgn``): a numpy ``.npz`` archive, documented in docs/native-format.md.

Arrays only, never pickles, so it loads without torch and without trusting the
file. ``save`` then ``load`` is lossless.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from . import jsontext, npz
from .conv import Conv, ConvNetwork, OrPool, TreeLevel
from .fields import BITS, INTEGER, REAL, Fields
from .ir import Binarized, GroupSum, Layer, ModelError, Network, Recurrent, Thermometer
from .limits import MAX_SIGNALS

FORMAT = "lgn2rtl-model/1"
# files with binarized layers: a /1 reader refuses them with "upgrade lgn2rtl" instead of misreading them
FORMAT_BINARIZED = "lgn2rtl-model/2"
# recurrent models (the cell's arrays plus recurrent_*): a /1 or /2 reader refuses them rather
# than load the cell as a feed-forward network that ignores its state
FORMAT_RECURRENT = "lgn2rtl-model/3"
RECURRENT = ("recurrent_n_x", "recurrent_state", "recurrent_init", "recurrent_readout")
# convolutional models: the conv stages, then the dense head as in /1 and /2
FORMAT_CONV = "lgn2rtl-model/4"
FORMATS = (FORMAT, FORMAT_BINARIZED, FORMAT_RECURRENT, FORMAT_CONV)


def save(model: Network | Recurrent | ConvNetwork, path: str | Path) -> None:
    """Write ``model`` to ``path`` atomically (a temp file renamed into place)."""
    model.validate()
    conv = isinstance(model, ConvNetwork)
    arrays = _conv_arrays(model) if conv else {}
    net = model.cell if isinstance(model, Recurrent) else model.dense if conv else model
    binarized = any(isinstance(layer, Binarized) for layer in net.layers)
    fmt = FORMAT_RECURRENT if isinstance(model, Recurrent) else FORMAT_CONV if conv else \
        FORMAT_BINARIZED if binarized else FORMAT
    arrays |= {
        "format": np.array(fmt),
        "n_inputs": np.array(net.n_inputs, dtype=np.int64),
        "n_layers": np.array(len(net.layers), dtype=np.int64),
        "outputs": net.outputs.astype(np.int64),
        "classes": np.array(net.head.classes, dtype=np.int64),
        "tau": np.array(net.head.tau, dtype=np.float64),
        "beta": np.array(net.head.beta, dtype=np.float64),
        "meta": np.array(json.dumps((net if conv else model).meta, sort_keys=True)),
    }
    if isinstance(model, Recurrent):
        arrays |= {"recurrent_n_x": np.array(model.n_x, dtype=np.int64),
                   "recurrent_state": model.state.astype(np.int64),
                   "recurrent_init": model.init.astype(np.uint8), "recurrent_readout": np.array(model.readout)}
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


def _conv_arrays(model: ConvNetwork) -> dict[str, np.ndarray]:
    arrays = {"conv_in_shape": np.array(model.in_shape, dtype=np.int64),
              "n_stages": np.array(len(model.stages), dtype=np.int64),
              "conv_meta": np.array(json.dumps(model.meta, sort_keys=True))}
    if model.encoder is not None:  # not 'thresholds', which is the dense head's own (it has none)
        arrays["conv_thresholds"] = model.encoder.thresholds.astype(np.float64)
    for s, stage in enumerate(model.stages):
        window = stage.kernel if isinstance(stage, Conv) else stage.size
        arrays[f"stage{s}_geometry"] = np.array([window, stage.stride, stage.padding], dtype=np.int64)
        if isinstance(stage, Conv):
            arrays[f"stage{s}_field"] = stage.field.astype(np.int32)
            for lv, level in enumerate(stage.levels):
                arrays[f"stage{s}_level{lv}_inputs"] = level.inputs.astype(np.int32)
                arrays[f"stage{s}_level{lv}_tables"] = level.tables.astype(np.uint64)
    return arrays


def is_native(path: str | Path) -> bool:
    """True when ``path`` is a zip archive holding our ``format`` marker."""
    return {"format", "n_layers"} <= npz.members(path)


# every array the format defines; anything else in the archive is refused
NUMBER = r"(0|[1-9][0-9]*)"
KNOWN = re.compile(rf"format|n_inputs|n_layers|outputs|classes|tau|beta|meta|thresholds|{'|'.join(RECURRENT)}"
                   rf"|layer{NUMBER}_(inputs|tables|signs|thresholds)"
                   rf"|conv_in_shape|n_stages|conv_meta|conv_thresholds|stage{NUMBER}_(geometry|field|level{NUMBER}_(inputs|tables))")


def load(path: str | Path) -> Network | Recurrent:
    """Read a ``.lgn`` file (a convolutional model unrolled to a flat Network); raise ModelError
    naming the file on any defect."""
    model = read(path)
    return model.lower() if isinstance(model, ConvNetwork) else model


def read(path: str | Path) -> Network | Recurrent | ConvNetwork:
    """Read a ``.lgn`` file as stored: a convolutional model stays a ConvNetwork."""
    a = npz.read(path, ModelError, KNOWN)
    try:
        return _model(Fields(a, ModelError, lambda key: f"array {key!r}"), a)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None


def _model(f: Fields, members) -> Network | Recurrent | ConvNetwork:
    """Every field checked for type, shape and range, then the model validated as a whole."""
    fmt = f.text("format")
    if fmt not in FORMATS:
        raise ModelError(f"format {fmt[:100]!r} is not one of {', '.join(map(repr, FORMATS))}; "
                         "upgrade lgn2rtl or re-import the model")
    given = [key for key in RECURRENT if key in f]
    if fmt != FORMAT_RECURRENT and given:
        raise ModelError(f"array {given[0]!r} belongs to a recurrent model, whose format is {FORMAT_RECURRENT!r}, "
                         f"not {fmt!r}")
    if fmt != FORMAT_CONV and any(key.startswith(("conv_", "n_stages", "stage")) for key in members):
        raise ModelError(f"conv stages in a {fmt!r} file; they belong in {FORMAT_CONV!r} files")
    if fmt == FORMAT_CONV:
        return _conv(f, _network(f))
    if fmt != FORMAT_RECURRENT:
        return _network(f)
    cell = _network(f)
    return Recurrent(f.integer("recurrent_n_x", 1, MAX_SIGNALS), Network(cell.n_inputs, cell.layers, cell.outputs, cell.head),
                     f.array("recurrent_state", INTEGER, 1).astype(np.int64),
                     f.array("recurrent_init", BITS, 1).astype(np.uint8), f.text("recurrent_readout"),
                     cell.meta).validate()


def _conv(f: Fields, dense: Network) -> ConvNetwork:
    """The conv stages of a /4 file in front of its dense head, validated as a whole."""
    in_shape = tuple(int(n) for n in f.array("conv_in_shape", INTEGER, 1, (3,)))
    stages = []
    for s in range(f.integer("n_stages", 1, MAX_SIGNALS)):
        window, stride, padding = (tuple(int(v) for v in row) for row in f.array(f"stage{s}_geometry", INTEGER, 2, (3, 2)))
        if f"stage{s}_field" not in f:
            if f"stage{s}_level0_inputs" in f:
                raise ModelError(f"stage {s} has LUT levels but no 'stage{s}_field' (the leaves they read)")
            stages.append(OrPool(window, stride, padding))
            continue
        levels = []
        while f"stage{s}_level{len(levels)}_inputs" in f:
            lv = len(levels)
            tables = f.array(f"stage{s}_level{lv}_tables", INTEGER, 2)
            if tables.dtype.kind == "i" and np.any(tables < 0):
                raise ModelError(f"'stage{s}_level{lv}_tables' holds negative truth tables; they are bit patterns (uint64)")
            levels.append(TreeLevel(f.array(f"stage{s}_level{lv}_inputs", INTEGER, 3).astype(np.int64),
                                    tables.astype(np.uint64)))
        stages.append(Conv(window, stride, padding, f.array(f"stage{s}_field", INTEGER, 3).astype(np.int64),
                           tuple(levels)))
    meta = jsontext.parse(f.text("conv_meta"), ModelError, "array 'conv_meta'")
    if not isinstance(meta, dict):
        raise ModelError(f"array 'conv_meta' must hold a JSON object, got {type(meta).__name__}")
    encoder = Thermometer(f.array("conv_thresholds", REAL, 2).astype(np.float64)) if "conv_thresholds" in f else None
    return ConvNetwork(in_shape, stages, dense, meta, encoder).validate()


def _network(f: Fields) -> Network:
    """The network's fields checked for type, shape and range, then the network validated as a whole."""
    n_layers = f.integer("n_layers", 1, MAX_SIGNALS)
    if f.layer_count("inputs|tables|signs|thresholds") > n_layers:
        raise ModelError(f"the file has arrays of layer {f.layer_count('inputs|tables|signs|thresholds') - 1}, "
                         f"but 'n_layers' says there are {n_layers} (layers 0..{n_layers - 1})")
    n_inputs = f.integer("n_inputs", 1, MAX_SIGNALS)
    layers = [_layer(f, i) for i in range(n_layers)]
    encoder = Thermometer(f.array("thresholds", REAL, 2).astype(np.float64)) if "thresholds" in f else None
    meta = jsontext.parse(f.text("meta"), ModelError, "array 'meta'")
    if not isinstance(meta, dict):
        raise ModelError(f"array 'meta' must hold a JSON object, got {type(meta).__name__}")
    head = GroupSum(f.integer("classes", 1), f.real("tau", positive=True), f.real("beta"))
    return Network(n_inputs, layers, f.array("outputs", INTEGER, 1).astype(np.int64), head, encoder, meta).validate()


def _layer(f: Fields, i: int) -> Layer | Binarized:
    """Layer ``i``: LUT nodes (``tables``) or binarized neurons (``signs`` and ``thresholds``)."""
    inputs = f.array(f"layer{i}_inputs", INTEGER, 2).astype(np.int64)
    if f"layer{i}_tables" in f:
        if f"layer{i}_signs" in f or f"layer{i}_thresholds" in f:
            raise ModelError(f"layer {i} has both 'layer{i}_tables' (LUT nodes) and binarized neurons' arrays")
        tables = f.array(f"layer{i}_tables", INTEGER, 1)
        if tables.dtype.kind == "i" and np.any(tables < 0):
            raise ModelError(f"'layer{i}_tables' holds negative truth tables; they are bit patterns (uint64)")
        return Layer(inputs, tables.astype(np.uint64))
    if f"layer{i}_signs" not in f and f"layer{i}_thresholds" not in f:
        raise ModelError(f"layer {i} has neither 'layer{i}_tables' (LUT nodes) nor 'layer{i}_signs' and "
                         f"'layer{i}_thresholds' (binarized neurons)")
    signs = f.array(f"layer{i}_signs", BITS, 2)
    thresholds = f.array(f"layer{i}_thresholds", INTEGER, 1)
    return Binarized(inputs, signs, thresholds.astype(np.int64))
