"""Vectors files (DESIGN.md): ``.npz`` with ``x`` uint8 [N, n_inputs] bits, optional ``y`` and ``scores``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import npz
from .errors import UserError


class VectorsError(UserError, ValueError):
    """A vectors file that cannot drive the model."""


def load(path: str | Path, n_inputs: int) -> dict[str, np.ndarray]:
    """Read and check a vectors file against a model with ``n_inputs`` input bits."""
    data = npz.read(path, VectorsError)
    if "x" not in data:
        raise VectorsError(f"{path}: has no array 'x' (input bits [N, {n_inputs}]); found {sorted(data)}")
    x = data["x"]
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise VectorsError(f"{path}: 'x' has shape {list(x.shape)}, the model needs [N, {n_inputs}]")
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == bool) or (x.size and (x.min() < 0 or x.max() > 1)):
        raise VectorsError(f"{path}: 'x' must hold 0/1 bits (got dtype {x.dtype})")
    if len(x) == 0:
        raise VectorsError(f"{path}: 'x' holds no samples")
    data["x"] = x.astype(np.uint8)
    return data


def random(n: int, n_inputs: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random input rows, reproducible from ``seed``."""
    return np.random.default_rng(seed).integers(0, 2, size=(n, n_inputs), dtype=np.uint8)


def save(path: str | Path, **arrays: np.ndarray) -> None:
    np.savez_compressed(path, **arrays)
