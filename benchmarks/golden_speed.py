#!/usr/bin/env python3
"""Golden-model throughput (samples/s, one core) against batch size.

    python benchmarks/golden_speed.py                 # the fixture model and a 1M-gate network
    python benchmarks/golden_speed.py --gates 100000  # another size for the random network

The fixture is torchlogix_digits_s1 (984 gates); the random network is
``measure.reference_network``: 8 layers of 2-input gates over 1000 inputs, 10 classes.
Each figure is the best of --repeat runs of ``Plan.scores`` (what ``golden.predict`` runs)
on random bits; building the plan, once per model, is timed apart ("plan s").
Targets (issue 6): >= 1M samples/s on the fixture, >= 10k on 1M gates.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the targets say

import argparse
import time
from pathlib import Path

import numpy as np

from lgn2rtl import golden
from lgn2rtl.importers import load_model
from measure import reference_network

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "torchlogix_digits_s1" / "circuit.json"


def best_rate(plan: golden.Plan, x: np.ndarray, repeat: int) -> float:
    """Samples per second of ``plan.scores`` on ``x``, best of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        plan.scores(x)
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gates", type=int, default=1_000_000, help="gates of the random network")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    nets = [("fixture (984 gates)", load_model(FIXTURE), [64, 1024, 16384, 262144, 1 << 20]),
            (f"random {args.gates:,} gates", reference_network(args.gates), [64, 1024, 16384, 65536])]
    print(f"{'model':<22}  {'plan s':>7}  {'batch':>8}  {'samples/s':>12}")
    for name, net, batches in nets:
        t = time.perf_counter()
        plan = golden.Plan(net)
        plan_s = time.perf_counter() - t
        for batch in batches:
            x = rng.integers(0, 2, size=(batch, net.n_inputs), dtype=np.uint8)
            print(f"{name:<22}  {plan_s:>7.2f}  {batch:>8,}  {best_rate(plan, x, args.repeat):>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
