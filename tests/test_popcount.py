"""PopCount / GroupSum Verilog streamed through Icarus, one vector per clock, vs numpy."""
import io

import numpy as np
import pytest

import streaming
from lgn2rtl.hdl.popcount import GroupSum, PopCount, rom_module


def pack(bits):
    """uint8 [N, width] -> python ints, bit k of row = bits[row, k]."""
    return [int("".join(str(int(b)) for b in row[::-1]) or "0", 2) for row in bits]


def module(pc, name):
    body = "\n".join(pc.lines([f"i[{j}]" for j in range(pc.width)], "o", "p"))
    return (f"module {name} (input wire clk, input wire [{pc.width - 1}:0] i, output wire [{pc.bits - 1}:0] o);\n"
            f"{body}\nendmodule\n")


def stream(duts, tmp_path):
    """``duts``: (PopCount, inputs) pairs; the outputs of each, one per input."""
    roms = sorted({pc.rom_inputs for pc, _ in duts if pc.roms})
    texts = [module(pc, f"dut{j}") for j, (pc, _) in enumerate(duts)]
    texts[0] += "".join("\n".join(rom_module(n)) + "\n" for n in roms)
    return streaming.stream_verilog([(text, f"dut{j}", pc.width, pc.bits, pc.latency, inputs)
                                     for j, (text, (pc, inputs)) in enumerate(zip(texts, duts))], tmp_path)


def check_popcounts(configs, rng, tmp_path, samples=40):
    duts, expected = [], []
    for width, kwargs in configs:
        bits = rng.integers(0, 2, size=(samples, width), dtype=np.uint8)
        # Always include the extremes, and a sparse and a dense row.
        bits[0] = 0
        bits[1] = 1
        bits[2] = rng.random(width) < 0.1
        bits[3] = rng.random(width) < 0.9
        duts.append((PopCount(width, **kwargs), pack(bits)))
        expected.append(bits.sum(axis=1).tolist())
    outputs = stream(duts, tmp_path)
    checked = 0
    for (dut, _), got, exp, (width, kwargs) in zip(duts, outputs, expected, configs):
        assert len(got) == len(exp) == samples, (width, kwargs)
        assert got == exp, (width, kwargs)
        assert dut.roms == kwargs.get("roms", 0)
        checked += len(got)
    return checked


def test_widths_1_to_70(tmp_path):
    rng = np.random.default_rng(1)
    configs = [(w, {}) for w in range(1, 71)]
    assert check_popcounts(configs, rng, tmp_path) == 70 * 40


@pytest.mark.parametrize("kwargs", [
    dict(half_adders=True),
    dict(half_adders=False, stage_levels=2),
    dict(stage_levels=3),
])
def test_widths_options(kwargs, tmp_path):
    rng = np.random.default_rng(2)
    configs = [(w, kwargs) for w in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 50, 63, 64, 65)]
    assert check_popcounts(configs, rng, tmp_path) == len(configs) * 40


def test_rom_leaves(tmp_path):
    rng = np.random.default_rng(3)
    configs = [
        (50, dict(roms=3)),
        (50, dict(roms=3, rom_stages=1)),
        (50, dict(roms=3, half_adders=True, stage_levels=2)),
        (10, dict(roms=1)),
        (21, dict(roms=2, rom_stages=2)),
        (12, dict(roms=1, rom_inputs=12)),
        (23, dict(roms=5, rom_inputs=4)),
    ]
    assert check_popcounts(configs, rng, tmp_path) == len(configs) * 40


@pytest.mark.parametrize("width", range(1, 9))
def test_exhaustive_small(width, tmp_path):
    vectors = list(range(1 << width))
    configs = [dict(), dict(half_adders=True), dict(stage_levels=2)]
    duts = [(PopCount(width, **kw), vectors) for kw in configs]
    for got in stream(duts, tmp_path):
        assert got == [bin(v).count("1") for v in vectors]


def test_latency_contract():
    assert PopCount(1).latency == 1
    assert PopCount(2).latency == 1
    dut = PopCount(50)
    assert dut.bits == 6 and dut.width == 50
    # Fewer stages with more levels per stage, never zero.
    assert PopCount(50, stage_levels=2).latency < dut.latency
    assert PopCount(64).bits == 7
    with pytest.raises(ValueError):
        PopCount(0)
    with pytest.raises(ValueError):
        PopCount(8, stage_levels=0)
    with pytest.raises(ValueError):
        PopCount(15, roms=2)


def test_structure_is_not_behavioural():
    # The adders must come from the planned tree, not one flat sum.
    dut = PopCount(50)
    assert isinstance(dut._tree, tuple) and dut.latency > 1
    assert dut.luts <= 50 + 15


def test_checker_catches_broken_tree(tmp_path):
    # Drop one carry-in from the planned tree: the streamed check must notice.
    rng = np.random.default_rng(4)
    dut = PopCount(50)

    def break_tree(t):
        if not isinstance(t, tuple):
            return t, False
        left, done = break_tree(t[0])
        if done:
            return (left, t[1], t[2]), True
        if t[2]:
            return (t[0], t[1], 0), True
        right, done = break_tree(t[1])
        return (t[0], right, t[2]), done

    dut._tree, broken = break_tree(dut._tree)
    assert broken
    bits = rng.integers(0, 2, size=(40, 50), dtype=np.uint8)
    (got,) = stream([(dut, pack(bits))], tmp_path)
    assert len(got) == 40
    assert got != bits.sum(axis=1).tolist()


def test_group_sum(tmp_path):
    rng = np.random.default_rng(5)
    cases = [(10, 50, dict(roms=3)), (3, 7, {}), (1, 1, {}), (4, 16, dict(stage_levels=2)),
             (3, 30, dict(roms=[0, 3, 1], rom_stages=1))]
    for n, (classes, group, kwargs) in enumerate(cases):
        dut = GroupSum(classes, group, **kwargs)
        text = io.StringIO()
        dut.write(text)
        b = dut.bits
        wrapper = (f"module gs (input wire clk, input wire [{classes * group - 1}:0] i, "
                   f"output wire [{classes * b - 1}:0] o);\n"
                   f"    lgn_groupsum u (.clk(clk), .i_bits(i), .o_scores(o));\nendmodule\n")
        bits = rng.integers(0, 2, size=(30, classes * group), dtype=np.uint8)
        bits[0] = 1
        work = tmp_path / str(n)
        work.mkdir()
        (got,) = streaming.stream_verilog(
            [(text.getvalue() + wrapper, "gs", classes * group, classes * b, dut.latency, pack(bits))], work)
        assert len(got) == 30
        scores = [[(v >> (c * b)) & ((1 << b) - 1) for c in range(classes)] for v in got]
        assert scores == bits.reshape(30, classes, group).sum(axis=2).tolist()
        assert b == group.bit_length()
    with pytest.raises(ValueError):
        GroupSum(3, 30, roms=[1, 2])
