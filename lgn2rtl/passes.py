"""IR-to-IR passes that keep the golden model's outputs exactly.

``fold`` pushes constants, wires, inverters and duplicates into the nodes
that read them; ``absorb_inverters`` turns an inverted gate that only the
count reads into one gate; ``prune`` drops nodes no output depends on and
re-levels the rest. Trained networks are full of such nodes (torchlogix
exports a NOT gate per inverted input), and in a pipelined design each costs
a LUT and a flip-flop per stage.
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


# table positions whose address has bits (m+1, m) = (0, 1)
_PAIR01 = [np.uint64(sum(1 << a for a in range(64) if (a >> m) & 3 == 1)) for m in range(5)]


def _swap_inputs(tables: np.ndarray, m: int) -> np.ndarray:
    """Tables with inputs m and m+1 exchanged: entries at addresses ..01.. and ..10.. trade places."""
    d = np.uint64(1 << m)
    x = ((tables >> d) ^ tables) & _PAIR01[m]
    return tables ^ x ^ (x << d)


def _canonical(ins: np.ndarray, tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each node's inputs ascending, permuting its table to match, so AND(a,b) == AND(b,a)."""
    ins, tables = ins.copy(), tables.copy()
    for _ in range(ins.shape[1]):  # bubble sort: k passes of adjacent column swaps
        for m in range(ins.shape[1] - 1):
            swap = ins[:, m] > ins[:, m + 1]
            ins[swap, m], ins[swap, m + 1] = ins[swap, m + 1], ins[swap, m]
            tables[swap] = _swap_inputs(tables[swap], m)
    return ins, tables


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
    """Absorb constant, wire, inverter and duplicate nodes into their readers.

    Every signal gets a literal: itself, another signal (possibly inverted) or
    a constant. Readers are rewritten to the literal's source, with the
    inversion or constant moved into their truth table. A node equal to an
    earlier one (same inputs in any order, same function) becomes a wire to it.
    Outputs follow wires only, since a popcount cannot absorb an inversion.
    """
    n = net.n_signals
    src = np.arange(n)                       # literal: value = src ^ inv, or const when const >= 0
    inv = np.zeros(n, dtype=bool)
    const = np.full(n, -1, dtype=np.int8)
    seen: dict[tuple, int] = {}
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
        if k:  # inputs a node ignores point at one it reads (or input 0), so they keep nothing alive
            first = np.where(dep.any(axis=1), ins[np.arange(len(ins)), dep.argmax(axis=1)], 0)
            ins = np.where(dep, ins, first[:, None])
        ins, tables = _canonical(ins, tables)
        dep = depends(Layer(ins, tables))
        n_dep = dep.sum(axis=1)
        which = dep.argmax(axis=1) if k else np.zeros(len(ins), dtype=np.int64)
        layers.append(Layer(ins, tables))
        sig = np.arange(start, start + len(ins))
        const[sig[n_dep == 0]] = (tables[n_dep == 0] & _ONE).astype(np.int8)
        one = n_dep == 1
        src[sig[one]] = ins[one, which[one]]
        inv[sig[one]] = (tables[one] >> (_ONE << which[one].astype(np.uint64))) & _ONE == 0
        for j in np.flatnonzero(n_dep > 1).tolist():  # structural hashing: equal nodes share one signal
            first_seen = seen.setdefault((*ins[j].tolist(), int(tables[j])), int(sig[j]))
            src[sig[j]] = first_seen
    wires = (const[net.outputs] < 0) & ~inv[net.outputs]
    outputs = np.where(wires, src[net.outputs], net.outputs)
    return Network(net.n_inputs, layers, outputs, net.head, net.encoder, dict(net.meta)).validate()


def absorb_inverters(net: Network) -> Network:
    """Complement a node's table when its only reader is an inverter, which becomes a wire.

    ``fold`` moves inversions into readers, but not into the GroupSum, so an
    inverted gate that feeds only the count still costs a LUT of its own.
    """
    node_readers = np.zeros(net.n_signals, dtype=np.int64)
    for layer in net.layers:
        np.add.at(node_readers, layer.inputs[depends(layer)], 1)
    readers = node_readers.copy()
    np.add.at(readers, net.outputs, 1)
    to = np.arange(net.n_signals)
    layers = [Layer(layer.inputs, layer.tables.copy()) for layer in net.layers]
    starts = net.layer_starts
    layer_of = net.signal_layer()
    for start, layer in zip(starts, layers):
        dep = depends(layer)
        src = layer.inputs[np.arange(len(layer)), dep.argmax(axis=1)] if layer.k else np.zeros(0, np.int64)
        inverter = (dep.sum(axis=1) == 1) & (layer.tables & _ONE == _ONE) if layer.k else np.zeros(0, bool)
        for j in np.flatnonzero(inverter).tolist():
            g = int(src[j])
            # only when outputs alone read the inverter, or a node reading it would see the flip
            if g >= net.n_inputs and readers[g] == 1 and node_readers[start + j] == 0:
                owner = layers[layer_of[g]]
                owner.tables[g - starts[layer_of[g]]] ^= _mask(owner.k)
                to[start + j] = g
    return Network(net.n_inputs, layers, to[net.outputs], net.head, net.encoder, dict(net.meta)).validate()


def live_signals(net: Network) -> np.ndarray:
    """[n_signals] bool: does some output depend on this signal?"""
    live = np.zeros(net.n_signals, dtype=bool)
    live[net.outputs] = True
    for start, layer in reversed(list(zip(net.layer_starts, net.layers))):
        live[layer.inputs[live[start:start + len(layer)]].ravel()] = True
    return live


def prune(net: Network) -> Network:
    """Keep only nodes some output depends on, each in layer 1 + max(layer of its inputs).

    Exception: inverters and constants read only by outputs move to the last layer.
    """
    starts = net.layer_starts
    live = live_signals(net)
    level = np.full(net.n_signals, -1, dtype=np.int64)
    read = np.zeros(net.n_signals, dtype=bool)
    simple = np.zeros(net.n_signals, dtype=bool)
    for start, layer in zip(starts, net.layers):
        level[start:start + len(layer)] = level[layer.inputs].max(axis=1, initial=-1) + 1
        read[layer.inputs[live[start:start + len(layer)]].ravel()] = True
        simple[start:start + len(layer)] = depends(layer).sum(axis=1) <= 1
    nodes = np.flatnonzero(live[net.n_inputs:]) + net.n_inputs
    # inverters and constants only outputs read go last: they then share the final stage with
    # the GroupSum's first adders instead of taking pipeline registers of their own
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


PIPELINE = (fold, absorb_inverters, prune)


def optimize(net: Network) -> Network:
    """The default pass pipeline of ``compile`` (-O1)."""
    for step in PIPELINE:
        net = step(net)
    return net


_LUT4S = (1, 1, 1, 1, 1, 3, 7)  # by k: above 4 inputs, 2^(k-4) LUT4s and a mux tree


def lut4_estimate(net: Network) -> int:
    """LUT4s the live nodes would take one by one, before synthesis merges any."""
    live = live_signals(net)
    return sum(int(live[start:start + len(layer)].sum()) * _LUT4S[layer.k]
               for start, layer in zip(net.layer_starts, net.layers))
