"""IR-to-IR passes that keep the golden model's outputs exactly.

``fold`` pushes constants, wires and inverters into the truth tables of the
nodes that read them; ``prune`` drops nodes no output depends on and
re-levels the rest. Trained networks are full of both (torchlogix exports a
NOT gate per inverted input), and in a pipelined design each costs a LUT and
a flip-flop per stage.
"""
from __future__ import annotations

import numpy as np

from .ir import Layer, Network

_ONE = np.uint64(1)
# bit m of addr is 0 at the set bits of _LOW[m] (for a 64-entry table)
_LOW = [np.uint64(v) for v in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F,
                               0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF)]


def _cofactors(tables: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables restricted to input m = 0 and to m = 1, each packed in the m = 0 positions."""
    shift = np.uint64(1 << m)
    return tables & _LOW[m], (tables >> shift) & _LOW[m]


def _spread(half: np.ndarray, m: int) -> np.ndarray:
    """A table that ignores input m, built from one cofactor."""
    return half | (half << np.uint64(1 << m))


def _mask(k: int) -> np.uint64:
    return np.uint64((1 << (1 << k)) - 1)


def depends(layer: Layer) -> np.ndarray:
    """[n, k] bool: does each node's output change with each of its inputs?"""
    t = layer.tables & _mask(layer.k)
    dep = np.zeros((len(layer), layer.k), dtype=bool)
    for m in range(layer.k):
        dep[:, m] = np.not_equal(*_cofactors(t, m))
    return dep


def fold(net: Network) -> Network:
    """Absorb constant, wire and inverter nodes into their readers.

    Every signal gets a literal: itself, another signal (possibly inverted) or
    a constant. Readers are rewritten to the literal's source, with the
    inversion or constant moved into their truth table. Outputs follow wires
    only, since a popcount cannot absorb an inversion.
    """
    n = net.n_signals
    src = np.arange(n)                       # literal: value = src ^ inv, or const when const >= 0
    inv = np.zeros(n, dtype=bool)
    const = np.full(n, -1, dtype=np.int8)
    layers = []
    for start, layer in zip(net.layer_starts, net.layers):
        k = layer.k
        ins, tables = layer.inputs.copy(), layer.tables & _mask(k)
        for m in range(k):
            s = ins[:, m]
            lo, hi = _cofactors(tables, m)
            flip = inv[s]
            tables = np.where(flip, hi | (lo << np.uint64(1 << m)), tables)
            c = const[s]
            tables = np.where(c == 0, _spread(lo, m), np.where(c == 1, _spread(hi, m), tables))
            ins[:, m] = src[s]
        dep = depends(Layer(ins, tables))
        n_dep = dep.sum(axis=1)
        which = dep.argmax(axis=1) if k else np.zeros(len(ins), dtype=np.int64)
        if k:  # inputs a node ignores point at one it reads (or input 0), so they keep nothing alive
            first = np.where(n_dep > 0, ins[np.arange(len(ins)), which], 0)
            ins = np.where(dep, ins, first[:, None])
        layers.append(Layer(ins, tables))
        sig = np.arange(start, start + len(ins))
        const[sig[n_dep == 0]] = (tables[n_dep == 0] & _ONE).astype(np.int8)
        one = n_dep == 1
        src[sig[one]] = ins[one, which[one]]
        inv[sig[one]] = (tables[one] >> (_ONE << which[one].astype(np.uint64))) & _ONE == 0
    wires = (const[net.outputs] < 0) & ~inv[net.outputs]
    outputs = np.where(wires, src[net.outputs], net.outputs)
    return Network(net.n_inputs, layers, outputs, net.head, net.encoder, dict(net.meta)).validate()


def prune(net: Network) -> Network:
    """Keep only nodes some output depends on, each in layer 1 + max(layer of its inputs).

    Exception: inverters and constants read only by outputs move to the last layer.
    """
    starts = net.layer_starts
    live = np.zeros(net.n_signals, dtype=bool)
    live[net.outputs] = True
    for start, layer in reversed(list(zip(starts, net.layers))):
        live[layer.inputs[live[start:start + len(layer)]].ravel()] = True
    level = np.full(net.n_signals, -1, dtype=np.int64)
    read = np.zeros(net.n_signals, dtype=bool)
    simple = np.zeros(net.n_signals, dtype=bool)
    for start, layer in zip(starts, net.layers):
        level[start:start + len(layer)] = level[layer.inputs].max(axis=1, initial=-1) + 1
        read[layer.inputs[live[start:start + len(layer)]].ravel()] = True
        simple[start:start + len(layer)] = depends(layer).sum(axis=1) <= 1
    nodes = np.flatnonzero(live[net.n_inputs:]) + net.n_inputs
    # inverters and constants only outputs read go last, where the GroupSum's first adder LUTs absorb them
    late = nodes[simple[nodes] & ~read[nodes]]
    level[late] = level[nodes].max()
    order = nodes[np.argsort(level[nodes], kind="stable")]
    new_id = np.arange(net.n_signals)
    new_id[order] = net.n_inputs + np.arange(len(order))
    layer_of = net.signal_layer()
    layers = []
    for lv in range(int(level[order].max()) + 1):
        sel = order[level[order] == lv]
        parts = [(net.layers[i], sel[layer_of[sel] == i] - starts[i]) for i in np.unique(layer_of[sel])]
        k = max(layer.k for layer, _ in parts)
        parts = [_widen(Layer(new_id[layer.inputs[rows]], layer.tables[rows]), k) for layer, rows in parts]
        layers.append(Layer(np.concatenate([p.inputs for p in parts]), np.concatenate([p.tables for p in parts])))
    return Network(net.n_inputs, layers, new_id[net.outputs], net.head, net.encoder, dict(net.meta)).validate()


def _widen(layer: Layer, k: int) -> Layer:
    """The same functions as k-input LUTs: extra inputs repeat input 0 and are ignored."""
    tables = layer.tables
    for m in range(layer.k, k):
        tables = _spread(tables, m)
    pad = np.repeat(layer.inputs[:, :1] if layer.k else np.zeros((len(layer), 1), np.int64), k - layer.k, axis=1)
    return Layer(np.concatenate([layer.inputs, pad], axis=1), tables)


def optimize(net: Network) -> Network:
    """The default pass pipeline of ``compile``."""
    return prune(fold(net))
