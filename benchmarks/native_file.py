#!/usr/bin/env python3
"""Size, save time and load time (with full validation) of the native .lgn file vs gate count.

    python benchmarks/native_file.py            # 10k, 100k, 1M gates
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lgn2rtl import native
from measure import reference_network


def measure(gates: int) -> tuple[float, float, float]:
    net = reference_network(gates)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.lgn"
        t0 = time.perf_counter()
        native.save(net, path)
        t1 = time.perf_counter()
        back = native.load(path)
        t2 = time.perf_counter()
        assert back.n_nodes == net.n_nodes
        return path.stat().st_size / 1e6, t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gates", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = ap.parse_args()
    print(f"{'gates':>10}  {'file MB':>8}  {'save s':>7}  {'load s':>7}")
    for gates in args.gates:
        size, save, load = measure(gates)
        print(f"{gates:>10,}  {size:>8.1f}  {save:>7.2f}  {load:>7.2f}")


if __name__ == "__main__":
    main()
