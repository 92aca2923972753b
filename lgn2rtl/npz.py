"""Reading ``.npz`` archives safely: arrays only, every defect one exception."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def members(path: str | Path) -> set[str]:
    """Array names in the archive at ``path`` (empty when it is not a zip file)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {name.removesuffix(".npy") for name in z.namelist()}
    except (zipfile.BadZipFile, OSError):
        return set()


def read(path: str | Path, error: type[Exception]) -> dict[str, np.ndarray]:
    """Every array of the archive, loaded without pickles; ``error(message)`` on any defect."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        raise error(f"{path}: not a readable .npz file ({e})") from None


def check_marker(arrays: dict[str, np.ndarray], key: str, expected: str, writer: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``arrays[key]`` is the string ``expected``; ``writer`` says what writes such files."""
    fmt = arrays.get(key)
    if fmt is None or fmt.ndim != 0 or str(fmt) != expected:
        got = "missing" if fmt is None else repr(str(fmt) if fmt.ndim == 0 else fmt.tolist())
        raise error(f"format marker {key!r} is {got}, expected {expected!r} (write the file with {writer})")
