"""Live torchlogix conv models (LogicConv2d, OrPooling2d) through from_module, the native file and the hardware.

The ground truth in tests/data/torchlogix_conv/ comes from the real torchlogix 0.2.2
(examples/train_conv_digits.py, Python 3.12; see the PROVENANCE there): a model trained on
digits scaled to 16x16, random models of other lut_ranks and parametrizations, their
parameters and their eval-mode outputs. Here the parameters become duck-typed modules with
torchlogix's attribute and class names; the ``real_`` tests rebuild the real modules and are
skipped where torchlogix is not importable (Python < 3.12).
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lgn2rtl import golden, native
from lgn2rtl.conv import ConvNetwork, OrPool
from lgn2rtl.importers.torchlogix import from_dict, from_module
from lgn2rtl.ir import GroupSum as Head, Layer, ModelError, Network, Thermometer
from test_rtl import assert_passes, run
from test_torchlogix_live import PARAMETRIZATIONS, Flatten, GroupSum, peer_script, real

DATA = Path(__file__).parent / "data" / "torchlogix_conv"
CASES = sorted(p.stem for p in DATA.glob("*.npz"))
IMAGE = (2, 16, 16)


def case(name):
    with np.load(DATA / f"{name}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _value(v):
    return tuple(int(x) for x in v) if v.ndim else v.item()


class Parametrized:
    def __init__(self, a, p):
        self.lut_rank = int(a[p + "lut_rank"])
        self.parametrization = PARAMETRIZATIONS[str(a[p + "parametrization"])]()


class LogicConv2d(Parametrized):
    def __init__(self, a, p):
        super().__init__(a, p)
        for name in ("in_dim", "channels", "num_kernels", "tree_depth", "receptive_field_size", "stride", "padding"):
            setattr(self, name, _value(a[p + name]))
        self.tree_weights = [torch.from_numpy(a[f"{p}tree_weights{lv}"]) for lv in range(self.tree_depth)]
        self.connections = type("FixedConvConnections", (), {"indices": [torch.from_numpy(a[p + "indices"])]})()


class LogicDense(Parametrized):
    def __init__(self, a, p):
        super().__init__(a, p)
        self.in_dim, self.weight = int(a[p + "in_dim"]), torch.from_numpy(a[p + "weight"])
        self.connections = type("FixedDenseConnections", (), {"indices": torch.from_numpy(a[p + "indices"])})()


class OrPooling2d:
    def __init__(self, a, p):
        self.kernel_size, self.stride, self.padding = (_value(a[p + n]) for n in ("kernel_size", "stride", "padding"))


def duck_model(a):
    mods = []
    for j in range(int(a["n_modules"])):
        kind, p = str(a[f"module{j}_kind"]), f"module{j}_"
        if kind == "GroupSum":
            mods.append(GroupSum(int(a[p + "k"]), float(a[p + "tau"]), float(a[p + "beta"])))
        else:
            mods.append(Flatten() if kind == "Flatten" else globals()[kind](a, p))
    return mods


def expected(a):
    g = duck_model(a)[-1]
    return np.round(a["out"].astype(np.float64) * g.tau - g.beta).astype(np.int64), a["out"].argmax(-1)


def assert_reproduces(net, a):
    scores, classes = golden.predict(net, a["x"])
    want_scores, want_classes = expected(a)
    assert np.array_equal(scores, want_scores) and np.array_equal(classes, want_classes)


@pytest.mark.parametrize("name", CASES)
def test_golden_reproduces_torchlogix_conv_eval(name):
    a = case(name)
    assert len(np.unique(expected(a)[0], axis=0)) > 20  # the outputs vary, so a wrong table shows
    model = from_module(duck_model(a))
    assert isinstance(model, ConvNetwork) and model.meta["source"] == "torchlogix-module"
    assert model.in_shape == IMAGE and [type(s).__name__ for s in model.stages] == ["Conv", "OrPool", "Conv", "OrPool"]
    assert_reproduces(model, a)
    assert_reproduces(model.lower(), a)


def test_trained_model_learned_digits():
    a = case("digits16")
    assert np.mean(a["out"].argmax(-1) == a["y"]) > 0.8


@pytest.mark.parametrize("name", ["digits16", "random_warp4"])
def test_native_file_keeps_the_conv_stages(tmp_path, name):
    a = case(name)
    model = from_module(duck_model(a))
    native.save(model, tmp_path / "m.lgn")
    back = native.read(tmp_path / "m.lgn")
    assert isinstance(back, ConvNetwork) and back.meta == model.meta and back.shapes() == model.shapes()
    assert_reproduces(back, a)
    flat = native.load(tmp_path / "m.lgn")  # what every CLI command reads: the unrolled network
    assert isinstance(flat, Network) and flat.digest() == model.lower().digest()
    with np.load(tmp_path / "m.lgn") as z:
        assert str(z["format"]) == "lgn2rtl-model/4"


def _rewrite(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files} | changes
    with open(dst, "wb") as f:  # np.savez would add .npz to a path
        np.savez(f, **{k: v for k, v in arrays.items() if v is not None})


def test_native_file_refusals_are_one_line(tmp_path):
    native.save(from_module(duck_model(case("random_light6"))), tmp_path / "m.lgn")
    for changes, message in [
        ({"format": np.array("lgn2rtl-model/5")}, r"format 'lgn2rtl-model/5' is not one of .*; upgrade lgn2rtl"),
        ({"format": np.array("lgn2rtl-model/1")}, r"conv stages in a 'lgn2rtl-model/1' file; they belong in "
                                                  r"'lgn2rtl-model/4' files"),
        ({"stage1_geometry": np.array([[3, 2], [2, 2], [0, 0]])},
         r"stage 1 \(or-pool\): a 3x2 window every 2 does not tile the input's height 16"),
        ({"conv_in_shape": np.array([2, 16, 12])}, r"the dense layers read 54 inputs, but the last feature map is "
                                                   r"6x3x2 = 36 bits$"),
        ({"stage0_field": None}, r"stage 0 has LUT levels but no 'stage0_field' \(the leaves they read\)$"),
    ]:
        _rewrite(tmp_path / "m.lgn", tmp_path / "bad.lgn", **changes)
        with pytest.raises(ModelError) as e:
            native.read(tmp_path / "bad.lgn")
        assert "\n" not in str(e.value) and str(e.value).startswith(f"{tmp_path / 'bad.lgn'}: ")
        assert re.search(message, str(e.value)), str(e.value)


def _set(j, attr, value):
    def change(model):
        setattr(model[j], attr, value)
    return change


def _channel_4(model):
    model[2].connections.indices[0][0, 1, :, 2, 2] = 4  # at every position: the field's channel 4 of 0..3


@pytest.mark.parametrize("change, message", [
    (_set(0, "receptive_field_size", (20, 3)), r"^model\[0\] \(LogicConv2d\): window 20x3 is larger than its 16x16 input "
                                               r"\(padded to 18x18\)$"),
    (_set(1, "kernel_size", 3), r"^model\[1\] \(OrPooling2d\): a 3x3 window every 2 does not tile the input's height 16"),
    (_set(2, "channels", 3), r"^model\[2\] \(LogicConv2d\): reads 3 channels of 8x8, but the stage before makes 4x8x8$"),
    (_set(0, "stride", 0), r"^model\[0\] \(LogicConv2d\): stride must be an integer >= 1 or two of them, got 0$"),
    (lambda m: m.pop(4), r"model\[4\] \(LogicDense\) is neither a LogicConv2d nor an OrPooling2d"),
    (_set(5, "in_dim", 100), r"model\[5\] \(LogicDense\): in_dim is 100, but the model has 54 outputs"),
    (_channel_4, r"^model\[2\] \(LogicConv2d\): output channel 1 leaf 4 reads channel 4; the input has channels 0..3$"),
    (_set(0, "tree_depth", 2), r"^model\[0\] \(LogicConv2d\): connections.indices\[0\] must be integer "
                               r"\[2, 4, 256, 2, 3\]"),
])
def test_bad_conv_modules_get_one_clear_error(change, message):
    model = duck_model(case("random_warp2"))
    change(model)
    with pytest.raises(ModelError, match=message):
        from_module(model)


def test_a_field_that_is_not_slid_is_refused():
    model = duck_model(case("random_warp2"))
    model[0].connections.indices[0][0, 0, 5, 0, 0] += 1
    with pytest.raises(ModelError, match=r"model\[0\] \(LogicConv2d\): its connections are not one receptive field "
                                         "slid over every position"):
        from_module(model)


def test_conv_models_do_not_go_through_the_flat_export():
    with pytest.raises(ModelError, match="export=True reads flat circuits; a convolutional model is read from"):
        from_module(duck_model(case("random_warp2")), export=True)


class FixedBinarization:
    def __init__(self, thresholds, feature_dim=1):
        self.thresholds, self.feature_dim = torch.tensor(thresholds), feature_dim


def raw_pixels(x):
    """Pixel values [N, 256] whose thermometer at the fixture's levels (pixel > 4, pixel > 10) gives
    the stored canvases x (channel 0 the lower level, channel 1 the upper)."""
    low, high = x.reshape(len(x), 2, -1).transpose(1, 0, 2)
    return np.where(high == 1, 12.0, np.where(low == 1, 7.0, 0.0))


def test_thermometer_in_front_of_the_trained_conv_model(tmp_path):
    # raw pixels through a thermometer of levels (4, 10), feature_dim=1, make the image torchlogix saw
    a = case("digits16")
    model = from_module([FixedBinarization([[4.0, 10.0]])] + duck_model(a))
    assert model.in_shape == IMAGE and model.encoder.thresholds.shape == (256, 2)
    features = raw_pixels(a["x"])
    want_scores, want_classes = expected(a)
    for net in (model, model.lower()):
        scores, classes = golden.predict_features(net, features)
        assert np.array_equal(scores, want_scores) and np.array_equal(classes, want_classes)
    native.save(model, tmp_path / "m.lgn")
    back = native.read(tmp_path / "m.lgn")
    assert np.array_equal(back.encoder.thresholds, model.encoder.thresholds)
    assert back.lower().digest() == model.lower().digest()
    # the hardware encodes the raw pixels on chip (--encoder) and still equals torchlogix
    np.savez(tmp_path / "v.npz", features=features, y=a["y"], scores=want_scores)
    r = subprocess.run([sys.executable, "-m", "lgn2rtl", "simulate", tmp_path / "m.lgn", "--encoder",
                        "--vectors", tmp_path / "v.npz"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"samples {len(features)}/{len(features)}\s+mismatches 0", r.stdout)


@pytest.mark.parametrize("binarization, message", [
    (FixedBinarization([[4.0, 10.0]], feature_dim=-2),
     r"^model\[0\] \(FixedBinarization\): feature_dim=-2; in front of a LogicConv2d lgn2rtl reads feature_dim=1"),
    (FixedBinarization([[1.0, 2.0], [3.0, 4.0]]),
     r"^model\[0\] \(FixedBinarization\): thresholds \[2, 2\] make 4 channels, but the LogicConv2d after it reads 2$"),
    (FixedBinarization([1.0, 2.0, 3.0]),
     r"^model\[0\] \(FixedBinarization\): 3 levels per pixel do not divide the 2 channels"),
    (FixedBinarization([[10.0, 4.0]]), r"encoder thresholds must be finite and ascending per feature$"),
])
def test_a_thermometer_that_does_not_fit_is_refused(binarization, message):
    with pytest.raises(ModelError, match=message):
        from_module([binarization] + duck_model(case("random_warp2")))


def test_predict_on_the_native_file_equals_torchlogix(tmp_path):
    a = case("digits16")
    native.save(from_module(duck_model(a)), tmp_path / "m.lgn")
    np.savez(tmp_path / "v.npz", x=a["x"], y=a["y"])
    r = subprocess.run([sys.executable, "-m", "lgn2rtl", "predict", tmp_path / "m.lgn", "--vectors", tmp_path / "v.npz",
                        "-o", tmp_path / "p.npz"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "p.npz") as p:
        assert np.array_equal(p["scores"], expected(a)[0]) and np.array_equal(p["class"], expected(a)[1])


def test_hardware_reproduces_torchlogix_conv(tmp_path):
    # the trained model: 20k nodes unrolled, 1.8k after -O1 (the random cases' LUTs do not fold)
    a = case("digits16")
    flat = from_module(duck_model(a)).lower()
    assert_passes(*run(flat, a["x"], tmp_path, pipeline=2, expected=expected(a)), len(a["x"]))


def test_torchlogix_json_export_of_the_trained_model_is_the_same_function():
    path = DATA / "circuit.json"
    if not path.exists():
        pytest.skip("torchlogix did not export the model (see PROVENANCE)")
    a = case("digits16")
    assert_reproduces(from_dict(json.loads(path.read_text())), a)


# The real torchlogix (Python >= 3.12)

def _peer():
    return peer_script(DATA.parents[2] / "examples" / "train_conv_digits.py", "tests/data/torchlogix_conv")


@pytest.fixture(scope="module")
def maker():
    return _peer()[1]


@pytest.fixture(scope="module")
def layers():
    """torchlogix.layers, or a skip where torchlogix does not import."""
    return _peer()[0].layers


@real
@pytest.mark.parametrize("name", CASES)
def test_real_torchlogix_gives_the_stored_outputs(maker, name):
    a = case(name)
    rank, parametrization = int(a["module0_lut_rank"]), str(a["module0_parametrization"])
    model = maker.build(rank, {"RawLUTParametrization": "raw", "WarpLUTParametrization": "warp",
                               "LightLUTParametrization": "light"}[parametrization],
                        *((640, (8, 16)) if name == "digits16" else (60, (4, 6))))  # as the script built them
    maker.load_arrays(model, a)
    assert np.array_equal(maker.eval_out(model, a["x"], IMAGE), a["out"])
    assert_reproduces(from_module(model), a)


@real
# seeds whose scores vary over the digits (raw seed 12 collapses every row to one score vector; lut_rank 1,
# a chain of one-input LUTs per kernel, did so for 7 seeds of 8)
@pytest.mark.parametrize("parametrization, rank, seed", [("raw", 2, 31), ("warp", 6, 16), ("light", 2, 12),
                                                         ("light", 4, 14)])
def test_real_random_conv_models(maker, parametrization, rank, seed):
    model = maker.random_model(rank, parametrization, seed)
    x = case("digits16")["x"]  # sparse images: on random bits the OR-pooling saturates
    a = {"x": x, "out": maker.eval_out(model, x, IMAGE), **maker.arrays(model)}
    assert len(np.unique(a["out"], axis=0)) > 20
    assert_reproduces(from_module(model), a)


@real
def test_real_thermometer_in_front_of_a_conv_model(maker, layers):
    # torchlogix's own binarization (feature_dim=1) on raw pixels, then the trained model
    a = case("digits16")
    trained = maker.build()
    maker.load_arrays(trained, a)
    model = torch.nn.Sequential(layers.FixedBinarization(torch.tensor([[4.0, 10.0]]), feature_dim=1), *trained)
    features = raw_pixels(a["x"])
    assert np.array_equal(maker.eval_out(model, features.astype(np.float32), (1, 16, 16)), a["out"])
    scores, classes = golden.predict_features(from_module(model), features)
    assert np.array_equal(scores, expected(a)[0]) and np.array_equal(classes, expected(a)[1])


@real
def test_real_thermometer_orders_channels_c_times_levels_plus_j(layers):
    # two raw channels of three levels each: the layout that input_ids assumes, from torchlogix itself
    rng = np.random.default_rng(0)
    thresholds = np.sort(rng.normal(size=(2, 3)), axis=1).astype(np.float32)
    x = rng.normal(size=(50, 2, 4, 5)).astype(np.float32)
    theirs = layers.FixedBinarization(torch.from_numpy(thresholds), feature_dim=1)(torch.from_numpy(x)).numpy()
    dense = Network(120, [Layer(np.arange(120)[:, None], np.full(120, 2, dtype=np.uint64))],
                    np.arange(120, 240), Head(120))
    model = ConvNetwork((6, 4, 5), [OrPool((1, 1), (1, 1), (0, 0))], dense,
                        encoder=Thermometer(np.repeat(thresholds.astype(np.float64), 20, axis=0))).validate()
    ours = golden.feature_map(model, model.encoder.encode(x.reshape(50, -1).astype(np.float64)))
    assert np.array_equal(ours, theirs.reshape(50, -1))



@real
def test_real_trained_model_streams_as_torchlogix_computes(maker, tmp_path):
    # the live torchlogix module, not the duck-typed one: imported, compiled with the streaming
    # lowering and run in cocotb with gaps, every answer torchlogix's own eval output
    from lgn2rtl.hdl.emit import compile_design
    from lgn2rtl.sim.runner import simulate
    a = case("digits16")
    model = maker.build(2, "raw", 640, (8, 16))  # as the script built it
    maker.load_arrays(model, a)
    x = a["x"][:12]
    assert np.array_equal(maker.eval_out(model, x, IMAGE), a["out"][:12])
    scores, classes = (v[:12] for v in expected(a))
    compile_design(from_module(model), tmp_path / "design", lowering="streaming")
    r = simulate(tmp_path / "design", x, scores, classes, gaps=True, build_dir=tmp_path / "sim")
    assert r.ok and (r.checked, r.mismatches) == (12, 0), r.errors

# The shipped example and the CLI's view of a conv model

EXAMPLE = DATA.parents[2] / "examples" / "conv_digits.lgn"


def lgn2rtl(*args):
    r = subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_shipped_conv_example_is_the_fixture_model_and_simulates_bit_exact():
    a = case("digits16")
    shipped = native.read(EXAMPLE)
    assert isinstance(shipped, ConvNetwork)
    assert shipped.lower().digest() == from_module(duck_model(a)).lower().digest()
    with np.load(EXAMPLE.with_name("conv_digits_vectors.npz")) as v:
        assert np.array_equal(v["x"], a["x"]) and np.array_equal(v["y"], a["y"])
        assert np.array_equal(v["scores"], expected(a)[0])  # torchlogix's eval output, as counts
    vectors = EXAMPLE.with_name("conv_digits_vectors.npz")
    assert "0 rows differ from the file's scores" in lgn2rtl("predict", EXAMPLE, "--vectors", vectors)
    sim = lgn2rtl("simulate", EXAMPLE, "--vectors", vectors)
    assert re.search(rf"samples {len(a['x'])}/{len(a['x'])}\s+mismatches 0", sim) and sim.rstrip().endswith("PASS")


def test_info_shows_the_conv_stages_and_the_dense_head():
    model = native.read(EXAMPLE)
    text = lgn2rtl("info", EXAMPLE)
    shapes = ["x".join(map(str, s)) for s in model.shapes()]
    conv_table = text.split("dense head:")[0]  # the dense head's table follows, with rows of its own
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in conv_table.splitlines()
            if line.count("│") == 5]
    # a row's cells may wrap onto the next line; join each stage's lines
    stages = {}
    for row in rows:
        key = row[0] or max(stages)
        stages[key] = [f"{old} {new}".strip() for old, new in zip(stages.get(key, [""] * 4), row)]
    assert sorted(stages) == [str(i) for i in range(len(model.stages))]
    for i, stage in enumerate(model.stages):
        _, window, inout, what = stages[str(i)]
        assert inout == f"{shapes[i]} -> {shapes[i + 1]}"
        if hasattr(stage, "levels"):
            nodes = "+".join(str(level.inputs.shape[1]) for level in stage.levels)
            assert window.startswith(f"conv {stage.kernel[0]}x{stage.kernel[1]}, stride {stage.stride[0]}x")
            assert f"padding {stage.padding[0]}x{stage.padding[1]}" in window
            assert what.startswith(f"{stage.field.shape[1]} leaves, {nodes} nodes")
        else:
            assert window.startswith(f"or-pool {stage.size[0]}x{stage.size[1]}, stride {stage.stride[0]}x")
    assert f"dense head: {model.dense.n_inputs} inputs" in text
    assert f"{model.dense.n_nodes} nodes, {len(model.dense.layers)} layers" in text
    # the passes still report the unrolled network that compile reads
    assert f"the network unrolled: {model.lower().n_nodes} nodes" in text


def test_import_of_a_conv_model_keeps_its_stages(tmp_path):
    said = lgn2rtl("import", EXAMPLE, "-o", tmp_path / "m.lgn")
    model, back = native.read(EXAMPLE), native.read(tmp_path / "m.lgn")
    assert f"a convolutional network of {len(model.stages)} stages" in said
    with np.load(tmp_path / "m.lgn") as z:
        assert str(z["format"]) == "lgn2rtl-model/4"
    assert isinstance(back, ConvNetwork) and back.shapes() == model.shapes()
    assert back.lower().digest() == model.lower().digest()


# The 32x32 example (examples/train_conv_digits.py digits32): no fixture of its own; its vectors
# hold torchlogix's eval output as scores, written when it was trained

EXAMPLE32 = EXAMPLE.with_name("conv32_digits.lgn")
VECTORS32 = EXAMPLE.with_name("conv32_digits_vectors.npz")


def rows32(tmp_path, rows):
    """The example's vectors cut to ``rows`` (a slice), as a file ``simulate --vectors`` reads."""
    with np.load(VECTORS32) as v:
        part = {k: v[k][rows] for k in v.files}
    np.savez(tmp_path / "rows.npz", **part)
    return tmp_path / "rows.npz", len(part["x"])


def test_shipped_conv32_example_predicts_torchlogix_scores():
    model = native.read(EXAMPLE32)
    assert isinstance(model, ConvNetwork) and model.in_shape == (2, 32, 32)
    with np.load(VECTORS32) as v:
        x, y, stored = v["x"], v["y"], v["scores"]
    assert len(np.unique(stored, axis=0)) == len(x) == 360  # every row its own scores: a wrong gate shows
    scores, classes = golden.predict(model, x)
    assert np.array_equal(scores, stored) and np.mean(classes == y) == pytest.approx(0.8944, abs=1e-4)
    said = lgn2rtl("predict", EXAMPLE32, "--vectors", VECTORS32)
    assert "360 samples, accuracy 89.44% against y, 0 rows differ from the file's scores" in said


@pytest.mark.parametrize("lowering, rows", [("streaming", slice(0, 360, 60)),  # 6 images of 1,024 pixels: 8 s
                                             ("unrolled", slice(0, 16))])  # 12,637 nodes after -O1: 25 s
def test_shipped_conv32_example_simulates_bit_exact(tmp_path, lowering, rows):
    rows, n = rows32(tmp_path, rows)
    sim = lgn2rtl("simulate", EXAMPLE32, "--lowering", lowering, "--vectors", rows)
    assert re.search(rf"samples {n}/{n}\s+mismatches 0", sim) and sim.rstrip().endswith("PASS")
