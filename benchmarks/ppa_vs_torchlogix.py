#!/usr/bin/env python3
"""Area and timing of lgn2rtl's design vs torchlogix's own Verilog, same model, same harness.

Both designs are synthesized with ``lgn2rtl.boards.synth.synthesize`` (one
harness for both, see its docstring) and compared side by side::

    python benchmarks/ppa_vs_torchlogix.py --target both
    python benchmarks/ppa_vs_torchlogix.py --ours out/ --target ice40-up5k

Without ``--ours`` the fixture's ``circuit.json`` is compiled with
``lgn2rtl compile``. Reports go to ``--out`` (default: a new temporary
directory), one subdirectory per target and design, plus ``summary.json``.
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

from lgn2rtl.boards.synth import TARGETS, SynthError, synthesize

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "data" / "torchlogix_digits_s1"

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=[*TARGETS, "both"], default="ice40-up5k")
    ap.add_argument("--ours", type=Path, help="directory with our compiled design + manifest.json")
    ap.add_argument("--fixture", type=Path, default=FIXTURE,
                    help="directory with torchlogix.v and circuit.json (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="where reports go (default: a new temporary dir)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    ap.add_argument("--jobs", type=int, default=2, help="synthesis runs in parallel")
    ap.add_argument("--variant", action="append", dest="variants", metavar="ARGS",
                    help="extra `lgn2rtl compile` arguments for one of our designs; repeatable "
                         "(default: the defaults, '--pipeline 1', '--pipeline 3', and '--roms 3' which "
                         "counts with block RAM)")
    args = ap.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="ppa-vs-torchlogix-"))
    out.mkdir(parents=True, exist_ok=True)
    designs = {"torchlogix": (args.fixture, torchlogix_manifest(args.fixture / "torchlogix.v"))}
    if args.ours:
        designs["lgn2rtl"] = args.ours
    for i, variant in enumerate([] if args.ours else (args.variants or ["", "--pipeline 1", "--pipeline 3", "--roms 3"])):
        designs[f"lgn2rtl {variant}".strip()] = compile_ours(args.fixture / "circuit.json",
                                                             out / f"ours-design-{i}", variant.split())
    for name, value in designs.items():
        if isinstance(value, Path):
            designs[name] = (value, json.loads((value / "manifest.json").read_text()))
    targets = list(TARGETS) if args.target == "both" else [args.target]
    jobs = [(t, name) for t in targets for name in designs]
    start = time.monotonic()

    def run(job):
        target, name = job
        design_dir, manifest = designs[name]
        return synthesize(design_dir, manifest, target, out / target / name.replace(" ", ""), seed=args.seed,
                          progress=lambda step: print(f"[{time.monotonic() - start:6.1f} s] "
                                                      f"{target} {name}: {step}", file=sys.stderr))

    try:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            reports = dict(zip(jobs, pool.map(run, jobs)))
    except SynthError as e:
        sys.exit(f"error: {e}")
    summary = {t: {name: reports[t, name] for name in designs} for t in targets}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for t in targets:
        print()
        print(table(t, {name: reports[t, name] for name in designs}))
    print(f"\nreports in {out}")


if __name__ == "__main__":
    main()
