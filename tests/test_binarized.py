"""Binarized layers: the golden model against a per-sample evaluator, validation, the native file, and RTL."""
import numpy as np
import pytest

from lgn2rtl import golden, native
from lgn2rtl.ir import Binarized, GroupSum, Layer, ModelError, Network
from lgn2rtl.synthetic import random_network
from test_rtl import assert_passes, run


def naive(net, x):
    """Scores and every neuron's count, one sample and one node at a time, from the ir.py rules."""
    scores = np.zeros((len(x), net.head.classes), dtype=np.int64)
    counts = {i: np.zeros((len(x), len(layer)), dtype=np.int64)
              for i, layer in enumerate(net.layers) if isinstance(layer, Binarized)}
    for s, row in enumerate(x):
        val = [int(b) for b in row]
        for i, layer in enumerate(net.layers):
            if isinstance(layer, Binarized):
                for j, (ins, signs, theta) in enumerate(zip(layer.inputs.tolist(), layer.signs.tolist(),
                                                            layer.thresholds.tolist())):
                    # ±1 dot product of inputs and weights, bit 1 = +1
                    dot = sum((2 * val[i_] - 1) * (2 * w - 1) for i_, w in zip(ins, signs))
                    counts[i][s, j] = (dot + len(ins)) // 2
                    val.append(int(counts[i][s, j] >= theta))
            else:
                for ins, table in zip(layer.inputs.tolist(), layer.tables.tolist()):
                    val.append((table >> sum(val[i_] << m for m, i_ in enumerate(ins))) & 1)
        g = net.group_size
        bits = [val[o] for o in net.outputs]
        scores[s] = [sum(bits[c * g:(c + 1) * g]) for c in range(net.head.classes)]
    return scores, counts


# odd and even fan-in, a BNN front end feeding gates, gates feeding neurons, skip connections
MIXED = [([-7, 2, -4], False), ([-8, -5], False), ([3, -6, 2], True), ([-1], False), ([-12, -3, 1], True)]


@pytest.mark.parametrize("ks, skip", MIXED)
def test_golden_matches_naive_on_mixed_networks(ks, skip):
    net = random_network(12, [24] * len(ks), k=ks, classes=4, seed=len(ks), skip=skip)
    x = np.random.default_rng(1).integers(0, 2, (150, 12), dtype=np.uint8)  # 150: partial last word
    want_scores, want_counts = naive(net, x)
    assert np.array_equal(golden.scores(net, x), want_scores)
    got = golden.binarized_counts(net, x)
    assert got.keys() == want_counts.keys() and all(np.array_equal(got[i], want_counts[i]) for i in got)


def test_threshold_edges_are_constants():
    # theta <= 0 fires on every input, theta > F on none, theta = F only when all agree
    fan_in = 5
    layer = Binarized(np.tile(np.arange(fan_in), (4, 1)), np.ones((4, fan_in), dtype=np.uint8),
                      np.array([0, -3, fan_in + 1, fan_in]))
    net = Network(fan_in, [layer], np.arange(fan_in, fan_in + 4), GroupSum(4)).validate()
    x = np.array([[(v >> i) & 1 for i in range(fan_in)] for v in range(32)], dtype=np.uint8)
    s = golden.scores(net, x)
    assert s[:, 0].tolist() == [1] * 32 and s[:, 1].tolist() == [1] * 32 and s[:, 2].tolist() == [0] * 32
    assert s[:, 3].tolist() == [int(v == 31) for v in range(32)]


@pytest.mark.parametrize("change, message", [
    (dict(signs=np.full((2, 3), 2, np.uint8)), "sign 0 is 2"),
    (dict(signs=np.ones((2, 4), np.uint8)), "inputs' shape [2, 3]"),
    (dict(signs=np.ones((2, 3), np.float32)), "0/1 integer array"),
    (dict(thresholds=np.array([1, 2, 3])), "2 neurons but 3 thresholds"),
    (dict(thresholds=np.array([1.5, 2.0])), "thresholds must be a 1-d integer array"),
    (dict(inputs=np.array([[0, 1, 4], [0, 1, 2]])), "forward reference"),
    (dict(inputs=np.zeros((2, 0), np.int64), signs=np.zeros((2, 0), np.uint8)), "at least one input"),
])
def test_validation_names_the_broken_rule(change, message):
    good = dict(inputs=np.array([[0, 1, 2], [2, 1, 0]]), signs=np.ones((2, 3), np.uint8), thresholds=np.array([1, 2]))
    with pytest.raises(ModelError, match=message.replace("[", r"\[")):
        Network(3, [Binarized(**{**good, **change})], np.array([3, 4]), GroupSum(2)).validate()


def test_native_file_roundtrip_and_version(tmp_path):
    net = random_network(10, [20, 16, 8], k=[-5, 2, -6], classes=2, seed=3)
    native.save(net, tmp_path / "m.lgn")
    back = native.load(tmp_path / "m.lgn")
    assert [type(layer).__name__ for layer in back.layers] == ["Binarized", "Layer", "Binarized"]
    for a, b in zip(net.layers[::2], back.layers[::2]):
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.signs, b.signs)
        assert np.array_equal(a.thresholds, b.thresholds)
    with np.load(tmp_path / "m.lgn") as z:
        assert str(z["format"]) == native.FORMAT_BINARIZED
    native.save(random_network(4, [4], classes=2), tmp_path / "luts.lgn")  # no neurons: still readable by /1 readers
    with np.load(tmp_path / "luts.lgn") as z:
        assert str(z["format"]) == native.FORMAT


@pytest.mark.parametrize("ks, pipeline, opt", [([-7, 2, -4], 1, True), ([-8, -5], 2, True), ([3, -6, 2], 2, False),
                                               ([-12, -3, 1], 3, True)])
def test_mixed_networks_in_cocotb(tmp_path, ks, pipeline, opt):
    net = random_network(12, [24] * len(ks), k=ks, classes=4, seed=len(ks), skip=True)
    x = np.random.default_rng(2).integers(0, 2, (120, 12), dtype=np.uint8)
    manifest, result = run(net, x, tmp_path, pipeline, opt=opt)
    assert_passes(manifest, result, len(x))
    assert [b["fan_in"] for b in manifest["binarized_layers"]] == [-k for k in ks if k < 0]


def test_flipped_weight_fails_simulation(tmp_path):
    net = random_network(10, [16, 8], k=[-9, -4], classes=2, seed=5)
    x = np.random.default_rng(5).integers(0, 2, (200, 10), dtype=np.uint8)
    expected = golden.predict(net, x)
    first = net.layers[0]
    for j in range(len(first)):  # the first single change that moves some score on these vectors
        signs, thresholds = first.signs.copy(), first.thresholds.copy()
        signs[j, 0] ^= 1
        bad = Network(net.n_inputs, [Binarized(first.inputs, signs, thresholds), net.layers[1]], net.outputs, net.head)
        if not np.array_equal(golden.scores(bad, x), expected[0]):
            break
    else:
        pytest.fail("no single sign flip changes a score")
    manifest, result = run(bad, x, tmp_path, expected=expected)
    assert not result.ok and result.mismatches > 0


@pytest.mark.parametrize("pipeline", [1, 2])
def test_binarized_front_end_behind_the_on_chip_encoder(tmp_path, pipeline):
    # raw feature codes -> comparators -> neurons reading thermometer bits -> gates
    from test_encoder import run_raw, with_thresholds
    from lgn2rtl.features import FeatureFormat
    net = with_thresholds([[0.5, 1.5, 2.5], [-1.0, 0.0, 3.0], [2.0, 2.0, 4.0]], widths=(16, 12), k=[-7, 2],
                          classes=3, seed=11)
    fmt = FeatureFormat.for_network(net)
    manifest, result = run_raw(net, fmt, fmt.random_codes(200, seed=1), tmp_path, pipeline)
    assert_passes(manifest, result, 200)
