"""What the scale benchmarks share: the reference network, and one ``lgn2rtl`` command timed
in a fresh process as a user runs it (wall time and peak RSS)."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from lgn2rtl.ir import Network
from lgn2rtl.synthetic import random_network


def reference_network(gates: int, n_inputs: int = 1000) -> Network:
    """Issue 6's reference shape: 8 layers of random 2-input gates, a 10-class GroupSum."""
    return random_network(n_inputs, [gates // 8 // 10 * 10] * 8, k=2, classes=10, seed=1)


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_gb: float        # the lgn2rtl (Python) process
    child_peak_gb: float  # its largest child: Yosys, the simulator, the C++ compiler
    stdout: str


def lgn2rtl(*args: object, ok: tuple[int, ...] = (0,)) -> Run:
    """Run ``lgn2rtl ARGS`` with this interpreter; exit with its stderr if its status is not in ``ok``."""
    cmd = [sys.executable, "-c",
           "import resource, sys; from lgn2rtl.cli import main\n"
           "try: main()\n"
           "finally: print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
           "               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)",
           *map(str, args)]
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if run.returncode not in ok:
        sys.exit(f"lgn2rtl {' '.join(map(str, args))} failed:\n{run.stderr}")
    own_kb, child_kb = map(int, run.stderr.rsplit("RSS", 1)[1].split())
    return Run(wall, own_kb / 1e6, child_kb / 1e6, run.stdout)
