"""The compiled design: logic core -> GroupSum popcounts -> argmax, with valid in and out."""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..features import FeatureFormat
from ..ir import Network
from .argmax import Argmax
from .core import Datapath, cones, depths, latency
from .delay import Delay
from .popcount import GroupSum
from .schedule import Schedule

# Nets of the flattened top where lgn2rtl.sim.prove cuts its proof: the core's output bits as
# the GroupSum reads them, and the GroupSum's scores (named by elaborate below,
# Datapath.elaborate and core.write_datapath, all in lgn2rtl's own hands).
CORE_BITS_NET = "datapath.datapath.bits"
SCORES_NET = "datapath.datapath.o_scores"
# the manifest's names for Top's ports: no ready (it never stalls), no last
PORTS = {"inputs": {"valid": "i_valid", "data": "i_data"},
         "outputs": {"valid": "o_valid", "scores": "o_scores", "class": "o_class"}}
ROM_INPUTS = 10  # address bits of a popcount ROM: 1024 x 4 fits an iCE40 SB_RAM40_4K and an ECP5 DP16KD


def group_sum(net: Network, schedule: Schedule, features: FeatureFormat | None = None,
              read_elsewhere: np.ndarray | None = None) -> GroupSum:
    """The GroupSum popcounts of ``net``'s classes as ``schedule`` has them, planned for what the
    core computes in its last stage (``core.cones``; ``read_elsewhere`` are signals that leave
    the core for more than the count, such as a recurrent cell's next state). The scores the
    argmax wants inverted come out inverted."""
    argmax = argmax_for(net.head.classes, ceil_log2(net.group_size + 1), schedule)
    argmax._MustUse__used = True  # built to ask which scores it takes inverted
    return GroupSum(net.head.classes, net.group_size, roms=schedule.roms, rom_inputs=ROM_INPUTS, inverted=argmax.inverted,
                    rom_stages=schedule.rom_stages, stage_levels=schedule.popcount_levels,
                    adders=schedule.adders, ff_cost=schedule.ff_cost,
                    cones=cones(net, schedule.core_cuts, features, read_elsewhere),
                    depths=depths(net, schedule.core_cuts, features))


def argmax_for(classes: int, bits_per_class: int, schedule: Schedule) -> Argmax:
    """The argmax ``schedule`` shapes. iCE40 counts end in LUTs, so it takes the scores it
    compares first inverted."""
    ice40 = schedule.adders == "ice40"
    return Argmax(classes, bits_per_class, stage_levels=schedule.argmax_levels,
                  invert_stage=schedule.argmax_invert, select_stage=schedule.argmax_select,
                  compare="ice40" if ice40 else "carry", inverted_in=ice40)


def classify(groupsum: GroupSum, schedule: Schedule) -> tuple[Argmax, Delay]:
    """The argmax over ``groupsum``'s scores as ``schedule`` has it, and the delay line in which
    the scores wait for it. The scores the argmax takes inverted (``Argmax.inverted``) must come
    so from the GroupSum (``group_sum`` makes it so); ``inversion_mask`` turns them back."""
    argmax = argmax_for(groupsum.classes, groupsum.bits, schedule)
    if argmax.inverted != groupsum.inverted:
        raise ValueError(f"the GroupSum inverts classes {sorted(groupsum.inverted)} but the argmax "
                         f"wants {sorted(argmax.inverted)} inverted: make it with group_sum()")
    return argmax, Delay(groupsum.classes * groupsum.bits, argmax.latency, ram=schedule.delay_ram)


def inversion_mask(argmax: Argmax) -> int:
    """The packed scores' bits that the argmax's input holds inverted: ``o_scores`` is the delay
    line's output XOR this, so the inversion costs a LUT at the output, where a register of
    the reader packs with it (the scores leave a block-RAM ring or a flip-flop)."""
    ones = (1 << argmax.width) - 1
    return sum(ones << (c * argmax.width) for c in argmax.inverted)


class Top(wiring.Component):
    """One sample per clock; scores and class leave ``latency`` cycles after their sample.

    ``i_data`` bit i is model input i, or with ``features`` (an on-chip encoder) feature f's
    code is bits ``[f*w, (f+1)*w)``, ``w = features.bits``. ``o_scores`` packs class c's integer
    GroupSum count in bits ``[c*b, (c+1)*b)``; ``o_class`` is the lowest index
    of the maximum score. There is no backpressure: the design never stalls,
    so a sample presented with ``i_valid`` is always taken. Only the valid
    pipeline is reset; the datapath carries don't-care values while invalid.
    ``schedule`` decides where the registers go and what becomes which hardware;
    ``groupsum`` is ``group_sum(net, schedule, features)`` when the caller has it already.
    """
    PORTS = PORTS  # the manifest's names for the ports (emit.manifest reads them from the top)

    def __init__(self, net: Network, schedule: Schedule, features: FeatureFormat | None = None,
                 groupsum: GroupSum | None = None):
        self.schedule = schedule
        self.groupsum = groupsum or group_sum(net, schedule, features)
        self.bits_per_class = self.groupsum.bits
        self.core_latency = latency(net, schedule.core_cuts, features)
        self.datapath = Datapath(net, schedule.core_cuts, self.groupsum, features)
        self.argmax, self.scores = classify(self.groupsum, schedule)
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
        m.submodules.scores = self.scores
        m.d.comb += [
            self.datapath.i.eq(self.i_data),
            self.argmax.i.eq(self.datapath.o),
            self.scores.i.eq(self.datapath.o),
            self.o_class.eq(self.argmax.index),
            self.o_scores.eq(self.scores.o ^ inversion_mask(self.argmax)),
        ]
        valid = Signal(self.latency)
        m.d.sync += valid.eq((valid << 1) | self.i_valid)
        m.d.comb += self.o_valid.eq(valid[-1])
        return m
