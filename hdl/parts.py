"""The FPGA parts lgn2rtl designs for: what a part holds, and what its cells cost and take.

A design is shaped for one part (``compile --part``): where its registers go, how its adders
are written and what waits in block RAM all depend on what is cheap there.  On an iCE40 a
logic cell holds one LUT4 and one flip-flop, so a flip-flop that does not follow its own LUT
costs a whole cell; an ECP5 slice holds two LUT4s and two flip-flops that need not follow
them, so registers are nearly free and its LUT4 count is what fills the part.

The timing figures are a coarse model of nextpnr's report, calibrated on this project's
designs (docs/fit.md): a stage takes ``fixed`` nanoseconds plus ``level`` per LUT level on
its longest path plus ``carry`` per bit of carry chain.  Routing dominates on these parts, so
the model ranks designs well and predicts Fmax to about 15 %.
"""
from __future__ import annotations

from dataclasses import dataclass

from .popcount import ADDERS

__all__ = ["Part", "PARTS"]


@dataclass(frozen=True)
class Part:
    """One FPGA part, or ``generic`` (portable Verilog, no capacity).

    ``logic`` is the part's capacity in its unit of logic (``logic_unit``): iCE40 logic cells,
    ECP5 LUT4s.  ``ff_cost`` is what a flip-flop that does not follow its own LUT costs in
    that unit.  ``adders`` says how popcount adders are written (see ``popcount.PopCount``).
    """
    name: str
    family: str
    device: str
    logic: int
    logic_unit: str
    ffs: int
    brams: int
    adders: str
    ff_cost: float
    fixed_ns: float
    level_ns: float
    carry_ns: float
    bram_ns: float  # a block RAM's clock to data out
    lut_k: int = 4  # inputs of the part's LUT: pack_luts merges nodes up to this width

    def __post_init__(self):
        assert self.adders in ADDERS, self.adders

    def stage_mhz(self, levels: float, carry_bits: int = 0, bram: bool = False) -> float:
        """Estimated Fmax of a stage whose longest path has ``levels`` LUT levels and a carry
        chain of ``carry_bits`` bits, starting at a block RAM's data out if ``bram``."""
        return 1000.0 / (self.fixed_ns + self.level_ns * max(levels, 1) + self.carry_ns * carry_bits
                         + self.bram_ns * bram)


def _portable(name: str, family: str, device: str, *, logic: int, ffs: int, logic_unit: str = "LUT4s",
              lut_k: int = 4, ff_cost: float = 0.05, **timing: float) -> Part:
    """A part with an open flow but no cells of ours: portable adders, no block RAM used yet,
    registers free beside their LUTs as on ECP5 unless ``ff_cost`` says otherwise, and ECP5's
    timing until measured."""
    return Part(name, family, device, logic=logic, logic_unit=logic_unit, ffs=ffs, brams=0, adders="generic",
                ff_cost=ff_cost, lut_k=lut_k, **{"fixed_ns": 2.4, "level_ns": 2.0, "carry_ns": 0.05, "bram_ns": 5.6,
                                              **timing})


PARTS: dict[str, Part] = {p.name: p for p in [
    Part("ice40-up5k", "ice40", "iCE40UP5K-SG48", logic=5280, logic_unit="logic cells", ffs=5280, brams=30,
         adders="ice40", ff_cost=1.0, fixed_ns=2.6, level_ns=3.2, carry_ns=0.3, bram_ns=2.5),
    Part("ice40-hx1k", "ice40", "iCE40HX1K-TQ144", logic=1280, logic_unit="logic cells", ffs=1280, brams=16,
         adders="ice40", ff_cost=1.0, fixed_ns=1.5, level_ns=1.9, carry_ns=0.15, bram_ns=2.5),
    Part("ice40-lp8k", "ice40", "iCE40LP8K-CM81", logic=7680, logic_unit="logic cells", ffs=7680, brams=32,
         adders="ice40", ff_cost=1.0, fixed_ns=2.2, level_ns=2.8, carry_ns=0.25, bram_ns=2.5),
    # An ECP5 slice's flip-flops are free to take any signal: a delay register uses a spare one
    Part("ecp5-85k", "ecp5", "LFE5U-85F-CABGA381", logic=83640, logic_unit="LUT4s", ffs=83640, brams=208,
         adders="ecp5", ff_cost=0.05, fixed_ns=2.4, level_ns=2.0, carry_ns=0.05, bram_ns=5.6),
    Part("generic", "generic", "any", logic=0, logic_unit="LUT4s", ffs=0, brams=0,
         adders="generic", ff_cost=0.5, fixed_ns=1.1, level_ns=1.25, carry_ns=0.05, bram_ns=5.6),
    # Parts with open flows but no cells of ours (_portable)
    # Gowin: a flip-flop whose D is not its own LUT's output takes a LUT as a route-through
    # (tang_nano_9k build of the digits example: 1,041 LUTs + 2,023 such flip-flops, 3,085 LUT4 placed)
    _portable("gowin-gw1nr9", "gowin", "GW1NR-LV9QN88PC6/I5", logic=8640, ffs=6480, ff_cost=1.0),
    _portable("gowin-gw2a18", "gowin", "GW2AR-LV18QN88C8/I7", logic=20736, ffs=15552, ff_cost=1.0),
    _portable("gowin-gw5a25", "gowin", "GW5A-LV25MG121NC1/I0", logic=23040, ffs=23040, ff_cost=1.0),
    # a GateMate CPE holds two LUT trees of up to four inputs and two flip-flops
    _portable("gatemate-a1", "gatemate", "CCGM1A1", logic=40960, ffs=40960, logic_unit="CPE LUT trees"),
    # Xilinx: Yosys's synth_xilinx counts only (no open place and route here); LUT6s
    _portable("xc7", "xilinx", "xc7a100tcsg324-1", logic=63400, ffs=126800, logic_unit="LUTs", lut_k=6,
              fixed_ns=1.5, level_ns=1.0, carry_ns=0.02, bram_ns=2.5),
    _portable("xcup", "xilinx", "xcvu9p-flgb2104-2-i", logic=1182240, ffs=2364480, logic_unit="LUTs", lut_k=6,
              fixed_ns=1.0, level_ns=0.7, carry_ns=0.01, bram_ns=1.5),
]}
