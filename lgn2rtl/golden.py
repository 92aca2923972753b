"""Golden model: exact integer class scores, bit-sliced 64 samples per uint64 word.

Every hardware check compares against this. Scores are the GroupSum popcounts
(integers); the class is the lowest index of the maximum score.
"""
from __future__ import annotations

import numpy as np

from .ir import ModelError, Network

_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def pack(x: np.ndarray) -> np.ndarray:
    """Bits [N, n] (0/1) to words [n, ceil(N/64)] uint64; sample s is bit s%64 of word s//64."""
    n_samples = x.shape[0]
    words = -(-n_samples // 64)
    padded = np.zeros((x.shape[1], words * 64), dtype=np.uint8)
    padded[:, :n_samples] = x.T
    return np.packbits(padded, axis=1, bitorder="little").view("<u8")


def unpack(words: np.ndarray, n_samples: int) -> np.ndarray:
    """Inverse of ``pack``: words [n, W] to bits [N, n] uint8."""
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=1, bitorder="little")
    return bits[:, :n_samples].T


def eval_signals(net: Network, x: np.ndarray) -> np.ndarray:
    """Every signal's value for every sample, packed: [n_signals, ceil(N/64)] uint64."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.n_inputs:
        raise ModelError(f"inputs must have shape [N, {net.n_inputs}], got {list(x.shape)}")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ModelError("inputs must be 0/1 bits")
    sig = np.empty((net.n_signals, -(-x.shape[0] // 64)), dtype=np.uint64)
    sig[:net.n_inputs] = pack(x.astype(np.uint8))
    for start, layer in zip(net.layer_starts, net.layers):
        sig[start:start + len(layer)] = _lut(layer.tables, [sig[layer.inputs[:, m]] for m in range(layer.k)], sig.shape[1])
    return sig


def _lut(tables: np.ndarray, ins: list[np.ndarray], words: int) -> np.ndarray:
    """Evaluate LUTs by a mux tree: start from the 2^k table bits, fold one input per level."""
    addrs = np.arange(1 << len(ins), dtype=np.uint64)
    # vals[a] = all-ones where table bit a is set; broadcasting widens it to [n, words]
    vals = (((tables[None, :] >> addrs[:, None]) & np.uint64(1)) * _ONES)[:, :, None]
    for sel in ins:
        lo, hi = vals[0::2], vals[1::2]
        vals = lo ^ ((lo ^ hi) & sel[None])
    return np.broadcast_to(vals[0], (len(tables), words))


def scores(net: Network, x: np.ndarray) -> np.ndarray:
    """Integer GroupSum scores [N, classes] (int64) for input bits x [N, n_inputs]."""
    sig = eval_signals(net, x)
    bits = unpack(sig[net.outputs], x.shape[0])
    return bits.reshape(len(x), net.head.classes, net.group_size).sum(axis=2, dtype=np.int64)


def predict(net: Network, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores [N, classes], class [N]); ties go to the lowest class index."""
    s = scores(net, x)
    return s, np.argmax(s, axis=1)
