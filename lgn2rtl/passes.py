"""IR-to-IR passes that keep the golden model's outputs exactly.

``fold`` pushes constants, wires, inverters and duplicates into the nodes
that read them; ``absorb_inverters`` turns an inverted gate that only the
count reads into one gate; ``prune`` drops nodes no output depends on and
re-levels the rest; ``pack_luts`` merges single-reader nodes into their reader up to
a LUT's input count. Trained networks are full of such nodes (torchlogix
exports a NOT gate per inverted input), and in a pipelined design each costs
a LUT and a flip-flop per stage.

Binarized layers are opaque: their neurons are never merged or re-levelled,
and every LUT node stays on its side of them. The passes still reach into
them where it is exact and free: wires and inverters they read fold into
their weights, a constant neuron becomes a constant, and an inverted neuron
is complemented in place.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import numpy as np

from .ir import Binarized, Layer, Network

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


def depends(layer: Layer | Binarized) -> np.ndarray:
    """[n, k] bool: does each node's output change with each of its inputs? (Neurons: taken as yes.)"""
    if isinstance(layer, Binarized):
        return np.ones(layer.inputs.shape, dtype=bool)
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
    seen = _Hashes(n, max((layer.k for layer in net.layers if isinstance(layer, Layer)), default=0))
    layers = []
    for start, layer in zip(net.layer_starts, net.layers):
        if isinstance(layer, Binarized):
            # XNOR(~a, w) = XNOR(a, ~w); constant inputs stay as they are (they would change the fan-in)
            s = layer.inputs
            follow = const[s] < 0
            layers.append(Binarized(np.where(follow, src[s], s), layer.signs ^ (follow & inv[s]),
                                    layer.thresholds))
            sig = np.arange(start, start + len(layer))
            const[sig[layer.thresholds <= 0]] = 1
            const[sig[layer.thresholds > layer.fan_in]] = 0
            continue
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
        multi = n_dep > 1  # structural hashing: equal nodes share one signal
        src[sig[multi]] = seen.first(sig[multi], ins[multi], tables[multi])
    wires = (const[net.outputs] < 0) & ~inv[net.outputs]
    outputs = np.where(wires, src[net.outputs], net.outputs)
    return Network(net.n_inputs, layers, outputs, net.head, net.encoder, dict(net.meta)).validate()


class _Hashes:
    """Structural hashing of nodes: which earlier signal has the same inputs and table?"""

    def __init__(self, n_signals: int, k_max: int):
        self.ins = np.full((n_signals, k_max), -1, dtype=np.int64)
        self.tables = np.zeros(n_signals, dtype=np.uint64)
        self.by_hash: dict[int, int] = {}

    def first(self, sig: np.ndarray, ins: np.ndarray, tables: np.ndarray) -> np.ndarray:
        """For nodes ``sig`` (one layer), the first signal seen with the same key (maybe itself)."""
        k = ins.shape[1]
        self.ins[sig, :k], self.tables[sig] = ins, tables
        h = np.full(len(sig), k, dtype=np.uint64)
        with np.errstate(over="ignore"):  # wrap-around is the point of the hash
            for column in (*ins.T.astype(np.uint64), tables):
                h = (h ^ column) * np.uint64(0x9E3779B97F4A7C15)
                h ^= h >> np.uint64(29)
        keys, first, inverse = np.unique(h, return_index=True, return_inverse=True)
        earlier = np.array([self.by_hash.get(key, -1) for key in keys.tolist()], dtype=np.int64)
        rep = np.where(earlier >= 0, earlier, sig[first])[inverse]
        new = earlier < 0
        self.by_hash.update(zip(keys[new].tolist(), sig[first][new].tolist()))
        # a hash collision between different nodes merges nothing
        same = np.all(self.ins[rep] == self.ins[sig], axis=1) & (self.tables[rep] == tables)
        return np.where(same, rep, sig)


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
    layers = [Binarized(layer.inputs, layer.signs.copy(), layer.thresholds.copy()) if isinstance(layer, Binarized)
              else Layer(layer.inputs, layer.tables.copy()) for layer in net.layers]
    starts = net.layer_starts
    layer_of = net.signal_layer()
    for start, layer in zip(starts, layers):
        if isinstance(layer, Binarized):
            continue
        dep = depends(layer)
        src = layer.inputs[np.arange(len(layer)), dep.argmax(axis=1)] if layer.k else np.zeros(0, np.int64)
        inverter = (dep.sum(axis=1) == 1) & (layer.tables & _ONE == _ONE) if layer.k else np.zeros(0, bool)
        for j in np.flatnonzero(inverter).tolist():
            g = int(src[j])
            # only when outputs alone read the inverter, or a node reading it would see the flip
            if g >= net.n_inputs and readers[g] == 1 and node_readers[start + j] == 0:
                owner, row = layers[layer_of[g]], g - starts[layer_of[g]]
                if isinstance(owner, Binarized):
                    # not(P >= t) is P <= t - 1, i.e. (F - P) >= F + 1 - t: the complemented weights count F - P
                    owner.signs[row] ^= 1
                    owner.thresholds[row] = owner.fan_in + 1 - owner.thresholds[row]
                else:
                    owner.tables[row] ^= _mask(owner.k)
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

    Exceptions: LUT nodes of at most two inputs that only outputs read move to the last layer,
    and a binarized layer stays one layer, after every node before it and before every node
    after it.
    """
    starts = net.layer_starts
    live = live_signals(net)
    level = np.full(net.n_signals, -1, dtype=np.int64)
    read = np.zeros(net.n_signals, dtype=bool)
    simple = np.zeros(net.n_signals, dtype=bool)
    binarized = {}  # level -> index of the binarized layer placed there
    top, floor = -1, 0  # highest level of a live node so far; lowest level open to LUT nodes
    for i, (start, layer) in enumerate(zip(starts, net.layers)):
        rows = slice(start, start + len(layer))
        mine = live[rows]
        read[layer.inputs[mine].ravel()] = True
        if isinstance(layer, Binarized):
            if mine.any():
                top += 1
                level[rows], binarized[top] = top, i
                floor = top + 1
            continue
        level[rows] = np.maximum(level[layer.inputs].max(axis=1, initial=-1) + 1, floor)
        simple[rows] = depends(layer).sum(axis=1) <= 2
        top = max(top, int(level[rows][mine].max(initial=-1)))
    nodes = np.flatnonzero(live[net.n_inputs:]) + net.n_inputs
    # small nodes only outputs read go last: they then share the final stage with the GroupSum,
    # whose full- and half-adder LUTs absorb them (hdl/popcount.py), instead of taking a LUT and
    # pipeline registers of their own
    late = nodes[simple[nodes] & ~read[nodes]]
    if top not in binarized:
        level[late] = top
    order = nodes[np.argsort(level[nodes], kind="stable")]
    new_id = np.arange(net.n_signals)
    new_id[order] = net.n_inputs + np.arange(len(order))
    layer_of = net.signal_layer()
    layers = []
    for lv in range(top + 1):
        sel = order[level[order] == lv]
        if lv in binarized:
            layer, rows = net.layers[binarized[lv]], sel - starts[binarized[lv]]
            layers.append(Binarized(new_id[layer.inputs[rows]], layer.signs[rows], layer.thresholds[rows]))
            continue
        if not len(sel):  # its nodes were all late ones, moved to the end
            continue
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


def pack_luts(net: Network, k_max: int = 4) -> Network:
    """Merge each node that only one node reads into that reader, while it has <= k_max inputs.

    Fewer, wider nodes and fewer levels: a cone of 2-input gates becomes one LUT4 on iCE40 and
    ECP5 (k_max=4), one LUT6 on Xilinx-class parts (k_max=6). Merged nodes are left dead for
    ``prune``, which also re-levels the network.
    """
    n, nin = net.n_signals, net.n_inputs
    ins = np.full((n, 6), -1, dtype=np.int64)      # inputs a node depends on, -1 padded
    tab = np.zeros(n, dtype=np.uint64)              # truth table over all 6 slots
    readers = np.zeros(n, dtype=np.int64)
    for start, layer in zip(net.layer_starts, net.layers):
        rows = slice(start, start + len(layer))
        if isinstance(layer, Binarized):  # neither merged into a reader nor merged into: no ins
            np.add.at(readers, layer.inputs.ravel(), 1)
            readers[rows] += 2
            continue
        ins[rows, :layer.k] = np.where(depends(layer), layer.inputs, -1)
        tab[rows] = _widen(layer, 6).tables
    np.add.at(readers, ins[ins >= 0], 1)
    readers[net.outputs] += 2                       # an output must stay a signal of its own
    while True:
        # candidate (reader u, node v): v is a node read once, by u
        u, slot = np.nonzero(ins[nin:] >= nin)
        u = u + nin
        v = ins[u, slot]
        ok = readers[v] == 1
        u, slot, v = u[ok], slot[ok], v[ok]
        merged = np.sort(np.concatenate([np.where(ins[u] == v[:, None], -1, ins[u]), ins[v]], axis=1), axis=1)
        width = ((merged[:, 1:] != merged[:, :-1]) & (merged[:, 1:] >= 0)).sum(axis=1) + (merged[:, 0] >= 0)
        ok = width <= k_max
        u, slot, v, merged = u[ok], slot[ok], v[ok], merged[ok]
        # one merge per reader per round, and none into or out of a node that changes this round
        _, first = np.unique(u, return_index=True)
        u, slot, v, merged = u[first], slot[first], v[first], merged[first]
        keep = ~np.isin(u, v) & ~np.isin(v, u)
        if not keep.any():
            break
        u, slot, v, merged = u[keep], slot[keep], v[keep], merged[keep]
        # distinct inputs in signal order, -1 padded
        merged[:, 1:][merged[:, 1:] == merged[:, :-1]] = -1
        merged = np.sort(np.where(merged < 0, n, merged), axis=1)[:, :6]
        new_ins = np.where(merged == n, -1, merged)
        tab[u] = _compose(tab[u], ins[u], slot, tab[v], ins[v], new_ins)
        ins[u] = new_ins
        readers[v] = 0
    layers = []
    for start, layer in zip(net.layer_starts, net.layers):
        if isinstance(layer, Binarized):
            layers.append(layer)
            continue
        rows = slice(start, start + len(layer))
        k = int(((ins[rows] >= 0) * np.arange(1, 7)).max(initial=0))  # slots are positional
        # unused slots read input 0 of the node (or signal 0); the table ignores them
        filler = np.where(ins[rows, :1] >= 0, ins[rows, :1], 0)
        layers.append(Layer(np.where(ins[rows, :k] >= 0, ins[rows, :k], filler), tab[rows] & _mask(k)))
    return prune(Network(nin, layers, net.outputs, net.head, net.encoder, dict(net.meta)).validate())


def _compose(tu, iu, slot, tv, iv, w):
    """Tables of readers u with node v (read at ``slot``) substituted, over inputs ``w``."""
    out = np.zeros(len(tu), dtype=np.uint64)
    rows, weight = np.arange(len(tu)), np.arange(6)
    # slot j of u and of v reads w[pos[j]]; position 6 stands for an empty slot, which reads 0
    pos_v = np.where((iv[:, :, None] == w[:, None, :]) & (iv[:, :, None] >= 0), weight, 6).min(axis=2)
    pos_u = np.where((iu[:, :, None] == w[:, None, :]) & (iu[:, :, None] >= 0), weight, 6).min(axis=2)
    for addr in range(64):
        bit = np.append((addr >> weight) & 1, 0)
        v_val = (tv >> (bit[pos_v] << weight).sum(axis=1).astype(np.uint64)) & _ONE
        u_bits = bit[pos_u]
        u_bits[rows, slot] = v_val.astype(np.int64)
        out |= ((tu >> (u_bits << weight).sum(axis=1).astype(np.uint64)) & _ONE) << np.uint64(addr)
    return out


PIPELINE = (fold, absorb_inverters, prune, pack_luts)


def optimize(net: Network, lut_k: int = 4) -> Network:
    """The default pass pipeline of ``compile`` (-O1), packing LUTs of up to ``lut_k`` inputs,
    run again while a round removes nodes: packing leaves gates that ``fold`` turns into wires
    or duplicates, and those free more merges (the conv examples lose 3-9 % of their nodes in
    a second round). A round that removes nothing is dropped, so a network the first round
    left at its fixed point comes out as that round made it."""
    for _, net in optimize_steps(net, lut_k):
        pass
    return net


def optimize_steps(net: Network, lut_k: int = 4) -> Iterator[tuple[str, Network]]:
    """``(pass name, network after it)`` for each pass ``optimize`` keeps, in order; the last
    network is ``optimize``'s result. Passes of round 2 on are named ``"fold #2"`` and so on."""
    for number in count(1):
        steps, out = [], net
        for step in PIPELINE:
            out = pack_luts(out, lut_k) if step is pack_luts else step(out)
            steps.append((step.__name__ if number == 1 else f"{step.__name__} #{number}", out))
        if number > 1 and out.n_nodes >= net.n_nodes:
            return
        yield from steps
        net = out


_LUT4S = np.array([0, 1, 1, 1, 1, 3, 7])  # by inputs used: above 4, 2^(k-4) LUT4s and a mux tree


def lut4_estimate(net: Network) -> int:
    """LUT4s the live LUT nodes would take one by one, before synthesis merges any.

    Binarized neurons are left out: their cost is the popcount's (``hdl.binarized.cost``).
    """
    live = live_signals(net)
    return sum(int(_LUT4S[depends(layer).sum(axis=1)][live[start:start + len(layer)]].sum())
               for start, layer in zip(net.layer_starts, net.layers) if isinstance(layer, Layer))
