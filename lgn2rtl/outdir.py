"""Output directories that appear whole or not at all.

Outputs cannot hurt: they are checked before the work starts and never replace an input
(:func:`check_outputs`), and no temporary directory is left behind. A SIGTERM raises
:class:`Terminated`, so the context managers remove their temporaries on the way out. Every
temporary's name says which process made it (``.NAME.tmp-PID@HOST-XXXXXXXX``), and a
temporary directory holds a :data:`MARKER` too, so what a SIGKILL leaves is provably ours:
the next run that writes beside it removes it once that process is gone.
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import UserError

MARKER = ".lgn2rtl"  # written into every output directory we own
SCRATCH_PREFIX = "lgn2rtl-"  # temporary work directories under the system's temp directory


class OutputError(UserError):
    """The output path cannot be written safely."""


def _replaceable(target: Path) -> bool:
    """An existing ``target`` may be replaced only if it is an empty directory or one lgn2rtl wrote."""
    return target.is_dir() and (not any(target.iterdir()) or (target / MARKER).exists())


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temp dir beside ``target``; on success it replaces ``target``.

    An existing ``target`` is replaced only if it is empty or was written by
    lgn2rtl, so a typo like ``-o ~`` cannot wipe a user's files. On error the
    temp dir is removed and ``target`` is left untouched.
    """
    target = Path(target).resolve()
    if target.exists() and not _replaceable(target):
        raise OutputError(f"{target} exists and was not written by lgn2rtl; choose another output directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot make {target.parent} for {target.name}: {e.strerror}") from None
    sweep(target.parent, f".{target.name}.tmp-*")
    sweep(target.parent, f".{target.name}.old-*")
    prefix = f".{target.name}.tmp-{_owner()}-"
    try:
        tmp = _new_dir(target.parent, prefix)
        (tmp / MARKER).write_text("written by lgn2rtl; safe to replace\n")
        yield tmp
        if target.exists():
            old = _new_dir(target.parent, f".{target.name}.old-{_owner()}-")
            (old / MARKER).write_text("")  # so that a run killed right here is cleaned up too
            target.rename(old / "x")
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    except BaseException:
        # by its name, not by ``tmp``: a SIGTERM may land between the mkdir and the assignment
        for leftover in target.parent.glob(f"{glob.escape(prefix)}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        raise


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no ``except Exception``
    swallows it and every ``with`` block on the way out cleans up."""


def raise_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise :class:`Terminated` in the main thread; return what restores the old handler."""
    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()
    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: signals cannot be handled here
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new empty directory ``parent/prefix<8 hex digits>`` with the permissions the umask gives.

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


def _owner() -> str:
    """What a temporary's name says about its maker: ``PID@HOST``."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _stale(path: Path) -> bool:
    """True when ``path`` is ours and left behind: this user's file or real directory (with our
    :data:`MARKER`) whose name ends in ``-PID@HOST-XXXXXXXX`` for a process of this host that is
    gone. Anything else is left alone."""
    found = re.search(r"-(\d{1,10})@(.+)-[a-z0-9_]{8}$", path.name)
    if not found or found[2] != socket.gethostname() or int(found[1]) == os.getpid():
        return False
    try:
        if path.is_symlink() or path.stat().st_uid != os.getuid() or (path.is_dir() and not (path / MARKER).is_file()):
            return False
        os.kill(int(found[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process, or the path vanished: leave it
        return False
    return False


def sweep(parent: Path, pattern: str) -> None:
    """Remove what killed runs left in ``parent`` (:func:`_stale`) among the names matching the glob ``pattern``."""
    with contextlib.suppress(OSError):
        for path in parent.glob(pattern):
            if _stale(path):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(purpose: str) -> Iterator[Path]:
    """A temporary work directory ``lgn2rtl-{purpose}-*`` under the system's temp directory,
    removed afterwards; stale ones of killed runs are removed first."""
    base = Path(tempfile.gettempdir())
    sweep(base, f"{SCRATCH_PREFIX}*")
    path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{purpose}-{_owner()}-"))
    try:
        (path / MARKER).write_text("")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` when the block ends without error, so that ``path``
    holds the whole file or is left as it was."""
    path = Path(path)
    sweep(path.parent, f".{path.name}.tmp-*")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-{_owner()}-")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_outputs(inputs: Iterable[Path | None], files: Iterable[Path | None] = (),
                  dirs: Iterable[Path | None] = (), work: Iterable[Path | None] = ()) -> None:
    """Refuse, before any work starts, outputs that cannot be written or that would replace or
    delete an input: output ``files``, output ``dirs`` (replaced as a whole) and ``work``
    directories (written into, as --keep). None entries are options not given."""
    inputs = [Path(p) for p in inputs if p is not None]
    seen: dict[Path, Path] = {}
    for kind, paths in (("file", files), ("dir", dirs), ("work", work)):
        for given in (Path(p) for p in paths if p is not None):
            out = given.resolve()
            if out in seen:
                raise OutputError(f"{given} is given as two outputs; they would overwrite each other")
            seen[out] = given
            for src in inputs:
                if kind == "file" and (src.resolve() == out or _same_file(src, out)):
                    raise OutputError(f"{given} is an input of this command; writing it would replace "
                                      "the input: choose another output name")
                if kind != "file" and src.resolve().is_relative_to(out):
                    what = "replaced as a whole" if kind == "dir" else "written into"
                    raise OutputError(f"{given} holds the input {src}, and the output directory is {what}: "
                                      "choose a directory that holds no input")
            _check_writable(given, out, directory=kind != "file")
            if kind == "dir" and out.exists() and not _replaceable(out):
                raise OutputError(f"{given} exists and was not written by lgn2rtl; choose another output directory")


def _same_file(a: Path, b: Path) -> bool:
    """Hard links (and the same file by any other name) count as the same file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_writable(given: Path, out: Path, directory: bool) -> None:
    """``out`` can be made: a file beside which its temp file can be written, or a directory
    whose missing parents can be created."""
    if out.exists() and out.is_dir() != directory:
        raise OutputError(f"{given} is {'a file' if directory else 'a directory'}; give "
                          f"{'a directory' if directory else 'a file name'}")
    parent = out.parent
    if not directory and not parent.is_dir():
        raise OutputError(f"cannot write {given}: {parent} {'is not a directory' if parent.exists() else 'does not exist'}")
    while not parent.exists():  # a directory output makes its missing parents
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot make {given}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {given}: no permission to write in {parent}")
