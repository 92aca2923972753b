"""A delay line: flip-flops, or a ring in block RAM that holds the delayed bits for no logic cells."""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["Delay"]


class Delay(wiring.Component):
    """``o`` is ``i`` as it was ``cycles`` clocks earlier; a new ``i`` every clock, no reset.

    With ``ram`` (and ``cycles >= 2``) the bits wait in block RAM: a ring of ``RAM_DEPTH``
    words written at one counter and read ``cycles - 1`` words behind it at another, through
    the RAM's own read register.  On an iCE40, where a flip-flop that does not follow its own
    LUT costs a whole logic cell, that turns ``width * cycles`` cells into
    ``ceil(width / 16)`` block RAMs and two counters.  Otherwise it is a chain of registers.

    """

    def __init__(self, width: int, cycles: int, *, ram: bool = False):
        for name, value in (("width", width), ("cycles", cycles)):
            if not isinstance(value, int) or value < (1 if name == "width" else 0):
                raise ValueError(f"{name} must be a {'positive' if name == 'width' else 'non-negative'} "
                                 f"integer, not {value!r}")
        self.width = width
        self.cycles = cycles
        self.ram = ram and cycles >= 2
        super().__init__({"i": In(width), "o": Out(width)})

    @staticmethod
    def cost(width: int, cycles: int, ram: bool) -> dict:
        """``brams``, ``luts``, ``ffs`` and ``lone_ffs`` of a delay line: a chain of lone
        flip-flops, or block RAMs and two counters (a LUT and a flip-flop per bit)."""
        if ram and cycles >= 2:
            bits = ceil_log2(cycles)
            return {"brams": -(-width // 16), "luts": 2 * bits, "ffs": bits, "lone_ffs": 0}
        return {"brams": 0, "luts": 0, "ffs": width * cycles, "lone_ffs": width * cycles}

    def elaborate(self, platform) -> Module:
        m = Module()
        if not self.ram:
            v = self.i
            for k in range(self.cycles):
                r = Signal(self.width, name=f"d{k}", reset_less=True)
                m.d.sync += r.eq(v)
                v = r
            m.d.comb += self.o.eq(v)
            return m
        bits = ceil_log2(self.cycles)
        # the read address never equals the write address, so what a block RAM returns for a
        # read of the word being written does not matter (no_rw_check: no bypass logic)
        m.submodules.ring = ring = Memory(shape=self.width, depth=1 << bits, init=[],
                                          attrs={"ram_style": "block", "no_rw_check": 1})
        write, read = ring.write_port(), ring.read_port(transparent_for=())
        wa = Signal(bits, reset_less=True)
        m.d.sync += wa.eq(wa + 1)
        # read cycles - 1 words behind the write; the read register adds the last cycle
        m.d.comb += [write.addr.eq(wa), write.data.eq(self.i), write.en.eq(1),
                     read.addr.eq(wa - (self.cycles - 1)), self.o.eq(read.data)]
        return m
