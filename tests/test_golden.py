"""The golden model against a deliberately naive per-sample evaluator, and against the fixture."""
import numpy as np
import pytest

from lgn2rtl import golden
from lgn2rtl.importers import load_model
from lgn2rtl.ir import ModelError, op_table
from lgn2rtl.synthetic import random_network


def naive_scores(net, x):
    """One sample, one node at a time, straight from the docs/semantics.md formula."""
    out = np.zeros((len(x), net.head.classes), dtype=np.int64)
    for s, row in enumerate(x):
        val = list(int(b) for b in row)
        for layer in net.layers:
            for ins, table in zip(layer.inputs.tolist(), layer.tables.tolist()):
                addr = sum(val[i] << m for m, i in enumerate(ins))
                val.append((table >> addr) & 1)
        bits = [val[o] for o in net.outputs]
        g = net.group_size
        out[s] = [sum(bits[c * g:(c + 1) * g]) for c in range(net.head.classes)]
    return out


def test_op_table_matches_design_formula():
    for op in range(16):
        t = op_table(op)
        for a in (0, 1):
            for b in (0, 1):
                assert (t >> (a + 2 * b)) & 1 == (op >> (3 - (2 * a + b))) & 1


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5, 6])
def test_random_luts_match_naive(k):
    net = random_network(12, [40, 30, 20], k=k, classes=4, seed=k, skip=True)
    x = np.random.default_rng(k).integers(0, 2, (130, 12), dtype=np.uint8)  # 130: partial last word
    assert np.array_equal(golden.scores(net, x), naive_scores(net, x))


def test_argmax_ties_go_to_lowest_class():
    net = random_network(4, [8], k=1, classes=4, seed=0)
    x = np.zeros((1, 4), dtype=np.uint8)
    s, c = golden.predict(net, x)
    assert c[0] == int(np.flatnonzero(s[0] == s[0].max())[0])


def test_pack_roundtrip():
    x = np.random.default_rng(1).integers(0, 2, (200, 7), dtype=np.uint8)
    assert np.array_equal(golden.unpack(golden.pack(x), 200), x)


def test_fixture_scores_are_torch_scores_times_tau(fixture_dir):
    net = load_model(fixture_dir / "circuit.json")
    v = np.load(fixture_dir / "vectors.npz")
    s, c = golden.predict(net, v["x"])
    assert s.shape == (397, 10)
    assert np.array_equal(s, np.round(v["torch_scores"] * net.head.tau).astype(np.int64))
    assert np.mean(c == v["y"]) == pytest.approx(0.9093, abs=1e-3)


def test_wrong_input_width_is_a_model_error():
    net = random_network(4, [4], classes=2)
    with pytest.raises(ModelError, match=r"\[N, 4\]"):
        golden.scores(net, np.zeros((3, 5), dtype=np.uint8))
