"""IR validation, the native file, and the torchlogix JSON importer."""
import json

import numpy as np
import pytest

from lgn2rtl import golden, native
from lgn2rtl.importers import load_model
from lgn2rtl.importers.torchlogix import OPS
from lgn2rtl.ir import GroupSum, Layer, ModelError, Network, Thermometer
from lgn2rtl.synthetic import random_network

# torchlogix's own evaluation rules (circuit.py _eval_gate_op), written out independently
TL_EVAL = {
    "CONST_FALSE": lambda a, b: 0, "CONST_TRUE": lambda a, b: 1, "WIRE": lambda a, b: a,
    "NOT": lambda a, b: 1 - a, "NOT_A": lambda a, b: 1 - a, "NOT_B": lambda a, b: 1 - b,
    "AND": lambda a, b: a & b, "OR": lambda a, b: a | b, "XOR": lambda a, b: a ^ b,
    "NAND": lambda a, b: 1 - (a & b), "NOR": lambda a, b: 1 - (a | b), "XNOR": lambda a, b: 1 - (a ^ b),
    "AND_NOT_B": lambda a, b: a & (1 - b), "AND_NOT_A": lambda a, b: (1 - a) & b,
    "OR_NOT_B": lambda a, b: a | (1 - b), "OR_NOT_A": lambda a, b: (1 - a) | b,
}
ONE_INPUT = {"WIRE", "NOT", "NOT_A"}


def make_circuit(rng, n_inputs=6, n_gates=64, classes=2, group=4, tau=2.0, beta=0.5):
    """A torchlogix-style circuit using every op, with scattered ids listed out of order."""
    names = list(TL_EVAL)
    ids = list(range(n_inputs))
    gates = []
    for j in range(n_gates):
        op = names[j % len(names)]
        gid = 1000 + 7 * j  # not contiguous, not starting at n_inputs
        a, b = (int(v) for v in rng.choice(ids, 2))
        in0 = -1 if op.startswith("CONST") or op == "NOT_B" else a
        in1 = b if op not in ONE_INPUT and not op.startswith("CONST") else -1
        gates.append({"gate_id": gid, "op": op, "in0": in0, "in1": in1, "node_idx": -1})
        ids.append(gid)
    gate_ids = [g["gate_id"] for g in gates]
    sums = [{"node_id": 5000 + c, "input_ids": [int(v) for v in rng.choice(gate_ids, group)],
             "tau": tau, "beta": beta} for c in range(classes)]
    rng.shuffle(gates)
    return {"n_inputs": n_inputs, "gates": gates, "sum_nodes": sums,
            "outputs": [s["node_id"] for s in reversed(sums)]}


def tl_scores(doc, x):
    """Integer counts, the way torchlogix Circuit evaluates the JSON (gates in id order)."""
    gates = sorted(doc["gates"], key=lambda g: g["gate_id"])
    sums = {s["node_id"]: s for s in doc["sum_nodes"]}
    out = []
    for row in x:
        val = {i: int(v) for i, v in enumerate(row)}
        for g in gates:
            val[g["gate_id"]] = TL_EVAL[g["op"]](val.get(g["in0"], 0), val.get(g["in1"], 0))
        out.append([sum(val[i] for i in sums[o]["input_ids"]) for o in doc["outputs"]])
    return np.array(out)


def test_every_gateop_name_is_covered():
    assert set(OPS) == set(TL_EVAL)


def test_torchlogix_json_matches_torchlogix_semantics(tmp_path):
    rng = np.random.default_rng(3)
    doc = make_circuit(rng)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    net = load_model(path)
    x = rng.integers(0, 2, (300, doc["n_inputs"]), dtype=np.uint8)
    assert np.array_equal(golden.scores(net, x), tl_scores(doc, x))
    # torchlogix: (count + beta) / tau; ours: count / tau + beta
    assert net.head.tau == 2.0 and net.head.beta == pytest.approx(0.25)


def test_native_roundtrip_is_lossless(tmp_path):
    net = random_network(10, [20, 12], k=[6, 3], classes=3, seed=5, skip=True)
    net.encoder = Thermometer(np.arange(10, dtype=float).reshape(5, 2))
    net.head = GroupSum(3, 2.5, -0.5)
    net.meta = {"source": "test"}
    native.save(net, tmp_path / "m.lgn")
    back = load_model(tmp_path / "m.lgn")
    assert back.n_inputs == net.n_inputs and back.head == net.head and back.meta == net.meta
    assert np.array_equal(back.outputs, net.outputs)
    assert np.array_equal(back.encoder.thresholds, net.encoder.thresholds)
    for a, b in zip(back.layers, net.layers):
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.tables, b.tables)
        assert a.tables.dtype == np.uint64


def _net(**change):
    base = dict(n_inputs=2, layers=[Layer(np.array([[0, 1]]), np.array([8], dtype=np.uint64))],
                outputs=np.array([2, 2]), head=GroupSum(2))
    base.update(change)
    return Network(**base)


@pytest.mark.parametrize("change, message", [
    (dict(layers=[]), "empty network"),
    (dict(layers=[Layer(np.array([[0, 5]]), np.array([8], dtype=np.uint64))]), "out of range"),
    (dict(layers=[Layer(np.array([[0, 2]]), np.array([8], dtype=np.uint64))]), "forward reference"),
    (dict(layers=[Layer(np.array([[0, 1]]), np.array([99], dtype=np.uint64))]), "beyond the 4 entries"),
    (dict(outputs=np.array([2, 2, 2])), "do not split into 2 equal groups"),
    (dict(outputs=np.array([], dtype=np.int64)), "no outputs"),
    (dict(outputs=np.array([2.0, 2.0])), "integer array"),
    (dict(head=GroupSum(2, tau=0.0)), "tau must be positive"),
    (dict(n_inputs=0), "positive integer"),
])
def test_validation_names_the_problem(change, message):
    with pytest.raises(ModelError, match=message):
        _net(**change).validate()


def test_cycle_in_json_is_reported(tmp_path):
    doc = {"n_inputs": 2, "gates": [{"gate_id": 2, "op": "AND", "in0": 0, "in1": 3},
                                    {"gate_id": 3, "op": "OR", "in0": 2, "in1": 1}],
           "sum_nodes": [{"node_id": 9, "input_ids": [2, 3], "tau": 1, "beta": 0}], "outputs": [9]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="cycle"):
        load_model(tmp_path / "c.json")


def test_truncated_native_file(tmp_path):
    native.save(random_network(4, [4], classes=2), tmp_path / "m.lgn")
    data = (tmp_path / "m.lgn").read_bytes()
    (tmp_path / "t.lgn").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="t.lgn"):
        load_model(tmp_path / "t.lgn", "lgn")


def test_difflogic_layout_matches_torch_scores(fixture_dir):
    net = load_model(fixture_dir / "difflogic_layout.npz")
    v = np.load(fixture_dir / "vectors.npz")
    assert [len(layer) for layer in net.layers] == [500, 500, 500]
    assert np.array_equal(golden.scores(net, v["x"]), np.round(v["torch_scores"] * net.head.tau))
    assert net.encoder.thresholds.shape == (64, 4)
    # thermometer bit 4*p + t is pixel p > threshold t (2, 6, 10, 14)
    bits = net.encoder.encode(np.array([[0, 3, 7, 11, 15] + [16] * 59]))
    assert bits[0, :20].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]


def _layout(tmp_path, fixture_dir, drop=None, change=None):
    with np.load(fixture_dir / "difflogic_layout.npz") as z:
        a = {k: z[k] for k in z.files if k != drop}
    a.update(change or {})
    np.savez(tmp_path / "l.npz", **a)
    return tmp_path / "l.npz"


def test_difflogic_without_indices_explains_why(tmp_path, fixture_dir):
    with pytest.raises(ModelError, match=r"layer1_indices is missing.*issue #34"):
        load_model(_layout(tmp_path, fixture_dir, drop="layer1_indices"))


def test_difflogic_shape_mismatch(tmp_path, fixture_dir):
    with pytest.raises(ModelError, match=r"layer2_indices must be integer \[2, 500\]"):
        load_model(_layout(tmp_path, fixture_dir, change={"layer2_indices": np.zeros((2, 499), dtype=np.int64)}))
    with pytest.raises(ModelError, match="the layer before has 500 outputs"):
        load_model(_layout(tmp_path, fixture_dir, change={"layer1_indices": np.full((2, 500), 600)}))


def test_npz_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from lgn2rtl import npz
    path = tmp_path / "layout"  # no .npz suffix: the file keeps the name it was given
    npz.write(path, {"a": np.arange(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout"]
    assert npz.read(path, ValueError)["a"].tolist() == [0, 1, 2]

    def fail(f, **arrays):
        f.write(b"PK partial")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez_compressed", fail)
    with pytest.raises(OSError, match="disk full"):
        npz.write(path, {"a": np.arange(5)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout"]  # no temporary left behind
    monkeypatch.undo()
    assert npz.read(path, ValueError)["a"].tolist() == [0, 1, 2]  # the old file is intact
