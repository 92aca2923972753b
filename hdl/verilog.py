"""Verilog as text: module headers, the gate table, registers and delay lines, written one way.

The logic layers (``core.py``), the GroupSum trees (``popcount.py``), binarized neurons
(``binarized.py``) and the synthesis harness (``boards/ppa.py``) are printed as text rather
than elaborated by Amaranth, which needs minutes and gigabytes for a million single-bit
gates (docs/toolchain.md). They build their lines from these pieces, so a gate, a register
or a port is spelled the same in every generated module.

Every function returns text without a newline; body lines come indented by :data:`INDENT`.
A ``width`` of None declares a scalar, an integer a vector ``[width-1:0]`` (even of width 1,
so that a bit select on it stays legal).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

__all__ = ["END", "GATE2", "INDENT", "assign", "concat", "delay", "gate", "header", "instance",
           "port", "reg", "register", "registers", "truth_table", "wire"]

INDENT = "    "
END = "endmodule"

# Verilog for each 2-input truth table over addr = a + 2b (docs/semantics.md op table, re-indexed
# by table); f-strings because a million nodes make str.format's cost show
GATE2: dict[int, Callable[[str, str], str]] = {
    0: lambda a, b: "1'b0", 8: lambda a, b: f"{a} & {b}", 2: lambda a, b: f"{a} & ~{b}",
    10: lambda a, b: a, 4: lambda a, b: f"~{a} & {b}", 12: lambda a, b: b,
    6: lambda a, b: f"{a} ^ {b}", 14: lambda a, b: f"{a} | {b}", 1: lambda a, b: f"~({a} | {b})",
    9: lambda a, b: f"~({a} ^ {b})", 5: lambda a, b: f"~{a}", 11: lambda a, b: f"{a} | ~{b}",
    3: lambda a, b: f"~{b}", 13: lambda a, b: f"~{a} | {b}", 7: lambda a, b: f"~({a} & {b})",
    15: lambda a, b: "1'b1",
}
_GATE1 = {0: "1'b0", 1: "~{a}", 2: "{a}", 3: "1'b1"}


def _range(width: int | None) -> str:
    return "" if width is None else f"[{width - 1}:0] "


def port(direction: str, name: str, width: int | None = None, kind: str = "wire") -> str:
    """A port declaration such as ``input wire [7:0] i_data`` (``direction``: input or output)."""
    return f"{direction} {kind} {_range(width)}{name}"


def header(name: str, ports: Sequence[str]) -> str:
    """``module name (`` with one port (see :func:`port`) a line, up to ``);``."""
    return f"module {name} (\n" + ",\n".join(INDENT + p for p in ports) + "\n);"


def wire(name: str, expr: str | None = None, width: int | None = None, keep: bool = False) -> str:
    """``wire [width-1:0] name = expr;`` (no ``= expr`` without one); ``keep`` asks synthesis to keep it."""
    value = "" if expr is None else f" = {expr}"
    return f"{INDENT}{'(* keep *) ' if keep else ''}wire {_range(width)}{name}{value};"


def reg(name: str, width: int | None = None) -> str:
    return f"{INDENT}reg {_range(width)}{name};"


def assign(name: str, expr: str) -> str:
    return f"{INDENT}assign {name} = {expr};"


def register(name: str, value: str, reset: str | None = None, width: int | None = None) -> str:
    """``name`` takes ``value`` at every clock edge (``clk``); zero while ``reset`` is high, if given."""
    if reset is not None:
        value = f"{reset} ? {width or 1}'d0 : {value}"
    return f"{INDENT}always @(posedge clk) {name} <= {value};"


def registers(pairs: Iterable[tuple[str, str]]) -> str:
    """One clocked block in which each ``(name, value)`` register takes its value."""
    body = "".join(f"{INDENT * 2}{name} <= {value};\n" for name, value in pairs)
    return f"{INDENT}always @(posedge clk) begin\n{body}{INDENT}end"


def delay(source: str, width: int | None, cycles: int, prefix: str,
          reset: str | None = None) -> tuple[list[str], str]:
    """A delay line: registers ``{prefix}1`` .. ``{prefix}{cycles}``, register k holding ``source``
    from k clocks before (cleared while ``reset`` is high, if given). Returns the lines and the
    name of the delayed value (``source`` itself for 0 cycles)."""
    lines, prev = [], source
    for k in range(1, cycles + 1):
        lines += [reg(f"{prefix}{k}", width), register(f"{prefix}{k}", prev, reset, width)]
        prev = f"{prefix}{k}"
    return lines, prev


def instance(module: str, name: str, connections: dict[str, str], parameters: dict[str, str] | None = None) -> str:
    """``module #(.P(v)) name (.port(net), ...);`` on one line."""
    params = "#(" + ", ".join(f".{p}({v})" for p, v in parameters.items()) + ") " if parameters else ""
    ports = ", ".join(f".{p}({net})" for p, net in connections.items())
    return f"{INDENT}{module} {params}{name} ({ports});"


def concat(lsb_first: Sequence[str], one_a_line: bool = False) -> str:
    """The concatenation whose bit 0 is ``lsb_first[0]`` (Verilog lists the MSB first); with
    ``one_a_line``, one part a line, as for an output bus of a million bits."""
    if one_a_line:
        return "{\n" + ",\n".join(f"{INDENT * 2}{x}" for x in reversed(lsb_first)) + f"\n{INDENT}}}"
    return "{" + ", ".join(reversed(lsb_first)) + "}"


def gate(table: int, names: Sequence[str]) -> str:
    """The expression of a LUT node with truth table ``table`` reading ``names`` (names[0] is the
    address LSB): a gate for up to two inputs, a shifted constant beyond."""
    k = len(names)
    if k == 0:
        return f"1'b{table & 1}"
    if k == 1:
        return _GATE1[table].format(a=names[0])
    if k == 2:
        return GATE2[table](*names)
    return f"{1 << k}'h{table:0{1 << (k - 2)}x} >> {concat(names)}"


def truth_table(name: str, table: int, names: Sequence[str]) -> list[str]:
    """Wire ``name`` as its truth table indexed by ``names`` (names[0] the LSB): the literal
    meaning of a LUT node, for a reference that must not share :func:`gate`'s rewriting."""
    if not names:
        return [wire(name, f"1'b{table & 1}")]
    size = 1 << len(names)
    return [wire(f"t_{name}", f"{size}'h{table:x}", size), wire(name, f"t_{name}[{concat(names)}]")]
