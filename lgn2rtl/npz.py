"""``.npz`` archives: read safely (arrays only, every defect one exception), written atomically.

Nothing in an archive is trusted. Before any array is allocated, every member must be a
``.npy`` array named once, and each array's header (shape, dtype) is read from the zip stream
and checked: no Python objects, only booleans, integers, floats and strings, no more bytes
than :data:`limits.MAX_ARRAY_BYTES` in all, and exactly as many bytes as the member holds.
"""
from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from .errors import quote
from .limits import MAX_ARRAY_BYTES, MAX_MEMBERS, size
from .outdir import atomic_file

KINDS = "biufU"  # bool, int, uint, float, str: what any lgn2rtl file holds
# what a damaged or forged archive raises from zipfile, zlib and numpy's .npy reader
_DEFECTS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, OSError,
            RuntimeError, NotImplementedError, OverflowError, KeyError)


def members(path: str | Path) -> set[str]:
    """Array names in the archive at ``path`` (empty when it is not a zip file)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {name.removesuffix(".npy") for name in z.namelist()}
    except _DEFECTS:
        return set()


def read(path: str | Path, error: type[Exception], known: re.Pattern | None = None,
         only: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the archive, checked as the module says; ``error(message)`` on any defect.

    ``known`` (a pattern every array name must match in full) refuses arrays the format does
    not define; ``only`` reads just those arrays and leaves the others unread.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = _members(path, z, error, known)
            if only is not None:
                infos = {name: info for name, info in infos.items() if name in only}
            total = 0
            for name, info in infos.items():
                total += _check_header(path, z, name, info, total, error)
            arrays = {}
            for name, info in infos.items():
                with z.open(info) as f:
                    arrays[name] = npy.read_array(f, allow_pickle=False)
                    if f.read(1):  # reading to the end also makes zipfile check the CRC
                        raise error(f"{path}: array {name!r} is followed by stray bytes")
            return arrays
    except error:
        raise
    except _DEFECTS as e:
        raise error(f"{path}: not a readable .npz archive ({quote(e)})") from None


def _members(path: str | Path, z: zipfile.ZipFile, error: type[Exception],
             known: re.Pattern | None) -> dict[str, zipfile.ZipInfo]:
    """The ``.npy`` members by array name; refuses anything else and names given twice."""
    infos = z.infolist()
    if len(infos) > MAX_MEMBERS:
        raise error(f"{path}: holds {len(infos):,} members; lgn2rtl reads archives of at most {MAX_MEMBERS:,} "
                    "arrays (a model has two per layer)")
    twice = [name for name, n in Counter(i.filename for i in infos).items() if n > 1]
    if twice:
        raise error(f"{path}: member {twice[0]!r} appears twice; an archive holds each array once")
    arrays = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        if not info.filename.endswith(".npy") or "/" in name or info.is_dir():
            raise error(f"{path}: member {info.filename!r} is not a .npy array; lgn2rtl files hold nothing else")
        if known is not None and not known.fullmatch(name):
            raise error(f"{path}: unknown array {name!r}; this format does not define it")
        arrays[name] = info
    return arrays


def _check_header(path: str | Path, z: zipfile.ZipFile, name: str, info: zipfile.ZipInfo, before: int,
                  error: type[Exception]) -> int:
    """Bytes of array ``name``, from its header alone; ``before`` bytes were declared by earlier arrays."""
    with z.open(info) as f:
        version = npy.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise error(f"{path}: array {name!r} is in .npy format version {version}; lgn2rtl reads 1.0 and 2.0")
        header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = header(f)
        offset = f.tell()
    if dtype.hasobject or dtype.kind not in KINDS or dtype.fields is not None or dtype.subdtype is not None:
        pickles = " (Python objects, which lgn2rtl never unpickles)" if dtype.hasobject else ""
        raise error(f"{path}: array {name!r} holds {dtype} values{pickles}; lgn2rtl files hold only "
                    "booleans, integers, floats and strings")
    nbytes = math.prod(shape) * dtype.itemsize
    if before + nbytes > MAX_ARRAY_BYTES:
        raise error(f"{path}: array {name!r} declares shape {list(shape)} of {dtype} ({size(nbytes)}); "
                    f"lgn2rtl loads at most {size(MAX_ARRAY_BYTES)} of arrays from one file, into memory")
    if offset + nbytes != info.file_size:
        raise error(f"{path}: array {name!r} declares shape {list(shape)} of {dtype} ({size(nbytes)}) "
                    f"but its member holds {size(max(info.file_size - offset, 0))}: truncated or corrupt")
    return nbytes


def check_marker(arrays: dict[str, np.ndarray], key: str, expected: str, writer: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``arrays[key]`` is the string ``expected``; ``writer`` says what writes such files."""
    fmt = arrays.get(key)
    if fmt is None or fmt.ndim != 0 or str(fmt) != expected:
        got = "missing" if fmt is None else repr(str(fmt)[:100]) if fmt.ndim == 0 else f"an array {list(fmt.shape)}"
        raise error(f"format marker {key!r} is {got}, expected {expected!r} (write the file with {writer})")


def write(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (the name as given: ``np.savez`` would append ".npz"), so
    that ``path`` holds the whole archive or is left as it was."""
    with atomic_file(path) as f:
        np.savez_compressed(f, **arrays)
