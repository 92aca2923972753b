"""Size limits: what lgn2rtl refuses as too big, and why.

Each limit is checked before the memory or the tool it protects is touched, so a file or an
option that asks for too much gets one line that names the limit instead of a MemoryError,
an AssertionError deep inside Amaranth or hours of waiting.
"""
from __future__ import annotations

# Arrays are loaded whole into memory: bytes of arrays one model or vectors file may declare,
# and bytes of input bits --random may make. A million-gate model is about 16 MB.
MAX_ARRAY_BYTES = 2_000_000_000

# Members of one archive: a model has two arrays per layer, and networks have tens of layers.
# Each member's header is read before any array, so a million of them would take minutes.
MAX_MEMBERS = 10_000

# Signals (model inputs plus nodes) of one network: far more than the largest FPGA holds
# (about 9 million LUTs), small enough that per-signal arrays stay far below MAX_ARRAY_BYTES.
MAX_SIGNALS = 1 << 26

# Amaranth numbers the bits of one cell with 16 bits (amaranth.hdl._nir asserts bit < 2**16).
# The top's input ports are one cell that also holds two constant nets, clk, rst and i_valid,
# so i_data may be at most 2**16 - 6 bits wide (65,531 fails, checked); a wider scores bus
# comes out of the core's instance as one cell too and is held to the same bound.
MAX_PORT_BITS = (1 << 16) - 6


def size(nbytes: int) -> str:
    """``nbytes`` for a message: "9.3 GB", "512 bytes"."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"
