#!/usr/bin/env python3
"""End-to-end `lgn2rtl simulate` time (compile, simulator build, run, check) vs gate count.

    python benchmarks/simulate_scale.py                        # the runs below, 10,000 vectors each
    python benchmarks/simulate_scale.py --runs 100000:icarus   # any GATES:SIMULATOR pairs

Each network is 8 layers of random 2-input gates over 1000 inputs with a 10-class
GroupSum, as in benchmarks/compile_scale.py. Every run checks all outputs against the
golden model, exactly as a user runs it; a mismatch stops the benchmark. Target (issue 6): 100k gates on 10,000 vectors
in <= 120 s with Verilator. Icarus is left out at 100k gates: it needed over 12 minutes.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from lgn2rtl import native
from measure import lgn2rtl, reference_network


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["10000:icarus", "10000:verilator", "100000:verilator"],
                    help="GATES:SIMULATOR pairs")
    ap.add_argument("--vectors", type=int, default=10_000)
    args = ap.parse_args()
    runs: dict[int, list[str]] = {}
    for run in args.runs:
        gates, simulator = run.split(":")
        runs.setdefault(int(gates), []).append(simulator)
    print(f"{'gates':>10}  {'vectors':>8}  {'simulator':>9}  {'run s':>6}  {'wall s':>7}")
    for gates, simulators in runs.items():
        net = reference_network(gates)
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "m.lgn"
            native.save(net, model)
            for simulator in simulators:
                run = lgn2rtl("simulate", model, "--random", args.vectors, "--simulator", simulator)
                # the CLI's own line: "... verilator 9.6s" is the run without build and compile
                seconds = re.search(rf"{simulator} ([\d.]+)s", run.stdout).group(1)
                print(f"{net.n_nodes:>10,}  {args.vectors:>8,}  {simulator:>9}  {seconds:>6}  "
                      f"{run.wall_s:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
