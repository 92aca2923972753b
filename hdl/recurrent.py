"""A recurrent cell in hardware: the logic core over [x_t; h_{t-1}], state registers, C-slow.

The cell's logic is the feed-forward core (``core.write_core``) with h_t's bits as extra
outputs, followed by the GroupSum and argmax of a feed-forward design. A core pipelined into
``L - 1`` register stages makes h_t ``L`` clocks after it read h_{t-1} (the last clock is the
state register), so the same sequence's next token can only enter ``L`` clocks later. Instead
of waiting, ``L`` independent sequences take turns (C-slow retiming, Leiserson and Saxe):
the token entering at clock c belongs to slot ``c mod L``, the state registers form a ring of
``L`` words that turns once a clock, and the design takes one token every clock. ``L = 1``
(no register inside the core) is the plain combinational cell.

Each ring word carries a ``fresh`` bit: set by reset and by a token with ``i_last``, it makes
that slot's next token read ``init`` instead of the ring. A clock without ``i_valid`` leaves
its slot's state as it was. Only ``fresh`` and the valid pipeline are reset.
"""
from __future__ import annotations

from typing import TextIO

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..ir import Recurrent
from . import verilog
from .core import MODULE as CORE, latency, write_core
from .delay import Delay
from .popcount import MODULE as GROUPSUM, GroupSum
from .schedule import Schedule
from .top import classify, group_sum, inversion_mask

MODULE = "lgn_cell"
PORTS = {"inputs": {"valid": "i_valid", "data": "i_data", "last": "i_last"},
         "outputs": {"valid": "o_valid", "scores": "o_scores", "class": "o_class", "last": "o_last"}}


def cell_group_sum(model: Recurrent, schedule: Schedule) -> GroupSum:
    """The head's GroupSum; the next state's nodes stay outputs of the core, no count absorbs them."""
    return group_sum(model.cell, schedule, read_elsewhere=model.state)


def write_cell(model: Recurrent, cuts: tuple[int, ...], groupsum: GroupSum, out: TextIO) -> None:
    """Print ``lgn_core``, ``lgn_groupsum`` and ``lgn_cell(clk, i_data, o_state, o_scores)``:
    ``i_data`` is [x_t; h_{t-1}] (x_t from bit 0), ``o_state`` h_t combinationally at the
    core's last stage, ``o_scores`` the GroupSum's counts ``groupsum.latency`` clocks later."""
    core = model.cell_with_state()
    write_core(core, cuts, out)
    groupsum.write(out)
    heads, n_h = len(model.cell.outputs), model.n_state
    out.write("\n".join([
        verilog.header(MODULE, [verilog.port("input", "clk"), verilog.port("input", "i_data", core.n_inputs),
                                verilog.port("output", "o_state", n_h),
                                verilog.port("output", "o_scores", groupsum.classes * groupsum.bits)]),
        verilog.wire("bits", width=heads + n_h),
        verilog.instance(CORE, "core", {"clk": "clk", "i_data": "i_data", "o_bits": "bits"}),
        verilog.instance(GROUPSUM, "groupsum", {"clk": "clk", "i_bits": f"bits[{heads - 1}:0]", "o_scores": "o_scores"}),
        verilog.assign("o_state", f"bits[{heads + n_h - 1}:{heads}]"),
        verilog.END, ""]))


class Cell(wiring.Component):
    """Instance of ``lgn_cell`` (:func:`write_cell`): ``state`` is h_t of ``i`` = [x_t; h_{t-1}]
    ``core_latency`` clocks after it, ``scores`` its head's counts ``latency`` clocks after it."""

    def __init__(self, model: Recurrent, cuts: tuple[int, ...], groupsum: GroupSum):
        self.core_latency = latency(model.cell, cuts)
        self.latency = self.core_latency + groupsum.latency
        super().__init__({"i": In(model.cell.n_inputs), "state": Out(model.n_state),
                          "scores": Out(groupsum.classes * groupsum.bits)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.cell = Instance(MODULE, i_clk=ClockSignal(), i_i_data=self.i, o_o_state=self.state,
                                     o_o_scores=self.scores)
        return m


class RecurrentTop(wiring.Component):
    """One token per clock from ``interleave`` sequences taking turns; scores and class leave
    ``latency`` clocks after their token.

    The token presented at clock c (``i_valid``) belongs to slot ``c mod interleave``: a
    sequence's tokens come ``interleave`` clocks apart, or any multiple of that (the clocks
    between leave its state alone). ``i_last`` marks a sequence's last token; that slot's next
    token starts a new sequence from ``init``, as every slot's does after ``rst``. The answer
    comes with ``o_valid`` after every token (readout ``every``) or after a last one only
    (``end``), with ``o_last`` copying the token's ``i_last``.
    """
    PORTS = PORTS  # the manifest's names for the ports (emit.manifest reads them from the top)

    def __init__(self, model: Recurrent, schedule: Schedule, groupsum: GroupSum):
        self.model = model
        self.schedule = schedule
        self.groupsum = groupsum
        self.bits_per_class = groupsum.bits
        self.cell = Cell(model, schedule.core_cuts, groupsum)
        self.core_latency = self.cell.core_latency
        self.interleave = self.core_latency + 1
        # the word of the ring that is not at the core's input: a slot's state waits there
        self.ring = Delay(model.n_state, self.core_latency)
        self.argmax, self.scores = classify(groupsum, schedule)
        self.latency = self.cell.latency + self.argmax.latency
        super().__init__({
            "i_valid": In(1),
            "i_last": In(1),
            "i_data": In(model.n_x),
            "o_valid": Out(1),
            "o_last": Out(1),
            "o_class": Out(max(1, ceil_log2(model.head.classes))),
            "o_scores": Out(model.head.classes * self.bits_per_class),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.cell = self.cell
        m.submodules.ring = self.ring
        m.submodules.argmax = self.argmax
        m.submodules.scores = self.scores
        lc = self.core_latency
        valid, last = Signal(self.latency), Signal(self.latency)
        m.d.sync += [valid.eq((valid << 1) | self.i_valid), last.eq((last << 1) | self.i_last)]
        # the token whose h_t the core outputs now entered lc clocks ago
        done_valid = valid[lc - 1] if lc else self.i_valid
        done_last = last[lc - 1] if lc else self.i_last
        # state: the word at the core's input; the ring's other words are in the Delay
        state = Signal(self.model.n_state, reset_less=True)
        fresh = Signal(self.interleave, init=(1 << self.interleave) - 1)
        m.d.comb += [
            self.ring.i.eq(state),
            self.cell.i.eq(Cat(self.i_data, Mux(fresh[0], Const(int("".join(map(str, self.model.init[::-1].tolist())), 2),
                                                                  self.model.n_state), state))),
        ]
        m.d.sync += [
            state.eq(Mux(done_valid, self.cell.state, self.ring.o)),
            fresh.eq(Cat(Mux(done_valid, done_last, fresh[-1]), fresh[:-1])),
        ]
        m.d.comb += [
            self.argmax.i.eq(self.cell.scores),
            self.scores.i.eq(self.cell.scores),
            self.o_class.eq(self.argmax.index),
            self.o_scores.eq(self.scores.o ^ inversion_mask(self.argmax)),
            self.o_last.eq(last[-1]),
            self.o_valid.eq(valid[-1] & (last[-1] if self.model.readout == "end" else 1)),
        ]
        return m
