"""Randomly wired networks: test material for every layer and the benchmarks."""
from __future__ import annotations

import numpy as np

from .ir import GroupSum, Layer, Network


def random_network(n_inputs: int, widths: list[int], k: int | list[int] = 2, classes: int = 2,
                   seed: int = 0, skip: bool = False) -> Network:
    """Layers of ``widths[i]`` random k-LUTs; the last layer feeds a GroupSum.

    Each node reads distinct signals of the previous layer (any earlier signal
    with ``skip``, which exercises delay registers). ``widths[-1]`` must be a
    multiple of ``classes``.
    """
    rng = np.random.default_rng(seed)
    ks = [k] * len(widths) if isinstance(k, int) else list(k)
    layers, lo, hi = [], 0, n_inputs
    for width, kk in zip(widths, ks):
        pool = hi if skip else hi - lo
        base = 0 if skip else lo
        if kk > pool:
            raise ValueError(f"a {kk}-input node needs {kk} distinct signals; only {pool} are available")
        inputs = rng.integers(0, pool, size=(width, kk))
        while True:  # redraw rows that read one signal twice
            srt = np.sort(inputs, axis=1)
            dup = np.flatnonzero(np.any(srt[:, 1:] == srt[:, :-1], axis=1))
            if not dup.size:
                break
            inputs[dup] = rng.integers(0, pool, size=(len(dup), kk))
        tables = rng.integers(0, 1 << (1 << kk), size=width, dtype=np.uint64)
        inputs = inputs + base
        layers.append(Layer(inputs.astype(np.int64), tables))
        lo, hi = hi, hi + width
    return Network(n_inputs, layers, np.arange(lo, hi, dtype=np.int64), GroupSum(classes), meta={"source": "random", "seed": seed}).validate()
