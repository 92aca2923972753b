"""Convolutional logic-gate networks: the IR that keeps weight sharing, and its unrolled lowering.

A ``ConvNetwork`` reads an image of ``in_shape = (channels, height, width)`` bits
(model input bit ``c*H*W + y*W + x``, torch's channel-major flatten), runs it
through ``stages`` (``Conv`` and ``OrPool``), flattens the last feature map the
same way and feeds it to ``dense``, an ordinary ``Network`` (dense layers and
GroupSum) whose inputs are the flattened bits.

A ``Conv`` holds one set of LUT nodes per output channel, shared by every
position: the *field* lists the leaves each channel reads, as (channel, dy, dx)
inside the kernel window, and ``levels`` the LUT nodes, level 0 reading leaves
and level l reading level l-1's nodes; the last level is one node, the output
channel's bit. Geometry is torchlogix's (and torch's): the input is padded with
``padding`` zeros on each side, the window starts at ``stride * (oy, ox)`` of the
padded input, ``out = (in + 2*padding - kernel) // stride + 1``.

An ``OrPool`` is torchlogix's ``OrPooling2d`` in eval mode (``max_pool2d`` on
bits): the OR of each window, padding counting as 0. Pooling must tile its input
exactly (no rows dropped), and torch's own rule ``padding <= size / 2`` holds.

``lower`` unrolls the whole model into a flat ``Network``: one copy of each
channel's nodes per output position, each pooling window a chain of 2-input ORs. Nodes whose leaves fall in the zero padding
get that input fixed to 0 in their truth table, so the flat network needs no
constant signals.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .ir import MAX_K, Binarized, Layer, ModelError, Network, Thermometer

Pair = tuple[int, int]


@dataclass(frozen=True)
class TreeLevel:
    """One level of every output channel's nodes: ``inputs`` [out_channels, n, k] (level 0: leaf
    indices into the field; later levels: node indices of the level before), ``tables`` [out_channels, n]."""
    inputs: np.ndarray
    tables: np.ndarray

    @property
    def k(self) -> int:
        return self.inputs.shape[2]


@dataclass(frozen=True)
class Conv:
    """A logic convolution: ``field`` [out_channels, leaves, 3] holds each leaf's (channel, dy, dx)."""
    kernel: Pair
    stride: Pair
    padding: Pair
    field: np.ndarray
    levels: tuple[TreeLevel, ...]

    @property
    def out_channels(self) -> int:
        return self.field.shape[0]


@dataclass(frozen=True)
class OrPool:
    """OR over ``size`` windows every ``stride``, the input padded with ``padding`` zeros."""
    size: Pair
    stride: Pair
    padding: Pair


@dataclass
class ConvNetwork:
    """Conv and OrPool ``stages`` over an ``in_shape`` image, then the ``dense`` Network on the flattened map.

    With an ``encoder`` (torchlogix's thermometer with ``feature_dim=1``) the model input is raw
    pixels, ``in_shape[0] / levels`` channels of them, and image channel ``c*levels + j`` is level
    ``j`` of raw channel ``c``; see ``input_ids`` for where those bits sit in the input bus."""
    in_shape: tuple[int, int, int]
    stages: list[Conv | OrPool]
    dense: Network
    meta: dict = dataclasses.field(default_factory=dict)
    encoder: Thermometer | None = None

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.in_shape))

    def input_ids(self) -> np.ndarray:
        """[C, H, W]: which model input bit each image bit is. Without an encoder, bit
        ``c*H*W + y*W + x``. With one of L levels the encoder orders its bits feature by feature
        (``Thermometer``: bit ``f*L + j``), the features being the raw pixels ``c*H*W + y*W + x``,
        so image channel ``c*L + j`` at (y, x) is bit ``(c*H*W + y*W + x)*L + j``."""
        c, h, w = self.in_shape
        if self.encoder is None:
            return np.arange(c * h * w, dtype=np.int64).reshape(self.in_shape)
        levels = self.encoder.thresholds.shape[1]
        pixels = np.arange(c // levels * h * w, dtype=np.int64).reshape(c // levels, 1, h, w)
        return (pixels * levels + np.arange(levels)[:, None, None]).reshape(self.in_shape)

    def shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of the input and after each stage; the stages must be valid."""
        shapes = [tuple(self.in_shape)]
        for stage in self.stages:
            shapes.append(out_shape(stage, shapes[-1]))
        return shapes

    def validate(self) -> "ConvNetwork":
        """Raise ModelError naming the first broken rule, quoting the bad value; return self when sound."""
        if len(self.in_shape) != 3 or not all(_positive(n) for n in self.in_shape):
            raise ModelError(f"input shape must be 3 positive integers (channels, height, width), got {self.in_shape!r}")
        if not self.stages:
            raise ModelError("a convolutional network needs at least one Conv or OrPool stage")
        if self.encoder is not None:
            self._check_encoder()
        shape = tuple(int(n) for n in self.in_shape)
        for i, stage in enumerate(self.stages):
            shape = check_stage(stage, shape, f"stage {i} ({'conv' if isinstance(stage, Conv) else 'or-pool'})")
        self.dense.validate()
        if self.dense.encoder is not None:
            raise ModelError("the dense head of a convolutional network cannot have an input encoder")
        flat = int(np.prod(shape))
        if self.dense.n_inputs != flat:
            raise ModelError(f"the dense layers read {self.dense.n_inputs} inputs, but the last feature map is "
                             f"{shape[0]}x{shape[1]}x{shape[2]} = {flat} bits")
        return self

    def _check_encoder(self) -> None:
        t = self.encoder.thresholds
        c, h, w = (int(n) for n in self.in_shape)
        levels = t.shape[1] if isinstance(t, np.ndarray) and t.ndim == 2 else 0
        if levels < 1 or c % levels or t.shape[0] != c // levels * h * w:
            raise ModelError(f"encoder thresholds {list(getattr(t, 'shape', []))} do not fit the {c}x{h}x{w} image: "
                             f"they must be [raw channels x {h} x {w} pixels, levels], levels dividing {c}")
        self.encoder.validate(self.n_inputs)

    def lower(self) -> Network:
        """The flat Network this model computes: every channel's nodes copied to every position."""
        self.validate()
        flat = _FlatLayers(self.n_inputs)
        fmap = self.input_ids()
        for stage in self.stages:
            fmap = flat.conv(stage, fmap) if isinstance(stage, Conv) else flat.pool(stage, fmap)
        feat, base = fmap.reshape(-1), flat.next

        def renumber(s: np.ndarray) -> np.ndarray:
            # dense input i is feature bit i; its own nodes follow the conv nodes in order
            return np.where(s < len(feat), feat[np.minimum(s, len(feat) - 1)], s - len(feat) + base)

        layers = flat.layers + [dataclasses.replace(layer, inputs=renumber(layer.inputs)) for layer in self.dense.layers]
        meta = {**self.dense.meta, **self.meta, "lowered_from": "conv"}
        return Network(self.n_inputs, layers, renumber(self.dense.outputs), self.dense.head, self.encoder,
                       meta).validate()


def check_stage(stage: Conv | OrPool, shape: tuple[int, int, int], where: str) -> tuple[int, int, int]:
    """The shape ``stage`` makes of input ``shape``; ModelError naming ``where`` if it does not fit."""
    if isinstance(stage, Conv):
        _check_conv(stage, shape, where)
    elif isinstance(stage, OrPool):
        _check_pool(stage, shape, where)
    else:
        raise ModelError(f"{where} is a {type(stage).__name__}; stages are Conv or OrPool")
    return out_shape(stage, shape)


def positions(window: Pair, stride: Pair, padding: Pair, height: int, width: int) -> Pair:
    """Output height and width of a window sliding over a ``height`` x ``width`` input, torch's formula."""
    return tuple((n + 2 * p - k) // s + 1 for n, p, k, s in zip((height, width), padding, window, stride))


def out_shape(stage: Conv | OrPool, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(channels, height, width) that ``stage`` makes of ``shape``."""
    if isinstance(stage, Conv):
        return (stage.out_channels, *positions(stage.kernel, stage.stride, stage.padding, *shape[1:]))
    return (shape[0], *positions(stage.size, stage.stride, stage.padding, *shape[1:]))


def _positive(n) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1


def _check_pair(value, what: str, where: str, lowest: int) -> None:
    if (not isinstance(value, tuple) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= lowest for v in value)):
        raise ModelError(f"{where}: {what} must be two integers >= {lowest} (height, width), got {value!r}")


def check_window(window: Pair, stride: Pair, padding: Pair, shape: tuple[int, int, int], where: str) -> None:
    """Refuse, naming ``where``, a window, stride or padding that is malformed or does not fit ``shape``."""
    _check_pair(window, "window size", where, 1)
    _check_pair(stride, "stride", where, 1)
    _check_pair(padding, "padding", where, 0)
    h, w = shape[1] + 2 * padding[0], shape[2] + 2 * padding[1]
    if window[0] > h or window[1] > w:
        raise ModelError(f"{where}: window {window[0]}x{window[1]} is larger than its {shape[1]}x{shape[2]} input "
                         f"(padded to {h}x{w})")


def _check_conv(conv: Conv, shape: tuple[int, int, int], where: str) -> None:
    check_window(conv.kernel, conv.stride, conv.padding, shape, where)
    f = conv.field
    if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[2] != 3 or not np.issubdtype(f.dtype, np.integer) \
            or f.shape[0] < 1 or f.shape[1] < 1:
        raise ModelError(f"{where}: field must be an integer [out_channels, leaves, 3] array (channel, dy, dx), "
                         f"got {getattr(f, 'dtype', type(f).__name__)} {list(getattr(f, 'shape', []))}")
    for axis, (name, limit) in enumerate((("channel", shape[0]), ("dy", conv.kernel[0]), ("dx", conv.kernel[1]))):
        bad = np.argwhere((f[:, :, axis] < 0) | (f[:, :, axis] >= limit))
        if bad.size:
            o, j = map(int, bad[0])
            raise ModelError(f"{where}: output channel {o} leaf {j} reads {name} {int(f[o, j, axis])}; "
                             f"the {'input has channels' if axis == 0 else 'kernel has ' + name} 0..{limit - 1}")
    if not conv.levels:
        raise ModelError(f"{where}: no levels of LUT nodes")
    width = f.shape[1]
    for lv, level in enumerate(conv.levels):
        at = f"{where} level {lv}"
        ins, tables = level.inputs, level.tables
        if not isinstance(ins, np.ndarray) or ins.ndim != 3 or ins.shape[0] != f.shape[0] \
                or not np.issubdtype(ins.dtype, np.integer) or ins.shape[1] < 1:
            raise ModelError(f"{at}: inputs must be integer [{f.shape[0]}, nodes, k], "
                             f"got {getattr(ins, 'dtype', type(ins).__name__)} {list(getattr(ins, 'shape', []))}")
        if not 1 <= level.k <= MAX_K:
            raise ModelError(f"{at}: nodes have {level.k} inputs; lgn2rtl supports 1..{MAX_K}")
        if not isinstance(tables, np.ndarray) or tables.shape != ins.shape[:2] \
                or not np.issubdtype(tables.dtype, np.integer):
            raise ModelError(f"{at}: tables must be integer {list(ins.shape[:2])}, "
                             f"got {getattr(tables, 'dtype', type(tables).__name__)} {list(getattr(tables, 'shape', []))}")
        big = np.argwhere(tables.astype(np.uint64) >> np.uint64(1 << level.k) if level.k < MAX_K else tables < 0)
        if big.size:
            o, j = map(int, big[0])
            raise ModelError(f"{at}: output channel {o} node {j} truth table {int(tables[o, j]):#x} "
                             f"has bits beyond the {1 << level.k} entries of a {level.k}-input LUT")
        bad = np.argwhere((ins < 0) | (ins >= width))
        if bad.size:
            o, j, m = map(int, bad[0])
            reads = "leaves" if lv == 0 else f"level {lv - 1} nodes"
            raise ModelError(f"{at}: output channel {o} node {j} input {m} is {int(ins[o, j, m])}; "
                             f"it reads {reads} 0..{width - 1}")
        width = ins.shape[1]
    if width != 1:
        raise ModelError(f"{where}: the last level has {width} nodes per output channel; it must have 1")


def _check_pool(pool: OrPool, shape: tuple[int, int, int], where: str) -> None:
    check_window(pool.size, pool.stride, pool.padding, shape, where)
    for axis, name in enumerate(("height", "width")):
        if 2 * pool.padding[axis] > pool.size[axis]:
            raise ModelError(f"{where}: padding {pool.padding[axis]} is more than half the window's {name} "
                             f"{pool.size[axis]} (torch refuses it: a window could be all padding)")
        n = shape[1 + axis] + 2 * pool.padding[axis]
        if (n - pool.size[axis]) % pool.stride[axis]:
            raise ModelError(f"{where}: a {pool.size[0]}x{pool.size[1]} window every {pool.stride[axis]} does not "
                             f"tile the input's {name} {shape[1 + axis]} (padded to {n}): the last "
                             f"{(n - pool.size[axis]) % pool.stride[axis]} would be dropped")


def windows(ids: np.ndarray, window: Pair, stride: Pair, padding: Pair, fill) -> np.ndarray:
    """[..., C, H, W] -> [..., C, out_h, out_w, wh, ww]: every window of the ``fill``-padded array."""
    pad = [(0, 0)] * (ids.ndim - 2) + [(padding[0], padding[0]), (padding[1], padding[1])]
    padded = np.pad(ids, pad, constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=(-2, -1))
    return view[..., ::stride[0], ::stride[1], :, :]


def field_values(conv: Conv, fmap: np.ndarray, fill) -> np.ndarray:
    """[..., C, H, W] -> [out_channels, leaves, ..., out_h, out_w]: what each leaf reads at each position,
    the padding reading ``fill``."""
    win = windows(fmap, conv.kernel, conv.stride, conv.padding, fill)  # [..., C, oh, ow, kh, kw]
    # indexing C, kh and kw with [O, L] arrays, with slices between them, puts [O, L] first
    moved = np.moveaxis(win, (-5, -2, -1), (0, 1, 2))  # [C, kh, kw, ..., oh, ow]
    return moved[conv.field[:, :, 0], conv.field[:, :, 1], conv.field[:, :, 2]]


class _FlatLayers:
    """The flat network's layers as they are appended; ``next`` is the first free signal id."""

    def __init__(self, n_inputs: int):
        self.layers: list[Layer | Binarized] = []
        self.next = n_inputs

    def add(self, inputs: np.ndarray, tables: np.ndarray) -> np.ndarray:
        """Append nodes ``inputs`` [..., k] ``tables`` [...]; their signal ids, shaped like ``tables``."""
        shape = tables.shape
        self.layers.append(Layer(inputs.reshape(-1, inputs.shape[-1]).astype(np.int64),
                                 tables.reshape(-1).astype(np.uint64)))
        ids = np.arange(self.next, self.next + tables.size, dtype=np.int64).reshape(shape)
        self.next += tables.size
        return ids

    def conv(self, conv: Conv, fmap: np.ndarray) -> np.ndarray:
        """Signal ids [out_channels, oh, ow] of ``conv`` applied to signal ids ``fmap`` [C, H, W]."""
        leaves = np.moveaxis(field_values(conv, fmap, -1), 1, -1)  # [O, oh, ow, L]
        prev = leaves
        o = np.arange(conv.out_channels)[:, None, None, None, None]
        for lv, level in enumerate(conv.levels):
            ins = prev[o, np.arange(prev.shape[1])[:, None, None, None], np.arange(prev.shape[2])[:, None, None],
                       level.inputs[:, None, None]]  # [O, oh, ow, n, k]
            tables = np.broadcast_to(level.tables.astype(np.uint64)[:, None, None], ins.shape[:-1])
            if lv == 0:
                ins, tables = _zero_padded_inputs(ins, tables)
            prev = self.add(ins, tables)
        return prev[..., 0]

    def pool(self, pool: OrPool, fmap: np.ndarray) -> np.ndarray:
        """Signal ids [C, oh, ow] of the OR of each window, as a chain of 2-input ORs.

        A chain, as torchlogix's JSON export flattens OrPooling2d, not wider OR nodes: a 4-input OR
        is a full LUT4, so pack_luts can merge nothing into it, and on parts whose plan registers
        every layer (ECP5) Yosys puts a registered 2-input OR into the flip-flop's set/reset at no
        LUT cost (docs/conv.md, the measurements)."""
        win = windows(fmap, pool.size, pool.stride, pool.padding, -1)
        cells = win.reshape(*win.shape[:3], -1)
        # real cells first (a window is never all padding); a padding cell ORs in a 0, so its
        # link passes the chain through (T = in0) and the fold pass turns it into a wire
        cells = np.take_along_axis(cells, np.argsort(cells < 0, axis=-1, kind="stable"), axis=-1)
        chain = cells[..., 0]
        for i in range(1, cells.shape[-1]):
            pad = cells[..., i] < 0
            ins = np.stack([chain, np.where(pad, chain, cells[..., i])], axis=-1)
            chain = self.add(ins, np.where(pad, np.uint64(0b1010), np.uint64(0b1110)))
        return chain


def _zero_padded_inputs(ins: np.ndarray, tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs marked -1 (zero padding) fixed to 0 in the truth table, and wired to signal 0,
    which the new table ignores."""
    pad = ins < 0
    if not pad.any():
        return ins, tables
    k = ins.shape[-1]
    mask = (pad.astype(np.uint64) << np.arange(k, dtype=np.uint64)).sum(axis=-1, dtype=np.uint64)
    addr = np.arange(1 << k, dtype=np.uint64)
    bits = (tables[..., None] >> (addr & ~mask[..., None])) & np.uint64(1)
    return np.where(pad, 0, ins), (bits << addr).sum(axis=-1, dtype=np.uint64)
