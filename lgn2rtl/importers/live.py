"""Reading live torch models by duck typing, so that importing lgn2rtl never imports torch."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import ModelError


def array(value: Any) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def modules(model: Any) -> list:
    """The modules of a ``torch.nn.Sequential`` (or of any iterable of modules), in order."""
    try:
        return list(model)
    except TypeError:
        raise ModelError(f"expected a torch.nn.Sequential or a list of modules, got {type(model).__name__}") from None
