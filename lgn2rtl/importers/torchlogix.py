"""torchlogix models: ``Circuit.write_json()`` files, and live models (docs/torchlogix.md).

JSON schema (torchlogix 0.2): ``n_inputs``; ``gates`` [{gate_id, op, in0, in1}] with
``op`` a GateOp name and -1 for an unused input; ``sum_nodes`` [{node_id,
input_ids, tau, beta}]; ``outputs`` (the sum node ids, in class order).
Gate ids need not be layered: levels are recomputed (ir.from_gates).
torchlogix scores a class as ``(count + beta) / tau``; our contract is
``count / tau + beta``, so beta is stored divided by tau.

A live model (``from_module``) is read by duck typing, without importing
torchlogix, from what torchlogix 0.2.2 computes in eval mode (its
parametrization.py, functional.py, connections.py, layers/): a ``LogicDense``
layer gathers ``x[:, indices]`` (shape [batch, k, out]) and its
parametrization maps the k bits, A = ``indices[0]`` the most significant, to
one output. Only torchlogix's own export (``export=True``) imports it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from .. import jsontext
from ..errors import clip
from ..conv import Conv, ConvNetwork, OrPool, TreeLevel, check_stage, check_window, positions
from ..ir import MAX_K, GroupSum, Layer, ModelError, Network, Thermometer, from_gates, op_table
from ..limits import MAX_SIGNALS
from . import live

# GateOp name -> (difflogic op id over (a=in0, b=in1), inputs it reads)
OPS = {
    "CONST_FALSE": (0, ""), "AND": (1, "ab"), "AND_NOT_B": (2, "ab"), "WIRE": (3, "a"),
    "AND_NOT_A": (4, "ab"), "XOR": (6, "ab"), "OR": (7, "ab"), "NOR": (8, "ab"),
    "XNOR": (9, "ab"), "NOT_B": (10, "b"), "OR_NOT_B": (11, "ab"), "NOT": (12, "a"),
    "NOT_A": (12, "a"), "OR_NOT_A": (13, "ab"), "NAND": (14, "ab"), "CONST_TRUE": (15, ""),
}

# ids become int64 arrays; -1 marks an unused gate input
_INT = {"type": "integer", "minimum": -1, "maximum": 2**63 - 1}
_REAL = {"type": "number", "minimum": -1e300, "maximum": 1e300}  # floats, and not ints past float range
SCHEMA = {
    "type": "object",
    "required": ["n_inputs", "gates", "outputs"],
    "properties": {
        "n_inputs": {"type": "integer", "minimum": 1, "maximum": MAX_SIGNALS},
        "gates": {"type": "array", "items": {
            "type": "object", "required": ["gate_id", "op", "in0", "in1"],
            "properties": {"gate_id": _INT, "op": {"type": "string"}, "in0": _INT, "in1": _INT}}},
        "sum_nodes": {"type": "array", "items": {
            "type": "object", "required": ["node_id", "input_ids"],
            "properties": {"node_id": {"type": "integer"}, "input_ids": {"type": "array", "items": _INT},
                           "tau": {**_REAL, "exclusiveMinimum": 0}, "beta": _REAL}}},
        "outputs": {"type": "array", "items": {"type": "integer"}},
    },
}


def looks_like(path: Path) -> bool:
    """Cheap sniff: a JSON object whose first keys include ``n_inputs``/``gates``."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"{") and b'"n_inputs"' in head


def load(path: str | Path) -> Network:
    """Read a torchlogix circuit JSON into a Network."""
    return from_dict(jsontext.read(path, ModelError))


def from_dict(doc: Any, source: str = "torchlogix-json") -> Network:
    """A Network from a circuit dict as ``Circuit.to_dict()`` returns it (the JSON file's content)."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(SCHEMA).iter_errors(doc))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "top level"
        # the message quotes the offending value, which a hostile file makes as long as it likes
        raise ModelError(f"not a torchlogix circuit: {where[:100]}: {clip(error.message)}")
    gates = doc["gates"]
    if not gates:
        raise ModelError("empty network: the circuit has no gates, so every output is a model input "
                         "(an untrained torchlogix model exports so); lgn2rtl needs at least one gate")
    ids = np.array([g["gate_id"] for g in gates], dtype=np.int64)
    inputs = np.zeros((len(gates), 2), dtype=np.int64)
    tables = np.zeros(len(gates), dtype=np.uint64)
    for j, g in enumerate(gates):
        if g["op"] not in OPS:
            raise ModelError(f"gate {g['gate_id']}: unknown op {g['op'][:40]!r} (known: {', '.join(OPS)})")
        op, reads = OPS[g["op"]]
        for name in reads:
            if g[f"in{'ab'.index(name)}"] < 0:
                raise ModelError(f"gate {g['gate_id']}: op {g['op']} reads in{'ab'.index(name)}, which is -1")
        # an input the op ignores still needs a real signal: reuse one it reads, or input 0
        used = [g["in0"] if "a" in reads else g["in1"]] if reads else [0]
        inputs[j] = [g["in0"] if "a" in reads else used[0], g["in1"] if "b" in reads else used[0]]
        tables[j] = op_table(op)
    sums = {s["node_id"]: s for s in doc.get("sum_nodes", [])}
    if not sums:
        raise ModelError("the circuit has no sum_nodes: lgn2rtl needs a GroupSum head (class scores)")
    missing = [o for o in doc["outputs"] if o not in sums]
    if missing:
        raise ModelError(f"output {missing[0]} is not a sum node; lgn2rtl needs every output to be a class score")
    heads = [sums[o] for o in doc["outputs"]]
    sizes = {len(s["input_ids"]) for s in heads}
    taus = {float(s.get("tau", 1.0)) for s in heads}
    betas = {float(s.get("beta", 0.0)) for s in heads}
    if len(sizes) != 1 or len(taus) != 1 or len(betas) != 1:
        raise ModelError(f"sum nodes differ (sizes {sorted(sizes)}, tau {sorted(taus)}, beta {sorted(betas)}); "
                         "a GroupSum needs equal groups with one tau and beta")
    tau, beta = taus.pop(), betas.pop()
    outputs = np.concatenate([np.asarray(s["input_ids"], dtype=np.int64) for s in heads])
    return from_gates(doc["n_inputs"], ids, inputs, tables, outputs,
                      GroupSum(len(heads), tau, beta / tau), meta={"source": source})


# Live models. Each parametrization gives luts [out, 2**k] indexed by t = sum(x[m] << (k-1-m)):
# input m = indices[m] of the layer's connections, so indices[0] is the most significant bit.
PARAMETRIZATIONS = ("RawLUTParametrization", "WarpLUTParametrization", "LightLUTParametrization")


def from_module(model: Any, *, export: bool | None = None) -> Network | ConvNetwork:
    """The Network a live torchlogix model computes in eval mode; a ConvNetwork if it has conv layers.

    ``model`` is a ``torch.nn.Sequential`` (torchlogix's ``Dlgn`` models are
    one) or any iterable of modules: an optional binarization layer (its
    thresholds become the thermometer encoder), an optional ``Flatten``,
    ``LogicDense`` layers of any ``lut_rank`` and parametrization ("raw",
    "warp", "light"), then a ``GroupSum``.

    ``export=True`` reads the logic layers through torchlogix's own
    ``Circuit.from_model`` (needs torchlogix, so Python >= 3.12, and lut_rank
    2 throughout: torchlogix's export refuses higher ranks). ``export=False``
    derives every truth table from the layer's parameters, exactly as the
    eval-mode forward computes it, without importing torchlogix. The default
    exports when torchlogix is importable and every layer has lut_rank 2.
    The model's train/eval state is left as it was.

    A convolutional model (``LogicConv2d`` and ``OrPooling2d`` stages, then
    ``Flatten``, ``LogicDense`` layers and a ``GroupSum``) is always read
    from its parameters and comes back as a ConvNetwork (see ``conv_from_module``).
    """
    if any(hasattr(m, "receptive_field_size") for m in live.modules(model)):
        if export:
            raise ModelError("export=True reads flat circuits; a convolutional model is read from its parameters "
                             "(export=False or the default)")
        return conv_from_module(model)
    modules, where, layers, head = _split(model)
    n_inputs = _in_dim(modules[layers[0]], where[layers[0]])
    if export is None:
        export = all(_rank(modules[j], where[j]) == 2 for j in layers) and _torchlogix_importable()
    if export:
        net = _exported(modules, where, layers, n_inputs)
    else:
        net = _from_parameters(modules, where, layers, head, n_inputs)
    if layers[0] and hasattr(modules[0], "thresholds"):
        net = dataclasses.replace(net, encoder=_encoder(modules[0], where[0], n_inputs)).validate()
    return net


def _split(model: Any) -> tuple[list, list[str], list[int], int]:
    """The modules, their names for messages, the indices of the logic layers and of the head."""
    modules, where, layers, head = live.sequential(
        model, "LogicDense layers", lambda m: hasattr(m, "thresholds") and not hasattr(m, "parametrization"))
    for j in layers:
        _dense(modules[j], where[j], "binarization and Flatten may only come first")
    return modules, where, layers, head


def _dense(m: Any, where: str, hint: str) -> None:
    if not all(hasattr(m, a) for a in ("parametrization", "weight", "connections", "lut_rank")):
        raise ModelError(f"{where} is not a LogicDense layer: it needs .parametrization, .weight, "
                         f".connections and .lut_rank ({hint})")


def conv_from_module(model: Any) -> ConvNetwork:
    """The ConvNetwork a live torchlogix conv model computes in eval mode, from its parameters.

    ``model``: an optional binarization (``DummyBinarization``: the inputs are bits already; a
    thermometer with ``feature_dim=1``: they are raw pixels), then ``LogicConv2d`` and
    ``OrPooling2d`` stages, ``Flatten``, ``LogicDense`` layers and a ``GroupSum``. The input is
    torchlogix's [batch, channels, height, width] flattened channel-major.
    """
    mods = live.modules(model)
    where = [f"model[{j}] ({type(m).__name__})" for j, m in enumerate(mods)]
    j = 0
    if mods and hasattr(mods[0], "thresholds") and not hasattr(mods[0], "parametrization"):
        j = 1
    if j == len(mods) or not hasattr(mods[j], "receptive_field_size"):
        conv = next(where[i] for i, m in enumerate(mods) if hasattr(m, "receptive_field_size"))
        raise ModelError(f"{where[min(j, len(mods) - 1)]}: a convolutional model ({conv} has a receptive field) "
                         "starts with a LogicConv2d")
    shape = (_count(mods[j], "channels", where[j]), *_pair(mods[j].in_dim, where[j], "in_dim", 1))
    in_shape, stages = shape, []
    encoder = _conv_encoder(mods[0], where[0], shape) if j == 1 else None
    while j < len(mods) and type(mods[j]).__name__ != "Flatten":
        m = mods[j]
        if hasattr(m, "receptive_field_size"):
            stage = _conv_stage(m, where[j], shape)
        elif hasattr(m, "kernel_size") and hasattr(m, "stride"):
            stage = OrPool(_pair(m.kernel_size, where[j], "kernel_size", 1),
                           _pair(m.kernel_size if m.stride is None else m.stride, where[j], "stride", 1),
                           _pair(getattr(m, "padding", 0), where[j], "padding", 0))
        else:
            raise ModelError(f"{where[j]} is neither a LogicConv2d nor an OrPooling2d; "
                             "a Flatten must end the convolutional stages")
        stages.append(stage)
        shape = check_stage(stage, shape, where[j])
        j += 1
    if len(mods) - j < 3:
        raise ModelError("after the convolutional stages the model needs Flatten, LogicDense layers and a GroupSum")
    body, head = list(range(j + 1, len(mods) - 1)), len(mods) - 1
    for i in body:
        _dense(mods[i], where[i], "after Flatten come LogicDense layers, then the GroupSum")
    if not (hasattr(mods[head], "k") and hasattr(mods[head], "tau")):
        raise ModelError(f"{where[head]} should be the GroupSum head, with .k and .tau")
    dense = _from_parameters(mods, where, body, head, int(np.prod(shape)))
    return ConvNetwork(in_shape, stages, dense, {"source": "torchlogix-module"}, encoder).validate()


def _conv_stage(m: Any, where: str, shape: tuple[int, int, int]) -> Conv:
    """A LogicConv2d as a Conv: its level-0 connections at the first position are the field."""
    if getattr(m, "conv_dimension", 2) != 2 or hasattr(m, "output_padding"):
        raise ModelError(f"{where}: lgn2rtl reads 2-d convolutions (LogicConv2d); 3-d and transposed ones are not supported")
    have = (_count(m, "channels", where), *_pair(m.in_dim, where, "in_dim", 1))
    if have != shape:
        raise ModelError(f"{where}: reads {have[0]} channels of {have[1]}x{have[2]}, "
                         f"but the stage before makes {shape[0]}x{shape[1]}x{shape[2]}")
    k, depth = _rank(m, where), _count(m, "tree_depth", where)
    kernel = _pair(m.receptive_field_size, where, "receptive_field_size", 1)
    stride, padding = _pair(m.stride, where, "stride", 1), _pair(m.padding, where, "padding", 0)
    check_window(kernel, stride, padding, shape, where)
    oh, ow = positions(kernel, stride, padding, *shape[1:])
    kernels, leaves = _count(m, "num_kernels", where), k ** (depth - 1)
    try:
        idx = live.array(m.connections.indices[0])
    except (AttributeError, TypeError, IndexError) as e:
        raise ModelError(f"{where}: .connections.indices[0] (the first tree level's inputs) is missing ({e})") from None
    want = (k, kernels, oh * ow, leaves, 3)
    if idx.shape != want or not np.issubdtype(idx.dtype, np.integer):
        raise ModelError(f"{where}: connections.indices[0] must be integer {list(want)} (lut_rank, kernels, positions, "
                         f"nodes, (h, w, c)), got {idx.dtype} {list(idx.shape)}")
    # torchlogix slides one field over the padded input: position p adds its window's corner to (h, w)
    corner = np.stack(np.meshgrid(np.arange(oh) * stride[0], np.arange(ow) * stride[1], [0], indexing="ij"),
                      axis=-1).reshape(-1, 3)
    base = idx[:, :, :1] - corner[0]
    if not np.array_equal(idx, base + corner[None, None, :, None, :]):
        raise ModelError(f"{where}: its connections are not one receptive field slid over every position")
    # leaf j*k + m is torchlogix's input m of first-level node j: (h, w, c) -> (c, dy, dx)
    field = base[:, :, 0].transpose(1, 2, 0, 3).reshape(kernels, leaves * k, 3)[..., [2, 0, 1]].astype(np.int64)
    levels = []
    for lv in range(depth):
        n = leaves // k ** lv
        # our input i is torchlogix's input k-1-i (its most significant), node j reading j*k .. j*k+k-1
        inputs = np.broadcast_to(np.arange(n)[:, None] * k + k - 1 - np.arange(k), (kernels, n, k)).copy()
        try:
            w = live.array(m.tree_weights[lv])
        except (TypeError, IndexError, AttributeError) as e:
            raise ModelError(f"{where}: .tree_weights[{lv}] is missing ({e})") from None
        if w.ndim != 3 or w.shape[:2] != (n, kernels):
            raise ModelError(f"{where}: tree_weights[{lv}] must be [{n}, {kernels}, entries] "
                             f"(nodes, kernels, entries), got {list(w.shape)}")
        tables = _tables(m.parametrization, w.transpose(1, 0, 2).reshape(kernels * n, -1), f"{where} level {lv}", k)
        levels.append(TreeLevel(inputs, tables.reshape(kernels, n)))
    return Conv(kernel, stride, padding, field, tuple(levels))


def _count(m: Any, name: str, where: str) -> int:
    v = getattr(m, name, None)
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ModelError(f"{where}: .{name} must be a positive integer, got {v!r}")
    return int(v)


def _pair(v: Any, where: str, name: str, lowest: int) -> tuple[int, int]:
    """An int or a pair of ints, as torch's ``_pair`` reads it."""
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(pair) != 2 or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= lowest
                                 for x in pair):
        raise ModelError(f"{where}: {name} must be an integer >= {lowest} or two of them, got {v!r}")
    return int(pair[0]), int(pair[1])


def _rank(m: Any, where: str) -> int:
    k = m.lut_rank
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ModelError(f"{where}: lut_rank {k!r}; lgn2rtl compiles LUTs of 1..{MAX_K} inputs")
    return int(k)


def _in_dim(m: Any, where: str) -> int:
    n = getattr(m, "in_dim", None)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ModelError(f"{where}: .in_dim (its number of inputs) must be a positive integer, got {n!r}")
    return int(n)


def _torchlogix_importable() -> bool:
    try:
        import torchlogix  # noqa: F401
    except Exception:  # absent, or a Python older than its syntax (3.12)
        return False
    return True


def _from_parameters(modules: list, where: list[str], layers: list[int], head: int, n_inputs: int) -> Network:
    built, start, width = [], 0, n_inputs
    for j in layers:
        m, k = modules[j], _rank(modules[j], where[j])
        if _in_dim(m, where[j]) != width:
            raise ModelError(f"{where[j]}: in_dim is {m.in_dim}, but "
                             f"{'the model has' if j == layers[0] else 'the layer before has'} {width} outputs")
        tables = _tables(m.parametrization, m.weight, where[j], k)
        idx = _indices(m.connections, where[j], k, len(tables), width)
        # node input i is indices[k-1-i]: torchlogix's most significant bit is indices[0], ours in[k-1]
        built.append(Layer(idx[::-1].T.astype(np.int64) + start, tables))
        start, width = start + width, len(tables)
    g = modules[head]
    tau, beta = float(g.tau), float(getattr(g, "beta", 0.0))
    # torchlogix's GroupSum: (count + beta) / tau
    return Network(n_inputs, built, np.arange(start, start + width, dtype=np.int64),
                   GroupSum(int(g.k), tau, beta / tau), None, {"source": "torchlogix-module"}).validate()


def _tables(parametrization: Any, weight: Any, where: str, k: int) -> np.ndarray:
    """Our truth tables [out] (uint64) of what ``parametrization`` outputs in eval mode for ``weight`` [out, entries]."""
    luts = _luts(parametrization, weight, where, k)
    return np.bitwise_or.reduce(luts.astype(np.uint64) << np.arange(1 << k, dtype=np.uint64), axis=1)


def _luts(parametrization: Any, weight: Any, where: str, k: int) -> np.ndarray:
    """Truth tables [out, 2**k] (entry t as above) of what ``parametrization`` outputs in eval mode."""
    name = type(parametrization).__name__
    if name not in PARAMETRIZATIONS:
        raise ModelError(f"{where}: unknown LUT parametrization {name}; lgn2rtl reads torchlogix's "
                         f"{', '.join(PARAMETRIZATIONS)}")
    try:
        w = live.array(weight)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{where}: .weight must be a tensor or array ({e})") from None
    entries = 16 if name == "RawLUTParametrization" else 1 << k
    if name == "RawLUTParametrization" and k != 2:
        raise ModelError(f"{where}: RawLUTParametrization with lut_rank {k}; torchlogix defines it for lut_rank 2 only")
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] != entries or not np.issubdtype(w.dtype, np.floating):
        raise ModelError(f"{where}: .weight of {name} with lut_rank {k} must be float [out, {entries}], "
                         f"got {w.dtype} {list(w.shape)}")
    t = np.arange(1 << k)
    if name == "RawLUTParametrization":
        # one_hot(argmax) over the 16 ops (lowest id on ties); op id bit 3-t is the output at t = 2a+b
        return ((w.argmax(axis=1)[:, None] >> (3 - t)) & 1) == 1
    if name == "LightLUTParametrization":
        # (weight > 0) times the indicator basis: for bits exactly one basis function is 1, the one of t
        return w > 0
    # Warp: s(t) = sum_j weight[j] * prod of (1 - 2 x[m]) over the bits m of j, output s(t) < 0.
    # torchlogix adds the 2**k einsum terms left to right in the weight's dtype; each term is
    # exactly +-weight[j], so this fold gives the same sum, rounding included, and the same sign.
    signs = np.array([[1 - 2 * (bin(j & i).count("1") & 1) for i in t] for j in t], dtype=w.dtype)  # [j, t]
    s = w[:, :1] * signs[0]
    for j in range(1, 1 << k):
        s = s + w[:, j:j + 1] * signs[j]
    return s < 0


def _indices(connections: Any, where: str, k: int, out: int, width: int) -> np.ndarray:
    """The input each LUT reads, [k, out]: fixed connections' ``indices``, or the learnable choice."""
    try:
        idx = live.array(connections.indices)
        if hasattr(connections, "weights"):
            # LearnableDenseConnections in eval: candidate argmax(weights, dim=0) per (input, LUT) slot
            w = live.array(connections.weights)
            if w.ndim != 3 or idx.shape != w.shape:
                raise ModelError(f"{where}: learnable connections need .weights and .indices of one shape "
                                 f"[candidates, {k}, {out}], got {list(w.shape)} and {list(idx.shape)}")
            idx = np.take_along_axis(idx, w.argmax(axis=0)[None], axis=0)[0]
    except AttributeError:
        raise ModelError(f"{where}: .connections has no .indices (dense connections [{k}, {out}])") from None
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{where}: connections must be tensors or arrays ({e})") from None
    if idx.shape != (k, out) or not np.issubdtype(idx.dtype, np.integer):
        raise ModelError(f"{where}: connection indices must be integer [{k}, {out}] (lut_rank, out), "
                         f"got {idx.dtype} {list(idx.shape)}")
    if idx.min() < 0 or idx.max() >= width:
        raise ModelError(f"{where}: connections read input {int(idx.max() if idx.max() >= width else idx.min())}, "
                         f"but it has {width} inputs")
    return idx


def _exported(modules: list, where: list[str], layers: list[int], n_inputs: int) -> Network:
    """The logic layers and head through torchlogix's ``Circuit.from_model``, read as its JSON."""
    try:
        import torch
        from torchlogix import Circuit
        from torchlogix.utils import set_export_mode
    except Exception as e:
        raise ModelError(f"export=True needs torchlogix, which is not importable here ({type(e).__name__}: {e}); "
                         "it needs Python >= 3.12. export=False reads the model without it") from None
    for j in layers:
        if _rank(modules[j], where[j]) != 2:
            raise ModelError(f"{where[j]}: lut_rank {modules[j].lut_rank} cannot go through torchlogix's export "
                             "(its LogicDense raises NotImplementedError in export mode for lut_rank != 2); "
                             "export=False derives the LUTs from the parameters")
    logic = torch.nn.Sequential(*modules[layers[0]:])
    training = [(m, m.training) for m in logic.modules()]
    try:
        circuit = Circuit.from_model(logic, [n_inputs])  # switches every module to eval and export mode
    except Exception as e:
        raise ModelError(f"torchlogix's Circuit.from_model failed: {type(e).__name__}: {e}") from None
    finally:
        set_export_mode(logic, False)
        for m, was in training:
            m.training = was
    try:
        return from_dict(circuit.to_dict(), source="torchlogix-export")
    except ModelError as e:
        raise ModelError(f"torchlogix's export of the model: {e}; export=False reads it from the parameters") from None


def _thresholds(binarization: Any) -> Any:
    """A torchlogix binarization layer's thresholds as its eval mode uses them (None: DummyBinarization)."""
    # LearnableBinarization's thresholds are get_thresholds() (a cumsum of its diffs), not its buffer
    return binarization.get_thresholds() if hasattr(binarization, "get_thresholds") else binarization.thresholds


def _conv_encoder(binarization: Any, where: str, shape: tuple[int, int, int]) -> Thermometer | None:
    """The thermometer in front of a LogicConv2d reading ``shape``: torchlogix compares [N, C, H, W]
    pixels with thresholds [C, levels] (or [levels] for every channel) and, with feature_dim=1, makes
    level j of channel c the image channel c*levels + j; so feature c*H*W + y*W + x, every pixel of
    channel c with channel c's thresholds."""
    t = _thresholds(binarization)
    if t is None:
        return None
    if getattr(binarization, "feature_dim", -2) not in (1, -4):
        raise ModelError(f"{where}: feature_dim={binarization.feature_dim}; in front of a LogicConv2d lgn2rtl "
                         "reads feature_dim=1, which makes the levels of each pixel channels of the image")
    t = live.array(t)
    if t.ndim not in (1, 2) or t.size == 0 or not np.issubdtype(t.dtype, np.number):
        raise ModelError(f"{where}: thresholds must be numbers [channels, levels] or [levels], "
                         f"got {t.dtype} {list(t.shape)}")
    (c, h, w), levels = shape, t.shape[-1]
    if t.ndim == 2 and t.shape[0] * levels != c:
        raise ModelError(f"{where}: thresholds {list(t.shape)} make {t.shape[0] * levels} channels, "
                         f"but the LogicConv2d after it reads {c}")
    if c % levels:
        raise ModelError(f"{where}: {levels} levels per pixel do not divide the {c} channels "
                         "the LogicConv2d after it reads")
    per_channel = np.broadcast_to(t.reshape(-1, levels), (c // levels, levels))
    return live.thermometer(np.repeat(per_channel, h * w, axis=0), c * h * w, f"{where}: thresholds")


def _encoder(binarization: Any, where: str, n_inputs: int) -> Thermometer | None:
    """The thermometer of a torchlogix binarization layer: bit f*levels + j is x[f] > thresholds[f, j]."""
    t = _thresholds(binarization)
    if t is None:  # DummyBinarization: the inputs are bits already
        return None
    if getattr(binarization, "feature_dim", -2) != -2:
        raise ModelError(f"{where}: feature_dim={binarization.feature_dim}; lgn2rtl reads torchlogix's default "
                         "feature_dim=-2, which flattens the bits feature by feature")
    return live.thermometer(live.array(t), n_inputs, f"{where}: thresholds")
