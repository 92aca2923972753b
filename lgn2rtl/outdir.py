"""Output directories that appear whole or not at all."""
from __future__ import annotations

import contextlib
import secrets
import shutil
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
    tmp = _new_dir(target.parent, f".{target.name}.tmp-")
    try:
        (tmp / MARKER).write_text("written by lgn2rtl; safe to replace\n")
        yield tmp
        if target.exists():
            old = _new_dir(target.parent, f".{target.name}.old-")
            target.rename(old / "x")
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new empty directory ``parent/prefix<random>`` with the permissions the umask gives.

    Not ``tempfile.mkdtemp``: its 0700 would become the output directory's mode, and an
    output is the user's file, not a private scratch space.
    """
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()  # mode 0o777 & ~umask
            return path
        except FileExistsError:
            continue
    raise OutputError(f"cannot create a temporary directory in {parent}: 100 names taken")
