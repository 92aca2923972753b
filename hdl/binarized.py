"""Binarized neurons as structural Verilog: XNOR literals, a pipelined popcount, a constant compare.

A weight is a constant, so the XNOR of an input with +1 is the input and with -1 its
inverse: the XNOR array is wires and inverters, which synthesis folds into the popcount's
first adders. Each neuron counts its ``F`` literals with the GroupSum's own tree
(:class:`~lgn2rtl.hdl.popcount.PopCount`, registered at the end) and compares the count
with its threshold combinationally, so the neuron's bit is ready ``PopCount(F).latency``
cycles after its inputs. A neuron whose threshold is ``<= 0`` or ``> F`` is a constant and
gets no tree.

Cost per neuron of fan-in ``F`` (planned, before synthesis; :func:`cost`): the popcount's
LUT4s and flip-flops (about ``1.25 F`` and ``1.9 F``, see :class:`PopCount`), plus
``ceil(b / 2)`` LUT4s for the compare of the ``b = ceil(log2(F + 1))``-bit count.
"""
from __future__ import annotations

from typing import TextIO

from ..ir import Binarized
from . import verilog
from .popcount import PopCount

__all__ = ["cost", "write_layer"]


def cost(fan_in: int) -> tuple[int, int]:
    """Planned (LUT4s, flip-flops) of one non-constant neuron of fan-in ``fan_in``."""
    pc = PopCount(fan_in)
    return pc.luts + -(-pc.bits // 2), pc.ffs


def _constant(layer: Binarized, j: int) -> int | None:
    """The output of neuron ``j`` when it is a constant (threshold <= 0: 1, > fan-in: 0), else None."""
    theta = int(layer.thresholds[j])
    return 1 if theta <= 0 else 0 if theta > layer.fan_in else None


def write_layer(layer: Binarized, start: int, cur: list[str], out: TextIO) -> None:
    """Print wire ``n{start + j}`` for every neuron j, reading signal ``s`` as ``cur[s]``."""
    pc = PopCount(layer.fan_in)
    lines = []
    for j, (row, signs) in enumerate(zip(layer.inputs.tolist(), layer.signs.tolist())):
        sig, fixed = start + j, _constant(layer, j)
        if fixed is not None:
            lines.append(verilog.wire(f"n{sig}", f"1'b{fixed}"))
            continue
        # inside a concatenation each ~ stays one bit wide (in a sum it would widen first)
        literals = verilog.concat([cur[s] if w else f"~{cur[s]}" for s, w in zip(row, signs)])
        lines.append(verilog.wire(f"x{sig}", literals, layer.fan_in))
        lines.append(verilog.wire(f"c{sig}", width=pc.bits))
        lines.extend(pc.lines([f"x{sig}[{m}]" for m in range(layer.fan_in)], f"c{sig}", f"p{sig}_"))
        lines.append(verilog.wire(f"n{sig}", f"c{sig} >= {pc.bits}'d{int(layer.thresholds[j])}"))
    out.write("\n".join(lines) + "\n")
