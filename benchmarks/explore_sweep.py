#!/usr/bin/env python3
"""Wall time of a 24-point `lgn2rtl explore` sweep on the fixture: 1 worker, 2 workers, and a
rerun served from the cache.

    python benchmarks/explore_sweep.py                      # reports in a temporary directory, removed
    python benchmarks/explore_sweep.py -o bench-explore/    # reports kept there

The grid is --pipeline 1,2,3,4 --roms 0,3 --seed 1,2,3 on the iCE40 UP5K (8 designs x 3
seeds). The 1-worker and 2-worker sweeps each start from an empty cache of their own; the
rerun repeats the 2-worker sweep on its cache. Each run is the CLI end to end (cluster start,
compile, place and route, report). The machine's load averages (os.getloadavg, what `uptime`
prints) are printed before and after each run: another job on the cores slows the sweep down.
With -o the reports stay there (sweep-1w, sweep-2w, rerun-2w: report.html and the rest).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "torchlogix_digits_s1" / "circuit.json"
GRID = ["--target", "ice40-up5k", "--pipeline", "1,2,3,4", "--roms", "0,3", "--seed", "1,2,3"]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(name: str, workers: int, cache: Path, out: Path) -> tuple[float, str, str]:
    """Seconds of one sweep, and the load averages before and after it."""
    before = load()
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "lgn2rtl", "explore", str(FIXTURE), *GRID, "--workers", str(workers),
                    "--cache", str(cache), "-o", str(out / name)], check=True, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    print(f"{name}: {seconds:.1f} s  (load average before {before}, after {load()})", flush=True)
    return seconds, before, load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, help="keep the caches and reports in this new directory")
    args = parser.parse_args()
    if args.output is None:
        with tempfile.TemporaryDirectory(prefix="explore-sweep-") as tmp:
            measure(Path(tmp))
    else:
        measure(args.output.resolve())


def measure(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("cache-1w", "cache-2w"):
        if (out / name).exists():
            sys.exit(f"{out / name} exists: the sweeps must start from empty caches; choose another -o")
    print(f"fixture {FIXTURE.name}, 24 points: {' '.join(GRID)}; {os.cpu_count()} CPUs", flush=True)
    runs = {"1 worker": run("sweep-1w", 1, out / "cache-1w", out),
            "2 workers": run("sweep-2w", 2, out / "cache-2w", out),
            "rerun, cached": run("rerun-2w", 2, out / "cache-2w", out)}
    print()
    print(f"{'run':<15} {'wall s':>8}  load average before -> after (1, 5, 15 min)")
    for name, (seconds, before, after) in runs.items():
        print(f"{name:<15} {seconds:>8.1f}  {before} -> {after}")
    one, two = runs["1 worker"][0], runs["2 workers"][0]
    print(f"speed-up with 2 workers: {one / two:.2f}x")


if __name__ == "__main__":
    main()
