"""Reading live torch models by duck typing, so that importing lgn2rtl never imports torch."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..ir import ModelError, Thermometer


def array(value: Any) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def thresholds(value: Any, what: str = "thresholds") -> np.ndarray:
    """Thermometer thresholds (a tensor or array-like) as float64; ModelError naming ``what`` if not numbers."""
    try:
        return array(value).astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{what} must be numbers ({e})") from None


def modules(model: Any) -> list:
    """The modules of a ``torch.nn.Sequential`` (or of any iterable of modules), in order."""
    try:
        return list(model)
    except TypeError:
        raise ModelError(f"expected a torch.nn.Sequential or a list of modules, got {type(model).__name__}") from None


def sequential(model: Any, layers: str, is_encoder: Callable[[Any], bool]) -> tuple[list, list[str], list[int], int]:
    """A model as [encoder] [Flatten] layers... GroupSum: its modules, their names for messages,
    the indices of the ``layers`` between, and of the head. An encoder counts if ``is_encoder`` says so."""
    mods = modules(model)
    where = [f"model[{j}] ({type(m).__name__})" for j, m in enumerate(mods)]
    first = 1 if mods and is_encoder(mods[0]) else 0
    if first < len(mods) and type(mods[first]).__name__ == "Flatten":
        first += 1
    if len(mods) - first < 2:
        raise ModelError(f"the model has {len(mods)} modules; it needs {layers} and a GroupSum after them")
    *body, head = range(first, len(mods))
    if not (hasattr(mods[head], "k") and hasattr(mods[head], "tau")):
        raise ModelError(f"{where[head]} should be the GroupSum head, with .k and .tau")
    return mods, where, body, head


def layer(module: Any, where: str, attributes: tuple[str, ...], kind: str, needs: str) -> Any:
    """``module`` if it has each of ``attributes``; else a ModelError that it is no ``kind`` (it
    ``needs`` them), pointing out the one mistake seen in practice, a Flatten inside the model."""
    if not all(hasattr(module, a) for a in attributes):
        flatten = " Flatten may only come first" if type(module).__name__ == "Flatten" else ""
        raise ModelError(f"{where} is not a {kind}: it needs {needs}.{flatten}")
    return module


def thermometer(t: np.ndarray, n_inputs: int, what: str) -> Thermometer:
    """The thermometer for thresholds ``t`` ([features, levels], or [levels] shared by all features)."""
    if t.ndim not in (1, 2) or not np.issubdtype(t.dtype, np.number) or t.size == 0:
        raise ModelError(f"{what} must be numbers [features, levels] or [levels], got {t.dtype} {list(t.shape)}")
    if t.ndim == 1:
        if n_inputs % len(t):
            raise ModelError(f"{what}: {len(t)} shared levels do not divide the {n_inputs} input bits")
        t = np.tile(t, (n_inputs // len(t), 1))
    return Thermometer(t.astype(np.float64))
