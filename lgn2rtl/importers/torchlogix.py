"""torchlogix ``Circuit.write_json()`` files.

Schema (torchlogix 0.2): ``n_inputs``; ``gates`` [{gate_id, op, in0, in1}] with
``op`` a GateOp name and -1 for an unused input; ``sum_nodes`` [{node_id,
input_ids, tau, beta}]; ``outputs`` (the sum node ids, in class order).
Gate ids need not be layered: levels are recomputed (ir.from_gates).
torchlogix scores a class as ``(count + beta) / tau``; our contract is
``count / tau + beta``, so beta is stored divided by tau.
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np

from ..ir import GroupSum, ModelError, Network, from_gates, op_table

# GateOp name -> (difflogic op id over (a=in0, b=in1), inputs it reads)
OPS = {
    "CONST_FALSE": (0, ""), "AND": (1, "ab"), "AND_NOT_B": (2, "ab"), "WIRE": (3, "a"),
    "AND_NOT_A": (4, "ab"), "XOR": (6, "ab"), "OR": (7, "ab"), "NOR": (8, "ab"),
    "XNOR": (9, "ab"), "NOT_B": (10, "b"), "OR_NOT_B": (11, "ab"), "NOT": (12, "a"),
    "NOT_A": (12, "a"), "OR_NOT_A": (13, "ab"), "NAND": (14, "ab"), "CONST_TRUE": (15, ""),
}

_INT = {"type": "integer"}
SCHEMA = {
    "type": "object",
    "required": ["n_inputs", "gates", "outputs"],
    "properties": {
        "n_inputs": {"type": "integer", "minimum": 1},
        "gates": {"type": "array", "items": {
            "type": "object", "required": ["gate_id", "op", "in0", "in1"],
            "properties": {"gate_id": _INT, "op": {"type": "string"}, "in0": _INT, "in1": _INT}}},
        "sum_nodes": {"type": "array", "items": {
            "type": "object", "required": ["node_id", "input_ids"],
            "properties": {"node_id": _INT, "input_ids": {"type": "array", "items": _INT},
                           "tau": {"type": "number"}, "beta": {"type": "number"}}}},
        "outputs": {"type": "array", "items": _INT},
    },
}


def looks_like(path: Path) -> bool:
    """Cheap sniff: a JSON object whose first keys include ``n_inputs``/``gates``."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"{") and b'"n_inputs"' in head


def load(path: str | Path) -> Network:
    """Read a torchlogix circuit JSON into a Network."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise ModelError(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); truncated file?") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(SCHEMA).iter_errors(doc))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "top level"
        raise ModelError(f"not a torchlogix circuit: {where}: {error.message}")
    gates = doc["gates"]
    ids = np.array([g["gate_id"] for g in gates], dtype=np.int64)
    inputs = np.zeros((len(gates), 2), dtype=np.int64)
    tables = np.zeros(len(gates), dtype=np.uint64)
    for j, g in enumerate(gates):
        if g["op"] not in OPS:
            raise ModelError(f"gate {g['gate_id']}: unknown op {g['op']!r} (known: {', '.join(OPS)})")
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
                      GroupSum(len(heads), tau, beta / tau), meta={"source": "torchlogix-json"})
