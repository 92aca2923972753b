"""Thermometer thresholds as the npz layouts store them: per feature, or one row shared by all."""
from __future__ import annotations

import numpy as np

from ..ir import ModelError, Thermometer


def encoder(t: np.ndarray, n_inputs: int, what: str) -> Thermometer:
    """The thermometer for thresholds ``t`` ([features, levels], or [levels] shared)."""
    if t.ndim not in (1, 2) or not np.issubdtype(t.dtype, np.number) or t.size == 0:
        raise ModelError(f"{what} must be numbers [features, levels] or [levels], got {t.dtype} {list(t.shape)}")
    if t.ndim == 1:
        if n_inputs % len(t):
            raise ModelError(f"{what}: {len(t)} shared levels do not divide the {n_inputs} input bits")
        t = np.tile(t, (n_inputs // len(t), 1))
    return Thermometer(t.astype(np.float64))
