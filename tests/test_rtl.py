"""Generated RTL in cocotb (Icarus) against the golden model: every score, class and the latency."""
import numpy as np
import pytest

from lgn2rtl import golden
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.importers import load_model
from lgn2rtl.ir import GroupSum, Layer, Network, op_table
from lgn2rtl.sim.runner import simulate
from lgn2rtl.synthetic import random_network


def run(net, x, tmp_path, pipeline=1, gaps=False, expected=None, roms=0, opt=True):
    manifest = compile_design(net, tmp_path / "design", pipeline=pipeline, opt=opt, roms=roms)
    scores, classes = expected or golden.predict(net, x)
    result = simulate(tmp_path / "design", x, scores, classes, build_dir=tmp_path / "sim", gaps=gaps)
    return manifest, result


def assert_passes(manifest, result, n):
    assert result.errors == [] and result.ok
    assert result.checked == n and result.mismatches == 0
    assert result.latency_measured == manifest["latency"]


def test_all_16_gate_ops(tmp_path):
    # one class per gate (group size 1), so each gate's output is visible on its own score bit
    rng = np.random.default_rng(0)
    ops = np.repeat(np.arange(16), 2)
    pairs = np.array([rng.choice(4, 2, replace=False) for _ in ops])
    net = Network(4, [Layer(pairs, np.array([op_table(o) for o in ops], dtype=np.uint64))],
                  np.arange(4, 36), GroupSum(32)).validate()
    x = np.array([[(v >> i) & 1 for i in range(4)] for v in range(16)] * 4, dtype=np.uint8)
    assert_passes(*run(net, x, tmp_path), len(x))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_random_k_luts(tmp_path, k):
    net = random_network(16, [48, 32, 24], k=k, classes=4, seed=k, skip=True)
    x = np.random.default_rng(k).integers(0, 2, (150, 16), dtype=np.uint8)
    assert_passes(*run(net, x, tmp_path, pipeline=1 + k % 2), len(x))


def test_valid_gaps_are_tracked(tmp_path):
    net = random_network(10, [30, 20], k=2, classes=5, seed=9)
    x = np.random.default_rng(9).integers(0, 2, (100, 10), dtype=np.uint8)
    assert_passes(*run(net, x, tmp_path, gaps=True), len(x))


def test_flipped_truth_table_bit_fails_simulation(tmp_path):
    net = random_network(8, [24, 16], k=3, classes=2, seed=4)
    x = np.random.default_rng(4).integers(0, 2, (120, 8), dtype=np.uint8)
    expected = golden.predict(net, x)
    # flip the first table bit that changes some score on these vectors, then build the RTL from that
    layer = net.layers[-1]
    for node in range(len(layer)):
        for bit in range(8):
            tables = layer.tables.copy()
            tables[node] ^= np.uint64(1 << bit)
            bad = Network(net.n_inputs, net.layers[:-1] + [Layer(layer.inputs, tables)], net.outputs, net.head)
            if not np.array_equal(golden.scores(bad, x), expected[0]):
                break
        else:
            continue
        break
    manifest, result = run(bad, x, tmp_path, expected=expected)
    assert not result.ok and result.mismatches > 0
    first = result.first_mismatch
    assert first["expected_scores"] == expected[0][first["index"]].tolist()
    assert first["got_scores"] != first["expected_scores"]


@pytest.mark.parametrize("pipeline, roms, opt", [(1, 0, True), (2, 3, True), (3, 0, True), (1, 0, False)])
def test_fixture_all_rows(tmp_path, fixture_dir, pipeline, roms, opt):
    net = load_model(fixture_dir / "circuit.json")
    v = np.load(fixture_dir / "vectors.npz")
    manifest, result = run(net, v["x"], tmp_path, pipeline, roms=roms, opt=opt)
    assert manifest["nodes"]["after_opt"] == (486 if opt else 984)
    assert_passes(manifest, result, 397)


def test_difflogic_layout_compiles_to_the_same_function(tmp_path, fixture_dir):
    net = load_model(fixture_dir / "difflogic_layout.npz")
    v = np.load(fixture_dir / "vectors.npz")
    # checked against the JSON export's golden scores: both paths must be the same hardware function
    json_scores = golden.scores(load_model(fixture_dir / "circuit.json"), v["x"])
    manifest, result = run(net, v["x"], tmp_path, 2, expected=(json_scores, np.argmax(json_scores, axis=1)))
    assert_passes(manifest, result, 397)
