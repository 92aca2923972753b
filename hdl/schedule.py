"""The schedule: where a design's registers go and what becomes which hardware.

One :class:`Schedule` is decided per design (``lgn2rtl.hdl.plan`` picks it for a part and a
goal) and every part of the design reads it: the logic core (which layers end a pipeline
stage), the GroupSum (adder levels per stage, ROM leaves), the argmax, the score delay line,
the manifest and ``prove``.  It is data: the manifest records it, and a design is rebuilt
from it exactly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..features import FeatureFormat
from ..ir import Binarized, Network
from .popcount import PopCount

__all__ = ["Schedule", "ENCODER", "binarized_latency", "layer_stages", "pipeline_cuts"]

ENCODER = -1  # the cut position after an on-chip thermometer encoder, before layer 0


@dataclass(frozen=True)
class Schedule:
    """Every choice that shapes the hardware beyond the network itself.

    ``core_cuts``: the layers after which a pipeline register sits (``ENCODER`` for the
    on-chip encoder); never the last layer, whose gates the GroupSum's leaves absorb.
    ``popcount_levels`` and ``argmax_levels``: adder and compare levels per pipeline stage.
    ``roms``: block-RAM ROM leaves per class, or one number per class (``rom_stages`` 1 or 2
    read stages).
    ``argmax_invert``: the argmax inverts its first compares' operands in a stage of its own;
    ``argmax_select``: it selects a stage after each compare.
    ``delay_ram``: the scores wait for the argmax in block RAM instead of flip-flops.
    ``adders`` and ``ff_cost``: as ``popcount.PopCount`` takes them (from the part).
    """
    part: str = "generic"
    core_cuts: tuple[int, ...] = ()
    popcount_levels: int = 1
    roms: int | tuple[int, ...] = 0
    rom_stages: int = 2
    argmax_levels: int = 1
    argmax_invert: bool = True
    argmax_select: bool = False
    delay_ram: bool = False
    adders: str = "generic"
    ff_cost: float = 0.5

    def to_json(self) -> dict:
        return {**asdict(self), "core_cuts": list(self.core_cuts),
                "roms": self.roms if isinstance(self.roms, int) else list(self.roms)}

    @classmethod
    def from_json(cls, data: dict) -> "Schedule":
        """The schedule a manifest records; raises ValueError naming a missing or unknown field."""
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError(f"a schedule has the fields {sorted(names)}, got {sorted(data) if isinstance(data, dict) else data!r}")
        roms = data["roms"]
        return cls(**{**data, "core_cuts": tuple(data["core_cuts"]),
                      "roms": roms if isinstance(roms, int) else tuple(roms)})

    def describe(self) -> str:
        """One line for humans."""
        cuts = ("no register inside the logic core" if not self.core_cuts else
                "registers after layer " + ", ".join("encoder" if c == ENCODER else str(c) for c in self.core_cuts))
        roms = self.roms if isinstance(self.roms, int) else f"{min(self.roms)}-{max(self.roms)}"
        extras = [f"{roms} ROM leaves per class" if self.roms else "",
                  "scores wait in block RAM" if self.delay_ram else ""]
        return "; ".join(x for x in [cuts, f"popcount {self.popcount_levels} adder level(s) per stage",
                                     f"argmax {self.argmax_levels} level(s) per stage", *extras] if x)


def binarized_latency(layer: Binarized) -> int:
    """Clock cycles from a binarized layer's inputs to its output bits (its own popcount)."""
    return PopCount(layer.fan_in).latency


def layer_stages(net: Network, cuts: tuple[int, ...], features: FeatureFormat | None = None) -> np.ndarray:
    """Pipeline stage in which each layer's outputs are ready (combinationally).

    A register after layer ``i`` (``i`` in ``cuts``) starts a stage; a binarized layer adds its
    popcount's latency, and its compare is logic of the stage that follows.
    """
    stage = int(features is not None and ENCODER in cuts)
    out = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Binarized):
            stage += binarized_latency(layer)
        out.append(stage)
        if i in cuts:
            stage += 1
    return np.array(out, dtype=np.int64)


def pipeline_cuts(net: Network, pipeline: int, features: FeatureFormat | None = None) -> tuple[int, ...]:
    """The cuts of ``--pipeline N``: a register after every N logic layers, never after the last.

    An on-chip encoder counts as a layer before layer 0; a binarized layer registers its own
    popcount, and its compare counts as the first layer of the stage that follows.
    """
    if not isinstance(pipeline, int) or pipeline < 1:
        raise ValueError(f"pipeline must be a positive integer, not {pipeline!r}")
    cuts, run = [], int(features is not None)
    if run == pipeline and not isinstance(net.layers[0], Binarized):
        cuts.append(ENCODER)
        run = 0
    for i, layer in enumerate(net.layers):
        run = 1 if isinstance(layer, Binarized) else run + 1
        if run == pipeline and i + 1 < len(net.layers) and not isinstance(net.layers[i + 1], Binarized):
            cuts.append(i)
            run = 0
    return tuple(cuts)
