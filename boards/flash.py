"""Program a board with the bitstream that ``lgn2rtl build`` wrote."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError
from .table import Board

__all__ = ["FlashError", "command", "flash"]


class FlashError(UserError):
    """The board cannot be programmed; the message says why and what to do."""


def command(build_dir: str | Path, board: Board) -> list[str]:
    """The programmer command for the bitstream in ``build_dir``.

    Raises :class:`FlashError` unless ``build_dir/build.json`` says the
    bitstream there was built for ``board`` and the file exists.
    """
    build_dir = Path(build_dir)
    try:
        report = json.loads((build_dir / "build.json").read_text())
    except (OSError, ValueError):
        raise FlashError(f"{build_dir} has no readable build.json: "
                         f"build first with lgn2rtl build MODEL --board {board.name} -o {build_dir}") from None
    built_for = report.get("board")
    if built_for != board.name:
        raise FlashError(f"{build_dir} was built for {built_for}, not {board.name}: rebuild with "
                         f"--board {board.name} or flash with --board {built_for}")
    bitstream = build_dir / report.get("bitstream", board.bitstream)
    if not bitstream.is_file():
        raise FlashError(f"bitstream {bitstream} is missing: rebuild with "
                         f"lgn2rtl build MODEL --board {board.name} -o {build_dir}")
    return board.programmer.argv(str(bitstream))


def flash(build_dir: str | Path, board: Board) -> str:
    """Run the board's programmer on the bitstream in ``build_dir``; return its output.

    Raises :class:`FlashError` when the programmer is not installed, finds no
    board, or fails.
    """
    argv = command(build_dir, board)
    programmer = board.programmer
    if shutil.which(argv[0]) is None:
        raise FlashError(f"{argv[0]} (the programmer for {board.name}) is not on PATH; "
                         f"install it: {programmer.install}")
    run = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    output = run.stdout + run.stderr
    if run.returncode == 0:
        return output
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    # Programmers print banners and progress first: quote only the lines that explain.
    absent = [line for line in lines if programmer.no_device.lower() in line.lower()]
    if absent:
        raise FlashError(f"{argv[0]} found no {board.name}: is it plugged in, and may this user open "
                         f"USB devices (udev rules)? {argv[0]} said: {absent[0]}")
    raise FlashError(f"{argv[0]} failed (exit {run.returncode}): {' / '.join(lines[-3:])}")
