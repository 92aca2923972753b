"""The convolutional IR: validation, the golden model's conv stages, and the unrolled lowering."""
import dataclasses

import numpy as np
import pytest

from lgn2rtl import golden
from lgn2rtl.conv import Conv, ConvNetwork, OrPool, TreeLevel
from lgn2rtl.ir import GroupSum, Layer, ModelError, Network, Thermometer


def random_conv(rng, channels, out_channels, kernel, stride, padding, k, depth):
    """A tree like torchlogix's: k**depth leaves anywhere in the field, node j of a level reading j*k .. j*k+k-1."""
    leaves = k ** depth
    field = np.stack([rng.integers(0, channels, (out_channels, leaves)), rng.integers(0, kernel[0], (out_channels, leaves)),
                      rng.integers(0, kernel[1], (out_channels, leaves))], axis=-1)
    levels = []
    for lv in range(depth):
        n = k ** (depth - 1 - lv)
        ins = np.broadcast_to(np.arange(n * k).reshape(n, k), (out_channels, n, k)).copy()
        # 2-input tables that read both inputs, so that trees rarely collapse to constants
        tables = (rng.choice(np.array([1, 2, 4, 6, 7, 8, 9, 11, 13, 14], dtype=np.uint64), (out_channels, n)) if k == 2
                  else rng.integers(0, 1 << (1 << k), (out_channels, n), dtype=np.uint64))
        levels.append(TreeLevel(ins, tables))
    return Conv(kernel, stride, padding, field, tuple(levels))


def wire_head(flat):
    """A dense head of one wire per feature bit and a class each: the scores are the feature map."""
    return Network(flat, [Layer(np.arange(flat)[:, None], np.full(flat, 2, dtype=np.uint64))],
                   flat + np.arange(flat), GroupSum(flat))


def random_model(seed, in_shape=(2, 10, 10), stages=4, wires=False):
    """The first ``stages`` stages; with ``wires`` the head is one wire per feature bit and a class
    each, so the scores are the feature map."""
    rng = np.random.default_rng(seed)
    conv1 = random_conv(rng, in_shape[0], 4, (3, 3), (1, 1), (1, 1), 2, 3)
    pool = OrPool((2, 2), (2, 2), (1, 1))  # 10x10 padded to 12x12 -> 6x6
    conv2 = random_conv(rng, 4, 3, (3, 2), (2, 1), (0, 1), 4, 1)  # -> 2x7 (a row left over, as torch does)
    pool3 = OrPool((2, 4), (1, 3), (1, 0))  # -> 3x2: ORs of 8 cells, some of them padding
    model = ConvNetwork(in_shape, [conv1, pool, conv2, pool3][:stages], None)
    flat = int(np.prod(model.shapes()[-1]))
    if wires:
        dense = wire_head(flat)
    else:
        dense = Network(flat, [Layer(rng.integers(0, flat, (30, 2)), rng.integers(0, 16, 30, dtype=np.uint64)),
                               Layer(flat + rng.integers(0, 30, (20, 3)), rng.integers(0, 256, 20, dtype=np.uint64))],
                        flat + 30 + np.arange(20), GroupSum(4, 2.0))
    return dataclasses.replace(model, dense=dense).validate()


def naive_feature_map(model, image):
    """One image [C, H, W] through the stages by explicit loops over positions: the definition in conv.py."""
    fmap = image
    for stage in model.stages:
        c, h, w = fmap.shape
        if isinstance(stage, Conv):
            (kh, kw), (sh, sw), (ph, pw) = stage.kernel, stage.stride, stage.padding
        else:
            (kh, kw), (sh, sw), (ph, pw) = stage.size, stage.stride, stage.padding
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

        def at(ch, y, x):
            return int(fmap[ch, y, x]) if 0 <= y < h and 0 <= x < w else 0
        if isinstance(stage, OrPool):
            fmap = np.array([[[max(at(ch, oy * sh + dy - ph, ox * sw + dx - pw) for dy in range(kh) for dx in range(kw))
                               for ox in range(ow)] for oy in range(oh)] for ch in range(c)])
            continue
        out = np.zeros((stage.out_channels, oh, ow), dtype=np.uint8)
        for o in range(stage.out_channels):
            for oy in range(oh):
                for ox in range(ow):
                    vals = [at(ch, oy * sh + dy - ph, ox * sw + dx - pw) for ch, dy, dx in stage.field[o]]
                    for level in stage.levels:
                        vals = [int(level.tables[o, j]) >> sum(vals[i] << m for m, i in enumerate(level.inputs[o, j])) & 1
                                for j in range(level.inputs.shape[1])]
                    out[o, oy, ox] = vals[0]
        fmap = out
    return fmap.reshape(-1)


@pytest.mark.parametrize("seed", [0, 1])
def test_golden_follows_the_definition_position_by_position(seed):
    model = random_model(seed)
    x = np.random.default_rng(seed).integers(0, 2, (12, model.n_inputs), dtype=np.uint8)
    got = golden.feature_map(model, x)
    assert got.any() and not got.all()
    for row, image in zip(got, x):
        assert np.array_equal(row, naive_feature_map(model, image.reshape(model.in_shape)))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stages, wires", [(1, True), (2, True), (3, True), (4, True), (4, False)])
def test_lowering_equals_the_conv_model(seed, stages, wires):
    model = random_model(seed, stages=stages, wires=wires)
    x = np.random.default_rng(seed).integers(0, 2, (3000, model.n_inputs), dtype=np.uint8)
    flat = model.lower()
    want = golden.scores(model, x)
    if wires:  # the scores are the feature bits; most of them vary (ORs of random trees saturate)
        assert np.array_equal(want, golden.feature_map(model, x))
        assert np.mean(want.std(axis=0) > 0) > 0.5
    assert np.array_equal(golden.scores(flat, x), want)
    # the flat network's own feature bits (every node evaluated, none skipped) agree too
    assert np.array_equal(golden.scores(flat, x, skip_dead=False), want)


@pytest.mark.parametrize("raw, levels", [(1, 2), (2, 3)])
def test_a_thermometer_makes_channel_c_times_levels_plus_j(raw, levels):
    rng = np.random.default_rng(raw + levels)
    thresholds = np.sort(rng.normal(size=(raw, levels)), axis=1)
    model = dataclasses.replace(random_model(levels, in_shape=(raw * levels, 10, 10), stages=2, wires=True),
                                encoder=Thermometer(np.repeat(thresholds, 100, axis=0))).validate()
    features = rng.normal(size=(2000, raw * 100))
    # the image made by hand: channel c*levels + j at (y, x) is pixel (c, y, x) > thresholds[c, j]
    pixels = features.reshape(-1, raw, 1, 10, 10)
    image = (pixels > thresholds[None, :, :, None, None]).reshape(len(features), -1).astype(np.uint8)
    want = golden.scores(dataclasses.replace(model, encoder=None), image)
    assert np.mean(want.std(axis=0) > 0) > 0.5
    assert np.array_equal(golden.predict_features(model, features)[0], want)
    flat = model.lower()
    assert flat.encoder is model.encoder and np.array_equal(golden.predict_features(flat, features)[0], want)


def test_an_encoder_that_does_not_fit_the_image_is_refused():
    model = random_model(0, in_shape=(6, 10, 10))
    for thresholds, message in [
        (np.zeros((300, 4)), r"encoder thresholds \[300, 4\] do not fit the 6x10x10 image: they must be "
                              r"\[raw channels x 10 x 10 pixels, levels\], levels dividing 6$"),
        (np.zeros((100, 3)), r"encoder thresholds \[100, 3\] do not fit"),
        (np.tile([[1.0, 0.0]], (300, 1)), r"^encoder thresholds must be finite and ascending per feature$"),
    ]:
        with pytest.raises(ModelError, match=message):
            dataclasses.replace(model, encoder=Thermometer(thresholds)).validate()


def test_lowering_shares_nothing_and_counts_every_position():
    model = random_model(0)
    flat = model.lower()
    shapes = model.shapes()
    conv1, conv2 = model.stages[0], model.stages[2]
    per_position = [len(flat.layers[i]) for i in range(3)]  # conv1's three tree levels
    positions = shapes[1][1] * shapes[1][2]
    assert per_position == [conv1.out_channels * positions * n for n in (4, 2, 1)]
    assert flat.meta["lowered_from"] == "conv" and flat.n_inputs == model.n_inputs
    # conv1, pool (a chain of 2-input ORs: 3 links for 4 cells), conv2, pool3 (7 links for 8), dense
    assert len(flat.layers) == 3 + 3 + 1 + 7 + 2
    assert all(flat.layers[i].k == 2 for i in (3, 4, 5, 7))
    assert conv2.levels[0].k == 4


@pytest.mark.parametrize("change, message", [
    (lambda m: m.stages.__setitem__(0, dataclasses.replace(m.stages[0], kernel=(13, 3))),
     r"^stage 0 \(conv\): window 13x3 is larger than its 10x10 input \(padded to 12x12\)$"),
    (lambda m: m.stages[0].field.__setitem__((1, 2, 0), 2),
     r"^stage 0 \(conv\): output channel 1 leaf 2 reads channel 2; the input has channels 0..1$"),
    (lambda m: m.stages[0].field.__setitem__((0, 5, 2), 3),
     r"^stage 0 \(conv\): output channel 0 leaf 5 reads dx 3; the kernel has dx 0..2$"),
    (lambda m: m.stages.__setitem__(1, OrPool((3, 3), (2, 2), (0, 0))),
     r"^stage 1 \(or-pool\): a 3x3 window every 2 does not tile the input's height 10 \(padded to 10\): "
     r"the last 1 would be dropped$"),
    (lambda m: m.stages.__setitem__(1, OrPool((2, 2), (2, 2), (2, 1))),
     r"^stage 1 \(or-pool\): padding 2 is more than half the window's height 2"),
    (lambda m: m.stages.__setitem__(0, dataclasses.replace(m.stages[0], stride=(0, 1))),
     r"^stage 0 \(conv\): stride must be two integers >= 1 \(height, width\), got \(0, 1\)$"),
    (lambda m: m.stages[0].levels[1].inputs.__setitem__((3, 0, 1), 4),
     r"^stage 0 \(conv\) level 1: output channel 3 node 0 input 1 is 4; it reads level 0 nodes 0..3$"),
    (lambda m: m.stages[2].levels[0].tables.__setitem__((0, 0), 1 << 16),
     r"^stage 2 \(conv\) level 0: output channel 0 node 0 truth table 0x10000 has bits beyond the 16 entries"),
    (lambda m: m.stages.__setitem__(0, dataclasses.replace(m.stages[0], levels=m.stages[0].levels[:2])),
     r"^stage 0 \(conv\): the last level has 2 nodes per output channel; it must have 1$"),
    (lambda m: m.stages.pop(),
     r"^the dense layers read 18 inputs, but the last feature map is 3x2x7 = 42 bits$"),
    (lambda m: setattr(m, "in_shape", (2, 10, 0)),
     r"^input shape must be 3 positive integers \(channels, height, width\), got \(2, 10, 0\)$"),
])
def test_bad_conv_parameters_are_refused_in_one_line(change, message):
    model = random_model(0)
    change(model)
    with pytest.raises(ModelError, match=message):
        model.validate()
