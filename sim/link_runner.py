"""Build a UART board top once with cocotb's runner and run :mod:`lgn2rtl.sim.link_tb` on it."""
from __future__ import annotations

import json
from pathlib import Path

from ..hdl import verilog
from .link_tb import CLOCK_NS, JOB_ENV, RESULTS_ENV
from .runner import SimError, tool_environ, log_hint, runner_log, simulator_env

__all__ = ["LinkBench"]

TESTBENCH = "lgn2rtl.sim.link_tb"
WRAPPER = "link_sim"


def _wrapper(toplevel: str) -> str:
    # A clock made in Verilog runs about 4x faster under Icarus than cocotb's Clock.
    return "\n".join([
        verilog.header(WRAPPER, [verilog.port("input", "rst"), verilog.port("input", "rx"),
                                 verilog.port("output", "tx"), verilog.port("output", "led")]),
        f"{verilog.INDENT}reg clk = 0;",
        f"{verilog.INDENT}always #{CLOCK_NS / 2:g} clk = ~clk;",
        verilog.instance(toplevel, "top", {p: p for p in ("clk", "rst", "rx", "tx", "led")}),
        verilog.END, ""])


class LinkBench:
    """A board top in an Icarus build: ``top_verilog`` (a module ``toplevel`` with ports
    ``clk``, ``rst``, ``rx``, ``tx``, ``led``) in a wrapper that makes its clock, plus the
    Verilog files of the design it instantiates, listed in ``manifest`` relative to
    ``design_dir``.

    :meth:`run` may be called from several threads, one run at a time per bench.
    """

    def __init__(self, design_dir: Path, manifest: dict, top_verilog: str, build_dir: Path,
                 toplevel: str = "link_top"):
        from cocotb_tools.runner import get_runner  # slow to import; only needed here

        self.build_dir = Path(build_dir).resolve()
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self.env = simulator_env("icarus")
        top, wrapper = self.build_dir / f"{toplevel}.v", self.build_dir / f"{WRAPPER}.v"
        top.write_text(top_verilog)
        wrapper.write_text(_wrapper(toplevel))
        sources = [wrapper, top] + [(Path(design_dir) / f).resolve()
                                    for f in [*manifest["files"], *manifest.get("sim_files", [])]]
        log = self.build_dir / "build.log"
        with tool_environ(self.env), runner_log(self.build_dir / "runner.log") as logger:
            self.runner = get_runner("icarus")
            self.runner.log = logger
            try:
                # Under the runner's -g2012, Icarus runs declaration initializers before any
                # always block starts, so Amaranth's `always @*` blocks that read only
                # registers never run and their outputs stay X; -g2005 keeps the old order.
                self.runner.build(sources=sources, hdl_toplevel=WRAPPER, build_dir=self.build_dir,
                                  build_args=["-g2005"], always=True, timescale=("1ns", "1ps"),
                                  log_file=log)
            except (RuntimeError, SystemExit, ValueError) as e:
                raise SimError(f"building {toplevel} with Icarus failed ({e}):"
                               f"{log_hint(log)}") from None

    def run(self, test: str, job: dict) -> dict:
        """Run ``link_tb``'s test ``test`` (``replay`` or ``bridge``) on ``job``; return its
        results. Raises :class:`SimError` if the test ended without results."""
        job_file = self.build_dir / f"{test}.job.json"
        results = self.build_dir / f"{test}.results.json"
        job_file.write_text(json.dumps(job))
        results.unlink(missing_ok=True)
        log = self.build_dir / f"{test}.log"
        env = self.env | {JOB_ENV: str(job_file), RESULTS_ENV: str(results)}
        with tool_environ(env), runner_log(self.build_dir / "runner.log") as logger:
            self.runner.log = logger
            try:
                self.runner.test(test_module=TESTBENCH, testcase=test, hdl_toplevel=WRAPPER,
                                 build_dir=self.build_dir, test_dir=self.build_dir,
                                 results_xml=str(self.build_dir / f"{test}.xml"), log_file=log)
            except (RuntimeError, SystemExit):
                pass  # a crashed bench writes no results, reported below
        if not results.exists():
            raise SimError(f"the {test} run of {WRAPPER} ended without results:"
                           f"{log_hint(log)}")
        return json.loads(results.read_text())
