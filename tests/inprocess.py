"""The CLI run in this process (fast: no interpreter start-up), with what a subprocess returns."""
import subprocess

from click.testing import CliRunner

from lgn2rtl.cli import main


def lgn2rtl(*args, env=None) -> subprocess.CompletedProcess:
    """Run ``lgn2rtl ARGS``; ``returncode``/``stdout``/``stderr`` as from a subprocess. An exception
    that escapes the CLI (which a user would see as a traceback) is raised here."""
    r = CliRunner().invoke(main, list(map(str, args)), env=env, prog_name="lgn2rtl")
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)
