"""Typed access to the named arrays of a model or vectors file, checked before use.

Every format reads its fields through one :class:`Fields`, so a scalar that is an array, a
string where a number belongs (``classes = "ten"``), a fraction where an integer belongs
(``classes = 2.5``), NaN or infinity, or a float truth table is refused the same way: one
``error`` naming the field and what it should be.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# dtype kinds by what a field holds
INTEGER = "iu"
REAL = "iuf"
BITS = "biu"


@dataclass(frozen=True)
class Fields:
    """``arrays`` by name; ``name(key)`` says in messages where a field came from."""
    arrays: dict[str, np.ndarray]
    error: type[Exception]
    name: Callable[[str], str] = repr

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def layer_count(self, parts: str) -> int:
        """One past the highest ``i`` of the arrays named ``layer{i}_{part}`` (``parts`` a regex
        alternative), so that a gap in the numbering is a missing array rather than ignored ones."""
        found = (re.fullmatch(rf"layer(0|[1-9][0-9]*)_({parts})", key) for key in self.arrays)
        return 1 + max((int(m[1]) for m in found if m), default=-1)

    def _get(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise self.error(f"{self.name(key)} is missing")
        return self.arrays[key]

    def integer(self, key: str, lo: int | None = None, hi: int | None = None) -> int:
        """A 0-d integer array (bool and float refused) in ``lo..hi``, as an int."""
        v = self._get(key)
        if v.ndim != 0 or v.dtype.kind not in INTEGER:
            raise self.error(f"{self.name(key)} must be an integer scalar, got {_describe(v)}")
        return _within(self, key, int(v), lo, hi)

    def real(self, key: str, positive: bool = False) -> float:
        """A finite 0-d integer or float array, as a float; ``positive`` refuses values <= 0."""
        v = self._get(key)
        if v.ndim != 0 or v.dtype.kind not in REAL:
            raise self.error(f"{self.name(key)} must be a number (a scalar), got {_describe(v)}")
        x = float(v)
        if not np.isfinite(x):
            raise self.error(f"{self.name(key)} must be a finite number, got {x}")
        if positive and x <= 0:
            raise self.error(f"{self.name(key)} must be positive, got {x:g}")
        return x

    def text(self, key: str) -> str:
        """A 0-d string array, as a str."""
        v = self._get(key)
        if v.ndim != 0 or v.dtype.kind != "U":
            raise self.error(f"{self.name(key)} must be a string scalar, got {_describe(v)}")
        return str(v)

    def array(self, key: str, kinds: str, ndim: int, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
        """An array of ``ndim`` dimensions whose dtype kind is one of ``kinds``, float entries
        finite; ``shape`` pins the sizes that are not None."""
        v = self._get(key)
        if v.ndim != ndim or v.dtype.kind not in kinds:
            want = {INTEGER: "integers", REAL: "numbers", BITS: "0/1 bits", "f": "floats"}.get(kinds, f"dtype kind {kinds}")
            raise self.error(f"{self.name(key)} must be {want} in {ndim} dimension{'s' * (ndim != 1)}, "
                             f"got {_describe(v)}")
        if shape is not None and any(want not in (None, got) for want, got in zip(shape, v.shape)):
            wanted = [("N" if want is None else want) for want in shape]
            raise self.error(f"{self.name(key)} must have shape {wanted}, got {list(v.shape)}")
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise self.error(f"{self.name(key)} holds NaN or infinite values")
        return v


def _within(fields: Fields, key: str, v: int, lo: int | None, hi: int | None) -> int:
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        bounds = f"{lo}..{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None else f"<= {hi}"
        raise fields.error(f"{fields.name(key)} must be {bounds}, got {v}")
    return v


def _describe(v: np.ndarray) -> str:
    """``v`` for a message: its value when it is a short scalar, else its dtype and shape."""
    if v.ndim == 0:
        text = repr(v.item())
        return f"{v.dtype} {text if len(text) <= 40 else text[:37] + '...'}"
    return f"{v.dtype} array {list(v.shape)}"
