"""Golden model: exact integer class scores, bit-sliced 64 samples per uint64 word.

Every hardware check compares against this. Scores are the GroupSum popcounts
(integers); the class is the lowest index of the maximum score.

Three things make it fast without changing any result: samples go through in
chunks, so the [signals, words] array stays small; the 2-input gates of a
layer are grouped by truth table and each group is one or two bitwise numpy
operations; and each class's group is counted bit-sliced with carry-save
adders, so only about log2(group size) bit planes per class are unpacked.
A ``Plan`` holds that grouping; build one to evaluate many batches.
Binarized layers are counted on unpacked bits by one float32 matrix product
per block of samples (exact: the ±1 sums are integers far below 2**24).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conv import Conv, ConvNetwork, field_values, windows
from .ir import Binarized, ModelError, Network, Recurrent
from .passes import live_signals

_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
# Bytes of the [signals, words] array per chunk and samples per packing pass: large enough
# to amortize numpy's per-call cost, small enough to stay in cache (benchmarks/golden_speed.py).
CHUNK_BYTES = 16 << 20
PACK_SAMPLES = 4096

# 2-input truth table -> (bitwise op, invert a first, invert b first, invert the result);
# constants and single-input tables are handled in _gate
_GATES = {
    1: (np.bitwise_or, False, False, True), 2: (np.bitwise_and, False, True, False),
    4: (np.bitwise_and, True, False, False), 6: (np.bitwise_xor, False, False, False),
    7: (np.bitwise_and, False, False, True), 8: (np.bitwise_and, False, False, False),
    9: (np.bitwise_xor, False, False, True), 11: (np.bitwise_or, False, True, False),
    13: (np.bitwise_or, True, False, False), 14: (np.bitwise_or, False, False, False),
}


def pack(x: np.ndarray) -> np.ndarray:
    """Bits [N, n] (0/1) to words [n, ceil(N/64)] uint64; sample s is bit s%64 of word s//64."""
    words = np.empty((x.shape[1], -(-x.shape[0] // 64)), dtype=np.uint64)
    for lo in range(0, x.shape[0], PACK_SAMPLES):
        _pack_into(x[lo:lo + PACK_SAMPLES], words[:, lo // 64:(lo + PACK_SAMPLES) // 64])
    return words


def _pack_into(x: np.ndarray, out: np.ndarray) -> None:
    """Pack bits [m, n] into ``out`` [n, ceil(m/64)]: bytes of 8 samples, then one byte transpose."""
    m, n = x.shape
    rows, cols = out.shape[1] * 64, -(-n // 8) * 8
    if x.shape != (rows, cols) or x.dtype != np.uint8 or not x.flags.c_contiguous:
        padded = np.zeros((rows, cols), dtype=np.uint8)
        padded[:m, :n] = x
        x = padded
    # row r of group i holds sample 8i+r as 8-byte words; byte j of word f is input 8f+j,
    # so OR-ing row r shifted by r builds the packed byte of 8 samples for 8 inputs at once
    eight = x.view("<u8").reshape(rows // 8, 8, cols // 8)
    acc = eight[:, 0].copy()
    tmp = np.empty_like(acc)
    for r in range(1, 8):
        acc |= np.left_shift(eight[:, r], np.uint64(r), out=tmp)
    out.view(np.uint8)[...] = acc.view(np.uint8).T[:n]


def unpack(words: np.ndarray, n_samples: int) -> np.ndarray:
    """Inverse of ``pack``: words [n, W] to bits [N, n] uint8."""
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=1, bitorder="little")
    return bits[:, :n_samples].T


@dataclass(frozen=True)
class _Step:
    """Nodes written to rows start.. of the signal array, reading rows ``inputs`` [n, k].

    For k = 2 every node has truth table ``table``; otherwise ``tables`` [n] go through a mux tree.
    """
    start: int
    inputs: np.ndarray
    table: int | None
    tables: np.ndarray


@dataclass(frozen=True)
class _Neurons:
    """Binarized neurons written to rows start.. of the signal array, reading rows ``columns``.

    ``weights`` [columns, neurons] holds each neuron's ±1 weight on each column read.
    """
    start: int
    columns: np.ndarray
    weights: np.ndarray
    fan_in: int
    thresholds: np.ndarray

    @classmethod
    def of(cls, layer: Binarized, start: int, inputs: np.ndarray) -> "_Neurons":
        """``layer``'s neurons reading rows ``inputs`` [n, F] (the layer's inputs, renumbered)."""
        columns, col = np.unique(inputs, return_inverse=True)
        weights = np.zeros((len(columns), len(inputs)), dtype=np.float32)
        np.add.at(weights, (col.reshape(inputs.shape), np.arange(len(inputs))[:, None]),
                  2 * layer.signs.astype(np.float32) - 1)
        return cls(start, columns, weights, layer.fan_in, layer.thresholds.astype(np.int64))

    def counts(self, bits: np.ndarray) -> np.ndarray:
        """popcount(XNOR) [N, neurons] of the columns' bits [N, columns]: (dot product + F) / 2."""
        dot = (2 * bits.astype(np.float32) - 1) @ self.weights
        return (dot.astype(np.int64) + self.fan_in) // 2

    def eval(self, sig: np.ndarray) -> None:
        """Write the neurons' output rows of ``sig`` from the rows they read."""
        dst = sig[self.start:self.start + self.weights.shape[1]]
        block = PACK_SAMPLES // 64
        for w in range(0, sig.shape[1], block):
            words = sig[self.columns, w:w + block]
            fired = self.counts(unpack(words, words.shape[1] * 64)) >= self.thresholds
            _pack_into(fired.astype(np.uint8), dst[:, w:w + block])


class Plan:
    """The order in which to evaluate ``net``: nodes renumbered into rows so that every step
    writes one contiguous block, 2-input nodes of a layer sorted by truth table.

    With ``skip_dead`` nodes no output depends on are left out; scores do not change.
    """

    def __init__(self, net: Network, skip_dead: bool = True):
        keep = live_signals(net) if skip_dead else np.ones(net.n_signals, dtype=bool)
        self.n_inputs = net.n_inputs
        self.classes = net.head.classes
        self.rows = np.full(net.n_signals, -1, dtype=np.int64)  # row of each signal, -1 if skipped
        self.rows[:net.n_inputs] = np.arange(net.n_inputs)
        self.steps: list[_Step] = []
        row = net.n_inputs
        for start, layer in zip(net.layer_starts, net.layers):
            nodes = np.flatnonzero(keep[start:start + len(layer)])
            if isinstance(layer, Binarized):
                if len(nodes):
                    part = Binarized(layer.inputs[nodes], layer.signs[nodes], layer.thresholds[nodes])
                    self.steps.append(_Neurons.of(part, row, self.rows[part.inputs]))
                self.rows[start + nodes] = row + np.arange(len(nodes))
                row += len(nodes)
                continue
            tables = layer.tables[nodes].astype(np.uint64)
            inputs = self.rows[layer.inputs[nodes]]
            if layer.k:
                # by truth table (k = 2), then by first input: np.take reading rows in order
                # is several times faster than reading them at random
                order = np.lexsort([inputs[:, 0], tables] if layer.k == 2 else [inputs[:, 0]])
                nodes, tables, inputs = nodes[order], tables[order], inputs[order]
            self.rows[start + nodes] = row + np.arange(len(nodes))
            if layer.k == 2:
                cuts = np.flatnonzero(np.diff(tables)) + 1
                for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(nodes)]):
                    if hi > lo:
                        self.steps.append(_Step(row + int(lo), inputs[lo:hi], int(tables[lo]), tables[lo:hi]))
            elif len(nodes):
                self.steps.append(_Step(row, inputs, None, tables))
            row += len(nodes)
        self.n_rows = row
        self.outputs = self.rows[net.outputs]

    def eval_rows(self, x: np.ndarray, words: int | None = None) -> np.ndarray:
        """Signal rows [n_rows, words] for bits x [m, n_inputs]; samples past m are zeros."""
        words = words or -(-len(x) // 64)
        sig = np.empty((self.n_rows, words), dtype=np.uint64)
        for lo in range(0, len(x), PACK_SAMPLES):
            _pack_into(x[lo:lo + PACK_SAMPLES], sig[:self.n_inputs, lo // 64:(lo + PACK_SAMPLES) // 64])
        sig[:self.n_inputs, -(-len(x) // 64):] = 0
        width = max((len(s.inputs) for s in self.steps if isinstance(s, _Step)), default=0)
        bufs = np.empty((2, width, words), dtype=np.uint64)
        for step in self.steps:
            if isinstance(step, _Neurons):
                step.eval(sig)
                continue
            dst = sig[step.start:step.start + len(step.inputs)]
            if step.table is None:
                dst[...] = _lut(step.tables, [sig[step.inputs[:, m]] for m in range(step.inputs.shape[1])], words)
            else:
                _gate(step.table, sig, step.inputs, dst, bufs[:, :len(dst)])
        return sig

    def scores(self, x: np.ndarray, chunk: int | None = None) -> np.ndarray:
        """Integer GroupSum scores [N, classes] (int64), ``chunk`` samples at a time.

        ``chunk`` is rounded up to a multiple of 64; by default a chunk's signal
        array takes about CHUNK_BYTES.
        """
        x = _check_bits(x, self.n_inputs)
        out = np.empty((len(x), self.classes), dtype=np.int64)
        if not len(x):
            return out
        words = -(-len(x) // 64)
        per_chunk = -(-chunk // 64) if chunk else max(1, CHUNK_BYTES // (8 * self.n_rows))
        per_chunk = -(-words // -(-words // per_chunk))  # equal chunks: the last one is not a sliver
        step = per_chunk * 64
        for lo in range(0, len(x), step):
            sig = self.eval_rows(x[lo:lo + step], per_chunk)
            planes = sig[self.outputs].reshape(self.classes, -1, per_chunk)
            out[lo:lo + step] = _count(planes)[:, :len(x) - lo].T
        return out


def _check_bits(x: np.ndarray, n_inputs: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise ModelError(f"inputs must have shape [N, {n_inputs}], got {list(x.shape)}")
    if x.dtype == np.bool_:
        return x.view(np.uint8)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ModelError("inputs must be 0/1 bits")
    return x


def _gate(table: int, sig: np.ndarray, inputs: np.ndarray, dst: np.ndarray, bufs: np.ndarray) -> None:
    """dst = 2-input gate ``table`` of rows inputs[:, 0] (a, address bit 0) and inputs[:, 1] (b)."""
    if table in (0, 15):
        dst[...] = _ONES if table else 0
        return
    # gather into buffers apart from sig: np.take copies its output when it overlaps the
    # source, and mode="clip" skips the bounds check that would also make it copy
    if table in (3, 5, 10, 12):  # ~b, ~a, a, b
        one = np.take(sig, inputs[:, int(table in (3, 12))], axis=0, out=bufs[0], mode="clip")
        if table in (3, 5):
            np.invert(one, out=dst)
        else:
            dst[...] = one
        return
    op, inv_a, inv_b, inv_out = _GATES[table]
    a = np.take(sig, inputs[:, 0], axis=0, out=bufs[0], mode="clip")
    b = np.take(sig, inputs[:, 1], axis=0, out=bufs[1], mode="clip")
    if inv_a:
        np.invert(a, out=a)
    if inv_b:
        np.invert(b, out=b)
    op(a, b, out=dst)
    if inv_out:
        np.invert(dst, out=dst)


def _lut(tables: np.ndarray, ins: list[np.ndarray], words: int) -> np.ndarray:
    """Evaluate LUTs by a mux tree: start from the 2^k table bits, fold one input per level."""
    addrs = np.arange(1 << len(ins), dtype=np.uint64)
    # vals[a] = all-ones where table bit a is set; broadcasting widens it to [n, words]
    vals = (((tables[None, :] >> addrs[:, None]) & np.uint64(1)) * _ONES)[:, :, None]
    for sel in ins:
        lo, hi = vals[0::2], vals[1::2]
        vals = lo ^ ((lo ^ hi) & sel[None])
    return np.broadcast_to(vals[0], (len(tables), words))


def _count(planes: np.ndarray) -> np.ndarray:
    """Popcount of each class's group per sample: planes [classes, g, W] -> counts [classes, W*64].

    Carry-save adders reduce the g planes of weight 1 to one plane per weight 2^j.
    """
    columns = [planes]  # columns[j]: [classes, m, W] planes of weight 2^j
    counts = np.zeros((planes.shape[0], planes.shape[2] * 64), dtype=np.int64)
    j = 0
    while j < len(columns):
        col = columns[j]
        while col.shape[1] > 1:
            t = col.shape[1] // 3
            if t:  # full adders on t triples
                a, b, c = col[:, :t], col[:, t:2 * t], col[:, 2 * t:3 * t]
                ab = a ^ b
                total, carry, rest = ab ^ c, (a & b) | (ab & c), col[:, 3 * t:]
            else:  # a half adder on the last two
                a, b = col[:, :1], col[:, 1:]
                total, carry, rest = a ^ b, a & b, col[:, :0]
            col = np.concatenate([total, rest], axis=1)
            if j + 1 == len(columns):
                columns.append(carry)
            else:
                columns[j + 1] = np.concatenate([columns[j + 1], carry], axis=1)
        if col.shape[1]:
            bits = np.unpackbits(np.ascontiguousarray(col[:, 0]).view(np.uint8), axis=1, bitorder="little")
            counts += bits.astype(np.int64) << j
        j += 1
    return counts


def eval_signals(net: Network, x: np.ndarray) -> np.ndarray:
    """Every signal's value for every sample, packed: [n_signals, ceil(N/64)] uint64."""
    plan = Plan(net, skip_dead=False)
    return plan.eval_rows(_check_bits(x, net.n_inputs))[plan.rows]


def binarized_counts(net: Network, x: np.ndarray) -> dict[int, np.ndarray]:
    """For each binarized layer (by index), every neuron's popcount(XNOR) [N, neurons] (int64).

    These are the pre-threshold sums: a ±1 model's dot product is ``2 * count - fan_in``.
    """
    x = _check_bits(x, net.n_inputs)
    sig = eval_signals(net, x)
    counts = {}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Binarized):
            neurons = _Neurons.of(layer, 0, layer.inputs)
            counts[i] = neurons.counts(unpack(sig[neurons.columns], len(x)))
    return counts


def feature_map(model: ConvNetwork, x: np.ndarray) -> np.ndarray:
    """The bits [N, C*H*W] the dense head of ``model`` reads for images x [N, n_inputs]: each stage
    evaluated on the image as conv.py defines it, position by position, independently of ``lower``."""
    x = _check_bits(x, model.n_inputs)
    model.validate()
    out = []
    for lo in range(0, len(x), PACK_SAMPLES):
        fmap = x[lo:lo + PACK_SAMPLES, model.input_ids()].astype(np.uint8)  # [N, C, H, W]
        for stage in model.stages:
            if isinstance(stage, Conv):
                fmap = _conv(stage, fmap)
            else:
                fmap = windows(fmap, stage.size, stage.stride, stage.padding, 0).max(axis=(-2, -1))
        out.append(fmap.reshape(len(fmap), -1))
    return np.concatenate(out) if out else np.zeros((0, model.dense.n_inputs), dtype=np.uint8)


def _conv(conv: Conv, fmap: np.ndarray) -> np.ndarray:
    """Feature map [N, C, H, W] -> [N, out_channels, oh, ow]: each channel's LUT levels at every position."""
    prev = field_values(conv, fmap, 0)  # [O, leaves, N, oh, ow]
    o = np.arange(conv.out_channels)[:, None, None]
    for level in conv.levels:
        ins = prev[o, level.inputs].astype(np.uint64)  # [O, n, k, N, oh, ow]
        addr = (ins << np.arange(level.k, dtype=np.uint64)[:, None, None, None]).sum(axis=2, dtype=np.uint64)
        prev = ((level.tables.astype(np.uint64)[:, :, None, None, None] >> addr) & np.uint64(1)).astype(np.uint8)
    return np.moveaxis(prev[:, 0], 0, 1)


def scores(net: Network | ConvNetwork, x: np.ndarray, chunk: int | None = None, skip_dead: bool = True) -> np.ndarray:
    """Integer GroupSum scores [N, classes] (int64) for input bits x [N, n_inputs]."""
    if isinstance(net, ConvNetwork):
        x, net = feature_map(net, x), net.dense
    return Plan(net, skip_dead).scores(x, chunk)


def predict(net: Network | ConvNetwork, x: np.ndarray, chunk: int | None = None,
            skip_dead: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(scores [N, classes], class [N]); ties go to the lowest class index."""
    s = scores(net, x, chunk, skip_dead)
    return s, np.argmax(s, axis=1)


def predict_features(net: Network | ConvNetwork, features: np.ndarray, chunk: int | None = None,
                     skip_dead: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``predict`` on raw features [N, n_features]: the model's thermometer encoder, then the network."""
    if net.encoder is None:
        raise ModelError("the model has no thermometer encoder to turn raw features into input bits")
    return predict(net, net.encoder.encode(features), chunk, skip_dead)


def sequences(model: Recurrent, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over sequences x [N, T, n_x] (0/1) step by step from its initial state:
    (scores [N, T, classes] int64, the head's counts after each step; states [N, T, n_state]
    uint8, h_t after each step).

    Sequences of different lengths share one array: a step depends only on the steps before
    it, so whatever pads a short sequence changes nothing up to its last step.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != model.n_x:
        raise ModelError(f"sequences must have shape [N, T, {model.n_x}], got {list(x.shape)}")
    n, steps = x.shape[:2]
    # every signal kept: the next state reads nodes the head does not
    plan = Plan(model.cell, skip_dead=False)
    state_rows = plan.rows[model.state]
    h = np.broadcast_to(model.init.astype(np.uint8), (n, model.n_state))
    scores = np.empty((n, steps, model.head.classes), dtype=np.int64)
    states = np.empty((n, steps, model.n_state), dtype=np.uint8)
    for t in range(steps):
        bits = np.concatenate([_check_bits(x[:, t], model.n_x), h], axis=1)
        sig = plan.eval_rows(bits)
        planes = sig[plan.outputs].reshape(model.head.classes, -1, sig.shape[1])
        scores[:, t] = _count(planes)[:, :n].T
        h = states[:, t] = unpack(sig[state_rows], n)
    return scores, states
