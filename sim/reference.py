"""The network as imported, as AND gates: the reference the proof's logic stage compares the design with.

Built here from the IR, one node at a time, and never from Verilog: it shares nothing with
``hdl.core``'s printing of gates, so a bug there cannot hide from the proof, and Yosys need not
read and map a second, larger network (at 100k gates the reference's ``?:`` trees and the design
together outgrew YoWASP Yosys's 4 GB). A LUT node is its truth table expanded on its inputs, last
input first; a binarized neuron is the sum of its XNORs, parenthesized as ``PopCount.terms``
(how ``hdl.binarized`` adds, so that the sweep can match the partial sums one by one; that each
XNOR is added once is checked, so it is the plain count whatever the hardware does), compared
with its threshold. Literals are :mod:`aiger`'s: 0 is false, 1 true, ``x ^ 1`` the complement.
"""
from __future__ import annotations

from ..hdl.popcount import PopCount
from ..ir import Binarized, Network
from .aiger import Gates

__all__ = ["PlanError", "network"]


class PlanError(Exception):
    """A sum plan does not add each of its terms once (an internal error of the proof)."""


def network(gates: Gates, net: Network, inputs: list[int]) -> list[int]:
    """The literals of ``net``'s output bits (``net.outputs`` order) over ``inputs``, the
    literals of its input bits."""
    lit = list(inputs)
    for layer in net.layers:
        rows = layer.inputs.tolist()
        if isinstance(layer, Binarized):
            order = PopCount(layer.fan_in).terms()
            lit += [_neuron(gates, [lit[x] for x in row], signs, theta, order)
                    for row, signs, theta in zip(rows, layer.signs.tolist(), layer.thresholds.tolist())]
        else:
            lit += [_lookup(gates, table, [lit[x] for x in row]) for row, table in zip(rows, layer.tables.tolist())]
    return [lit[s] for s in net.outputs.tolist()]


def _lookup(gates: Gates, table: int, ins: list[int]) -> int:
    """Bit ``addr`` of ``table``, ``addr`` the bits ``ins`` (ins[0] the LSB)."""
    if not ins:
        return table & 1
    half = 1 << (len(ins) - 1)
    lo = _lookup(gates, table & ((1 << half) - 1), ins[:-1])
    hi = _lookup(gates, table >> half, ins[:-1])
    return gates.mux(ins[-1], hi, lo)


def _neuron(gates: Gates, ins: list[int], signs: list[int], theta: int, order: tuple) -> int:
    """A binarized neuron as the IR defines it: fires iff at least ``theta`` inputs agree with their sign."""
    agree = [x if w else x ^ 1 for x, w in zip(ins, signs)]
    return _at_least(gates, _plan_sum(gates, order, agree), theta)


def _plan_sum(gates: Gates, tree: tuple, leaves: list[int]) -> list[int]:
    """The bits (LSB first) of the sum of the one-bit ``leaves``, parenthesized as ``tree``
    (nested positions). Each partial sum is as wide as the count of the leaves under it can
    get, as in the hardware, so none wraps. Raises PlanError unless every leaf is added once."""
    used: list[int] = []

    def node(t) -> tuple[list[int], int]:
        if isinstance(t, int):
            used.append(t)
            return [leaves[t]], 1
        parts = [node(x) for x in t]
        total = parts[0][0]
        for bits, _ in parts[1:]:
            total = _add(gates, total, bits)
        n = sum(count for _, count in parts)
        return total[:n.bit_length()], n

    bits, _ = node(tree if isinstance(tree, tuple) else (tree,))
    if sorted(used) != list(range(len(leaves))):
        raise PlanError(f"a sum plan does not add each of its {len(leaves)} terms once")
    return bits


def _add(gates: Gates, a: list[int], b: list[int]) -> list[int]:
    """``a + b`` (LSB first), ripple carry, one bit wider than the wider operand."""
    out, carry = [], 0
    for i in range(max(len(a), len(b))):
        x, y = a[i] if i < len(a) else 0, b[i] if i < len(b) else 0
        half = gates.xor(x, y)
        out.append(gates.xor(half, carry))
        carry = gates.or_(gates.and_(x, y), gates.and_(half, carry))
    return out + [carry]


def _at_least(gates: Gates, bits: list[int], theta: int) -> int:
    """Whether the unsigned number ``bits`` (LSB first) is ``>= theta``."""
    if theta <= 0:
        return 1
    if theta >> len(bits):
        return 0
    ge = 1  # the empty suffix: equal, so >=
    for i, x in enumerate(bits):
        # from the LSB up: x[i:0] >= theta[i:0] iff x_i beats theta_i, or ties and the rest is >=
        ge = gates.and_(x, ge) if theta >> i & 1 else gates.or_(x, ge)
    return ge
