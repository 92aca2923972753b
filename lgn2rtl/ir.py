"""The network IR every part of lgn2rtl reads.

A network is a stack of layers of k-input LUT nodes over numbered *signals*.
Signals ``0 .. n_inputs-1`` are the model inputs; the nodes of layer 0 come
next, then those of layer 1, and so on. A node may read any signal made
before its own layer (model inputs or nodes of earlier layers), which makes
the network acyclic by construction. ``outputs`` lists the signals the
GroupSum head counts, grouped contiguously by class.

A layer is either a ``Layer`` of LUT nodes or a ``Binarized`` layer of BNN
neurons; the two kinds mix freely (a BNN front end feeding logic gates).

Node semantics (docs/semantics.md): ``out = (T >> addr) & 1`` with
``addr = sum(in[m] << m)``, so ``in[0]`` is the least significant address bit.
A binarized neuron reads bits as ±1 values (bit 1 = +1, bit 0 = -1) and fires
iff ``popcount(XNOR(x, w)) >= theta``.

A ``Recurrent`` model wraps a Network as a cell that reads [x_t; h_{t-1}] and names the
signals that become h_t (docs/recurrent.md).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import UserError
from .limits import MAX_SIGNALS

MAX_K = 6  # a truth table must fit one uint64


class ModelError(UserError, ValueError):
    """A model, or a file that should hold one, breaks the contract."""


# the op table of docs/semantics.md, by difflogic/torchlogix op id
OP_NAMES = ("0", "a&b", "a&~b", "a", "~a&b", "b", "a^b", "a|b",
            "~(a|b)", "~(a^b)", "~b", "a|~b", "~a", "~a|b", "~(a&b)", "1")


def op_table(op: int) -> int:
    """Truth table of difflogic/torchlogix op ``op`` as a 2-LUT (in[0] = a, in[1] = b)."""
    table = 0
    for addr in range(4):
        a, b = addr & 1, addr >> 1
        table |= ((op >> (3 - (2 * a + b))) & 1) << addr
    return table


class _Rows:
    """What Layer and Binarized share: a row of ``inputs`` (signal ids) per node."""
    inputs: np.ndarray

    def __len__(self) -> int:
        return self.inputs.shape[0]


@dataclass(frozen=True)
class Layer(_Rows):
    """``n`` nodes with ``k`` inputs each: ``inputs`` [n, k] signal ids, ``tables`` [n] uint64."""
    inputs: np.ndarray
    tables: np.ndarray

    @property
    def k(self) -> int:
        return self.inputs.shape[1]


@dataclass(frozen=True)
class Binarized(_Rows):
    """``n`` BNN neurons of fan-in ``F``: ``inputs`` [n, F] signal ids, ``signs`` [n, F] uint8, ``thresholds`` [n] int64.

    Bit 1 stands for +1 and bit 0 for -1, in inputs, weights (``signs``) and
    outputs alike. Neuron j outputs 1 iff ``P >= thresholds[j]`` with
    ``P = popcount(XNOR(x[inputs[j]], signs[j]))``, the number of inputs that
    agree with their weight; the ±1 dot product is ``2P - F``. So
    ``theta <= 0`` is always on and ``theta > F`` always off. Batch norm and
    the sign activation fold into ``theta``; a negative BN scale is folded
    by complementing the weights (``popcount(XNOR(x, ~w)) = F - P``).
    """
    inputs: np.ndarray
    signs: np.ndarray
    thresholds: np.ndarray

    @property
    def fan_in(self) -> int:
        return self.inputs.shape[1]


@dataclass(frozen=True)
class GroupSum:
    """Class c's score is the popcount of output group c; ``count / tau + beta`` rescales it."""
    classes: int
    tau: float = 1.0
    beta: float = 0.0


@dataclass(frozen=True)
class Thermometer:
    """Input encoder: ``thresholds`` [features, levels]; bit ``f*levels + j`` is ``x[f] > thresholds[f, j]``."""
    thresholds: np.ndarray

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Raw features [N, features] to input bits [N, features*levels] (uint8)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.thresholds.shape[0]:
            raise ModelError(f"encoder expects features of shape [N, {self.thresholds.shape[0]}], got {list(x.shape)}")
        return (x[:, :, None] > self.thresholds[None]).reshape(len(x), -1).astype(np.uint8)

    def validate(self, n_inputs: int) -> None:
        """Raise ModelError unless the thresholds are finite, ascending and make ``n_inputs`` bits."""
        t = self.thresholds
        if not isinstance(t, np.ndarray) or t.ndim != 2 or not np.issubdtype(t.dtype, np.number):
            raise ModelError("encoder thresholds must be a numeric [features, levels] array")
        if t.size != n_inputs:
            raise ModelError(f"encoder makes {t.size} bits ({t.shape[0]} features x {t.shape[1]} levels) "
                             f"but the network has {n_inputs} inputs")
        # equal thresholds are allowed: quantile thermometers repeat them on skewed features
        if not np.all(np.isfinite(t)) or np.any(np.diff(t, axis=1) < 0):
            raise ModelError("encoder thresholds must be finite and ascending per feature")


@dataclass
class Network:
    n_inputs: int
    layers: list[Layer | Binarized]
    outputs: np.ndarray
    head: GroupSum
    encoder: Thermometer | None = None
    meta: dict = field(default_factory=dict)

    @property
    def layer_starts(self) -> np.ndarray:
        """First signal id of each layer, plus the total signal count at the end."""
        return np.cumsum([self.n_inputs] + [len(layer) for layer in self.layers])

    @property
    def n_signals(self) -> int:
        return int(self.layer_starts[-1])

    @property
    def n_nodes(self) -> int:
        return self.n_signals - self.n_inputs

    @property
    def group_size(self) -> int:
        return len(self.outputs) // self.head.classes

    def digest(self) -> str:
        """``sha256:<hex>`` of what the network computes (``meta`` aside): a design's manifest
        records it, so a command handed the design can tell whether it came from this model."""
        h = hashlib.sha256()
        for part in [np.array([self.n_inputs, len(self.layers), self.head.classes], dtype=np.int64),
                     np.array([self.head.tau, self.head.beta], dtype=np.float64), self.outputs.astype(np.int64)]:
            h.update(part.tobytes())
        for layer in self.layers:
            arrays = ([b"binarized", layer.signs.astype(np.uint8), layer.thresholds.astype(np.int64)]
                      if isinstance(layer, Binarized) else [b"luts", layer.tables.astype(np.uint64)])
            for part in [np.array(layer.inputs.shape, dtype=np.int64), layer.inputs.astype(np.int64), *arrays]:
                h.update(part if isinstance(part, bytes) else part.tobytes())
        if self.encoder is not None:
            h.update(b"thermometer" + self.encoder.thresholds.astype(np.float64).tobytes())
        return f"sha256:{h.hexdigest()}"

    def signal_layer(self) -> np.ndarray:
        """Layer that produces each signal; -1 for model inputs."""
        return np.repeat(np.arange(-1, len(self.layers)), [self.n_inputs] + [len(l) for l in self.layers])

    def validate(self) -> "Network":
        """Raise ModelError naming the first broken rule; return self when the network is sound."""
        if not _is_int(self.n_inputs) or self.n_inputs < 1:
            raise ModelError(f"n_inputs must be a positive integer, got {self.n_inputs!r}")
        if self.n_inputs > MAX_SIGNALS:
            raise ModelError(f"n_inputs is {self.n_inputs:,}; lgn2rtl handles at most {MAX_SIGNALS:,} signals "
                             "(inputs and nodes), more than the largest FPGA holds")
        if not self.layers or any(len(layer) == 0 for layer in self.layers):
            raise ModelError("empty network: it needs at least one layer, and every layer at least one node")
        starts = self.layer_starts
        total = int(starts[-1])
        if total > MAX_SIGNALS:
            raise ModelError(f"the network has {total:,} signals (inputs and nodes); "
                             f"lgn2rtl handles at most {MAX_SIGNALS:,}, more than the largest FPGA holds")
        for i, layer in enumerate(self.layers):
            _check_int_array(layer.inputs, f"layer {i} inputs", ndim=2)
            if isinstance(layer, Binarized):
                _check_binarized(layer, i)
            else:
                _check_luts(layer, i)
            bad = np.argwhere((layer.inputs < 0) | (layer.inputs >= total))
            if bad.size:
                j, m = map(int, bad[0])
                raise ModelError(f"layer {i} node {j} input {m}: signal {int(layer.inputs[j, m])} "
                                 f"is out of range (the network has signals 0..{total - 1})")
            bad = np.argwhere(layer.inputs >= starts[i])
            if bad.size:
                j, m = map(int, bad[0])
                raise ModelError(f"layer {i} node {j} input {m}: signal {int(layer.inputs[j, m])} is made "
                                 f"in layer {i} or later (forward reference or cycle)")
        if not _is_int(self.head.classes) or self.head.classes < 1:
            raise ModelError(f"GroupSum classes must be a positive integer, got {self.head.classes!r}")
        for name in ("tau", "beta"):
            v = getattr(self.head, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
                raise ModelError(f"GroupSum {name} must be a finite number, got {v!r}")
        if self.head.tau <= 0:
            raise ModelError(f"GroupSum tau must be positive, got {self.head.tau}")
        _check_int_array(self.outputs, "outputs", ndim=1)
        if len(self.outputs) == 0:
            raise ModelError("empty network: no outputs feed the GroupSum")
        if len(self.outputs) % self.head.classes:
            raise ModelError(f"GroupSum: {len(self.outputs)} outputs do not split into "
                             f"{self.head.classes} equal groups")
        bad = np.flatnonzero((self.outputs < 0) | (self.outputs >= total))
        if bad.size:
            j = int(bad[0])
            raise ModelError(f"output {j}: signal {int(self.outputs[j])} is out of range "
                             f"(the network has signals 0..{total - 1})")
        if self.encoder is not None:
            self.encoder.validate(self.n_inputs)
        return self


def _check_luts(layer: Layer, i: int) -> None:
    _check_int_array(layer.tables, f"layer {i} tables", ndim=1, unsigned_ok=True)
    n, k = layer.inputs.shape
    if layer.tables.shape != (n,):
        raise ModelError(f"layer {i}: {n} nodes but {layer.tables.shape[0]} truth tables")
    if not 0 <= k <= MAX_K:
        raise ModelError(f"layer {i}: nodes have {k} inputs; lgn2rtl supports 0..{MAX_K}")
    if k < MAX_K:
        big = np.flatnonzero(layer.tables.astype(np.uint64) >> np.uint64(1 << k))
        if big.size:
            j = int(big[0])
            raise ModelError(f"layer {i} node {j}: truth table {int(layer.tables[j]):#x} "
                             f"has bits beyond the {1 << k} entries of a {k}-input LUT")


def _check_binarized(layer: Binarized, i: int) -> None:
    n, fan_in = layer.inputs.shape
    if fan_in < 1:
        raise ModelError(f"layer {i}: binarized neurons need at least one input")
    if not isinstance(layer.signs, np.ndarray) or layer.signs.shape != (n, fan_in) or not (
            np.issubdtype(layer.signs.dtype, np.integer) or layer.signs.dtype == np.bool_):
        raise ModelError(f"layer {i} signs must be a 0/1 integer array of the inputs' shape {[n, fan_in]}, got "
                         f"{getattr(layer.signs, 'dtype', type(layer.signs).__name__)} "
                         f"{list(getattr(layer.signs, 'shape', []))}")
    bad = np.argwhere((layer.signs != 0) & (layer.signs != 1))
    if bad.size:
        j, m = map(int, bad[0])
        raise ModelError(f"layer {i} node {j} sign {m} is {layer.signs[j, m]}; "
                         "signs are bits (1 = weight +1, 0 = weight -1)")
    _check_int_array(layer.thresholds, f"layer {i} thresholds", ndim=1)
    if layer.thresholds.shape != (n,):
        raise ModelError(f"layer {i}: {n} neurons but {layer.thresholds.shape[0]} thresholds")


def from_gates(n_inputs: int, ids: np.ndarray, inputs: np.ndarray, tables: np.ndarray,
               outputs: np.ndarray, head: GroupSum, **kw) -> Network:
    """Build a layered Network from nodes named by arbitrary ids in any order.

    ``ids`` [n] names each node (ids below ``n_inputs`` are the model inputs and
    may not be reused); ``inputs`` [n, k] and ``outputs`` refer to those names.
    Each node lands in layer ``1 + max(layer of its inputs)``, inputs at -1.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        raise ModelError("empty network: it has no nodes")
    inputs = np.asarray(inputs, dtype=np.int64).reshape(len(ids), -1)
    tables = np.asarray(tables, dtype=np.uint64)
    unique, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise ModelError(f"node id {int(unique[counts > 1][0])} is defined twice")
    low = np.flatnonzero(ids < n_inputs)
    if low.size:
        raise ModelError(f"node id {int(ids[low[0]])} collides with the model inputs 0..{n_inputs - 1}")
    # index of each name: inputs map to -1-id so they stay distinguishable
    order = np.argsort(ids)
    sorted_ids = ids[order]

    def resolve(names: np.ndarray, what: str) -> np.ndarray:
        pos = np.searchsorted(sorted_ids, names)
        pos_c = np.minimum(pos, len(ids) - 1)
        found = sorted_ids[pos_c] == names
        ok = found | ((names >= 0) & (names < n_inputs))
        if not np.all(ok):
            bad = np.argwhere(~ok)[0]
            raise ModelError(f"{what(*bad)} refers to id {int(names[tuple(bad)])}, which is neither "
                             f"a model input (0..{n_inputs - 1}) nor a node")
        return np.where(found, order[pos_c], -1 - names)

    src = resolve(inputs, lambda j, m=0: f"node {int(ids[j])} input {m}")
    outs = resolve(np.asarray(outputs, dtype=np.int64), lambda j: f"output {j}")
    level = _levels(src, ids)
    n_layers = int(level.max()) + 1
    new_id = np.empty(len(ids), dtype=np.int64)
    by_level = np.argsort(level, kind="stable")
    counts = np.bincount(level, minlength=n_layers)
    new_id[by_level] = n_inputs + np.arange(len(ids))

    def renumber(x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, new_id[np.maximum(x, 0)], -1 - x)

    layers, start = [], 0
    for c in counts:
        sel = by_level[start:start + c]
        layers.append(Layer(renumber(src[sel]), tables[sel]))
        start += c
    return Network(n_inputs, layers, renumber(outs), head, **kw).validate()


def _levels(src: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Longest-path level of each node (Kahn's algorithm); raises on a cycle."""
    n = len(src)
    level = np.zeros(n, dtype=np.int64)
    deps = [sorted({int(s) for s in row if s >= 0}) for row in src]
    users: list[list[int]] = [[] for _ in range(n)]
    waiting = np.zeros(n, dtype=np.int64)
    for j, d in enumerate(deps):
        waiting[j] = len(d)
        for s in d:
            users[s].append(j)
    ready = [j for j in range(n) if waiting[j] == 0]
    done = 0
    while ready:
        j = ready.pop()
        done += 1
        for u in users[j]:
            level[u] = max(level[u], level[j] + 1)
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    if done != n:
        stuck = int(ids[np.flatnonzero(waiting)[0]])
        raise ModelError(f"node {stuck} is part of a cycle (it depends on itself)")
    return level


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_int_array(a, what: str, ndim: int, unsigned_ok: bool = False) -> None:
    if not isinstance(a, np.ndarray) or a.ndim != ndim or not np.issubdtype(a.dtype, np.integer):
        shape = getattr(a, "shape", None)
        raise ModelError(f"{what} must be a {ndim}-d integer array, got {type(a).__name__} "
                         f"{getattr(a, 'dtype', '')} {list(shape) if shape is not None else ''}".rstrip())


READOUTS = ("every", "end")  # when a recurrent model's head is read: after every step, or after a sequence's last


@dataclass
class Recurrent:
    """A recurrent cell: each step maps [x_t; h_{t-1}] to h_t and to the head's class scores.

    ``cell`` is a Network over ``n_x + len(init)`` inputs: signals ``0 .. n_x-1`` are the
    token's bits x_t, signals ``n_x .. n_x+len(init)-1`` the state h_{t-1} (``init`` before a
    sequence's first token). ``state[i]`` is the cell signal that becomes bit i of h_t; the
    cell's ``outputs`` and ``head`` are the GroupSum read at step t, after every step
    (``readout="every"``) or only after a sequence's last token (``"end"``).
    """
    n_x: int
    cell: Network
    state: np.ndarray
    init: np.ndarray
    readout: str = "end"
    meta: dict = field(default_factory=dict)

    @property
    def n_state(self) -> int:
        return len(self.init)

    @property
    def head(self) -> GroupSum:
        return self.cell.head

    def cell_with_state(self) -> Network:
        """The cell with h_t's signals after the head's bits in its outputs: what a pass must keep
        and what the hardware's logic core outputs. Its head is one group over all of them,
        since only the split at ``len(cell.outputs)`` means anything."""
        c = self.cell
        return Network(c.n_inputs, c.layers, np.concatenate([c.outputs, self.state]), GroupSum(1), meta=c.meta)

    def with_cell(self, cell: Network) -> "Recurrent":
        """This model with ``cell``, a ``cell_with_state()`` rewritten by passes, split back."""
        n = len(self.cell.outputs)
        return Recurrent(self.n_x, Network(cell.n_inputs, cell.layers, cell.outputs[:n], self.head, meta=cell.meta),
                         cell.outputs[n:], self.init, self.readout, self.meta)

    def digest(self) -> str:
        """``sha256:<hex>`` of what the model computes: the cell's digest and the recurrence."""
        h = hashlib.sha256(self.cell.digest().encode())
        h.update(np.array([self.n_x], dtype=np.int64).tobytes() + self.readout.encode())
        h.update(self.state.astype(np.int64).tobytes() + b"init" + self.init.astype(np.uint8).tobytes())
        return f"sha256:{h.hexdigest()}"

    def validate(self) -> "Recurrent":
        """Raise ModelError naming the first inconsistent width or value; return self when sound."""
        if not _is_int(self.n_x) or self.n_x < 1:
            raise ModelError(f"recurrent: token bits n_x must be a positive integer, got {self.n_x!r}")
        if not (isinstance(self.init, np.ndarray) and self.init.dtype == np.bool_):
            _check_int_array(self.init, "recurrent init", ndim=1)
        if len(self.init) == 0:
            raise ModelError("recurrent: the state is empty (init has 0 bits); a cell without state is a "
                             "feed-forward Network")
        bad = np.flatnonzero((self.init != 0) & (self.init != 1))
        if bad.size:
            raise ModelError(f"recurrent init bit {int(bad[0])} is {int(self.init[bad[0]])}; the initial state is bits (0/1)")
        _check_int_array(self.state, "recurrent state", ndim=1)
        if len(self.state) != len(self.init):
            raise ModelError(f"recurrent: state names {len(self.state)} next-state signals but init has "
                             f"{len(self.init)} bits; they must be equally wide")
        if self.readout not in READOUTS:
            raise ModelError(f"recurrent readout {self.readout!r} is not one of {', '.join(READOUTS)}")
        if not isinstance(self.cell, Network):
            raise ModelError(f"recurrent cell must be a Network, got {type(self.cell).__name__}")
        if self.cell.n_inputs != self.n_x + len(self.init):
            raise ModelError(f"recurrent: the cell reads {self.cell.n_inputs!r} inputs but x_t ({self.n_x} bits) "
                             f"and h_t-1 ({len(self.init)} bits) make {self.n_x + len(self.init)}")
        if self.cell.encoder is not None:
            raise ModelError("recurrent: a thermometer encoder on the cell is not supported; encode the tokens first")
        self.cell.validate()
        bad = np.flatnonzero((self.state < 0) | (self.state >= self.cell.n_signals))
        if bad.size:
            j = int(bad[0])
            raise ModelError(f"recurrent state bit {j}: signal {int(self.state[j])} is out of range "
                             f"(the cell has signals 0..{self.cell.n_signals - 1})")
        return self
