"""Executables that stand in for external tools (programmers, yosys, simulators) in tests."""
import shlex
import shutil


def script(directory, name, text, code):
    """An executable ``name`` in ``directory`` that logs its argv, prints ``text`` and exits ``code``."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho \"$@\" > {directory}/{name}.args\n"
                    f"printf '%s\\n' {shlex.quote(text)} >&2\nexit {code}\n")
    path.chmod(0o755)
    return path


def hanging(directory, name):
    """An executable ``name`` in ``directory`` that never finishes (a minute, found without PATH).
    It execs sleep, so stopping it leaves no child holding its output open."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 60\n")
    path.chmod(0o755)
    return path
