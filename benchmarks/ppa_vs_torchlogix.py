#!/usr/bin/env python3
"""Area and timing of lgn2rtl's design vs torchlogix's own Verilog, same model, same harness.

Both designs are synthesized with ``lgn2rtl.boards.ppa.synthesize`` (one
harness for both, see its docstring) and compared side by side, per model and part::

    python benchmarks/ppa_vs_torchlogix.py --target both
    python benchmarks/ppa_vs_torchlogix.py --model tests/data/torchlogix_digits_s1 --variant "--goal area"
    python benchmarks/ppa_vs_torchlogix.py --ours out/ --target ice40-up5k

A model is a directory with torchlogix's ``torchlogix.v`` and ``circuit.json`` (default: the
shipped fixture and the two 4 x 1000-gate models in benchmarks/models).  Our design is
``lgn2rtl compile --target PART`` with default settings (plus any ``--variant``), compiled for
each part, since the design is shaped for the part.  The last table puts the fit issue's bars
side by side: iCE40 logic cells and Fmax, ECP5 LUT4s and Fmax, against torchlogix's, and our
estimate before synthesis against the placed count.  Reports go to ``--out`` (default: a new
temporary directory), one subdirectory per model, target and design, plus ``summary.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lgn2rtl.boards.ppa import synthesize
from lgn2rtl.boards.targets import TARGETS
from lgn2rtl.errors import UserError

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "data" / "torchlogix_digits_s1"
MODELS = [FIXTURE, REPO / "benchmarks" / "models" / "tl4x1000_s1", REPO / "benchmarks" / "models" / "tl4x1000_s2"]
# what the fit issue compares on each part: its unit of area, and Fmax
AREA = {"ice40-up5k": ("logic_cells", "logic cells"), "ecp5-85k": ("luts", "LUT4")}

ROWS = [  # (label, report key)
    ("LUTs", "luts"),
    ("FFs", "ffs"),
    ("carries", "carries"),
    ("logic cells", "logic_cells"),
    ("Fmax (MHz)", "fmax_mhz"),
    ("latency (cycles)", "latency_cycles"),
    ("latency (ns)", "latency_ns"),
    ("throughput (Msample/s)", "throughput_msps"),
]


def torchlogix_manifest(verilog: Path) -> dict:
    """A manifest for torchlogix's combinational ``circuit(inp, scores_flat)``."""
    text = verilog.read_text()
    widths = {name: int(msb) + 1 for msb, name in
              re.findall(r"(?:input|output)\s+(?:wire|reg)\s+\[(\d+):0\]\s+(\w+)", text)}
    classes = int(re.search(r"Output shape:\s*\[(\d+)\]", text).group(1))
    return {"top": "circuit", "files": [verilog.name], "clock": None, "reset": None,
            "latency": 0, "initiation_interval": 1, "classes": classes,
            "inputs": {"data": {"name": "inp", "width": widths["inp"]}},
            "outputs": {"scores": {"name": "scores_flat", "width": widths["scores_flat"],
                                   "bits_per_class": widths["scores_flat"] // classes}}}


def compile_ours(circuit: Path, out: Path, extra: list[str]) -> Path:
    """Compile ``circuit`` with ``lgn2rtl compile [extra]``; exit with a hint when that fails."""
    run = subprocess.run([sys.executable, "-m", "lgn2rtl", "compile", str(circuit), "-o", str(out), *extra],
                         capture_output=True, text=True)
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-15:])
        sys.exit(f"lgn2rtl compile {circuit} failed:\n{tail}\n"
                 "Compile it yourself and pass --ours DIR.")
    return out


def _cell(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _ratio(ours, theirs) -> str:
    return f"{ours / theirs:.2f}" if theirs else "-"


def table(target: str, reports: dict[str, dict]) -> str:
    """Side by side for ``target``: torchlogix first, then each of ours with its ratio to torchlogix."""
    reports = {name: {**r, "wall_s": sum(r["runtime_s"].values())} for name, r in reports.items()}
    theirs = reports["torchlogix"]
    ours = [name for name in reports if name != "torchlogix"]
    logic = f'logic cells ({theirs["logic_cell_type"]})'
    rows = [(target, "torchlogix", *(c for name in ours for c in (name, "ratio")))]
    for label, key in [*ROWS, ("block RAMs", "brams"), ("synth + P&R time (s)", "wall_s")]:
        rows.append((logic if key == "logic_cells" else label, _cell(theirs[key]),
                     *(c for name in ours for c in (_cell(reports[name][key]),
                                                    _ratio(reports[name][key], theirs[key])))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{r[0]:<{widths[0]}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:], widths[1:]))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _estimated_cells(report: dict) -> int | None:
    """Our estimate before synthesis of what ``report`` placed, harness included (iCE40 logic
    cells; ECP5 LUT4s), or None for a design without one."""
    e, harness = report.get("estimate"), report["harness"]
    if not e:
        return None
    if report["logic_cell_type"] == "ICESTORM_LC":
        return e["logic"] + harness["logic_cells"]
    return e["luts"] + harness["xor_luts"]


def _fmax(ours: dict, theirs: dict) -> tuple[str, str, str]:
    """Both Fmax and their ratio, or dashes where the target has no timing (Xilinx: synthesis only)."""
    if ours["fmax_mhz"] is None or theirs["fmax_mhz"] is None:
        return "-", "-", "-"
    return f"{ours['fmax_mhz']:.1f}", f"{theirs['fmax_mhz']:.1f}", f"{ours['fmax_mhz'] / theirs['fmax_mhz']:.2f}x"


def verdicts(summary: dict) -> str:
    """One row per model and part: area and Fmax against torchlogix's, and the estimate's error."""
    rows = [("model", "part", "area", "ours", "torchlogix", "ratio", "Fmax", "torchlogix", "ratio",
             "estimate", "error")]
    for model, by_target in summary.items():
        for target, reports in by_target.items():
            # elsewhere: what place and route counts as the part's logic (Xilinx: the synthesized LUTs)
            key, unit = AREA.get(target, ("logic_cells", TARGETS[target].logic_cell))
            theirs = reports["torchlogix"]
            for name, r in reports.items():
                if name == "torchlogix":
                    continue
                est = _estimated_cells(r)
                placed = r[key]
                rows.append((f"{model} {name.removeprefix('lgn2rtl')}".strip(), target, unit, str(r[key]),
                             str(theirs[key]), f"{r[key] / theirs[key]:.2f}x", *_fmax(r, theirs),
                             str(est) if est is not None else "-",
                             f"{100 * (est - placed) / placed:+.0f}%" if est is not None else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(f"{c:<{w}}" if i < 3 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=[*TARGETS, "both"], default="both")
    ap.add_argument("--model", type=Path, action="append", dest="models",
                    help="directory with torchlogix.v and circuit.json; repeatable (default: the fixture "
                         "and benchmarks/models/tl4x1000_s1, _s2)")
    ap.add_argument("--ours", type=Path, help="directory with our compiled design + manifest.json (one model)")
    ap.add_argument("--out", type=Path, help="where reports go (default: a new temporary dir)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    ap.add_argument("--jobs", type=int, default=2, help="synthesis runs in parallel")
    ap.add_argument("--variant", action="append", dest="variants", metavar="ARGS",
                    help="extra `lgn2rtl compile` arguments for one more design of ours; repeatable "
                         "(the defaults are always built)")
    args = ap.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="ppa-vs-torchlogix-"))
    out.mkdir(parents=True, exist_ok=True)
    targets = list(AREA) if args.target == "both" else [args.target]
    models = args.models or MODELS
    variants = ["", *(args.variants or [])]
    designs = {}  # (model, target, name) -> (design dir, manifest)
    for model in models:
        for target in targets:
            designs[model.name, target, "torchlogix"] = (model, torchlogix_manifest(model / "torchlogix.v"))
            if args.ours:
                designs[model.name, target, "lgn2rtl"] = (args.ours, json.loads((args.ours / "manifest.json").read_text()))
                continue
            for i, variant in enumerate(variants):
                d = compile_ours(model / "circuit.json", out / "designs" / model.name / target / str(i),
                                 ["--target", target, *variant.split()])
                designs[model.name, target, f"lgn2rtl {variant}".strip()] = (d, json.loads((d / "manifest.json").read_text()))
    start = time.monotonic()

    def run(job):
        model, target, name = job
        design_dir, manifest = designs[job]
        return synthesize(design_dir, manifest, target, out / model / target / name.replace(" ", ""), seed=args.seed,
                          progress=lambda step: print(f"[{time.monotonic() - start:6.1f} s] "
                                                      f"{model} {target} {name}: {step}", file=sys.stderr))

    try:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            reports = dict(zip(designs, pool.map(run, designs)))
    except UserError as e:  # a harness problem, a missing or failing tool
        sys.exit(f"error: {e}")
    summary = {}
    for (model, target, name), r in reports.items():
        summary.setdefault(model, {}).setdefault(target, {})[name] = r
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for model, by_target in summary.items():
        for target, reps in by_target.items():
            print(f"\n{model}")
            print(table(target, reps))
    print("\nThe fit issue's bars (iCE40: logic cells <= 1.0x and Fmax >= 3x; ECP5: LUT4 <= 0.5x and Fmax >= 3x):")
    print(verdicts(summary))
    print(f"\nreports in {out}")


if __name__ == "__main__":
    main()
