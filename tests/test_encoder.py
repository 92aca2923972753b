"""The on-chip thermometer encoder (compile --encoder): the integer rule, the raw-feature
format, the golden model's raw path, cocotb on raw digits, a wrong comparator, and errors."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from lgn2rtl import golden, native
from lgn2rtl.features import MAX_BITS, FeatureError, FeatureFormat, constants
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.importers import load_model
from lgn2rtl.ir import ModelError, Thermometer
from lgn2rtl.sim.runner import simulate
from lgn2rtl.synthetic import random_network
from test_rtl import assert_passes


def with_thresholds(t, widths=(8, 4), k=2, classes=2, seed=0):
    """A random network over the thermometer bits of thresholds ``t`` [features, levels]."""
    t = np.asarray(t, dtype=np.float64)
    net = random_network(t.size, list(widths), k=k, classes=classes, seed=seed)
    return dataclasses.replace(net, encoder=Thermometer(t)).validate()


def codes_to_check(fmt, c, rng):
    """Every code of a narrow format; of a wide one the extremes, random codes and c-1, c, c+1."""
    if fmt.bits <= 12:
        return np.arange(fmt.lo, fmt.hi + 1)
    near = (c.ravel()[:, None] + np.array([-1, 0, 1])).ravel()
    return np.unique(np.clip(np.r_[fmt.lo, fmt.hi, near, rng.integers(fmt.lo, fmt.hi, 2000, endpoint=True)],
                             fmt.lo, fmt.hi))


threshold = st.one_of(st.integers(-40, 40).map(float), st.integers(-300, 300).map(lambda v: v / 16),
                      st.floats(-20, 20, allow_nan=False, width=32), st.floats(-3, 3, allow_nan=False))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(threshold, min_size=1, max_size=5), min_size=1, max_size=3).filter(
           lambda rows: len({len(r) for r in rows}) == 1),
       st.integers(0, 3), st.booleans(), st.integers(0, 2**32 - 1))
def test_integer_rule_is_x_greater_than_t_for_every_code(rows, extra_bits, force_signed, seed):
    """code > floor(t * 2**frac) equals the model's x > t on x = code * 2**-frac, for every code;
    the default format is the narrowest with no constant comparison; clamping keeps the bits."""
    t = np.sort(np.array(rows), axis=1)
    net = with_thresholds(t, widths=(2,), k=1)
    try:
        auto = FeatureFormat.for_network(net, signed=True if force_signed else None)
        fmt = FeatureFormat.for_network(net, bits=min(auto.bits + extra_bits, MAX_BITS), signed=auto.signed)
    except ModelError as e:  # thresholds a float32 step apart can need more than 32 bits
        assert "32-bit" in str(e) or "too close together" in str(e)
        assume(False)
    c = constants(t, fmt.frac)
    # every comparison goes both ways in the range, and one bit fewer breaks that
    assert fmt.lo <= c.min() and c.max() < fmt.hi
    narrower = dataclasses.replace(auto, bits=auto.bits - 1)
    assert auto.bits == 1 or not (narrower.lo <= c.min() and c.max() < narrower.hi)
    # default fraction bits: distinct thresholds stay apart, and one fraction bit fewer merges some
    distinct = np.diff(t, axis=1) != 0
    assert np.all(np.diff(c, axis=1)[distinct] != 0)
    if fmt.frac:
        assert np.any(np.diff(constants(t, fmt.frac - 1), axis=1)[distinct] == 0)
    codes = codes_to_check(fmt, c, np.random.default_rng(seed))
    grid = np.repeat(codes[:, None], len(t), axis=1)
    hardware = (grid[:, :, None] > c[None]).reshape(len(codes), -1)
    assert np.array_equal(hardware, net.encoder.encode(fmt.values(grid)))
    assert np.array_equal(fmt.codes(fmt.values(grid)), grid)
    far = np.array([[fmt.lo * fmt.scale - 1e6] * len(t), [fmt.hi * fmt.scale + 1e6] * len(t)])
    clamped = np.clip(far, fmt.lo * fmt.scale, fmt.hi * fmt.scale)
    assert np.array_equal(net.encoder.encode(far), net.encoder.encode(clamped))


def test_default_formats():
    digits = FeatureFormat.for_network(with_thresholds(np.tile([2, 6, 10, 14], (64, 1))))
    assert digits == FeatureFormat(64, 4, 0, False)  # 14 < 15, the largest 4-bit code
    # on integers x > -0.5 and x > 0.25 differ (x >= 0, x >= 1): no fraction bits; -1 and 0 need -2..1
    assert FeatureFormat.for_network(with_thresholds([[-0.5, 0.25]])) == FeatureFormat(1, 2, 0, True)
    # 0.25 and 0.5 meet on integers, not on halves; 6.5 * 2 = 13 needs codes up to 14
    assert FeatureFormat.for_network(with_thresholds([[-1.5, 0.25, 0.5], [0, 2, 6.5]])) == FeatureFormat(2, 5, 1, True)
    # repeated thresholds: x > 3 three times needs a code above 3
    assert FeatureFormat.for_network(with_thresholds([[3, 3, 3]])) == FeatureFormat(1, 3, 0, False)


def test_pack_puts_feature_f_at_bits_f_times_w():
    fmt = FeatureFormat(3, 4, 1, True)
    bits = fmt.pack(np.array([[-8, 5, -1]]))[0]
    as_int = sum(int(b) << i for i, b in enumerate(bits))
    assert as_int == 0b1000 | 0b0101 << 4 | 0b1111 << 8


@pytest.mark.parametrize("change, message", [
    (dict(bits=3), "3-bit features cannot carry thresholds 2..14: use 4..32 bits"),
    (dict(signed=False, t=[[-1.0, 2.0]]), "unsigned features cannot fall below it"),
    (dict(t=[[1e12, 2e12]]), "need more than 32-bit features"),
])
def test_formats_that_cannot_carry_the_thresholds_are_refused(change, message):
    t = change.pop("t", [[2, 6, 10, 14]])
    with pytest.raises(ModelError, match=message):
        FeatureFormat.for_network(with_thresholds(t), **change)


def test_no_thresholds_no_encoder():
    with pytest.raises(ModelError, match="no thermometer thresholds"):
        FeatureFormat.for_network(random_network(4, [4]))


def test_codes_refuse_what_the_format_cannot_carry():
    fmt = FeatureFormat(2, 4, 2, False)
    assert fmt.codes(np.array([[0.25, 3.75]])).tolist() == [[1, 15]]
    with pytest.raises(FeatureError, match="feature 1 of sample 0 is 4, outside the design's 4-bit unsigned codes"):
        fmt.codes(np.array([[0.0, 4.0]]))
    with pytest.raises(FeatureError, match="is 0.3, not a multiple of 0.25"):
        fmt.codes(np.array([[0.3, 1.0]]))


def test_golden_raw_path_reproduces_torch(fixture_dir, digits_features):
    """Raw pixels through the model's own encoder give torch's scores, computed from the bits."""
    net = load_model(fixture_dir / "difflogic_layout.npz")
    v = np.load(fixture_dir / "vectors.npz")
    scores, classes = golden.predict_features(net, digits_features)
    assert np.array_equal(scores, np.round(v["torch_scores"] * net.head.tau))
    assert np.array_equal(classes, np.argmax(v["torch_scores"], axis=1))
    with pytest.raises(ModelError, match="no thermometer encoder"):
        golden.predict_features(load_model(fixture_dir / "circuit.json"), digits_features)


def run_raw(net, fmt, codes, tmp_path, pipeline, expected=None):
    manifest = compile_design(net, tmp_path / "design", pipeline=pipeline, features=fmt)
    scores, classes = expected or golden.predict_features(net, fmt.values(codes))
    result = simulate(tmp_path / "design", codes, scores, classes, build_dir=tmp_path / "sim")
    return manifest, result


@pytest.mark.parametrize("pipeline", [1, 2])
def test_raw_digits_pass_cocotb(tmp_path, fixture_dir, digits_features, pipeline):
    net = load_model(fixture_dir / "difflogic_layout.npz")
    fmt = FeatureFormat.for_network(net, bits=5)  # pixels reach 16
    manifest, result = run_raw(net, fmt, fmt.codes(digits_features), tmp_path, pipeline)
    assert_passes(manifest, result, 397)
    # the encoder counts as a logic layer for --pipeline: its own stage at 1, shared at 2
    plain = compile_design(net, tmp_path / "plain", pipeline=pipeline)
    assert manifest["latency"] - plain["latency"] == (1 if pipeline == 1 else 0)


def test_wrong_comparator_constant_fails_cocotb(tmp_path, fixture_dir, digits_features):
    net = load_model(fixture_dir / "difflogic_layout.npz")
    fmt = FeatureFormat.for_network(net, bits=5)
    expected = golden.predict_features(net, digits_features)
    # move one threshold by one code: the first that changes a score on these digits
    for f, j in np.ndindex(*net.encoder.thresholds.shape):
        t = net.encoder.thresholds.copy()
        t[f, j] += 1
        bad = dataclasses.replace(net, encoder=Thermometer(t))
        if not np.array_equal(golden.predict_features(bad, digits_features)[0], expected[0]):
            break
    manifest, result = run_raw(bad, fmt, fmt.codes(digits_features), tmp_path, 2, expected=expected)
    assert not result.ok and result.mismatches > 0
    compile_design(net, tmp_path / "good", pipeline=2, features=fmt)
    comparators = [[line for line in (tmp_path / d / "lgn_core.v").read_text().splitlines()
                    if line.startswith("    wire e")] for d in ("design", "good")]
    assert sum(a != b for a, b in zip(*comparators)) == 1  # exactly one comparator constant differs


@pytest.mark.parametrize("t, options", [
    ([[-2.5, -0.125, 0.0, 0.0, 1.75], [-1.0, -1.0, 0.5, 3.0, 7.25], [0.1, 0.2, 0.3, 0.4, 0.5]], {}),
    ([[0, 1, 2, 3, 40], [5, 5, 5, 5, 5], [0, 0, 9, 10, 11]], dict(bits=7, signed=True)),
])
def test_signed_fixed_point_and_repeats_pass_cocotb(tmp_path, t, options):
    """Real, negative and repeated thresholds; random codes over the whole range."""
    net = with_thresholds(t, widths=(60, 30), k=3, classes=3, seed=7)
    fmt = FeatureFormat.for_network(net, **options)
    assert fmt.signed
    codes = np.r_[[[fmt.lo] * 3, [fmt.hi] * 3], fmt.random_codes(300, seed=7)]
    manifest, result = run_raw(net, fmt, codes, tmp_path, pipeline=1)
    assert_passes(manifest, result, len(codes))
    data = manifest["inputs"]["data"]
    assert data == {"name": "i_data", "width": 3 * fmt.bits, "features": {
        "count": 3, "bits": fmt.bits, "signed": True, "frac_bits": fmt.frac, "scale": 2.0 ** -fmt.frac}}
    enc = manifest["input_encoding"]
    assert enc["on_chip"] and enc["integer_thresholds"] == np.floor(np.array(t) * 2 ** fmt.frac).astype(int).tolist()


def lgn2rtl(*args):
    return subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)


def one_line_error(r, *parts):
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and all(p in r.stderr for p in parts), r.stderr


@pytest.fixture
def digits_files(tmp_path, fixture_dir, digits_features):
    np.savez(tmp_path / "features.npz", features=digits_features, y=np.load(fixture_dir / "vectors.npz")["y"])
    return fixture_dir / "difflogic_layout.npz", tmp_path / "features.npz"


def test_cli_predict_on_raw_features(tmp_path, fixture_dir, digits_files):
    model, features = digits_files
    r = lgn2rtl("predict", model, "--vectors", features, "-o", tmp_path / "p.npz")
    assert r.returncode == 0, r.stderr
    v, p = np.load(fixture_dir / "vectors.npz"), np.load(tmp_path / "p.npz")
    assert np.array_equal(p["scores"], np.round(v["torch_scores"] * float(np.load(model)["tau"])))
    assert np.array_equal(p["x"], v["x"]) and np.array_equal(p["features"], np.load(features)["features"])


def test_cli_simulate_encoder_random_fixed_point(tmp_path):
    native.save(with_thresholds([[-1.5, 0.25, 0.5], [0.0, 2.0, 6.5]], widths=(24, 12), k=2, classes=3),
                tmp_path / "m.lgn")
    r = lgn2rtl("simulate", tmp_path / "m.lgn", "--encoder", "--random", 200, "--keep", tmp_path / "keep")
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    features = json.loads((tmp_path / "keep" / "design" / "manifest.json").read_text())["inputs"]["data"]["features"]
    assert features == {"count": 2, "bits": 5, "signed": True, "frac_bits": 1, "scale": 0.5}


def test_cli_errors(tmp_path, fixture_dir, digits_files):
    model, features = digits_files
    one_line_error(lgn2rtl("compile", fixture_dir / "circuit.json", "--encoder", "-o", tmp_path / "o"),
                   "circuit.json", "no thermometer thresholds")
    one_line_error(lgn2rtl("simulate", model, "--encoder", "--vectors", features), "features.npz: "
                   "feature 4 of sample 0 is 16, outside the design's 4-bit unsigned features 0..15")
    one_line_error(lgn2rtl("compile", model, "--encoder", "--feature-bits", 3, "-o", tmp_path / "o"),
                   "difflogic_layout.npz", "use 4..32 bits")
    one_line_error(lgn2rtl("simulate", model, "--encoder", "--vectors", fixture_dir / "vectors.npz"),
                   "takes raw features", "add 'features' [N, 64]")
    one_line_error(lgn2rtl("predict", fixture_dir / "circuit.json", "--vectors", features),
                   "has raw 'features', but the model carries no thermometer encoder")
    r = lgn2rtl("compile", model, "--feature-bits", 5, "-o", tmp_path / "o")
    assert r.returncode == 2 and "need --encoder" in r.stderr
    assert not (tmp_path / "o").exists()
