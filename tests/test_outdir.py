"""Output directories: whole or not at all, and with the permissions the user's umask gives."""
import os
import stat

import pytest

from lgn2rtl.outdir import MARKER, OutputError, atomic_dir


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=lambda m: f"umask {m:03o}")
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_and_replaced_directories_follow_the_umask(tmp_path, umask):
    target = tmp_path / "out"
    for _ in range(2):  # first created, then replaced
        with atomic_dir(target) as tmp:
            (tmp / "a.v").write_text("module a; endmodule\n")
        assert mode(target) == 0o777 & ~umask
        assert mode(target / "a.v") == 0o666 & ~umask
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp dirs left beside it


def test_failure_leaves_the_old_output_and_no_temp_dir(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.v").write_text("old\n")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.v").write_text("new\n")
        raise RuntimeError("the compile failed half way")
    assert (target / "a.v").read_text() == "old\n" and (target / MARKER).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_directory_lgn2rtl_did_not_write_is_not_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError, match="was not written by lgn2rtl"), atomic_dir(tmp_path):
        pass
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
