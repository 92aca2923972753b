"""``.npz`` archives: read safely (arrays only, every defect one exception), written atomically."""
from __future__ import annotations

import os
import tempfile
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


def write(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (the name as given: ``np.savez`` would append ".npz"), so
    that ``path`` holds the whole archive or is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a model file is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
