"""Bitstreams for a board: the compiled network behind the UART link, built with YoWASP.

:func:`build` compiles the network, lets amaranth-boards write the build plan
for the board (pin constraints, clock, Yosys script, tool commands), and runs
the plan's commands one by one with the ``yowasp-*`` tools, so that it can
report each step and refuse a design that cannot fit before the slow
place-and-route. The output directory holds the bitstream, ``build.json``
(utilisation, Fmax, times), the compiled design in ``design/`` and the
plan with every tool log in ``build/``.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Callable

from .. import yowasp
from ..errors import UserError
from ..features import FeatureFormat
from ..hdl.emit import compile_design
from ..ir import Network
from ..outdir import atomic_dir
from amaranth.utils import ceil_log2

from .link import BoardTop
from .protocol import Format
from .targets import logic_cells, placed_fmax
from .table import Board

__all__ = ["BuildError", "LINK_LOGIC", "STEPS", "build"]

BAUD = 115200
STEPS = ("compile", "synthesis", "place and route", "packing")
NAME = "top"  # amaranth's name for the board top: top.ys, top.bin, ...

# stat.json gives the cell counts the fit check needs right after synthesis.
STAT_SCRIPT = "tee -q -o stat.json stat -json"
# --timing-allow-fail: a missed clock becomes our own message instead of a bare nextpnr error.
NEXTPNR_OPTS = ["--report", "report.json", "--timing-allow-fail"]
# The default ECP5 router did not finish on randomly wired networks (docs/toolchain.md).
ROUTER = {"ice40": [], "ecp5": ["--router", "router2"], "gowin": []}

# What the UART link and its framing take beside the design, in the part's logic units
# (measured: docs/fit.md); the design's plan leaves room for it.
LINK_LOGIC = {"ice40": 1200, "ecp5": 1200, "gowin": 1200}

# nextpnr's "Device utilisation" lines: "Info:         ICESTORM_LC:    2418/   1280   188%"
UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%$")


class BuildError(UserError):
    """The design cannot become a bitstream for the board; the message says why and what to try."""


def _tool_argv(argv: list[str]) -> list[str]:
    """A command of amaranth's plan (``yosys``, ``nextpnr-ice40``, ...) as the tool lgn2rtl runs.

    Each upstream tool runs as its YoWASP build, but Apicula's ``gowin_pack``, which is Python.
    Amaranth 0.5 writes the legacy ``nextpnr-gowin`` command line; YoWASP ships its successor,
    ``nextpnr-himbaechel``, which takes the family and the constraints file as ``--vopt``.
    """
    tool, *args = argv
    if tool == "gowin_pack":
        return argv
    if tool == "nextpnr-gowin":
        tool, rest, args = "nextpnr-himbaechel-gowin", iter(args), []
        for flag in rest:
            args += ["--vopt", f"{flag[2:]}={next(rest)}"] if flag in ("--family", "--cst") else [flag]
    return [f"yowasp-{tool}", *args]


def _run_step(argv: list[str], build_dir: Path, log_name: str) -> float:
    """Run a command of amaranth's plan with :func:`_tool_argv`'s tool."""
    return yowasp.run(_tool_argv(argv), build_dir, log_name).seconds


def _placement_error(log: Path, board: Board) -> BuildError:
    """One line for a place and route that failed: how full nextpnr found the part."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    use = [(cell, int(used), int(available)) for cell, used, available in
           (m.groups() for m in map(UTILISATION.match, lines) if m) if int(used)]
    logic = [u for u in use if u[0] in ("ICESTORM_LC", "TRELLIS_COMB", "TRELLIS_SLICE")]
    what = ", ".join(f"{used:,} of {available:,} {cell} ({100 * used / available:.0f}%)"
                     for cell, used, available in (logic or use)[:2]) or "no utilisation in its log"
    return BuildError(f"nextpnr could not place and route the design on {board.name}'s {board.fpga} "
                      f"({what}); try --goal area, or a larger board")


def _report(board: Board, manifest: dict, needs: dict, pnr: dict, times: dict, options: dict,
            tools: list[str]) -> dict:
    pnr_cells = {k: v for k, v in pnr["utilization"].items() if v["used"]}
    return {
        "format": "lgn2rtl-build-report/1",
        "board": board.name,
        "fpga": board.fpga,
        "bitstream": board.bitstream,
        "clock_mhz": board.clock_hz / 1e6,
        "baud": BAUD,
        "fmax_mhz": round(placed_fmax(pnr), 2),
        "design": {"top": manifest["top"], "latency": manifest["latency"], **options,
                   "schedule": manifest["schedule"], "estimate": manifest["estimate"]},
        "capacity": {"logic": board.spec.logic, "logic_unit": board.spec.logic_unit, "brams": board.spec.brams},
        "synthesis": needs,
        "placed": pnr_cells,
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "tools": yowasp.versions(["amaranth", "amaranth-boards", *tools]),
    }


def build(net: Network, board: Board, out_dir: str | Path, shape: dict | None = None,
          progress: Callable[[str], None] | None = None,
          features: FeatureFormat | None = None, design: tuple[Path, dict] | None = None) -> dict:
    """Build a bitstream of ``net`` behind the UART link for ``board`` into ``out_dir``.

    ``shape`` holds ``compile_design``'s keywords (goal, target_mhz, pipeline, roms, opt); the
    design is shaped for the board's part, and one that fits in no way is refused at once, from
    the estimate.  ``features`` puts the thermometer encoder on chip (see ``compile_design``).
    ``design`` is instead a directory ``compile`` wrote from ``net`` for the board's part and its
    manifest: that design is built as it is (``shape`` and ``features`` unused); nothing left
    room for the link in it, so only the check after synthesis tells whether both fit.

    ``progress`` is called with each of :data:`STEPS` as it starts. ``out_dir`` appears complete or
    not at all. Returns the report also written to ``out_dir/build.json``.
    Raises :class:`BuildError` when the design cannot fit or misses the board
    clock, and :class:`~lgn2rtl.yowasp.ToolError` when a tool fails otherwise.
    """
    progress = progress or (lambda step: None)
    shape = shape or {}
    if design and design[1]["part"] != board.part:
        raise BuildError(f"{design[0]} was compiled for {design[1]['part']}; {board.name} has an {board.part}: "
                         f"compile it with --target {board.part}")
    times = {}
    start = time.monotonic()
    with atomic_dir(out_dir) as out:
        progress("compile")
        # the link's answer FIFO takes block RAMs: 16-bit words of every answer
        answer = Format(input_bits=0, classes=net.head.classes, class_bits=max(1, ceil_log2(net.head.classes)),
                        score_bits=net.group_size.bit_length()).answer_bits
        if design:
            shutil.copytree(design[0], out / "design")
            manifest = design[1]
        else:
            # folded layers take samples over AXI4-Stream, which the link drives too; their
            # latency is long enough for the link's frame ends to wait in a block RAM ring
            # (link.ENDS_IN_FLIP_FLOPS)
            folded = bool(shape.get("fold"))
            manifest = compile_design(net, out / "design", part=board.part, reserve=LINK_LOGIC[board.family],
                                      reserve_brams=-(-answer // 16) + folded, features=features,
                                      interface="axis" if folded else "native", **shape)
        plan = board.platform().prepare(BoardTop(out / "design", manifest, BAUD), name=NAME,
                                        script_after_synth=STAT_SCRIPT,
                                        nextpnr_opts=NEXTPNR_OPTS + ROUTER[board.family])
        build_dir = plan.extract(out / "build")
        synth, pnr, pack = json.loads(plan.files[f"build_{NAME}.json"])["commands"]
        times["compile"] = time.monotonic() - start

        progress("synthesis")
        times["synthesis"] = _run_step(synth, build_dir, "yosys.log")
        netlist = build_dir / pnr[pnr.index("--json") + 1]  # top.json, or top.syn.json for Gowin
        needs = logic_cells(json.loads(netlist.read_text()), board.family)
        over = [(what, needs[key], capacity) for what, key, capacity in
                [(board.spec.logic_unit, "logic", board.spec.logic), ("block RAMs", "brams", board.spec.brams)]
                if needs[key] > capacity]
        if over:
            what, need, capacity = over[0]
            raise BuildError(f"after synthesis the design needs about {need:,} {what}, and {board.name}'s "
                             f"{board.fpga} has {capacity:,} (the estimate before synthesis said "
                             f"{manifest['estimate']['logic']:,} plus the UART link); "
                             + ("build without --design, which leaves room for the link" if design else "try --goal area")
                             + ", or a larger board")

        progress("place and route")
        try:
            times["place_and_route"] = _run_step(pnr, build_dir, "nextpnr.log")
        except yowasp.ToolFailed:
            # amaranth runs nextpnr --quiet: the utilisation table is only in its --log file
            raise _placement_error(build_dir / f"{NAME}.tim", board) from None
        pnr_report = json.loads((build_dir / "report.json").read_text())
        fmax = placed_fmax(pnr_report)
        if fmax < board.clock_hz / 1e6:
            raise BuildError(f"Fmax {fmax:.1f} MHz is below {board.name}'s {board.clock_hz / 1e6:g} MHz "
                             f"clock; try --goal fmax")

        progress("packing")
        times["packing"] = _run_step(pack, build_dir, "pack.log")
        (build_dir / board.bitstream).rename(out / board.bitstream)
        times["total"] = time.monotonic() - start
        packages = list(dict.fromkeys(yowasp.PACKAGES[_tool_argv(step)[0]] for step in (synth, pnr, pack)))
        report = _report(board, manifest, needs, pnr_report, times, manifest["options"], packages)
        (out / "build.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
