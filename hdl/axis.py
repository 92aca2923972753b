"""The design behind AXI4-Stream ports, with backpressure (``compile --interface axis``)."""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..ir import Network

from .delay import Delay
from .top import Top

__all__ = ["AxisTop", "PORTS"]

# SyncFIFOBuffered: a word written at one clock edge can be read from the second edge after it
FIFO_LATENCY = 2
BRAM_WIDTH = 16  # an iCE40 SB_RAM40_4K as 256 x 16, the narrowest block RAM of the parts
# logic units the wrapper takes beside its FIFO's block RAMs: measured on the UP5K as 74 cells
# for 15-bit answers and 208 for 66-bit ones (the FIFO's output register and its muxes grow
# with the width; docs/axis.md)
ROOM_LOGIC_BASE, ROOM_LOGIC_PER_BIT = 48, 2.4

# The manifest's names for the AXI4-Stream ports (AMBA AXI4-Stream, ARM IHI 0051): a slave
# port s_axis_* takes samples, a master port m_axis_* gives answers.
PORTS = {
    "inputs": {"valid": "s_axis_tvalid", "ready": "s_axis_tready", "data": "s_axis_tdata",
               "last": "s_axis_tlast"},
    "outputs": {"valid": "m_axis_tvalid", "ready": "m_axis_tready", "scores": "m_axis_tdata",
                "class": "m_axis_tuser", "last": "m_axis_tlast"},
}


class AxisTop(wiring.Component):
    """``top`` (which never stalls) behind an AXI4-Stream slave and master port.

    A sample is taken when ``s_axis_tvalid`` and ``s_axis_tready`` are both high; its answer
    leaves on the master port in order: ``m_axis_tdata`` its GroupSum scores packed as
    ``Top.o_scores``, ``m_axis_tuser`` its class, ``m_axis_tlast`` the ``s_axis_tlast`` it came
    with. TDATA widths are the model's: the input bits, and classes x score bits, unpadded.

    The core's pipeline cannot stop, so backpressure works by credit: every sample taken
    has a place reserved in the answer FIFO (the skid buffer) from the moment it is taken
    until its answer is handed on. ``s_axis_tready`` is high while fewer than ``depth``
    places are reserved, so an answer always finds room and none is lost or repeated.
    ``latency`` is the core's plus the FIFO's (``FIFO_LATENCY``): the cycles from a sample
    taken to its answer on an idle master port. ``depth = latency + 1`` keeps one sample per
    clock while the master port is never held, since a place stays reserved from the cycle
    its sample is taken through the cycle its answer leaves. ``s_axis_tready`` is decoded from a
    register alone, so it never depends on ``s_axis_tvalid`` in the same cycle.
    """

    def __init__(self, top: Top):
        self.top = top
        self.latency = top.latency + FIFO_LATENCY
        self.depth = self.latency + 1
        self.tlast = Delay(1, top.latency)
        self.answers = SyncFIFOBuffered(width=len(top.o_scores) + len(top.o_class) + 1, depth=self.depth)
        super().__init__({
            PORTS["inputs"]["valid"]: In(1),
            PORTS["inputs"]["ready"]: Out(1),
            PORTS["inputs"]["data"]: In(len(top.i_data)),
            PORTS["inputs"]["last"]: In(1),
            PORTS["outputs"]["valid"]: Out(1),
            PORTS["outputs"]["ready"]: In(1),
            PORTS["outputs"]["scores"]: Out(len(top.o_scores)),
            PORTS["outputs"]["class"]: Out(len(top.o_class)),
            PORTS["outputs"]["last"]: Out(1),
        })

    @staticmethod
    def room(net: Network) -> tuple[int, int]:
        """(logic units, block RAMs) to leave free for the wrapper of ``net``'s design when the
        core is planned: its FIFO holds scores, class and last of ``latency + 1`` samples."""
        width = net.head.classes * net.group_size.bit_length() + max(1, ceil_log2(net.head.classes)) + 1
        return round(ROOM_LOGIC_BASE + ROOM_LOGIC_PER_BIT * width), -(-width // BRAM_WIDTH)

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.top = top = self.top
        m.submodules.tlast = tlast = self.tlast
        m.submodules.answers = answers = self.answers
        taken, given = Signal(), Signal()
        # samples taken whose answers have not left yet: in the core, in the FIFO or on m_axis
        reserved = Signal(range(self.depth + 1))
        m.d.comb += [
            self.s_axis_tready.eq(reserved < self.depth),
            taken.eq(self.s_axis_tvalid & self.s_axis_tready),
            top.i_valid.eq(taken),
            top.i_data.eq(self.s_axis_tdata),
            tlast.i.eq(self.s_axis_tlast),
            answers.w_stream.valid.eq(top.o_valid),
            answers.w_stream.payload.eq(Cat(top.o_scores, top.o_class, tlast.o)),
            self.m_axis_tvalid.eq(answers.r_stream.valid),
            answers.r_stream.ready.eq(self.m_axis_tready),
            Cat(self.m_axis_tdata, self.m_axis_tuser, self.m_axis_tlast).eq(answers.r_stream.payload),
            given.eq(answers.r_stream.valid & self.m_axis_tready),
        ]
        m.d.sync += reserved.eq(reserved + taken - given)
        return m
