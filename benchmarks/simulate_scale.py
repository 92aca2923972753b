#!/usr/bin/env python3
"""End-to-end `lgn2rtl simulate` time (compile, simulator build, run, check) vs gate count.

    python benchmarks/simulate_scale.py                        # the default runs, 10,000 vectors each
    python benchmarks/simulate_scale.py --runs 100000:icarus   # any GATES:SIMULATOR[:OPT] runs

Each network is 8 layers of random 2-input gates over 1000 inputs with a 10-class
GroupSum, as in benchmarks/compile_scale.py; -O1 leaves about a quarter of a random
network's gates live, -O0 all of them ("nodes"). Every run checks all outputs against the
golden model, exactly as a user runs it; a mismatch stops the benchmark. Target (issue 6):
100k gates on 10,000 vectors in <= 120 s with Verilator. Icarus is left out at 100k gates:
it needed over 12 minutes.
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from lgn2rtl import native
from measure import lgn2rtl, reference_network


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["10000:icarus", "10000:verilator", "100000:verilator",
                                                  "100000:verilator:-O0"],
                    help="GATES:SIMULATOR[:OPT] triples; OPT is -O1 (default) or -O0")
    ap.add_argument("--vectors", type=int, default=10_000)
    args = ap.parse_args()
    runs: dict[int, list[tuple[str, str]]] = {}
    for run in args.runs:
        gates, simulator, opt = (run.split(":") + ["-O1"])[:3]
        runs.setdefault(int(gates), []).append((simulator, opt))
    print(f"{'gates':>10}  {'opt':>4}  {'nodes':>8}  {'vectors':>8}  {'simulator':>9}  {'run s':>6}  {'wall s':>7}")
    for gates, todo in runs.items():
        net = reference_network(gates)
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "m.lgn"
            native.save(net, model)
            for simulator, opt in todo:
                run = lgn2rtl("simulate", model, "--random", args.vectors, "--simulator", simulator, opt,
                              "--keep", Path(tmp) / "work")
                nodes = json.loads((Path(tmp) / "work" / "design" / "manifest.json").read_text())["nodes"]
                # the CLI's own line: "... verilator 9.6s" is the run without build and compile
                seconds = re.search(rf"{simulator} ([\d.]+)s", run.stdout).group(1)
                print(f"{net.n_nodes:>10,}  {opt:>4}  {nodes['after_opt']:>8,}  {args.vectors:>8,}  {simulator:>9}  "
                      f"{seconds:>6}  {run.wall_s:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
