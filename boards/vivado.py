"""A Vivado out-of-context run of a compiled design, for users who have Vivado.

lgn2rtl's own Xilinx figures come from Yosys's ``synth_xilinx`` (cell counts, no timing, as no
open place and route for these parts runs here); Vivado gives the placed LUTs and Fmax that
LUT-network papers quote (LogicNets, NeuraLUT, DWN on the xcvu9p). ``vivado -mode batch
-source vivado_ooc.tcl`` in the directory these files are written to runs it.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["TCL", "XDC", "write_vivado"]

TCL = "vivado_ooc.tcl"
XDC = "lgn_top.xdc"


def write_vivado(manifest: dict, device: str, out_dir: Path, target_mhz: float) -> list[str]:
    """Write ``vivado_ooc.tcl`` and ``lgn_top.xdc`` for the design ``manifest`` describes, whose
    Verilog files sit in ``out_dir/design``; return the names written."""
    sources = " ".join(f"design/{f}" for f in manifest["files"])
    top, clock = manifest["top"], manifest["clock"]
    (out_dir / XDC).write_text(
        f"# {top} out of context: only its clock is constrained (lgn2rtl)\n"
        f"create_clock -period {1000.0 / target_mhz:.3f} -name {clock} [get_ports {clock}]\n")
    (out_dir / TCL).write_text("\n".join([
        f"# Vivado out-of-context implementation of {top}, written by lgn2rtl: vivado -mode batch -source {TCL}",
        f"read_verilog {{{sources}}}",
        f"read_xdc -mode out_of_context {XDC}",
        f"synth_design -top {top} -part {device} -mode out_of_context",
        "opt_design",
        "place_design",
        "route_design",
        "report_utilization -file utilization.rpt",
        "report_timing_summary -file timing.rpt",
        "",
    ]))
    return [TCL, XDC]
