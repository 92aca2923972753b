"""Checks of the arguments hardware components are built with, each error quoting the bad value
(as Amaranth's own components do)."""
from __future__ import annotations

from collections.abc import Iterable

__all__ = ["positive", "one_of"]


def positive(**values: object) -> None:
    """Raise ValueError naming the first of ``values`` that is not a positive integer."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


def one_of(name: str, value: object, choices: Iterable) -> None:
    """Raise ValueError if ``value`` is not one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, not {value!r}")
