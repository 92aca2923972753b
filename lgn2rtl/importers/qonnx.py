"""QONNX binarized networks, as Brevitas exports them for FINN (docs/bnn.md).

The graph is read as one chain of nodes from its input to its output::

    [Flatten | Reshape to [1, -1] | Identity] [input binarization] block* MatMul-or-Gemm

- the input binarization is a ``BipolarQuant`` of scale 1 (bit = ``x >= 0``) or a
  ``MultiThreshold`` with one threshold per feature (bit = ``x >= t``, a one-level
  thermometer); without one, the graph's input must be ±1 already (bit b is ``2b - 1``);
- a block is a ``MatMul`` or ``Gemm`` with binary weights (a ``BipolarQuant`` of scale 1 of a
  constant, or constants that are ±1, either maybe through a ``Transpose``), an optional bias
  (Gemm's C, or an ``Add``), an optional ``BatchNormalization`` and the sign: a ``BipolarQuant``
  of scale 1, or a ``MultiThreshold`` of one threshold per neuron onto ±1 straight after the
  MatMul (as FINN's streamlining leaves it);
- the last MatMul's integer outputs are the class scores, as in the BNN layout.

Everything else (other ops, weights of more bits, scaled or multi-level activations, branches)
is refused with one line naming the node. The blocks become the BNN layout's arrays and are
folded by ``bnn.from_layout``, rounding batch norms as ONNX Runtime's CPU kernel does, since
that kernel is what runs a QONNX model (qonnx's executor hands it every standard node).
Only ``onnx`` is imported, lazily: neither qonnx nor onnxruntime is needed to read a model.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import quote
from ..ir import ModelError, Network
from ..limits import MAX_ARRAY_BYTES, size
from . import bnn

# custom-op domains of BipolarQuant and MultiThreshold: qonnx's, and FINN's older names for them
_CUSTOM = ("qonnx.custom_op.general", "finn.custom_op.general", "finn")
# an ONNX ModelProto begins with ir_version (field 1, a small varint), then another field of
# ModelProto (producer_name .. opset_import) as protobuf writes fields in number order
_FIRST_TAG, _NEXT_TAGS = 0x08, {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42}
_PASS = ("Flatten", "Reshape", "Identity")  # what may reshape the input before the first MatMul
_MAX_DEPTH = 8  # nodes in a row that make one constant (Brevitas: at most a quantizer and a Transpose)


def looks_like(path: Path) -> bool:
    """The file starts as a serialized ONNX model does."""
    try:
        with open(path, "rb") as f:
            head = f.read(3)
    except OSError:
        return False
    return len(head) == 3 and head[0] == _FIRST_TAG and 0 < head[1] < 0x80 and head[2] in _NEXT_TAGS


def load(path: str | Path) -> Network:
    """Read a QONNX binarized network into a Network, refusing what is not binary."""
    graph = _Graph(_read(Path(path)))
    blocks: list[_Block] = []
    arrays, names = {"bnn_format": np.array(bnn.FORMAT)}, {}
    tensor, coding = graph.input(), None  # coding: set by the input binarization, if any
    while tensor != graph.output:
        node = graph.consumer(tensor)
        op = node.op_type
        if op != "Add" and node.input[0] != tensor:
            raise ModelError(f"{graph.where(node)} reads {tensor!r} as its input {list(node.input).index(tensor)}; "
                             "lgn2rtl reads the data as the first operand, the weights or parameters after it")
        if op in ("MatMul", "Gemm"):
            blocks.append(_Block(node, graph.weights(node)))
            if op == "Gemm" and len(node.input) > 2 and node.input[2]:
                blocks[-1].add_bias(graph, node, node.input[2])
        elif not blocks:
            coding = _front(graph, node, arrays, coding)
        elif op == "Add":
            blocks[-1].add_bias(graph, node, graph.other_input(node, tensor))
        elif op == "BatchNormalization":
            blocks[-1].add_batchnorm(graph, node)
        elif op in ("BipolarQuant", "MultiThreshold"):
            blocks[-1].add_sign(graph, node)
        else:
            raise ModelError(f"{graph.where(node)}: lgn2rtl reads binarized blocks (MatMul or Gemm, bias, "
                             "BatchNormalization, BipolarQuant or MultiThreshold), not this op")
        tensor = node.output[0]
    if not blocks:
        raise ModelError("the graph has no MatMul or Gemm: a BNN needs at least one")
    if blocks[-1].sign is not None:
        raise ModelError(f"the graph ends in {graph.where(blocks[-1].sign)}: lgn2rtl takes the class scores from "
                         "the last MatMul's integer outputs, so that block must have no sign")
    graph.check_all_read()
    arrays["input_coding"] = np.array(coding or "pm1")
    for i, block in enumerate(blocks):
        block.into_layout(i, arrays, names, graph)
    return bnn.from_layout(arrays, lambda key: names.get(key, key), "qonnx", fused=False)


def _read(path: Path) -> Any:
    """The ModelProto in ``path``, with no external data followed."""
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        raise ModelError("reading QONNX needs the onnx package: pip install 'lgn2rtl[qonnx]'") from None
    nbytes = path.stat().st_size
    if nbytes > MAX_ARRAY_BYTES:
        raise ModelError(f"the file is {size(nbytes)}; lgn2rtl reads ONNX models up to {size(MAX_ARRAY_BYTES)}")
    try:
        # external data would be read from paths the file names: an untrusted file must not choose them
        return onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelError(f"not a readable ONNX model ({quote(e)})") from None


class _Graph:
    """A GraphProto's nodes by the tensors they make and read, and which of them were read."""

    def __init__(self, model: Any):
        import onnx
        self.helper, self.numpy = onnx.helper, onnx.numpy_helper
        self.external = onnx.TensorProto.EXTERNAL
        self.float32 = onnx.TensorProto.FLOAT
        g = model.graph
        self.graph = g
        self.constants = {t.name: t for t in g.initializer}
        self.producer = {out: node for node in g.node for out in node.output}
        self.consumers = defaultdict(list)
        for node in g.node:
            for name in set(node.input) - {""}:
                self.consumers[name].append(node)
        self.read: set[int] = set()
        if len(g.output) != 1:
            raise ModelError(f"the graph has {len(g.output)} outputs; a BNN has one, its class scores")
        self.output = g.output[0].name

    def where(self, node: Any) -> str:
        return f"node {node.name or (node.output[0] if node.output else '?')!r} ({node.op_type})"

    def inputs(self, node: Any, n: int) -> list[str]:
        """The first ``n`` inputs of ``node``, which must have them."""
        if len(node.input) < n or not all(node.input[:n]):
            raise ModelError(f"{self.where(node)} has {len(node.input)} inputs; it needs {n}")
        return list(node.input[:n])

    def other_input(self, node: Any, tensor: str) -> str:
        """The input of a two-input ``node`` that is not the chain's ``tensor``."""
        others = [t for t in self.inputs(node, 2) if t != tensor]
        if len(node.input) != 2 or len(others) != 1:
            raise ModelError(f"{self.where(node)} should add a constant to {tensor!r}; it reads {list(node.input)}")
        return others[0]

    def input(self) -> str:
        """The name of the graph's one input that is not an initializer, which must be float32."""
        inputs = [v for v in self.graph.input if v.name not in self.constants]
        if len(inputs) != 1:
            raise ModelError(f"the graph has {len(inputs)} inputs ({', '.join(repr(v.name) for v in inputs[:4])}); "
                             "a BNN has one")
        elem = inputs[0].type.tensor_type.elem_type
        if elem != self.float32:
            raise ModelError(f"input {inputs[0].name!r} has ONNX element type {elem}; lgn2rtl reads float32 graphs "
                             f"(type {self.float32}), whose rounding its batch-norm folding follows")
        return inputs[0].name

    def consumer(self, tensor: str) -> Any:
        """The one node that reads ``tensor`` (marked read)."""
        users = self.consumers.get(tensor, [])
        if len(users) != 1:
            what = ", ".join(self.where(n) for n in users[:3]) or "nothing"
            raise ModelError(f"tensor {tensor!r} feeds {what}; lgn2rtl reads a chain of nodes from the "
                             "input to the output")
        if id(users[0]) in self.read:
            raise ModelError(f"{self.where(users[0])} is reached twice: the graph has a cycle")
        if len(users[0].output) != 1:
            raise ModelError(f"{self.where(users[0])} has {len(users[0].output)} outputs; lgn2rtl reads nodes of one "
                             "(a BatchNormalization with more is in training mode)")
        self.read.add(id(users[0]))
        return users[0]

    def attribute(self, node: Any, name: str, default: Any = None) -> Any:
        """Attribute ``name`` of ``node``, or ``default``; given a default, of its kind (a float,
        an int or a list of ints), since an untrusted file may put anything there."""
        found = [a for a in node.attribute if a.name == name]
        if not found:
            return default
        value = self.helper.get_attribute_value(found[0])
        if default is None:
            return value
        if isinstance(default, float) and isinstance(value, (int, float)):
            return float(value)
        if isinstance(default, int) and isinstance(value, int):
            return value
        if isinstance(default, list) and isinstance(value, list) and all(isinstance(v, int) for v in value):
            return value
        kind = {float: "a number", int: "an integer"}.get(type(default), "a list of integers")
        raise ModelError(f"{self.where(node)} has {name} = {str(value)[:40]}; it should be {kind}")

    def constant(self, name: str, user: Any, depth: int = 0) -> np.ndarray:
        """The value of tensor ``name`` that ``user`` reads, which must not depend on the input;
        ``depth`` counts the nodes between, which a cycle would make endless."""
        if name in self.constants:
            return self._array(self.constants[name])
        node = self.producer.get(name)
        if node is None:
            raise ModelError(f"{self.where(user)} reads {name!r}, which is neither an initializer nor made by a node")
        if depth == _MAX_DEPTH:
            raise ModelError(f"{self.where(user)} reads a constant made by more than {_MAX_DEPTH} nodes in a row")
        self.read.add(id(node))
        op = node.op_type
        if op == "Constant" and hasattr(self.attribute(node, "value"), "data_type"):
            return self._array(self.attribute(node, "value"))
        if op == "Transpose":
            w = self.constant(self.inputs(node, 1)[0], node, depth + 1)
            perm = self.attribute(node, "perm", list(range(w.ndim))[::-1])
            if sorted(perm) != list(range(w.ndim)):
                raise ModelError(f"{self.where(node)} has perm {list(perm)} for a {w.ndim}-d tensor")
            return np.transpose(w, perm)
        if op == "BipolarQuant" and node.domain in _CUSTOM:
            self.unit_scale(node)
            return np.where(self.constant(self.inputs(node, 2)[0], node, depth + 1) >= 0, 1.0, -1.0)  # as qonnx's
        if op in ("Quant", "IntQuant"):
            bits = self.constant(self.inputs(node, 4)[3], node, depth + 1)
            raise ModelError(f"{self.where(node)} quantizes to {_first(bits)} bits; lgn2rtl compiles binary weights "
                             "(BipolarQuant, or weight_bit_width=1 in Brevitas)")
        raise ModelError(f"{self.where(node)} makes {name!r}, which {self.where(user)} reads as a constant; "
                         "lgn2rtl folds only Constant, Transpose and BipolarQuant there")

    def _array(self, tensor: Any) -> np.ndarray:
        if tensor.data_location == self.external:
            raise ModelError(f"tensor {tensor.name!r} keeps its data in an external file; lgn2rtl reads "
                             "self-contained models (onnx.save_model(..., save_as_external_data=False))")
        try:
            value = self.numpy.to_array(tensor)
        except (ValueError, TypeError, KeyError) as e:  # KeyError: a data_type onnx does not know
            raise ModelError(f"tensor {tensor.name!r} cannot be read ({quote(e)})") from None
        if value.dtype.kind not in "biuf":
            raise ModelError(f"tensor {tensor.name!r} holds {value.dtype}; lgn2rtl reads numbers there")
        return value

    def unit_scale(self, node: Any) -> None:
        """A BipolarQuant must output ±1: a scaled ±s is no longer an XNOR popcount's input."""
        scale = self.constant(self.inputs(node, 2)[1], node)
        if scale.size == 0 or not np.all(scale == 1):
            raise ModelError(f"{self.where(node)} has scale {_first(scale)}; lgn2rtl compiles ±1 values "
                             "(Brevitas: weight_scaling_const=1.0, activations with max_val=1)")

    def weights(self, node: Any) -> np.ndarray:
        """The ±1 weights [out, in] of a MatMul or Gemm whose first input is the chain's."""
        trans_b = 0
        if node.op_type == "Gemm":
            attrs = {a: self.attribute(node, a, d) for a, d in (("alpha", 1.0), ("beta", 1.0), ("transA", 0))}
            if attrs != {"alpha": 1.0, "beta": 1.0, "transA": 0}:
                raise ModelError(f"{self.where(node)} has {attrs}; lgn2rtl reads Gemm with alpha 1, beta 1, transA 0")
            trans_b = self.attribute(node, "transB", 0)
        w = self.constant(self.inputs(node, 2)[1], node)
        if w.ndim != 2 or w.size == 0:
            raise ModelError(f"{self.where(node)}: its weights have shape {list(w.shape)}, not [in, out]")
        if not np.all(np.abs(w) == 1):
            raise ModelError(f"{self.where(node)}: its weights are not ±1 (magnitudes "
                             f"{np.unique(np.abs(w))[:3].tolist()}); lgn2rtl compiles binary weights (BipolarQuant)")
        return w if trans_b else w.T

    def check_all_read(self) -> None:
        unread = [n for n in self.graph.node if id(n) not in self.read]
        if unread:
            raise ModelError(f"{self.where(unread[0])} is not on the chain from the input to the output")


def _first(values: np.ndarray) -> str:
    """The first of ``values`` for a message ("none" if there are none)."""
    return f"{float(values.ravel()[0]):g}" if values.size else "none"


def _front(graph: _Graph, node: Any, arrays: dict[str, np.ndarray], coding: str | None) -> str | None:
    """Read a node before the first MatMul; return the input coding after it (None: not binarized yet)."""
    op = node.op_type
    if op in _PASS:
        if op == "Flatten" and graph.attribute(node, "axis", 1) != 1:
            raise ModelError(f"{graph.where(node)} flattens from axis {graph.attribute(node, 'axis')}; "
                             "lgn2rtl reads a batch of flat inputs (axis 1)")
        if op == "Reshape":
            shape = graph.constant(graph.inputs(node, 2)[1], node).ravel()
            # the batch stays (0 copies it; exports fix it at 1), the rest becomes one row per sample
            if len(shape) != 2 or shape[0] not in (0, 1):
                raise ModelError(f"{graph.where(node)} reshapes to {shape.tolist()}; lgn2rtl reads a batch of flat "
                                 "inputs ([1, -1])")
        return coding
    if op in ("BipolarQuant", "MultiThreshold") and node.domain in _CUSTOM and coding is None:
        if op == "BipolarQuant":  # bit = x >= 0, and the first MatMul sees ±1
            graph.unit_scale(node)
            return "pm1"
        t, levels = _thresholds(graph, node)
        # lgn2rtl's thermometer fires on x > t; on float32 inputs x >= t is x > the float below t
        below = np.nextafter(t.astype(np.float64), -np.inf)
        arrays["thresholds"] = below if len(t) == 1 else below[:, None]  # one level for all, or per feature
        return "pm1" if levels == (2.0, -1.0) else "01"
    raise ModelError(f"{graph.where(node)} comes before the first MatMul; lgn2rtl reads there only "
                     f"{', '.join(_PASS)} and one input binarization (BipolarQuant, MultiThreshold)")


def _thresholds(graph: _Graph, node: Any) -> tuple[np.ndarray, tuple[float, float]]:
    """A MultiThreshold's one threshold per channel, and its (out_scale, out_bias), which must be
    (2, -1) onto ±1 or (1, 0) onto 0/1."""
    t = graph.constant(graph.inputs(node, 2)[1], node)
    if t.ndim != 2 or t.shape[1] != 1:
        raise ModelError(f"{graph.where(node)} has thresholds of shape {list(t.shape)}: "
                         f"{t.shape[-1] if t.ndim else 0} levels per channel; lgn2rtl compiles 1-bit "
                         "activations ([channels, 1])")
    if not np.all(np.isfinite(t)):
        raise ModelError(f"{graph.where(node)} has a threshold {t[~np.isfinite(t)][0]}; they must be finite")
    levels = (graph.attribute(node, "out_scale", 1.0), graph.attribute(node, "out_bias", 0.0))
    if levels not in ((2.0, -1.0), (1.0, 0.0)):
        raise ModelError(f"{graph.where(node)} maps to out_scale {levels[0]:g}, out_bias {levels[1]:g}; lgn2rtl "
                         "compiles the sign (out_scale 2, out_bias -1)")
    return t[:, 0].astype(np.float32), levels


@dataclass
class _Block:
    """One MatMul or Gemm and what follows it up to its sign."""
    node: Any
    weight: np.ndarray  # [out, in], ±1
    bias: tuple[Any, np.ndarray] | None = None  # (node, values)
    batchnorm: tuple[Any, dict[str, np.ndarray]] | None = None
    sign: Any = None
    threshold: np.ndarray | None = None  # a MultiThreshold's, per neuron

    def _expect(self, graph: _Graph, node: Any, free: bool) -> None:
        if not free or self.sign is not None:
            raise ModelError(f"{graph.where(node)} follows {graph.where(self.sign or self.node)}; a binarized block "
                             "is MatMul or Gemm, bias, BatchNormalization, sign, in that order, each at most once")

    def add_bias(self, graph: _Graph, node: Any, name: str) -> None:
        self._expect(graph, node, self.bias is None and self.batchnorm is None)
        b, n = graph.constant(name, node), len(self.weight)
        # one value for all neurons, or one per neuron along the last axis, as ONNX broadcasts them
        if b.ndim > 2 or b.size not in (1, n) or (b.size == n and b.shape[-1] != n):
            raise ModelError(f"{graph.where(node)}: its bias has shape {list(b.shape)} for {n} neurons")
        self.bias = (node, np.broadcast_to(b.reshape(-1), (n,)))

    def add_batchnorm(self, graph: _Graph, node: Any) -> None:
        self._expect(graph, node, self.batchnorm is None)
        if graph.attribute(node, "training_mode", 0) or graph.attribute(node, "spatial", 1) != 1:
            raise ModelError(f"{graph.where(node)} is in training mode or not spatial; lgn2rtl folds the inference "
                             "batch norm (running statistics)")
        scale, bias, mean, var = (graph.constant(name, node) for name in graph.inputs(node, 5)[1:])
        self.batchnorm = (node, {"weight": scale, "bias": bias, "mean": mean, "var": var,
                                 "eps": np.array(graph.attribute(node, "epsilon", 1e-5), dtype=np.float32)})

    def add_sign(self, graph: _Graph, node: Any) -> None:
        self._expect(graph, node, True)
        if node.domain not in _CUSTOM:
            raise ModelError(f"{graph.where(node)} is in domain {node.domain!r}, not qonnx's ({_CUSTOM[0]})")
        if node.op_type == "BipolarQuant":
            graph.unit_scale(node)
        else:
            if self.bias is not None or self.batchnorm is not None:
                raise ModelError(f"{graph.where(node)} thresholds a bias or batch norm output, which rounds; lgn2rtl "
                                 "reads a MultiThreshold straight after the MatMul (fold the batch norm into it first)")
            t, levels = _thresholds(graph, node)
            if levels != (2.0, -1.0):
                raise ModelError(f"{graph.where(node)} outputs 0/1; between binarized layers lgn2rtl compiles the "
                                 "sign (out_scale 2, out_bias -1)")
            if len(t) not in (1, len(self.weight)):
                raise ModelError(f"{graph.where(node)} has {len(t)} thresholds for {len(self.weight)} neurons")
            self.threshold = np.broadcast_to(t, (len(self.weight),))
        self.sign = node

    def into_layout(self, i: int, arrays: dict[str, np.ndarray], names: dict[str, str], graph: _Graph) -> None:
        """Add this block as layer ``i`` of the BNN layout, and where each array came from."""
        arrays[f"layer{i}_weight"], names[f"layer{i}_weight"] = self.weight, graph.where(self.node)
        if self.threshold is not None:
            # y >= t is exactly float32's y + (-t) >= 0: the sign survives rounding, and -t is exact
            arrays[f"layer{i}_bias"], names[f"layer{i}_bias"] = -self.threshold, graph.where(self.sign)
        elif self.bias is not None:
            arrays[f"layer{i}_bias"], names[f"layer{i}_bias"] = self.bias[1], graph.where(self.bias[0])
        if self.batchnorm is not None:
            node, bn = self.batchnorm
            for part, value in bn.items():
                arrays[f"layer{i}_bn_{part}"], names[f"layer{i}_bn_{part}"] = value, f"{graph.where(node)} {part}"
