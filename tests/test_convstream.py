"""The streaming lowering's pixel pipeline (hdl/convstream.py) in Amaranth's simulator, against the golden model."""
import dataclasses
import json
import random

import numpy as np
import pytest
from amaranth.hdl import EnableInserter, Module, Signal
from amaranth.sim import Simulator

from inprocess import lgn2rtl
from lgn2rtl import golden, native
from lgn2rtl.conv import ConvNetwork, OrPool
from lgn2rtl.hdl.convstream import FeaturePipeline, stream_timing
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.ir import GroupSum, Layer, ModelError, Network, Thermometer
from lgn2rtl.sim.runner import simulate
from test_conv import random_conv, wire_head
from test_torchlogix_conv import case, duck_model, from_module


def image_pixels(model, image):
    """An image [n_inputs] as its pixels in raster order, channel c at bit c."""
    c, h, w = model.in_shape
    planes = image.reshape(c, h * w)
    return [sum(int(planes[ch, p]) << ch for ch in range(c)) for p in range(h * w)]


def stream_features(model, images, pause=0.0, seed=0, ram_bits=None):
    """Run ``images`` through the pipeline, the tick driven as StreamTop drives it: a pixel
    taken (with probability 1 - ``pause`` per clock), or between images a drain slot while the
    last image is unfinished. Return the feature maps the collector held after each ``done``
    and the clocks of the images' first pixels."""
    rng = random.Random(seed)
    pipe = FeaturePipeline(model, **({} if ram_bits is None else {"ram_bits": ram_bits}))
    tick = Signal()
    top = Module()
    top.submodules.pipe = EnableInserter(tick)(pipe)
    flush = max(0, pipe.last_tick - model.in_shape[1] * model.in_shape[2] + 1)
    stream = [p for image in images for p in image_pixels(model, image)]
    per_image = model.in_shape[1] * model.in_shape[2]
    got, starts = [], []

    async def bench(ctx):
        sent, drain, cycle, collect = 0, 0, 0, False
        while len(got) < len(images):
            if collect:  # the clock after done: the features are there
                got.append(ctx.get(pipe.features))
            take = sent < len(stream) and rng.random() >= pause
            between = sent % per_image == 0
            ticking = take or (drain > 0 and between)
            ctx.set(tick, ticking)
            ctx.set(pipe.i.valid, take)
            if take:
                ctx.set(pipe.i.payload.first, between)
                ctx.set(pipe.i.payload.bits, stream[sent])
                if between:
                    starts.append(cycle)
            done = ctx.get(pipe.done)
            collect = ticking and done
            if take and sent % per_image == per_image - 1:
                drain = flush
            elif ticking and drain:
                drain -= 1
            if take:
                sent += 1
            await ctx.tick()
            cycle += 1
            assert cycle < 20 * len(stream) + 1000

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    n = len(pipe.features)
    return np.array([[(f >> j) & 1 for j in range(n)] for f in got], dtype=np.uint8), starts


def stream_model(seed, stages=4):
    """Padding, a stride of 2, pools without and with padding (ORs of 6 cells); a head of wires.
    Every stage here streams (test_conv's models pool with padding past the image's last row)."""
    rng = np.random.default_rng(seed)
    conv1 = random_conv(rng, 2, 4, (3, 3), (1, 1), (1, 1), 2, 3)  # 10x10
    pool = OrPool((2, 2), (2, 2), (0, 0))  # 5x5
    conv2 = random_conv(rng, 4, 3, (3, 2), (2, 1), (0, 1), 4, 1)  # 2x6
    pool3 = OrPool((2, 3), (1, 3), (1, 0))  # 3x2
    return with_stages([conv1, pool, conv2, pool3][:stages])


def with_stages(stages, in_shape=(2, 10, 10)):
    model = ConvNetwork(in_shape, stages, None)
    return dataclasses.replace(model, dense=wire_head(int(np.prod(model.shapes()[-1])))).validate()


def images(model, n, seed):
    return np.random.default_rng(seed).integers(0, 2, (n, model.n_inputs), dtype=np.uint8)


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
@pytest.mark.parametrize("pause", [0.0, 0.3])
def test_feature_stream_equals_the_golden_model(stages, pause):
    # padding, stride 2 (conv2), pools with padding and a 2x4 window every (1, 3)
    model = stream_model(stages, stages)
    x = images(model, 4, stages)
    got, _ = stream_features(model, x, pause, seed=stages)
    assert np.array_equal(got, golden.feature_map(model, x))


def test_other_shapes_stream_right():
    # a non-square image, a 1x1 conv, a 3x3 conv with stride 2 both ways and padding, 6-input LUTs
    rng = np.random.default_rng(9)
    model = with_stages([random_conv(rng, 3, 4, (1, 1), (1, 1), (0, 0), 2, 1),
                         random_conv(rng, 4, 5, (3, 3), (2, 2), (1, 1), 6, 1),
                         OrPool((2, 3), (2, 3), (0, 0))], in_shape=(3, 8, 12))
    assert model.shapes()[1:] == [(4, 8, 12), (5, 4, 6), (5, 2, 2)]
    x = images(model, 4, 9)
    got, _ = stream_features(model, x, 0.25, seed=9)
    assert np.array_equal(got, golden.feature_map(model, x))


def test_line_buffer_in_block_ram_equals_the_golden_model():
    model = stream_model(5, 3)
    x = images(model, 3, 5)
    got, _ = stream_features(model, x, 0.2, seed=5, ram_bits=1)
    assert np.array_equal(got, golden.feature_map(model, x))


def test_images_back_to_back():
    model = stream_model(6)
    x = images(model, 5, 6)
    got, starts = stream_features(model, x)
    assert np.array_equal(got, golden.feature_map(model, x))
    assert np.diff(starts).tolist() == [100] * 4  # 10x10 pixels, no gap between images


def test_a_mutated_tree_gate_is_seen():
    model = stream_model(7, 2)
    x = images(model, 4, 7)
    conv = model.stages[0]
    tables = conv.levels[-1].tables.copy()
    tables[1, 0] ^= 0b0110  # output channel 1's root, on two of its four addresses
    levels = (*conv.levels[:-1], dataclasses.replace(conv.levels[-1], tables=tables))
    mutated = dataclasses.replace(model, stages=[dataclasses.replace(conv, levels=levels), *model.stages[1:]])
    got, _ = stream_features(mutated, x)
    assert not np.array_equal(got, golden.feature_map(model, x))
    assert np.array_equal(got, golden.feature_map(mutated, x))


@pytest.mark.parametrize("stage, message", [
    (random_conv(np.random.default_rng(0), 2, 2, (3, 3), (1, 1), (3, 3), 2, 2),
     r"^stage 0 \(conv\): padding 3x3 is not smaller than the 3x3 window; .*wholly in the padding$"),
    (random_conv(np.random.default_rng(0), 2, 2, (2, 2), (1, 1), (1, 1), 2, 2),
     r"^stage 0 \(conv\): a row of 11 outputs every 1 ticks overruns the 10 ticks between rows; "),
    (OrPool((2, 2), (2, 2), (1, 1)), r"^stage 0 \(or-pool\): its 6x6 outputs need 111 ticks, more than the image's 100 "
                                     r"pixels; .*one output per pixel at most$"),
])
def test_what_the_stream_cannot_compute_is_refused_in_one_line(stage, message):
    model = with_stages([stage])
    with pytest.raises(ModelError, match=message):
        stream_timing(model)


# The compiled design in cocotb (Icarus): pixels in, answers out, against the golden model

def fixture():
    """The trained torchlogix conv model (16x16x2, conv-pool-conv-pool, dense 144-640-640, 10 classes)."""
    a = case("digits16")
    return from_module(duck_model(a)), a["x"]


def classified(seed, stages=4):
    """``stream_model`` with a random two-layer dense head and 4 classes."""
    model = stream_model(seed, stages)
    rng = np.random.default_rng(seed + 100)
    flat = model.dense.n_inputs
    gates = np.array([1, 2, 4, 6, 7, 8, 9, 11, 13, 14], dtype=np.uint64)  # 2-input gates that read both inputs
    dense = Network(flat, [Layer(rng.integers(0, flat, (40, 2)), rng.choice(gates, 40)),
                           Layer(flat + rng.integers(0, 40, (24, 3)), rng.integers(0, 256, 24, dtype=np.uint64))],
                    flat + 40 + np.arange(24), GroupSum(4, 2.0))
    return dataclasses.replace(model, dense=dense).validate()


def cocotb_stream(model, x, tmp_path, gaps, expect=None, part="ice40-up5k"):
    """Compile ``model`` streaming and check it in cocotb against ``expect`` (default: its golden model)."""
    m = compile_design(model, tmp_path / "design", part=part, lowering="streaming")
    scores, classes = golden.predict(expect or model, x)
    return m, simulate(tmp_path / "design", x, scores, classes, gaps=gaps, seed=2, build_dir=tmp_path / "sim")


@pytest.mark.parametrize("gaps", [False, True])
def test_fixture_streams_every_answer_right(tmp_path, gaps):
    model, x = fixture()
    m, r = cocotb_stream(model, x[:16], tmp_path, gaps)
    assert r.ok and (r.checked, r.mismatches) == (16, 0), r.errors
    assert m["lowering"] == "streaming" and m["initiation_interval"] == 256 == m["stream"]["pixels_per_image"]
    if not gaps:  # valid always high: images back to back, the stated latency exactly
        assert r.interval_measured == 256 and r.latency_measured == m["latency"]
    else:
        assert r.interval_measured >= 256 and r.latency_measured >= m["latency"]


@pytest.mark.parametrize("seed, stages", [(1, 4), (2, 3), (3, 1)])
def test_random_conv_models_stream_every_answer_right(tmp_path, seed, stages):
    model = classified(seed, stages)
    x = images(model, 12, seed)
    for gaps in (False, True):
        m, r = cocotb_stream(model, x, tmp_path / str(gaps), gaps, part="ecp5-85k")
        assert r.ok and (r.checked, r.mismatches) == (12, 0), r.errors
        assert r.interval_measured == 100 if not gaps else r.interval_measured >= 100


def test_line_buffers_in_block_ram_stream_right(tmp_path):
    # 32 channels 40 wide: the 3x3 conv's rows are 38 x 32 = 1,216 bits apart, over RAM_BITS
    rng = np.random.default_rng(11)
    model = with_stages([random_conv(rng, 2, 32, (1, 1), (1, 1), (0, 0), 2, 1),
                         random_conv(rng, 32, 4, (3, 3), (1, 1), (1, 1), 2, 3),
                         OrPool((4, 4), (4, 4), (0, 0))], in_shape=(2, 40, 40))
    flat = model.dense.n_inputs
    gates = np.array([6, 7, 8, 9, 14], dtype=np.uint64)
    model = dataclasses.replace(model, dense=Network(flat, [Layer(rng.integers(0, flat, (24, 2)), rng.choice(gates, 24))],
                                                     flat + np.arange(24), GroupSum(3))).validate()
    x = images(model, 3, 11)
    m, r = cocotb_stream(model, x, tmp_path, True, part="ecp5-85k")
    assert r.ok and (r.checked, r.mismatches) == (3, 0), r.errors
    assert "ring" in (tmp_path / "design" / "lgn_top.v").read_text()  # the line buffer's block RAM


def test_a_mutated_shared_gate_fails_cocotb(tmp_path):
    model, x = fixture()
    x = x[:12]
    conv = model.stages[2]
    # the first gate of the second conv's last level whose flip changes some answer on these images
    for o, j in np.ndindex(conv.levels[-1].tables.shape):
        tables = conv.levels[-1].tables.copy()
        tables[o, j] ^= 0b0110
        levels = (*conv.levels[:-1], dataclasses.replace(conv.levels[-1], tables=tables))
        stages = [*model.stages[:2], dataclasses.replace(conv, levels=levels), *model.stages[3:]]
        bad = dataclasses.replace(model, stages=stages)
        if (golden.predict(bad, x)[0] != golden.predict(model, x)[0]).any():
            break
    m, r = cocotb_stream(bad, x, tmp_path, False, expect=model)
    assert not r.ok and r.mismatches > 0


# The command line

@pytest.fixture
def lgn(tmp_path):
    native.save(fixture()[0], tmp_path / "conv.lgn")
    return tmp_path / "conv.lgn"


def test_compile_and_simulate_streaming(tmp_path, lgn):
    r = lgn2rtl("compile", lgn, "--lowering", "streaming", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["lowering"] == "streaming" and m["options"]["lowering"] == "streaming"
    assert m["inputs"]["data"]["width"] == 2 and m["stream"]["image"] == [2, 16, 16]
    assert "as 256 pixels of 2 bits in raster order" in r.stdout and f"{m['latency']} cycles after" in r.stdout
    r = lgn2rtl("simulate", lgn, "--random", "6", "--design", tmp_path / "out", "-o", tmp_path / "s.json")
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["result"] == "pass" and record["checked"] == 6 and record["interval_measured"] == 256
    r = lgn2rtl("prove", lgn, "--design", tmp_path / "out")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "is a streaming design (--lowering streaming); prove takes the unrolled lowering" in r.stderr


def test_the_synthesized_netlist_streams_every_answer_right(tmp_path, lgn):
    # the gate-level netlist Yosys makes for the ECP5 (its cells' own models): the tick's clock
    # enables and the line buffers survive synthesis
    r = lgn2rtl("simulate", lgn, "--lowering", "streaming", "--random", "3", "--netlist", "ecp5-85k",
                "-o", tmp_path / "s.json")
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["simulated"]["target"] == "ecp5-85k" and record["checked"] == 3


@pytest.mark.parametrize("args, message", [
    (["compile", "--interface", "axis"], "--lowering streaming has its own pixel stream ports (valid/ready in and "
                                         "out); --interface axis does not apply to it"),
    (["prove"], "prove takes the unrolled lowering; --lowering streaming is for compile, simulate and synth"),
    (["build", "--board", "icebreaker"], "build takes the unrolled lowering; --lowering streaming is for compile"),
])
def test_what_streaming_does_not_take_is_refused_in_one_line(tmp_path, lgn, args, message):
    r = lgn2rtl(args[0], lgn, "--lowering", "streaming", *args[1:], "-o", tmp_path / "o")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr


def test_a_dense_model_is_refused_for_streaming(tmp_path):
    native.save(classified(1).dense, tmp_path / "dense.lgn")
    r = lgn2rtl("compile", tmp_path / "dense.lgn", "--lowering", "streaming", "-o", tmp_path / "o")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--lowering streaming takes a convolutional model" in r.stderr


def test_a_conv_model_behind_a_thermometer_is_refused_for_streaming(tmp_path):
    # its model inputs are raw pixels' levels in the encoder's order, not pixels of bit channels
    model = classified(1)
    c, h, w = model.in_shape
    thermometer = Thermometer(np.tile(np.arange(float(c)), (h * w, 1)))
    native.save(dataclasses.replace(model, in_shape=(c, h, w), encoder=thermometer).validate(), tmp_path / "t.lgn")
    r = lgn2rtl("compile", tmp_path / "t.lgn", "--lowering", "streaming", "-o", tmp_path / "o")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "this model starts with a thermometer encoder, which only the unrolled lowering takes" in r.stderr
    assert not (tmp_path / "o").exists()



@pytest.mark.slow
def test_synth_reports_images_per_second(tmp_path):
    native.save(classified(3, 2), tmp_path / "conv.lgn")
    r = lgn2rtl("synth", tmp_path / "conv.lgn", "--lowering", "streaming", "--target", "ice40-up5k",
                "-o", tmp_path / "syn")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "syn" / "report.json").read_text())
    assert report["stream"]["pixels_per_image"] == 100 and report["fmax_mhz"] > 20
    assert report["images_per_s"] == pytest.approx(report["fmax_mhz"] * 1e6 / 100, rel=1e-4)  # Fmax rounded to 10 kHz
    assert f"{report['images_per_s']:,} images/s (100 pixels each, one pixel per clock)" in r.stdout
    # the harness drives the pixel, its valid and the output's ready
    assert report["harness"]["shift_ffs"] == 2 + 2
