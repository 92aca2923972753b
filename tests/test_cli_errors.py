"""Every malformed model from docs/semantics.md "Errors", fed to `lgn2rtl compile`: one line, exit 2, no traceback."""
import json
import subprocess
import sys

import numpy as np
import pytest

from lgn2rtl import native
from lgn2rtl.synthetic import random_network

GOOD = {"n_inputs": 2,
        "gates": [{"gate_id": 2, "op": "AND", "in0": 0, "in1": 1}, {"gate_id": 3, "op": "XOR", "in0": 0, "in1": 2}],
        "sum_nodes": [{"node_id": 9, "input_ids": [2], "tau": 1.0, "beta": 0.0},
                      {"node_id": 10, "input_ids": [3], "tau": 1.0, "beta": 0.0}],
        "outputs": [9, 10]}


def variant(path, **change):
    doc = json.loads(json.dumps(GOOD))
    for key, value in change.items():
        doc[key] = value
    path.write_text(json.dumps(doc))
    return path


def bad_native(path, mutate):
    native.save(random_network(4, [4, 4], classes=2), path)
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    mutate(a)
    with open(path, "wb") as f:
        np.savez(f, **a)
    return path


CASES = {
    "unknown op": (lambda p: variant(p, gates=[dict(GOOD["gates"][0], op="MAJ3"), GOOD["gates"][1]]), "unknown op 'MAJ3'"),
    "index out of range": (lambda p: variant(p, gates=[dict(GOOD["gates"][0], in1=77), GOOD["gates"][1]]), "77"),
    "cycle": (lambda p: variant(p, gates=[dict(GOOD["gates"][0], in1=3), GOOD["gates"][1]]), "cycle"),
    "forward reference": (lambda p: bad_native(p.with_suffix(".lgn"), lambda a: a["layer0_inputs"].__setitem__((0, 0), 6)),
                          "forward reference"),
    "group size": (lambda p: variant(p, sum_nodes=[GOOD["sum_nodes"][0], dict(GOOD["sum_nodes"][1], input_ids=[2, 3])]),
                   "equal groups"),
    "group size native": (lambda p: bad_native(p.with_suffix(".lgn"), lambda a: a.__setitem__("classes", np.array(3))),
                          "3 equal groups"),
    "empty network": (lambda p: variant(p, gates=[], sum_nodes=[dict(s, input_ids=[0]) for s in GOOD["sum_nodes"]]),
                      "empty network"),
    "wrong types": (lambda p: variant(p, gates=[dict(GOOD["gates"][0], in0="zero"), GOOD["gates"][1]]), "not of type"),
    "truncated json": (lambda p: (p.write_text(json.dumps(GOOD)[:60]), p)[1], "truncated"),
    "truncated native": (lambda p: (native.save(random_network(4, [4], classes=2), p.with_suffix(".lgn")),
                                    p.with_suffix(".lgn").write_bytes(p.with_suffix(".lgn").read_bytes()[:300]),
                                    p.with_suffix(".lgn"))[2], "m.lgn"),
}


def run(*args):
    return subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_model_gives_one_clear_line(tmp_path, case):
    make, message = CASES[case]
    model = make(tmp_path / "m.json")
    r = run("compile", model, "-o", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(model.name) in lines[0], r.stderr
    assert message in lines[0]
    assert not (tmp_path / "out").exists(), "nothing may be written for a bad model"


def test_good_model_passes_the_same_path(tmp_path):
    model = variant(tmp_path / "m.json")
    r = run("info", model)
    assert r.returncode == 0, r.stderr
    assert "2 inputs, 2 nodes" in r.stdout


def test_too_many_roms_is_one_line(tmp_path):
    native.save(random_network(4, [20], classes=2), tmp_path / "m.lgn")  # 10 outputs per class
    r = run("compile", tmp_path / "m.lgn", "--roms", 2, "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: --roms 2: each ROM counts 10 bits and a class has 10; use at most 1"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arrays, message", [
    (dict(layer0_indices=np.zeros((2, 0), np.int64)), "layer0_indices must be integer [2, 2]"),
    (dict(group_k=np.array([2, 3])), "array 'group_k' must be an integer scalar"),
    (dict(layer0_weights=np.zeros((0, 16), np.float32)), "layer0_weights must be float [out, 16] with out > 0"),
])
def test_malformed_difflogic_layout(tmp_path, arrays, message):
    good = dict(layer0_weights=np.zeros((2, 16), np.float32), layer0_indices=np.zeros((2, 2), np.int64),
                group_k=np.array(2), tau=np.array(1.0))
    np.savez(tmp_path / "d.npz", **{**good, **arrays})
    r = run("info", tmp_path / "d.npz")
    assert r.returncode == 2 and "Traceback" not in r.stderr and message in r.stderr, r.stderr


def bnn_layout(path, **change):
    """A two-layer BNN layout (hidden BN, integer scores), with arrays replaced or (None) removed."""
    rng = np.random.default_rng(0)
    a = dict(bnn_format=np.array("lgn2rtl-bnn/1"), layer0_weight=rng.normal(size=(3, 4)).astype(np.float32),
             layer0_bn_mean=np.zeros(3, np.float32), layer0_bn_var=np.ones(3, np.float32),
             layer0_bn_eps=np.array(1e-5), layer1_weight=rng.normal(size=(2, 3)).astype(np.float32))
    a.update(change)
    with open(path, "wb") as f:
        np.savez(f, **{k: v for k, v in a.items() if v is not None})
    return path


def bnn_native(path, **change):
    from lgn2rtl.ir import Binarized, GroupSum, Network
    net = Network(4, [Binarized(np.tile(np.arange(4), (2, 1)), np.ones((2, 4), np.uint8), np.array([1, 3]))],
                  np.array([4, 5]), GroupSum(2)).validate()
    native.save(net, path)
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    a.update(change)
    with open(path, "wb") as f:
        np.savez(f, **{k: v for k, v in a.items() if v is not None})
    return path


BNN_CASES = {
    "format": (lambda p: bnn_layout(p, bnn_format=np.array("lgn2rtl-bnn/9")), "expected 'lgn2rtl-bnn/1'"),
    "gap": (lambda p: bnn_layout(p, layer0_weight=None, layer0_bn_mean=None, layer0_bn_var=None, layer0_bn_eps=None),
            "'layer0_weight' is missing, but layer 1 exists"),
    "chain": (lambda p: bnn_layout(p, layer1_weight=np.ones((2, 5), np.float32)), "takes 5 inputs, but layer 0 has 3"),
    "nan": (lambda p: bnn_layout(p, layer0_weight=np.full((3, 4), np.nan, np.float32)), "NaN or infinite"),
    "partial bn": (lambda p: bnn_layout(p, layer0_bn_var=None), "'layer0_bn_var' is missing"),
    "negative var": (lambda p: bnn_layout(p, layer0_bn_var=-np.ones(3, np.float32)), "must not be negative"),
    "bn length": (lambda p: bnn_layout(p, layer0_bn_mean=np.zeros(5, np.float32)), "has 5 entries for 3 neurons"),
    "groups": (lambda p: bnn_layout(p, group_k=np.array(3), layer1_bn_mean=np.zeros(2), layer1_bn_var=np.ones(2),
                                    layer1_bn_eps=np.array(1e-5)), "2 outputs do not split into 3"),
    "last bias": (lambda p: bnn_layout(p, layer1_bias=np.ones(2, np.float32)), "without a bias"),
    "last bn": (lambda p: bnn_layout(p, layer1_bn_mean=np.zeros(2), layer1_bn_var=np.ones(2), layer1_bn_eps=np.array(0.1)),
                "batch norm after the last Linear"),
    "coding": (lambda p: bnn_layout(p, input_coding=np.array("bipolar")), "must be one of pm1, 01"),
    "truncated": (lambda p: (bnn_layout(p), p.write_bytes(p.read_bytes()[:200]), p)[2], "not a readable .npz",
                  "--format", "bnn-npz"),
    "native signs": (lambda p: bnn_native(p, layer0_signs=np.full((2, 4), 3, np.uint8)), "sign 0 is 3"),
    "native thresholds": (lambda p: bnn_native(p, layer0_thresholds=np.array([1.5, 2.0])), "'layer0_thresholds' must be integers"),
    "native missing": (lambda p: bnn_native(p, layer0_thresholds=None, layer0_signs=None),
                       "neither 'layer0_tables' (LUT nodes) nor"),
    "native length": (lambda p: bnn_native(p, layer0_thresholds=np.array([1, 2, 3])), "2 neurons but 3 thresholds"),
}


@pytest.mark.parametrize("case", sorted(BNN_CASES))
def test_malformed_bnn_file_gives_one_clear_line(tmp_path, case):
    make, message, *args = BNN_CASES[case]
    model = make(tmp_path / "b.npz")
    r = run("compile", model, *args, "-o", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and model.name in lines[0], r.stderr
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
