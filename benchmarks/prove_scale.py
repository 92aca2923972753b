#!/usr/bin/env python3
"""Wall time and peak memory of `lgn2rtl prove` vs gate count, and on trained models.

    python benchmarks/prove_scale.py                        # 20k, 50k, 100k random gates
    python benchmarks/prove_scale.py --gates --models examples/bnn_digits.lgn
    python benchmarks/prove_scale.py --gates --mutants 50000  # must fail: a flipped bit, a lost register

The random networks are issue 6's reference shape (8 layers of random 2-input gates over
1000 inputs, a 10-class GroupSum, ``measure.reference_network``). Each proof runs as its own
process, exactly as a user runs it (compile with the defaults, then the four stages).
"peak GB" is the lgn2rtl process (the AIG, its sweep and the SAT solver), "child GB" the
largest Yosys run (reading the design and writing each stage as an AIG).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from lgn2rtl import native
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.sim.prove import prove
from measure import lgn2rtl, reference_network

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_prove import drop_register, mutant  # noqa: E402  (the tests' mutations, at scale)


def mutants(gates: int, tmp: Path) -> None:
    net = reference_network(gates)
    print(f"{'mutant of ' + format(gates, ',') + ' gates':>32}  {'result':>14}  {'wall s':>7}  {'peak GB':>7}  stages")
    for label, make in (("flipped truth-table bit", lambda d: compile_design(mutant(net), d, opt=False)),
                        ("missing pipeline register", lambda d: (compile_design(net, d), drop_register(d)))):
        design = tmp / label.replace(" ", "_")
        make(design)
        start = time.perf_counter()
        r = prove(net, design, tmp / (design.name + "_prove"), timeout=3600)
        wall = time.perf_counter() - start
        peak = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1e6
        stages = ", ".join(f"{s.name} {s.result}" for s in r.stages)
        print(f"{label:>32}  {r.result:>14}  {wall:>7.1f}  {peak:>7.2f}  {stages}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gates", type=int, nargs="*", default=[20_000, 50_000, 100_000])
    ap.add_argument("--models", type=Path, nargs="*", default=[], help="model files to prove as well")
    ap.add_argument("--timeout", type=float, default=3600.0, help="prove's budget per model (s)")
    ap.add_argument("--mutants", type=int, metavar="GATES", help="prove two broken designs of this size")
    args = ap.parse_args()
    if args.mutants:
        with tempfile.TemporaryDirectory() as tmp:
            mutants(args.mutants, Path(tmp))
    print(f"{'model':>24}  {'nodes':>8}  {'result':>10}  {'wall s':>7}  {'peak GB':>7}  {'child GB':>8}  stages (s)")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for gates in args.gates:
            model = Path(tmp) / f"random{gates}.lgn"
            native.save(reference_network(gates), model)
            jobs.append((f"random {gates:,} gates", model))
        jobs += [(m.name, m) for m in args.models]
        for label, model in jobs:
            out = Path(tmp) / "prove.json"
            run = lgn2rtl("prove", model, "-o", out, "--timeout", args.timeout, ok=(0, 1, 3))
            report = json.loads(out.read_text())
            stages = ", ".join(f"{s['name']} {s['seconds']:.0f}" for s in report["stages"])
            print(f"{label:>24}  {report['design']['nodes']['after_opt']:>8,}  {report['result']:>10}  {run.wall_s:>7.1f}  "
                  f"{run.peak_gb:>7.2f}  {run.child_peak_gb:>8.2f}  {stages}", flush=True)


if __name__ == "__main__":
    main()
