"""Randomly wired networks: test material for every layer and the benchmarks."""
from __future__ import annotations

import numpy as np

from .ir import Binarized, GroupSum, Layer, Network, Recurrent


def random_network(n_inputs: int, widths: list[int], k: int | list[int] = 2, classes: int = 2,
                   seed: int = 0, skip: bool = False) -> Network:
    """Layers of ``widths[i]`` random k-LUTs; the last layer feeds a GroupSum.

    Each node reads distinct signals of the previous layer (any earlier signal
    with ``skip``, which exercises delay registers). ``widths[-1]`` must be a
    multiple of ``classes``. A negative k makes layer i binarized, with fan-in
    ``-k`` and thresholds from -1 to fan-in + 2 (so some neurons are constants).
    """
    rng = np.random.default_rng(seed)
    ks = [k] * len(widths) if isinstance(k, int) else list(k)
    layers, lo, hi = [], 0, n_inputs
    for width, kk in zip(widths, ks):
        pool = hi if skip else hi - lo
        base = 0 if skip else lo
        fan_in = abs(kk)
        if fan_in > pool:
            raise ValueError(f"a {fan_in}-input node needs {fan_in} distinct signals; only {pool} are available")
        inputs = rng.integers(0, pool, size=(width, fan_in))
        while True:  # redraw rows that read one signal twice
            srt = np.sort(inputs, axis=1)
            dup = np.flatnonzero(np.any(srt[:, 1:] == srt[:, :-1], axis=1))
            if not dup.size:
                break
            inputs[dup] = rng.integers(0, pool, size=(len(dup), fan_in))
        inputs = (inputs + base).astype(np.int64)
        if kk < 0:
            layers.append(Binarized(inputs, rng.integers(0, 2, size=inputs.shape, dtype=np.uint8),
                                    rng.integers(-1, fan_in + 3, size=width)))
        else:
            layers.append(Layer(inputs, rng.integers(0, 1 << (1 << kk), size=width, dtype=np.uint64)))
        lo, hi = hi, hi + width
    return Network(n_inputs, layers, np.arange(lo, hi, dtype=np.int64), GroupSum(classes), meta={"source": "random", "seed": seed}).validate()


def random_recurrent(n_x: int, n_state: int, widths: list[int], k: int | list[int] = 2, classes: int = 2,
                     seed: int = 0, readout: str = "end") -> Recurrent:
    """A random cell over [x_t; h_{t-1}] (``random_network`` with skips, so later layers read
    the token and the state too); h_t is drawn from all its nodes, a few model inputs among
    them (a state bit that copies a token or state bit needs no logic), and a random init."""
    rng = np.random.default_rng(seed + 1)
    cell = random_network(n_x + n_state, widths, k, classes, seed, skip=True)
    state = rng.choice(np.arange(cell.n_signals), size=n_state, replace=n_state > cell.n_signals)
    return Recurrent(n_x, cell, state.astype(np.int64), rng.integers(0, 2, n_state, dtype=np.uint8), readout,
                     meta={"source": "random", "seed": seed}).validate()
