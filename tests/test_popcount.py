"""PopCount / GroupSum streamed through Amaranth's simulator, one vector per clock, vs numpy."""
import gc

import numpy as np
import pytest

import streaming
from lgn2rtl.hdl.popcount import GroupSum, PopCount


pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl._ir.UnusedElaboratable")


@pytest.fixture(autouse=True)
def _collect_unused():
    # Components built only to inspect their attributes sit in reference cycles; collect them
    # while the warning filter above is active.
    yield
    gc.collect()


def pack(bits):
    """uint8 [N, width] -> python ints, bit k of row = bits[row, k]."""
    return [int("".join(str(int(b)) for b in row[::-1]) or "0", 2) for row in bits]


def stream(duts):
    return streaming.stream(duts, lambda ctx, dut: ctx.get(dut.o))


def check_popcounts(configs, rng, samples=40):
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
    outputs = stream(duts)
    checked = 0
    for (dut, _), got, exp, (width, kwargs) in zip(duts, outputs, expected, configs):
        assert len(got) == len(exp) == samples, (width, kwargs)
        assert got == exp, (width, kwargs)
        assert dut.roms == kwargs.get("roms", 0)
        checked += len(got)
    return checked


def test_widths_1_to_70():
    rng = np.random.default_rng(1)
    configs = [(w, {}) for w in range(1, 71)]
    assert check_popcounts(configs, rng) == 70 * 40


@pytest.mark.parametrize("kwargs", [
    dict(half_adders=True),
    dict(half_adders=False, stage_levels=2),
    dict(stage_levels=3),
])
def test_widths_options(kwargs):
    rng = np.random.default_rng(2)
    configs = [(w, kwargs) for w in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 50, 63, 64, 65)]
    assert check_popcounts(configs, rng) == len(configs) * 40


def test_rom_leaves():
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
    assert check_popcounts(configs, rng) == len(configs) * 40


@pytest.mark.parametrize("width", range(1, 9))
def test_exhaustive_small(width):
    vectors = list(range(1 << width))
    configs = [dict(), dict(half_adders=True), dict(stage_levels=2)]
    duts = [(PopCount(width, **kw), vectors) for kw in configs]
    for got in stream(duts):
        assert got == [bin(v).count("1") for v in vectors]


def test_latency_contract():
    assert PopCount(1).latency == 1
    assert PopCount(2).latency == 1
    dut = PopCount(50)
    assert len(dut.o) == 6 and len(dut.i) == 50
    # Fewer stages with more levels per stage, never zero.
    assert PopCount(50, stage_levels=2).latency < dut.latency
    assert PopCount(64).o.shape().width == 7
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


def test_checker_catches_broken_tree():
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
    (got,) = stream([(dut, pack(bits))])
    assert len(got) == 40
    assert got != bits.sum(axis=1).tolist()


def test_group_sum():
    rng = np.random.default_rng(5)
    cases = [(10, 50, dict(roms=3)), (3, 7, {}), (1, 1, {}), (4, 16, dict(stage_levels=2)),
             (3, 30, dict(roms=[0, 3, 1], rom_stages=1))]
    for classes, group, kwargs in cases:
        dut = GroupSum(classes, group, **kwargs)
        bits = rng.integers(0, 2, size=(30, classes * group), dtype=np.uint8)
        bits[0] = 1
        (got,) = stream([(dut, pack(bits))])
        assert len(got) == 30
        b = dut.bits
        scores = [[(v >> (c * b)) & ((1 << b) - 1) for c in range(classes)] for v in got]
        assert scores == bits.reshape(30, classes, group).sum(axis=2).tolist()
        assert len(dut.o) == classes * b and b == group.bit_length()
    with pytest.raises(ValueError):
        GroupSum(3, 30, roms=[1, 2])
