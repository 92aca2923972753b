"""Gate-level simulation: the synthesized netlist, with the cells' own models, against the golden model."""
import json
import re

import numpy as np
import pytest

from lgn2rtl import golden, vectors
from lgn2rtl.boards.netlist import synthesize_netlist
from lgn2rtl.boards.targets import TARGETS
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.sim.runner import simulate
from lgn2rtl.synthetic import random_network

# A LUT cell's truth table, per family: the parameter holding it and how to break it. One INIT
# has bit 0 flipped (the entry all-low inputs reach); a GateMate LUT tree (CC_L2T4: two 2-input
# LUTs into a third) has its root's table inverted, which inverts the cell's output everywhere.
LUT_INIT = r"(?:SB_LUT4|LUT[1-6]|CC_LUT[1-4]) #\(\s*\.(?:LUT_)?INIT\((\d+)'h([0-9a-f]+)\)"
LUT_TREE = r"CC_L2T4 #\([^)]*?\.INIT_L10\((\d+)'h([0-9a-f]+)\)"

@pytest.fixture(scope="module", params=sorted(TARGETS))
def design(request, tmp_path_factory):
    """The design as compile shapes it for each target (iCE40 cells on iCE40), and the target."""
    net = random_network(8, [16, 16], classes=2, seed=4)
    path = tmp_path_factory.mktemp("design")
    return net, path, compile_design(net, path, pipeline=1, part=request.param), request.param


def exhaustive(net):
    x = ((np.arange(1 << net.n_inputs)[:, None] >> np.arange(net.n_inputs)) & 1).astype(np.uint8)
    return (x, *golden.predict(net, x))


def flip_first_input_lut(netlist, target):
    """Break the first LUT cell that computes a gate of model inputs (two or more, and nothing
    else): every input with those bits low reaches the flipped entry."""
    text = netlist.read_text()
    for pattern, change in ((LUT_INIT, 1), (LUT_TREE, -1)):
        for m in re.finditer(pattern, text):
            ports = text[m.end():text.index(");", m.end())]
            sources = [src for port, src in re.findall(r"\.(\w+)\(([^()]*)\)", ports) if port not in ("O", "Z", "F")]
            if all("i_data" in s or s == "1'h0" for s in sources) and sum("i_data" in s for s in sources) > 1:
                bits, table = int(m[1]), int(m[2], 16)
                broken = table ^ 1 if change == 1 else ~table & ((1 << bits) - 1)
                netlist.write_text(text[:m.start(2)] + f"{broken:0{len(m[2])}x}" + text[m.end(2):])
                return
    pytest.fail("no LUT reads two model inputs and nothing else")


def test_netlist_matches_and_a_flipped_lut_bit_fails(tmp_path, design):
    net, path, manifest, target = design
    m = synthesize_netlist(path, manifest, target, tmp_path / "netlist")
    assert m["files"] == ["netlist.v", "cells_sim.v"] and m["netlist"]["target"] == target
    assert json.loads((tmp_path / "netlist" / "manifest.json").read_text()) == m
    assert any(cell in m["netlist"]["cells"] for cell in TARGETS[target].lut_cells)
    x, scores, classes = exhaustive(net)
    r = simulate(tmp_path / "netlist", x, scores, classes)
    assert r.ok, r.errors
    assert r.checked == 256

    flip_first_input_lut(tmp_path / "netlist" / "netlist.v", target)
    r = simulate(tmp_path / "netlist", x, scores, classes)
    assert not r.ok and r.mismatches > 0


def test_ice40_block_ram_netlist_matches(tmp_path):
    net = random_network(10, [40], classes=2, seed=1)  # 20 outputs per class: one ROM each
    manifest = compile_design(net, tmp_path / "design", pipeline=1, roms=1)
    m = synthesize_netlist(tmp_path / "design", manifest, "ice40-up5k", tmp_path / "netlist")
    # a ROM per class (two classes: the argmax takes one cycle, too short for a block-RAM ring)
    assert m["netlist"]["cells"]["SB_RAM40_4K"] == manifest["estimate"]["brams"] == 2
    x = vectors.random(100, net.n_inputs, seed=2)
    r = simulate(tmp_path / "netlist", x, *golden.predict(net, x))
    assert r.ok, r.errors
