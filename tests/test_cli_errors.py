"""Every malformed model from DESIGN.md "Errors", fed to `lgn2rtl compile`: one line, exit 2, no traceback."""
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
    (dict(group_k=np.array([2, 3])), "'group_k' (GroupSum classes) must be a number"),
    (dict(layer0_weights=np.zeros((0, 16), np.float32)), "layer0_weights must be float [out, 16] with out > 0"),
])
def test_malformed_difflogic_layout(tmp_path, arrays, message):
    good = dict(layer0_weights=np.zeros((2, 16), np.float32), layer0_indices=np.zeros((2, 2), np.int64),
                group_k=np.array(2), tau=np.array(1.0))
    np.savez(tmp_path / "d.npz", **{**good, **arrays})
    r = run("info", tmp_path / "d.npz")
    assert r.returncode == 2 and "Traceback" not in r.stderr and message in r.stderr, r.stderr
