"""Issue 18's hostile files, each by name: one line naming the file and what is wrong, exit 2.

The readers check every field's type, shape and range before use, read .npy headers before
allocating, refuse duplicate and foreign zip members, and refuse non-finite numbers.
"""
import hashlib
import json

import numpy as np
import pytest

import npzfiles
from inprocess import lgn2rtl
from test_cli_errors import GOOD as GOOD_JSON
from lgn2rtl import native
from lgn2rtl.ir import Binarized, GroupSum, Network
from lgn2rtl.limits import MAX_PORT_BITS
from lgn2rtl.synthetic import random_network

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # the duplicates are the point

DIFFLOGIC = dict(layer0_weights=np.eye(16, dtype=np.float32)[[1, 6]], layer0_indices=np.array([[0, 1], [1, 2]]),
                 group_k=np.array(2), tau=np.array(1.0))
BNN = dict(bnn_format=np.array("lgn2rtl-bnn/1"), layer0_weight=np.ones((3, 4), np.float32),
           layer0_bn_mean=np.zeros(3, np.float32), layer0_bn_var=np.ones(3, np.float32),
           layer0_bn_eps=np.array(1e-5), layer1_weight=np.ones((2, 3), np.float32))
DWN = dict(dwn_format=np.array("lgn2rtl-dwn/1"), layer0_luts=np.array([[-1, 1, 1, -1]] * 4, np.float32),
           layer0_mapping=np.array([[0, 1], [1, 2], [2, 3], [3, 0]]), n_inputs=np.array(4),
           group_k=np.array(2), tau=np.array(1.0))


def lgn(tmp_path, **change):
    """A small native model with arrays replaced (None removes one)."""
    path = tmp_path / "m.lgn"
    native.save(random_network(4, [4, 4], classes=2), path)
    a = {**npzfiles.arrays(path), **change}
    return npzfiles.write(path, {k: v for k, v in a.items() if v is not None})


def layout(tmp_path, base, name="m.npz", extra=(), **change):
    a = {**base, **change}
    return npzfiles.write(tmp_path / name, {k: v for k, v in a.items() if v is not None}, extra)


def text(tmp_path, data, name="m.json"):
    (tmp_path / name).write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return tmp_path / name


def tau_member():
    return [("tau.npy", npzfiles.npy_bytes(np.array(5.0)))]


MODELS = {
    "native n_inputs nan": (lambda p: lgn(p, n_inputs=np.array(np.nan)), "'n_inputs' must be an integer scalar, got float64 nan"),
    "native classes ten": (lambda p: lgn(p, classes=np.array("ten")), "'classes' must be an integer scalar"),
    "native classes 2.5": (lambda p: lgn(p, classes=np.array(2.5)), "'classes' must be an integer scalar, got float64 2.5"),
    "native vector tau": (lambda p: lgn(p, tau=np.array([1.0, 2.0])), "'tau' must be a number (a scalar)"),
    "native tau inf": (lambda p: lgn(p, tau=np.array(np.inf)), "'tau' must be a finite number"),
    "native broken meta": (lambda p: lgn(p, meta=np.array('{"source": ')), "array 'meta' is not valid JSON"),
    "native meta not an object": (lambda p: lgn(p, meta=np.array("[1, 2]")), "'meta' must hold a JSON object"),
    "native float tables": (lambda p: lgn(p, layer0_tables=np.array([1.0, 2.0, 4.0, 8.0])),
                            "'layer0_tables' must be integers"),
    "native foreign member": (lambda p: npzfiles.write(lgn(p), npzfiles.arrays(lgn(p)), [("notes.txt", b"hi")]),
                              "member 'notes.txt' is not a .npy array"),
    "native duplicate tau": (lambda p: npzfiles.write(p / "m.lgn", npzfiles.arrays(lgn(p)), tau_member()),
                             "member 'tau.npy' appears twice"),
    "native unknown array": (lambda p: lgn(p, extra_stuff=np.zeros(3)), "unknown array 'extra_stuff'"),
    "native object array": (lambda p: lgn(p, meta=np.array([{"a": 1}], dtype=object)), "never unpickles"),
    "native declared 10**12": (lambda p: npzfiles.write(p / "m.lgn", npzfiles.arrays(lgn(p, outputs=None)),
                                                        [("outputs.npy", npzfiles.declared([10**12], body=b"\0" * 9000))]),
                               "array 'outputs' declares shape [1000000000000] of float64 (8 TB); lgn2rtl loads at most 2 GB"),
    "native declared more than held": (lambda p: npzfiles.write(p / "m.lgn", npzfiles.arrays(lgn(p, outputs=None)),
                                                                [("outputs.npy", npzfiles.declared([1000], "<i8"))]),
                                       "but its member holds 0 bytes: truncated or corrupt"),
    "native n_inputs 2**40": (lambda p: lgn(p, n_inputs=np.array(2**40)), "'n_inputs' must be 1..67108864, got 1099511627776"),
    "native layers beyond n_layers": (lambda p: lgn(p, n_layers=np.array(1)), "the file has arrays of layer 1, but 'n_layers' says"),
    "native negative tables": (lambda p: lgn(p, layer0_tables=np.array([-1, 2, 3, 4])), "negative truth tables"),
    "difflogic nan group_k": (lambda p: layout(p, DIFFLOGIC, group_k=np.array(np.nan)), "array 'group_k' must be an integer scalar"),
    "difflogic float group_k": (lambda p: layout(p, DIFFLOGIC, group_k=np.array(2.0)), "array 'group_k' must be an integer scalar"),
    "difflogic string n_inputs": (lambda p: layout(p, DIFFLOGIC, n_inputs=np.array("3")), "array 'n_inputs' must be an integer scalar"),
    "difflogic nan weights": (lambda p: layout(p, DIFFLOGIC, layer0_weights=np.full((2, 16), np.nan, np.float32)),
                              "layer0_weights holds NaN or infinite values"),
    "torchlogix tau 0": (lambda p: text(p, {**GOOD_JSON, "sum_nodes": [dict(s, tau=0) for s in GOOD_JSON["sum_nodes"]]}),
                         "sum_nodes/1/tau: 0 is less than or equal to the minimum of 0"),
    "torchlogix bad utf-8": (lambda p: text(p, json.dumps(GOOD_JSON).encode().replace(b'"AND"', b'"\xffND"')),
                             "is not UTF-8 text (byte 0xff at offset"),
    "torchlogix nested 100000 deep": (lambda p: text(p, b'{"n_inputs": 2, "gates": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
                                      "is not valid JSON: nested deeper than"),
    "torchlogix NaN tau": (lambda p: text(p, json.dumps(GOOD_JSON).encode().replace(b'"tau": 1.0', b'"tau": NaN')),
                           "NaN is not a finite number"),
    "torchlogix duplicate key": (lambda p: text(p, b'{"n_inputs": 2, "n_inputs": 3}'), "key 'n_inputs' appears twice"),
    "torchlogix huge n_inputs": (lambda p: text(p, {**GOOD_JSON, "n_inputs": 10**30}), "is greater than the maximum"),
    "bnn var + eps = 0": (lambda p: layout(p, BNN, layer0_bn_var=np.zeros(3, np.float32), layer0_bn_eps=np.array(0.0)),
                          "the batch norm of neuron 0 is not finite in float32 (var + eps is 0"),
    "bnn weight inf": (lambda p: layout(p, BNN, layer1_weight=np.full((2, 3), np.inf, np.float32)),
                       "'layer1_weight' holds NaN or infinite values"),
    "dwn complex luts": (lambda p: layout(p, DWN, layer0_luts=DWN["layer0_luts"].astype(complex)),
                         "array 'layer0_luts' holds complex128 values"),
    "dwn nan luts": (lambda p: layout(p, DWN, layer0_luts=np.full((4, 4), np.nan)), "'layer0_luts' holds NaN"),
    "native 10,011 members": (lambda p: npzfiles.write(p / "m.lgn", npzfiles.arrays(lgn(p)),
                                                       [(f"layer{i}_inputs.npy", b"") for i in range(2, 10_001)]),
                              "holds 10,011 members; lgn2rtl reads archives of at most 10,000 arrays"),
    "dwn foreign member": (lambda p: layout(p, DWN, extra=[("x/y.npy", b"")]), "member 'x/y.npy' is not a .npy array"),
}


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(MODELS))
def test_hostile_model_gets_one_line(tmp_path, case):
    make, message = MODELS[case]
    model = make(tmp_path)
    before = sha(model)
    r = lgn2rtl("info", model)
    assert r.returncode == 2, r.stdout
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {model}"), r.stderr
    assert message in r.stderr
    assert sha(model) == before


def test_good_layouts_load(tmp_path):
    """The bases above are valid, so each case breaks exactly what it names."""
    for path in (lgn(tmp_path), layout(tmp_path, DIFFLOGIC, "d.npz"), layout(tmp_path, BNN, "b.npz"),
                 layout(tmp_path, DWN, "w.npz"), text(tmp_path, GOOD_JSON)):
        r = lgn2rtl("info", path)
        assert r.returncode == 0, (path, r.stderr)


def vectors(tmp_path, **arrays):
    return npzfiles.write(tmp_path / "v.npz", arrays)


X = np.random.default_rng(0).integers(0, 2, (5, 4), dtype=np.uint8)
VECTORS = {
    "y too short": (lambda p: vectors(p, x=X, y=np.zeros(4, np.int64)), "'y' must have shape [5], got [4]"),
    "y one row": (lambda p: vectors(p, x=X, y=np.zeros(1, np.int64)), "'y' must have shape [5], got [1]"),
    "y 2-d": (lambda p: vectors(p, x=X, y=np.zeros((5, 1), np.int64)), "'y' must be integers in 1 dimension"),
    "y float": (lambda p: vectors(p, x=X, y=np.zeros(5)), "'y' must be integers in 1 dimension"),
    "y beyond the classes": (lambda p: vectors(p, x=X, y=np.full(5, 7)), "'y' holds labels 7..7, the model's classes are 0..1"),
    "scores wrong shape": (lambda p: vectors(p, x=X, scores=np.zeros((5, 3), np.int64)), "'scores' must have shape [5, 2], got [5, 3]"),
    "x nan": (lambda p: vectors(p, x=np.full((5, 4), np.nan)), "'x' must be 0/1 bits"),
    "x values": (lambda p: vectors(p, x=X * 3), "'x' must hold 0/1 bits"),
    "x duplicate": (lambda p: npzfiles.write(p / "v.npz", {"x": X}, [("x.npy", npzfiles.npy_bytes(X))]), "member 'x.npy' appears twice"),
    "csv": (lambda p: (p / "v.csv").write_text("1,0,1,1\n0,0,1,0\n") and p / "v.csv", "not a readable .npz archive"),
}


@pytest.mark.parametrize("case", sorted(VECTORS))
def test_hostile_vectors_get_one_line(tmp_path, case):
    make, message = VECTORS[case]
    model, vec = lgn(tmp_path), make(tmp_path)
    before = sha(model), sha(vec)
    r = lgn2rtl("predict", model, "--vectors", vec)
    assert r.returncode == 2, r.stdout
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {vec}"), r.stderr
    assert message in r.stderr
    assert "allow_pickle" not in r.stderr
    assert (sha(model), sha(vec)) == before


def test_vectors_may_carry_other_arrays(tmp_path):
    """A training script's extras (train_bnn_digits.py writes torch_scores) are left unread."""
    model = lgn(tmp_path)
    vec = vectors(tmp_path, x=X, y=np.zeros(5, np.int64), torch_scores=np.zeros((5, 2), np.float32))
    r = lgn2rtl("predict", model, "--vectors", vec)
    assert r.returncode == 0, r.stderr
    assert "5 samples, accuracy" in r.stdout


def wide(tmp_path, n_inputs):
    net = Network(n_inputs, [Binarized(np.array([[0, n_inputs - 1]] * 2), np.ones((2, 2), np.uint8), np.array([1, 2]))],
                  np.array([n_inputs, n_inputs + 1]), GroupSum(2)).validate()
    native.save(net, tmp_path / "wide.lgn")
    return tmp_path / "wide.lgn"


def test_input_bus_wider_than_amaranth_is_refused_before_it(tmp_path):
    model = wide(tmp_path, MAX_PORT_BITS + 1)
    assert lgn2rtl("info", model).returncode == 0  # the model itself is fine
    r = lgn2rtl("compile", model, "-o", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "needs 65,531 input bits on i_data; Amaranth, which builds the top module, takes at most 65,530" in r.stderr
    assert not (tmp_path / "out").exists()


def test_random_count_beyond_memory_is_refused(tmp_path):
    r = lgn2rtl("simulate", lgn(tmp_path), "--random", 10**12)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--random 1000000000000: 1,000,000,000,000 samples of 4 input bits and 2 scores take 28 TB" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["simulate", "--random", 5, "--seed", -1], "Invalid value for '--seed': -1 is not in the range 0<=x<=2147483647"),
    (["prove", "--timeout", "nan"], "Invalid value for '--timeout': 'nan' is not a finite number"),
    (["prove", "--timeout", "inf"], "Invalid value for '--timeout': 'inf' is not a finite number"),
    (["synth", "-o", "syn", "--seed", -5], "Invalid value for '--seed'"),
])
def test_numbers_out_of_range_are_refused(tmp_path, args, message):
    r = lgn2rtl(args[0], lgn(tmp_path), *args[1:])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    assert message in r.stderr and f"(see lgn2rtl {args[0]} --help)" in r.stderr
