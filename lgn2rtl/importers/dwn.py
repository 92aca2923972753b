"""torch-dwn (Differentiable Weightless Networks) models: live modules and an npz layout (docs/dwn.md).

What torch-dwn 1.1.1 computes in eval mode, read from its source (lut_layer.py,
the EFD CUDA kernel, mapping.py, utils.py, binarization.py):

- ``LUTLayer``: LUT j forms ``addr = sum((x[mapping[j, l]] > 0) << l)``, so
  mapping column 0 is the least significant address bit as in our IR, and
  outputs ``luts[j, addr]``; the straight-through estimator then outputs
  ``luts[j, addr] > 0``. Truth table bit ``a`` is therefore ``luts[j, a] > 0``.
- ``mapping='learnable'``: column ``l`` of LUT j reads input
  ``argmax(weights[:, j*n + l])`` (lowest index on ties), in training and eval alike.
- ``GroupSum(k, tau)``: optional column permutation ``randperm``, zero padding
  to a multiple of k, k contiguous groups, ``sum / tau``.
- ``DistributiveThermometer`` (and the other thermometers): bit ``j`` of
  feature ``f`` is ``x[f] > thresholds[f, j]``, flattened feature-major.

Neither torch-dwn nor torch is imported: modules are read by duck typing.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import npz
from ..fields import INTEGER, REAL, Fields
from ..ir import MAX_K, GroupSum, Layer, ModelError, Network
from ..limits import MAX_SIGNALS
from . import live

FORMAT = "lgn2rtl-dwn/1"


def looks_like(path: Path) -> bool:
    """A zip archive with the layout's marker or its first LUT table."""
    return bool({"dwn_format", "layer0_luts"} & npz.members(path))


# every array the layout defines; anything else in the archive is refused
KNOWN = re.compile(r"dwn_format|layer(0|[1-9][0-9]*)_(luts|mapping)|n_inputs|group_k|tau|group_perm|thresholds")


def load(path: str | Path) -> Network:
    """Read the npz layout into a Network."""
    return _network(npz.read(path, ModelError, KNOWN), repr, "torch-dwn-npz")


def from_module(model: Any, thermometer: Any = None) -> Network:
    """The Network a live torch-dwn model computes in eval mode.

    ``model`` is a ``torch.nn.Sequential`` (or any iterable of modules): an
    optional thermometer (an object with ``.thresholds``, e.g.
    ``DistributiveThermometer``), an optional ``Flatten``, LUT layers with
    ``.luts`` [out, 2**n], ``.mapping`` ([out, n] indices or a learnable
    mapping with ``.weights``) and ``.input_size``, then a GroupSum with ``.k``
    and ``.tau``. Since a thermometer is not a ``torch.nn.Module``,
    ``thermometer`` may pass it (or its thresholds) beside a Sequential.
    """
    arrays, names = _layout(model, thermometer)
    return _network(arrays, lambda key: names.get(key, key), "torch-dwn-module")


def save_layout(model: Any, path: str | Path, thermometer: Any = None) -> None:
    """Write the npz layout of a live model (arguments as for ``from_module``) to ``path``."""
    arrays, names = _layout(model, thermometer)
    _network(arrays, lambda key: names.get(key, key), "torch-dwn-module")  # refuse a broken model before writing
    npz.write(path, arrays)


def _layout(model: Any, thermometer: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The layout arrays of a live model, and each array's name in the model (for messages)."""
    modules, where, body, head = live.sequential(
        model, "LUT layers", lambda m: hasattr(m, "thresholds") and not hasattr(m, "luts"))
    if body[0] > 0 and hasattr(modules[0], "thresholds"):
        if thermometer is not None:
            raise ModelError(f"{where[0]} is a thermometer, and another one was passed as thermometer=")
        thermometer = modules[0]
    arrays = {"dwn_format": np.array(FORMAT)}
    names = {"group_k": f"{where[head]}.k", "tau": f"{where[head]}.tau", "group_perm": f"{where[head]}.randperm",
             "n_inputs": f"{where[body[0]]}.input_size", "thresholds": "the thermometer's thresholds"}
    for i, j in enumerate(body):
        m = live.layer(modules[j], where[j], ("luts", "mapping"), "LUT layer", ".luts [out, 2**n] and .mapping")
        names |= {f"layer{i}_luts": f"{where[j]}.luts", f"layer{i}_mapping": f"{where[j]}.mapping"}
        try:
            luts = arrays[f"layer{i}_luts"] = live.array(m.luts)
            if hasattr(m.mapping, "weights"):
                # a learnable mapping: LUT j, column l reads input argmax(weights[:, j*n + l])
                names[f"layer{i}_mapping"] = f"{where[j]}.mapping.weights [inputs, LUTs*n]"
                arrays[f"layer{i}_mapping"] = live.array(m.mapping.weights).argmax(axis=0).reshape(len(luts), -1)
            else:
                arrays[f"layer{i}_mapping"] = live.array(m.mapping)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ModelError(f"{where[j]}: .luts and .mapping do not fit together ({e})") from None
    if getattr(modules[body[-1]], "ste", True) is False:
        raise ModelError(f"{where[body[-1]]} has ste=False, so GroupSum would add its raw LUT values; "
                         "lgn2rtl counts bits: use ste=True on the last LUT layer")
    if not hasattr(modules[body[0]], "input_size"):
        raise ModelError(f"{where[body[0]]} has no .input_size (the number of model input bits)")
    arrays["n_inputs"] = live.array(modules[body[0]].input_size)
    arrays["group_k"] = live.array(modules[head].k)
    arrays["tau"] = live.array(modules[head].tau)
    if getattr(modules[head], "randperm", None) is not None:
        arrays["group_perm"] = live.array(modules[head].randperm)
    if thermometer is not None:
        t = getattr(thermometer, "thresholds", thermometer)
        if t is None:
            raise ModelError("the thermometer has no thresholds: fit() it on the training data first")
        t = live.thresholds(t, "thermometer thresholds")
        # [*features, levels]; one row means thresholds shared by every feature (feature_wise=False)
        t = t.reshape(-1, t.shape[-1]) if t.ndim and t.size else t
        arrays["thresholds"] = t[0] if t.ndim == 2 and len(t) == 1 else t
    return arrays, names


def _network(a: dict[str, np.ndarray], name: Callable[[str], str], source: str) -> Network:
    """Check the layout arrays and build the Network; ``name(key)`` says where an array came from."""
    npz.check_marker(a, "dwn_format", FORMAT, "lgn2rtl.importers.dwn.save_layout", ModelError)
    f = Fields(a, ModelError, name)
    n_layers = f.layer_count("luts|mapping")
    for i in range(max(n_layers, 1)):  # at least layer 0, so a layout without layers says so
        for part, what in (("luts", "its LUT contents"), ("mapping", "which inputs each LUT reads")):
            if f"layer{i}_{part}" not in a:
                raise ModelError(f"{name(f'layer{i}_{part}')} is missing: every LUT layer needs "
                                 f"layer{{i}}_luts and layer{{i}}_mapping ({what})")
    n_inputs, k, tau = f.integer("n_inputs", 1, MAX_SIGNALS), f.integer("group_k", 1), f.real("tau", positive=True)
    layers, start, width = [], 0, n_inputs
    for i in range(n_layers):
        luts, mapping = f.array(f"layer{i}_luts", REAL, 2), f.array(f"layer{i}_mapping", INTEGER, 2)
        if luts.shape[0] == 0:
            raise ModelError(f"{name(f'layer{i}_luts')} must be numbers [out, 2**n] with out > 0, "
                             f"got {luts.dtype} {list(luts.shape)}")
        n = luts.shape[1].bit_length() - 1
        if n < 1 or luts.shape[1] != 1 << n:
            raise ModelError(f"{name(f'layer{i}_luts')} has {luts.shape[1]} entries per LUT; "
                             "an n-input LUT has 2**n (n >= 1)")
        if n > MAX_K:
            raise ModelError(f"{name(f'layer{i}_luts')} holds {n}-input LUTs; lgn2rtl supports at most {MAX_K} inputs")
        if mapping.shape != (len(luts), n):
            raise ModelError(f"{name(f'layer{i}_mapping')} must be integer [{len(luts)}, {n}] to match "
                             f"{name(f'layer{i}_luts')}, got {mapping.dtype} {list(mapping.shape)}")
        bad = mapping[(mapping < 0) | (mapping >= width)]
        if bad.size:
            raise ModelError(f"{name(f'layer{i}_mapping')} reads input {int(bad[0])}, but "
                             f"{'the model has' if i == 0 else 'the layer before has'} {width} (0..{width - 1})")
        bits = (luts > 0).astype(np.uint64) << np.arange(1 << n, dtype=np.uint64)
        layers.append(Layer(mapping.astype(np.int64) + start, np.bitwise_or.reduce(bits, axis=1)))
        start, width = start + width, len(luts)
    outputs = np.arange(start, start + width, dtype=np.int64)
    if "group_perm" in a:
        perm = f.array("group_perm", INTEGER, 1)
        if not np.array_equal(np.sort(perm), outputs - start):
            raise ModelError(f"{name('group_perm')} must be a permutation of the last layer's {width} outputs")
        outputs = outputs[perm]
    if width % k:
        raise ModelError(f"{name('group_k')}: the last layer's {width} outputs do not split into {k} equal groups "
                         "(torch-dwn pads with zeros; lgn2rtl needs the LUT count to be a multiple of k)")
    meta = {"source": source}
    encoder = None
    if "thresholds" in a:
        encoder = live.thermometer(a["thresholds"], n_inputs, name("thresholds"))
    return Network(n_inputs, layers, outputs, GroupSum(k, tau), encoder, meta).validate()

