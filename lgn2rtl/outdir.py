"""Output directories that appear whole or not at all."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import UserError

MARKER = ".lgn2rtl"  # written into every output directory we own


class OutputError(UserError):
    """The output path cannot be written safely."""


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temp dir beside ``target``; on success it replaces ``target``.

    An existing ``target`` is replaced only if it is empty or was written by
    lgn2rtl, so a typo like ``-o ~`` cannot wipe a user's files. On error the
    temp dir is removed and ``target`` is left untouched.
    """
    target = Path(target).resolve()
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or (target / MARKER).exists())):
        raise OutputError(f"{target} exists and was not written by lgn2rtl; choose another output directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        (tmp / MARKER).write_text("written by lgn2rtl; safe to replace\n")
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            target.rename(old / "x")
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
