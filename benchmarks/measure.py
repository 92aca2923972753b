"""Time one ``lgn2rtl`` command in a fresh process, as a user runs it: wall time and peak RSS."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_gb: float        # the lgn2rtl (Python) process
    child_peak_gb: float  # its largest child: Yosys, the simulator, the C++ compiler
    stdout: str


def lgn2rtl(*args: object) -> Run:
    """Run ``lgn2rtl ARGS`` with this interpreter; exit with its stderr if it fails."""
    cmd = [sys.executable, "-c",
           "import resource, sys; from lgn2rtl.cli import main\n"
           "try: main()\n"
           "finally: print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
           "               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)",
           *map(str, args)]
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if run.returncode:
        sys.exit(f"lgn2rtl {' '.join(map(str, args))} failed:\n{run.stderr}")
    own_kb, child_kb = map(int, run.stderr.rsplit("RSS", 1)[1].split())
    return Run(wall, own_kb / 1e6, child_kb / 1e6, run.stdout)
