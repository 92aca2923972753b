"""Program a board with the bitstream that ``lgn2rtl build`` wrote."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .. import jsontext
from ..errors import UserError, clip
from .table import Board

__all__ = ["FlashError", "command", "flash"]


class FlashError(UserError):
    """The board cannot be programmed; the message says why and what to do."""


# Programming SPI flash takes under a minute on these boards; a programmer that is still
# running after this long is hung (waiting on a device that never answers).
PROGRAMMER_TIMEOUT = 300


def command(build_dir: str | Path, board: Board) -> list[str]:
    """The programmer command for the bitstream in ``build_dir``.

    Raises :class:`FlashError` unless ``build_dir/build.json`` says the
    bitstream there was built for ``board`` and the file exists. ``build.json`` is not
    trusted: its shape is checked, and the bitstream must be a file inside ``build_dir``,
    passed as an absolute path so that no file name reads as a programmer option.
    """
    build_dir = Path(build_dir)
    report = _build_report(build_dir, board)
    built_for = report.get("board")
    if built_for != board.name:
        raise FlashError(f"{build_dir} was built for {_short(built_for)}, not {board.name}: rebuild with "
                         f"--board {board.name} or flash with --board {_short(built_for)}")
    name = report.get("bitstream", board.bitstream)
    if not isinstance(name, str) or not name or "\0" in name:
        raise FlashError(f"{build_dir}/build.json: 'bitstream' must be a file name, got {_short(name)}")
    root = build_dir.resolve()
    bitstream = (root / name).resolve()
    if not bitstream.is_relative_to(root) or bitstream == root:
        raise FlashError(f"{build_dir}/build.json: bitstream {name!r} is not inside {build_dir}; "
                         "lgn2rtl flashes only what lgn2rtl build wrote there")
    if not bitstream.is_file():
        raise FlashError(f"bitstream {build_dir / name} is missing: rebuild with "
                         f"lgn2rtl build MODEL --board {board.name} -o {build_dir}")
    return board.programmer.argv(str(bitstream))


def _build_report(build_dir: Path, board: Board) -> dict:
    """``build.json``, which must be a JSON object."""
    if not (build_dir / "build.json").is_file():
        raise FlashError(f"{build_dir} has no readable build.json: "
                         f"build first with lgn2rtl build MODEL --board {board.name} -o {build_dir}")
    report = jsontext.read(build_dir / "build.json", FlashError)
    if not isinstance(report, dict):
        raise FlashError(f"{build_dir}/build.json must hold a JSON object (as lgn2rtl build writes it), "
                         f"got {type(report).__name__}")
    return report


def _short(value: object) -> str:
    """A value from build.json for a message, cut short; anything but a string as its repr."""
    return clip(value if isinstance(value, str) else repr(value), 60)


def flash(build_dir: str | Path, board: Board) -> str:
    """Run the board's programmer on the bitstream in ``build_dir``; return its output.

    Raises :class:`FlashError` when the programmer is not installed, finds no
    board, fails, or has not finished after :data:`PROGRAMMER_TIMEOUT` seconds.
    """
    argv = command(build_dir, board)
    programmer = board.programmer
    if shutil.which(argv[0]) is None:
        raise FlashError(f"{argv[0]} (the programmer for {board.name}) is not on PATH; "
                         f"install it: {programmer.install}")
    try:
        # a programmer prints what it likes: bytes that are not UTF-8 become U+FFFD
        run = subprocess.run(argv, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
                             timeout=PROGRAMMER_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{argv[0]} did not finish within {PROGRAMMER_TIMEOUT} s and was stopped: is the "
                         f"{board.name} plugged in and answering? Unplug it, plug it in again and retry") from None
    output = run.stdout + run.stderr
    if run.returncode == 0:
        return output
    lines = [clip(line) for line in output.splitlines() if line.strip()]
    # Programmers print banners and progress first: quote only the lines that explain.
    absent = [line for line in lines if programmer.no_device.lower() in line.lower()]
    if absent:
        raise FlashError(f"{argv[0]} found no {board.name}: is it plugged in, and may this user open "
                         f"USB devices (udev rules)? {argv[0]} said: {absent[0]}")
    raise FlashError(f"{argv[0]} failed (exit {run.returncode}): {' / '.join(lines[-3:])}")

