"""`--design DIR`: simulate, prove and infer take the design compile wrote, with the options its
manifest records, instead of compiling again; a directory that is no such design is one line."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lgn2rtl import native
from lgn2rtl.synthetic import random_network


def lgn2rtl(*args):
    return subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A model and the design compile wrote from it with options that are not the defaults."""
    work = tmp_path_factory.mktemp("design")
    native.save(random_network(10, [24, 24, 12], classes=3, seed=7, skip=True), work / "m.lgn")
    r = lgn2rtl("compile", work / "m.lgn", "--target", "generic", "--pipeline", 1, "-O0", "-o", work / "design")
    assert r.returncode == 0, r.stderr
    return work


def files(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_simulate_takes_the_design_as_compiled(compiled, tmp_path):
    before = files(compiled / "design")
    r = lgn2rtl("simulate", compiled / "m.lgn", "--design", compiled / "design", "--random", 40, "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert "samples 40/40   mismatches 0" in r.stdout and "compiling" not in r.stderr
    record = json.loads((tmp_path / "s.json").read_text())
    # the options it ran with are those compile was given, not simulate's defaults
    assert record["options"] == {"part": "generic", "goal": "balanced", "target_mhz": None, "pipeline": 1,
                                 "roms": None, "opt_level": 0, "interface": "native", "fold": None,
                                 "lowering": "unrolled"}
    assert files(compiled / "design") == before  # read, not rewritten


def test_prove_takes_the_design_as_compiled(compiled, tmp_path):
    r = lgn2rtl("prove", compiled / "m.lgn", "--design", compiled / "design", "-o", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr + r.stdout
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["result"] == "proven" and result["options"]["opt_level"] == 0
    manifest = json.loads((compiled / "design" / "manifest.json").read_text())
    assert result["design"]["schedule"] == manifest["schedule"]


def test_a_design_of_another_model_is_refused(compiled):
    native.save(random_network(10, [24, 24, 12], classes=3, seed=8, skip=True), compiled / "other.lgn")
    for command in (["simulate", "--random", 5], ["prove"], ["infer", "--port", "loop://", "--vectors", "v.npz"]):
        r = lgn2rtl(command[0], compiled / "other.lgn", "--design", compiled / "design", *command[1:])
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "was compiled from another model" in r.stderr, r.stderr


@pytest.mark.parametrize("option, flag", [(["--pipeline", 2], "--pipeline"), (["--target", "ice40-up5k"], "--target"),
                                          (["-O1"], "-O"), (["--encoder"], "--encoder")])
def test_shaping_options_beside_design_are_refused(compiled, option, flag):
    r = lgn2rtl("simulate", compiled / "m.lgn", "--design", compiled / "design", "--random", 5, *option)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"error: {flag} cannot be given with --design" in r.stderr


def test_a_directory_that_is_no_compiled_design_is_one_line(compiled, tmp_path):
    r = lgn2rtl("prove", compiled / "m.lgn", "--design", tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"cannot read {tmp_path}/manifest.json as the manifest of a compiled design" in r.stderr
    # a gate-level netlist's directory carries the RTL's manifest fields, but is not that design
    netlist = tmp_path / "netlist"
    shutil.copytree(compiled / "design", netlist)
    manifest = json.loads((netlist / "manifest.json").read_text())
    (netlist / "manifest.json").write_text(json.dumps({**manifest, "netlist": {"target": "ice40-up5k"}}))
    r = lgn2rtl("simulate", compiled / "m.lgn", "--design", netlist, "--random", 5)
    assert r.returncode == 2 and "holds a gate-level netlist, not a design compile wrote" in r.stderr
    # one from before manifests recorded the model
    del manifest["model"]
    (netlist / "manifest.json").write_text(json.dumps(manifest))
    r = lgn2rtl("simulate", compiled / "m.lgn", "--design", netlist, "--random", 5)
    assert r.returncode == 2 and "is not one this version of lgn2rtl compile wrote (no model)" in r.stderr


def test_build_refuses_a_design_for_another_part(compiled, tmp_path):
    r = lgn2rtl("build", compiled / "m.lgn", "--design", compiled / "design", "--board", "icebreaker",
                "-o", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "was compiled for generic; icebreaker has an ice40-up5k: compile it with --target ice40-up5k" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_build_takes_the_design_as_compiled(tmp_path):
    model = Path(__file__).resolve().parent.parent / "examples" / "digits.lgn"
    # no ROMs: the UART link's answer FIFO needs block RAM too, and nothing here leaves it room
    r = lgn2rtl("compile", model, "--target", "ice40-up5k", "--goal", "area", "--roms", 0, "-o", tmp_path / "design")
    assert r.returncode == 0, r.stderr
    r = lgn2rtl("build", model, "--design", tmp_path / "design", "--board", "icebreaker", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "build.json").read_text())
    manifest = json.loads((tmp_path / "design" / "manifest.json").read_text())
    assert report["design"]["goal"] == "area" and report["design"]["roms"] == 0
    assert report["design"]["schedule"] == manifest["schedule"]
    assert files(tmp_path / "out" / "design") == files(tmp_path / "design")  # built as compiled
    assert (tmp_path / "out" / "top.bin").stat().st_size > 100_000


@pytest.mark.slow
def test_build_refuses_a_design_that_left_no_room_for_the_link(tmp_path):
    model = Path(__file__).resolve().parent.parent / "examples" / "digits.lgn"
    # the area design counts with all 30 of the UP5K's block RAMs; the link's FIFO needs more
    r = lgn2rtl("compile", model, "--target", "ice40-up5k", "--goal", "area", "-o", tmp_path / "design")
    assert r.returncode == 0, r.stderr
    r = lgn2rtl("build", model, "--design", tmp_path / "design", "--board", "icebreaker", "-o", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert re.search(r"after synthesis the design needs about \d+ block RAMs, and icebreaker's iCE40UP5K-SG48 "
                     r"has 30 .*build without --design, which leaves room for the link", r.stderr)
    assert not (tmp_path / "out").exists()


def test_prove_refuses_an_axis_design(compiled, tmp_path):
    r = lgn2rtl("compile", compiled / "m.lgn", "--target", "generic", "--interface", "axis", "-o", tmp_path / "axis")
    assert r.returncode == 0, r.stderr
    r = lgn2rtl("prove", compiled / "m.lgn", "--design", tmp_path / "axis")
    assert r.returncode == 2 and "AXI4-Stream" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = lgn2rtl("simulate", compiled / "m.lgn", "--design", compiled / "design", "--interface", "axis", "--random", 4)
    assert r.returncode == 2 and "--interface cannot be given with --design" in r.stderr, r.stderr
