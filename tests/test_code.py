"""Rules of the code base that a reader relies on."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lgn2rtl", "hdl", "sim", "boards")


def private_imports(source: str) -> list[str]:
    """The imports in ``source`` of another module's underscored names (``from x import _y``,
    ``from x._y import z``, ``import x._y``), as ``line: module`` strings."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            parts = [p for p in (node.module or "").split(".") if p.startswith("_") and p != "__future__"]
            names = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
            if parts or names:
                found.append(f"{node.lineno}: from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if any(p.startswith("_") for p in a.name.split("."))]
    return found


def test_no_module_imports_another_ones_private_names():
    """An underscored name is private to its module: none is imported from another module, ours
    or a library's."""
    found = [f"{path.relative_to(ROOT)}:{hit}" for package in PACKAGES
             for path in sorted((ROOT / package).rglob("*.py")) for hit in private_imports(path.read_text())]
    assert found == []


def test_the_rule_sees_private_imports():
    source = ("from __future__ import annotations\nfrom .runner import SimError, _environ\n"
              "from amaranth._toolchain.yosys import YosysError\nimport a._b\nfrom .. import __version__\n")
    assert private_imports(source) == ["2: from runner import SimError, _environ",
                                       "3: from amaranth._toolchain.yosys import YosysError", "4: import a._b"]
