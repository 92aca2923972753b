#!/usr/bin/env python3
"""Wall time and peak memory of `lgn2rtl compile` (load + optimize + Verilog) vs gate count.

    python benchmarks/compile_scale.py              # 10k, 100k, 1M gates, -O1 and -O0

Each network is 8 layers of random 2-input gates over 1000 inputs with a 10-class
GroupSum (issue 6's reference shape). The compile runs as its own process, exactly
as a user runs it, so start-up and the Yosys conversion of the top are included.
"peak GB" is the lgn2rtl process, "child GB" the Yosys run that converts the top.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from lgn2rtl import native
from measure import lgn2rtl, reference_network


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gates", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = ap.parse_args()
    print(f"{'gates':>10}  {'opt':>4}  {'nodes out':>9}  {'core.v MB':>9}  {'wall s':>7}  {'peak GB':>7}  {'child GB':>8}")
    for gates in args.gates:
        net = reference_network(gates)
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "m.lgn"
            native.save(net, model)
            for opt in ("-O1", "-O0"):
                out = Path(tmp) / f"out{opt}"
                run = lgn2rtl("compile", model, "-o", out, opt)
                manifest = json.loads((out / "manifest.json").read_text())
                size = (out / "lgn_core.v").stat().st_size / 1e6
                print(f"{net.n_nodes:>10,}  {opt:>4}  {manifest['nodes']['after_opt']:>9,}  {size:>9.1f}  "
                      f"{run.wall_s:>7.1f}  {run.peak_gb:>7.2f}  {run.child_peak_gb:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
