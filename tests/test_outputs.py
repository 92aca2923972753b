"""Outputs that cannot hurt (issue 18): checked before the work starts, never in place of an
input, whole or absent, and no temporary left behind after SIGTERM, or after SIGKILL once the
next run has started."""
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from inprocess import lgn2rtl
from lgn2rtl import native, outdir, vectors
from lgn2rtl.synthetic import random_network


@pytest.fixture
def model(tmp_path):
    native.save(random_network(8, [8, 4], classes=2), tmp_path / "m.lgn")
    return tmp_path / "m.lgn"


@pytest.fixture
def vec(tmp_path):
    vectors.save(tmp_path / "v.npz", x=np.random.default_rng(0).integers(0, 2, (6, 8), dtype=np.uint8))
    return tmp_path / "v.npz"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(r, message):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    assert message in r.stderr, r.stderr


def test_compile_into_the_directory_that_holds_the_model(tmp_path, model):
    """DIR from an earlier compile was replaced as a whole, model included."""
    out = tmp_path / "out"
    assert lgn2rtl("compile", model, "-o", out).returncode == 0
    (out / "m.lgn").write_bytes(model.read_bytes())
    before = sha(out / "m.lgn")
    one_line(lgn2rtl("compile", out / "m.lgn", "-o", out), "holds the input")
    assert sha(out / "m.lgn") == before
    one_line(lgn2rtl("compile", out / "m.lgn", "-o", tmp_path), "holds the input")  # any ancestor


@pytest.mark.parametrize("which", ["model", "vectors", "hard link", "symlink"])
def test_predict_output_onto_an_input(tmp_path, model, vec, which):
    target = {"model": model, "vectors": vec, "hard link": tmp_path / "link.lgn", "symlink": tmp_path / "sym.lgn"}[which]
    if which == "hard link":
        os.link(model, target)
    if which == "symlink":
        target.symlink_to(model)
    before = sha(model), sha(vec)
    one_line(lgn2rtl("predict", model, "--vectors", vec, "-o", target), "is an input of this command")
    assert (sha(model), sha(vec)) == before


def test_import_onto_its_model(tmp_path, model):
    before = sha(model)
    one_line(lgn2rtl("import", model, "-o", model), "writing it would replace the input")
    assert sha(model) == before


@pytest.mark.parametrize("args, message", [
    (["predict", "{model}", "--vectors", "{vec}", "-o", "{tmp}/missing/p.npz"], "missing does not exist"),
    (["predict", "{model}", "--vectors", "{vec}", "-o", "{model}/p.npz"], "m.lgn is not a directory"),
    (["compile", "{model}", "-o", "{model}/out"], "m.lgn is a file, not a directory"),
    (["prove", "{tmp}/absent.lgn", "-o", "{tmp}/missing/p.json"], "missing does not exist"),
    (["prove", "{tmp}/absent.lgn", "--counterexample", "{model}/c.npz"], "m.lgn is not a directory"),
    (["prove", "{tmp}/absent.lgn", "-o", "{tmp}/p.json", "--counterexample", "{tmp}/p.json"], "given as two outputs"),
    (["simulate", "{tmp}/absent.lgn", "--random", "4", "-o", "{tmp}/missing/s.json"], "missing does not exist"),
    (["simulate", "{tmp}/absent.lgn", "--random", "4", "--keep", "{tmp}"], "holds the input"),
    (["synth", "{tmp}/absent.lgn", "-o", "{model}/syn"], "is a file, not a directory"),
    (["build", "{tmp}/absent.lgn", "--board", "icestick", "-o", "{tmp}/data"], "exists and was not written by lgn2rtl"),
])
def test_outputs_are_checked_before_the_run(tmp_path, model, vec, args, message):
    """The model of some cases does not exist: the output is refused before it is even read."""
    args = [a.format(model=model, vec=vec, tmp=tmp_path) for a in args]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("the user's")
    before = sorted(p.name for p in tmp_path.iterdir())
    one_line(lgn2rtl(*args), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("args, message", [
    (["predict", "{model}", "--vectors", "{vec}", "-o", "{tmp}"], "Invalid value for '-o' / '--output': File"),
    (["compile", "{model}", "-o", "{vec}"], "v.npz' is a file (see lgn2rtl compile --help)"),
])
def test_file_for_directory_is_a_usage_error(tmp_path, model, vec, args, message):
    """click's path types refuse these while parsing, before anything runs."""
    one_line(lgn2rtl(*[a.format(model=model, vec=vec, tmp=tmp_path) for a in args]), message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory(tmp_path, model, vec):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    one_line(lgn2rtl("predict", model, "--vectors", vec, "-o", locked / "p.npz"), "no permission to write in")
    one_line(lgn2rtl("compile", model, "-o", locked / "a" / "b"), "no permission to write in")


def test_file_outputs_respect_the_umask(tmp_path, model, vec):
    old = os.umask(0o027)
    try:
        assert lgn2rtl("predict", model, "--vectors", vec, "-o", tmp_path / "p.npz").returncode == 0
    finally:
        os.umask(old)
    assert (tmp_path / "p.npz").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lgn", "p.npz", "v.npz"]  # no temp file left


def _compile_until_tmp(tmp_path, sig):
    """Start a compile, send ``sig`` once its temporary output directory exists; return the run."""
    native.save(random_network(256, [16000] * 4, classes=10), tmp_path / "big.lgn")
    p = subprocess.Popen([sys.executable, "-m", "lgn2rtl", "compile", tmp_path / "big.lgn", "-O0", "-o", tmp_path / "out"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180  # a hang guard: planning 64k nodes on a busy machine can take a minute
    while not list(tmp_path.glob(".out.tmp-*")):
        assert p.poll() is None and time.monotonic() < deadline, "compile ended before its temp dir was seen"
        time.sleep(0.002)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    return p.returncode, stderr


def test_sigterm_leaves_no_temp_dir(tmp_path):
    code, stderr = _compile_until_tmp(tmp_path, signal.SIGTERM)
    assert code == 143 and stderr.strip() == "terminated; nothing was written", stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.lgn"]


def test_the_run_after_a_sigkill_removes_what_it_left(tmp_path, model):
    code, _ = _compile_until_tmp(tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    left = list(tmp_path.glob(".out.tmp-*"))
    assert len(left) == 1
    assert lgn2rtl("compile", model, "-o", tmp_path / "out").returncode == 0
    assert not left[0].exists() and not list(tmp_path.glob(".out.*"))


def _dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_only_provably_stale_temporaries_are_removed(tmp_path, model, vec):
    host = socket.gethostname()
    dead, alive = _dead_pid(), os.getppid()
    made = {name: tmp_path / name for name in (
        f".out.tmp-{dead}@{host}-abcd1234",       # ours, its process gone: removed
        f".out.old-{dead}@{host}-abcd1234",       # ours (a replaced output on its way out): removed
        f".out.tmp-{alive}@{host}-abcd1234",      # its process still runs: kept
        f".out.tmp-{dead}@elsewhere-abcd1234",    # another host's: kept
        f".out.tmp-{dead}@{host}-nomarker",       # no marker inside: not provably ours, kept
        ".out.tmp-user-data",                     # not our name at all: kept
    )}
    for name, path in made.items():
        path.mkdir()
        if "nomarker" not in name:
            (path / outdir.MARKER).write_text("")
    (tmp_path / f".p.npz.tmp-{dead}@{host}-zzzz9999").write_bytes(b"partial")  # atomic_file's temp
    assert lgn2rtl("compile", model, "-o", tmp_path / "out").returncode == 0
    assert lgn2rtl("predict", model, "--vectors", vec, "-o", tmp_path / "p.npz").returncode == 0
    gone = {name for name, path in made.items() if not path.exists()}
    assert gone == {f".out.tmp-{dead}@{host}-abcd1234", f".out.old-{dead}@{host}-abcd1234"}
    assert not (tmp_path / f".p.npz.tmp-{dead}@{host}-zzzz9999").exists()


def test_scratch_dirs_of_killed_runs_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"lgn2rtl-sim-{_dead_pid()}@{socket.gethostname()}-abcd1234"
    stale.mkdir()
    (stale / outdir.MARKER).write_text("")
    with outdir.scratch_dir("prove") as work:
        assert work.parent == tmp_path and work.name.startswith("lgn2rtl-prove-")
        assert not stale.exists()
    assert not work.exists()
