"""Vectors files (docs/semantics.md): ``.npz`` with ``x`` uint8 [N, n_inputs] bits, optional ``y`` and ``scores``.

A model with a thermometer encoder may be fed ``features`` [N, n_features] (raw values, any
numeric dtype) instead of, or beside, ``x``: the encoder turns them into ``x``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import npz
from .errors import UserError
from .ir import Thermometer


class VectorsError(UserError, ValueError):
    """A vectors file that cannot drive the model."""


def load(path: str | Path, n_inputs: int, encoder: Thermometer | None = None) -> dict[str, np.ndarray]:
    """Read and check a vectors file against a model with ``n_inputs`` input bits.

    With ``features`` in the file, ``x`` in the result is ``encoder.encode(features)``; a file
    holding both must have them agree.
    """
    data = npz.read(path, VectorsError)
    if "features" in data:
        data["x"] = _encoded(path, data, encoder)
    if "x" not in data:
        raise VectorsError(f"{path}: has no array 'x' (input bits [N, {n_inputs}]) or 'features' "
                           f"(raw values, for a model with a thermometer encoder); found {sorted(data)}")
    x = data["x"]
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise VectorsError(f"{path}: 'x' has shape {list(x.shape)}, the model needs [N, {n_inputs}]")
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == bool) or (x.size and (x.min() < 0 or x.max() > 1)):
        raise VectorsError(f"{path}: 'x' must hold 0/1 bits (got dtype {x.dtype})")
    if len(x) == 0:
        raise VectorsError(f"{path}: 'x' holds no samples")
    data["x"] = x.astype(np.uint8)
    return data


def _encoded(path: str | Path, data: dict[str, np.ndarray], encoder: Thermometer | None) -> np.ndarray:
    f = data["features"]
    if encoder is None:
        raise VectorsError(f"{path}: has raw 'features', but the model carries no thermometer encoder to "
                           "turn them into input bits; give 'x' bits")
    count = encoder.thresholds.shape[0]
    if f.ndim != 2 or f.shape[1] != count or not (np.issubdtype(f.dtype, np.number) or f.dtype == bool):
        raise VectorsError(f"{path}: 'features' must be numbers [N, {count}], got {f.dtype} {list(f.shape)}")
    if not np.all(np.isfinite(f)):
        raise VectorsError(f"{path}: 'features' holds values that are not finite numbers")
    x = encoder.encode(f)
    if "x" in data and not np.array_equal(data["x"], x):
        raise VectorsError(f"{path}: 'x' is not the thermometer encoding of 'features'; keep one of them")
    return x


def random(n: int, n_inputs: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random input rows, reproducible from ``seed``."""
    return np.random.default_rng(seed).integers(0, 2, size=(n, n_inputs), dtype=np.uint8)


def save(path: str | Path, **arrays: np.ndarray) -> None:
    """Write a vectors file (the name as given), whole or not at all."""
    npz.write(path, arrays)
