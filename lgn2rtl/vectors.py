"""Vectors files (docs/semantics.md): ``.npz`` with ``x`` uint8 [N, n_inputs] bits, optional ``y`` and ``scores``.

A recurrent model's file holds sequences instead: ``x`` [N, T, n_x] and optional ``lengths``
[N] (sequence i is its first ``lengths[i]`` steps; all T by default) and ``y`` (docs/recurrent.md).

A model with a thermometer encoder may be fed ``features`` [N, n_features] (raw values, any
numeric dtype) instead of, or beside, ``x``: the encoder turns them into ``x``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import npz
from .errors import UserError
from .fields import BITS, INTEGER, Fields
from .ir import Thermometer
from .limits import MAX_ARRAY_BYTES, size


class VectorsError(UserError, ValueError):
    """A vectors file that cannot drive the model."""


# the arrays a vectors file may hold for lgn2rtl; any others (a training script's extras such as
# torch_scores) are left unread
ARRAYS = ("x", "y", "scores", "features")


def load(path: str | Path, n_inputs: int, encoder: Thermometer | None = None,
         classes: int | None = None) -> dict[str, np.ndarray]:
    """Read and check a vectors file against a model with ``n_inputs`` input bits (and
    ``classes`` classes, which ``y`` and ``scores`` must fit when given).

    With ``features`` in the file, ``x`` in the result is ``encoder.encode(features)``; a file
    holding both must have them agree.
    """
    data = npz.read(path, VectorsError, only=ARRAYS)
    f = Fields(data, VectorsError, lambda key: f"{path}: {key!r}")
    if "features" in data:
        data["x"] = _encoded(path, f, encoder)
    if "x" not in data:
        raise VectorsError(f"{path}: has no array 'x' (input bits [N, {n_inputs}]) or 'features' "
                           f"(raw values, for a model with a thermometer encoder); found {sorted(data)}")
    x = f.array("x", BITS, 2)
    if x.shape[1] != n_inputs:
        raise VectorsError(f"{path}: 'x' has shape {list(x.shape)}, the model needs [N, {n_inputs}]")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise VectorsError(f"{path}: 'x' must hold 0/1 bits (got dtype {x.dtype}, values {x.min()}..{x.max()})")
    if len(x) == 0:
        raise VectorsError(f"{path}: 'x' holds no samples")
    data["x"] = x.astype(np.uint8)
    if "y" in data:
        y = f.array("y", INTEGER, 1, (len(x),))
        if classes is not None and (y.min() < 0 or y.max() >= classes):
            raise VectorsError(f"{path}: 'y' holds labels {y.min()}..{y.max()}, the model's classes are 0..{classes - 1}")
    if "scores" in data:
        f.array("scores", INTEGER, 2, (len(x), classes))
    if classes is not None:
        check_samples(len(x), n_inputs, classes, str(path))
    return data


def load_sequences(path: str | Path, n_x: int, classes: int) -> dict[str, np.ndarray]:
    """Read and check a recurrent model's vectors file: ``x`` [N, T, n_x] bits, ``lengths``
    [N] in 1..T (T each when absent), optional ``y`` labels of each sequence."""
    data = npz.read(path, VectorsError, only=("x", "lengths", "y"))
    f = Fields(data, VectorsError, lambda key: f"{path}: {key!r}")
    x = f.array("x", BITS, 3)
    if x.shape[2] != n_x or x.shape[0] == 0 or x.shape[1] == 0:
        raise VectorsError(f"{path}: 'x' has shape {list(x.shape)}, the model needs sequences [N, T, {n_x}] with N, T > 0")
    if x.min() < 0 or x.max() > 1:
        raise VectorsError(f"{path}: 'x' must hold 0/1 bits (got values {x.min()}..{x.max()})")
    check_samples(x.shape[0] * x.shape[1], n_x, classes, str(path))
    lengths = f.array("lengths", INTEGER, 1, (len(x),)) if "lengths" in data else np.full(len(x), x.shape[1])
    if lengths.min() < 1 or lengths.max() > x.shape[1]:
        raise VectorsError(f"{path}: 'lengths' span {lengths.min()}..{lengths.max()}; a sequence has 1..{x.shape[1]} steps")
    data |= {"x": x.astype(np.uint8), "lengths": lengths.astype(np.int64)}
    if "y" in data:
        f.array("y", INTEGER, 1, (len(x),))
    return data


def check_samples(n: int, n_inputs: int, classes: int, what: str) -> None:
    """Refuse ``n`` samples whose input bits, scores and classes would not fit in memory."""
    need = n * (n_inputs + 8 * (classes + 1))
    if need > MAX_ARRAY_BYTES:
        raise VectorsError(f"{what}: {n:,} samples of {n_inputs} input bits and {classes} scores take "
                           f"{size(need)} in memory; lgn2rtl holds at most {size(MAX_ARRAY_BYTES)} of vectors")


def _encoded(path: str | Path, f: Fields, encoder: Thermometer | None) -> np.ndarray:
    if encoder is None:
        raise VectorsError(f"{path}: has raw 'features', but the model carries no thermometer encoder to "
                           "turn them into input bits; give 'x' bits")
    count = encoder.thresholds.shape[0]
    x = encoder.encode(f.array("features", "biuf", 2, (None, count)))
    if "x" in f and not np.array_equal(f.arrays["x"], x):
        raise VectorsError(f"{path}: 'x' is not the thermometer encoding of 'features'; keep one of them")
    return x


def random(n: int, n_inputs: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random input rows, reproducible from ``seed``."""
    return np.random.default_rng(seed).integers(0, 2, size=(n, n_inputs), dtype=np.uint8)


def save(path: str | Path, **arrays: np.ndarray) -> None:
    """Write a vectors file (the name as given), whole or not at all."""
    npz.write(path, arrays)
