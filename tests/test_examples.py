"""The example models ship in the wheel, and `lgn2rtl example` writes them out of an installed package."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from lgn2rtl.examples import EXAMPLES


def lgn2rtl(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True,
                          **kwargs)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_writes_the_shipped_model_and_vectors(tmp_path, name):
    r = lgn2rtl("example", name, "-o", tmp_path / "ex")
    assert r.returncode == 0, r.stderr
    for f in (f"{name}.lgn", f"{name}_vectors.npz"):
        assert (tmp_path / "ex" / f).read_bytes() == (REPO / "examples" / f).read_bytes()
    assert lgn2rtl("example", name, "-o", tmp_path / "ex").returncode == 0  # the same files again: fine


def test_example_never_replaces_a_users_file(tmp_path):
    (tmp_path / "digits_vectors.npz").write_text("my own vectors\n")
    r = lgn2rtl("example", "digits", "-o", tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1
    assert "digits_vectors.npz exists" in r.stderr
    assert (tmp_path / "digits_vectors.npz").read_text() == "my own vectors\n"
    assert not (tmp_path / "digits.lgn").exists()  # nothing written when one file is refused


def test_example_lists_the_examples():
    r = lgn2rtl("example")
    assert r.returncode == 0 and all(name in r.stdout for name in EXAMPLES)


def test_installed_wheel_finds_its_examples(tmp_path):
    """Build the wheel from the sources, install it (not editable) and use the example from there."""
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the repository
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("lgn2rtl", "hdl", "sim", "boards", "examples"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # --no-build-isolation: the setuptools of this environment (a test extra), no download
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src],
                   check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("lgn2rtl-*.whl")
    with zipfile.ZipFile(wheel) as z:
        shipped = set(z.namelist())
    for name in EXAMPLES:
        assert {f"lgn2rtl/examples/{name}.lgn", f"lgn2rtl/examples/{name}_vectors.npz"} <= shipped
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True,
                   capture_output=True)
    # the installed copy first on sys.path; the dependencies still come from this environment
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    where = subprocess.run([sys.executable, "-c", "import lgn2rtl.examples as e; print(e.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "site"))
    r = lgn2rtl("example", "digits", "-o", tmp_path / "ex", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = lgn2rtl("predict", tmp_path / "ex" / "digits.lgn", "--vectors", tmp_path / "ex" / "digits_vectors.npz",
                env=env, cwd=tmp_path)
    assert r.returncode == 0 and "397 samples, accuracy 90.93% against y, 0 rows differ" in r.stdout, r.stderr
