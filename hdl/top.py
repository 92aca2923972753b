"""The compiled design: logic core -> GroupSum popcounts -> argmax, with valid in and out."""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..features import FeatureFormat
from ..ir import Network
from .argmax import Argmax
from .core import Datapath, cones, latency
from .popcount import GroupSum

# Nets of the flattened top where lgn2rtl.sim.prove cuts its proof: the core's output bits as
# the GroupSum reads them, and the GroupSum's scores (named by elaborate below,
# Datapath.elaborate and core.write_datapath, all in lgn2rtl's own hands).
CORE_BITS_NET = "datapath.datapath.bits"
SCORES_NET = "datapath.datapath.o_scores"
ROM_INPUTS = 10  # address bits of a popcount ROM: 1024 x 4 fits an iCE40 SB_RAM40_4K and an ECP5 DP16KD


def group_sum(net: Network, pipeline: int, roms: int = 0, features: FeatureFormat | None = None) -> GroupSum:
    """The GroupSum popcounts of ``net``'s classes, ``roms`` ROM leaves per class, planned for
    what the core computes in its last stage (``core.cones``)."""
    return GroupSum(net.head.classes, net.group_size, roms=roms, rom_inputs=ROM_INPUTS,
                    cones=cones(net, pipeline, features))


class Top(wiring.Component):
    """One sample per clock; scores and class leave ``latency`` cycles after their sample.

    ``i_data`` bit i is model input i, or with ``features`` (an on-chip encoder) feature f's
    code is bits ``[f*w, (f+1)*w)``, ``w = features.bits``. ``o_scores`` packs class c's integer
    GroupSum count in bits ``[c*b, (c+1)*b)``; ``o_class`` is the lowest index
    of the maximum score. There is no backpressure: the design never stalls,
    so a sample presented with ``i_valid`` is always taken. Only the valid
    pipeline is reset; the datapath carries don't-care values while invalid.
    ``roms`` block-RAM lookup tables per class each count ``ROM_INPUTS`` output bits.
    """

    def __init__(self, net: Network, pipeline: int, roms: int = 0, features: FeatureFormat | None = None):
        self.groupsum = group_sum(net, pipeline, roms, features)
        self.bits_per_class = self.groupsum.bits
        self.core_latency = latency(net, pipeline, features)
        self.datapath = Datapath(net, pipeline, self.groupsum, features)
        self.argmax = Argmax(net.head.classes, self.bits_per_class)
        self.latency = self.datapath.latency + self.argmax.latency
        super().__init__({
            "i_valid": In(1),
            "i_data": In(len(self.datapath.i)),
            "o_valid": Out(1),
            "o_class": Out(max(1, ceil_log2(net.head.classes))),
            "o_scores": Out(net.head.classes * self.bits_per_class),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.datapath = self.datapath
        m.submodules.argmax = self.argmax
        m.d.comb += [
            self.datapath.i.eq(self.i_data),
            self.argmax.i.eq(self.datapath.o),
            self.o_class.eq(self.argmax.index),
            self.o_scores.eq(self.argmax.scores),
        ]
        valid = Signal(self.latency)
        m.d.sync += valid.eq((valid << 1) | self.i_valid)
        m.d.comb += self.o_valid.eq(valid[-1])
        return m
