"""JSON from files nobody vouches for: model files, ``meta`` strings, ``build.json``.

Python's ``json`` takes NaN and Infinity, turns 1e400 into infinity, lets the last of two
equal keys win, recurses once per nesting level (100,000 levels end in RecursionError) and
leaves bad UTF-8 to the caller.
:func:`parse` refuses each of those with one ``error`` that says what is wrong.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .errors import quote
from .limits import size

MAX_DEPTH = 64  # lgn2rtl's own JSON nests 4 deep; this is generous and far from the recursion limit
# A parsed document takes about ten times its text in Python objects (a 1M-gate torchlogix circuit is 60 MB).
MAX_BYTES = 256 << 20


def read(path: str | Path, error: type[Exception]) -> Any:
    """The JSON document in the file at ``path``; ``error(message naming the file)`` on any defect."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise error(f"cannot read {path} ({quote(e)})") from None
    if len(data) > MAX_BYTES:
        raise error(f"{path} is larger than {size(MAX_BYTES)}, the most lgn2rtl parses as JSON "
                    "(parsed, it would take about ten times that in memory)")
    return parse(data, error, str(path))


def parse(data: bytes | str, error: type[Exception], what: str) -> Any:
    """The JSON document in ``data``; ``error(message)`` naming ``what`` on bad UTF-8, bad syntax,
    a number that is not finite, or nesting deeper than :data:`MAX_DEPTH`."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{what} is not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); "
                        "JSON files are UTF-8") from None
    try:
        doc = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float,
                         object_pairs_hook=_unique_keys)
    except RecursionError:
        raise error(f"{what} is not valid JSON: nested deeper than Python's parser can follow "
                    f"(lgn2rtl's JSON nests at most {MAX_DEPTH} deep)") from None
    except json.JSONDecodeError as e:
        raise error(f"{what} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); truncated file?") from None
    except ValueError as e:  # from the hooks below, or an integer of more than 4300 digits
        raise error(f"{what} is not valid JSON for lgn2rtl ({quote(e)})") from None
    if _depth(doc) > MAX_DEPTH:
        raise error(f"{what} nests deeper than {MAX_DEPTH} levels; lgn2rtl's JSON formats nest a few levels")
    return doc


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"key {twice[:40]!r} appears twice in one object")
    return dict(pairs)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a float")
    return value


def _depth(doc: Any) -> int:
    """Nesting depth of containers in ``doc``, walked without recursion."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:  # deeper is refused anyway: no need to walk on
                stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest
