"""Choose a design for a part and a goal, by an area and speed estimate over the IR.

:func:`plan` builds the candidate designs (where the core's registers go, how many ROM
leaves count bits, whether the scores wait in block RAM), estimates each one
(:func:`estimate`: LUT4s, flip-flops, carry cells, block RAMs, the part's logic units and
Fmax, before any synthesis) and picks one by the goal:

* ``balanced`` (the default): the fastest design at most ``BALANCED_SLACK`` larger than the
  smallest one that fits, or ``BALANCED_PART`` of the part larger: area is what fills a small
  part, and a little more of it may buy a lot of speed (on a large part, the deepest pipeline);
* ``fmax``: the fastest design that fits;
* ``area``: the smallest design;
* a target clock: the smallest design whose estimated Fmax reaches it.

"Fits" keeps ``FIT_MARGIN`` of the part free: placers fail well before 100 % (an iCE40's
carry chains and its eight cells per block sharing clock and reset constrain placement).
A model that fits in no candidate is refused with the numbers and what would fit.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from ..errors import UserError
from ..features import FeatureFormat
from ..ir import Binarized, Layer, Network
from ..passes import lut4_estimate
from .core import latency as core_latency, register_cost, stages as layer_stage
from .delay import Delay
from .parts import PARTS, Part
from .popcount import GroupSum
from .schedule import Schedule, pipeline_cuts
from .top import ROM_INPUTS, argmax_for, group_sum

__all__ = ["AUTO", "GOALS", "Estimate", "FitError", "estimate", "plan", "with_part"]

GOALS = ("balanced", "fmax", "area")
AUTO = "auto"  # the first of LADDER the design fits, else portable Verilog
LADDER = ("ice40-up5k", "ecp5-85k")
FIT_MARGIN = 0.85
BALANCED_SLACK = 0.10
BALANCED_PART = 0.02
# Yosys's ABC maps the core's LUT nodes into fewer LUT4s than the nodes themselves: it merges
# small nodes across layers.  Measured on three trained models (docs/fit.md): 0.78 to 0.83.
CORE_MAPPING = 0.8


class FitError(UserError):
    """No design of the model fits the part."""


@dataclass(frozen=True)
class Estimate:
    """What a design takes, before synthesis.

    ``logic`` is in the part's unit (``Part.logic_unit``): on iCE40 logic cells, counting a LUT4
    with the flip-flop that follows it as one cell, every other flip-flop and every carry cell
    without a LUT as one more; elsewhere LUT4s plus carry bits.  ``lone_ffs`` are the
    flip-flops that do not follow a LUT of their own.  ``by_part`` splits ``logic`` over the
    logic core, the popcounts, the argmax, the score delay and the valid pipeline.
    """
    luts: int
    carries: int
    ffs: int
    lone_ffs: int
    brams: int
    logic: int
    fmax_mhz: float
    latency: int
    by_part: dict

    def to_json(self) -> dict:
        return {"luts": self.luts, "carries": self.carries, "ffs": self.ffs, "lone_ffs": self.lone_ffs,
                "brams": self.brams, "logic": self.logic, "fmax_mhz": round(self.fmax_mhz, 1),
                "latency": self.latency, "by_part": self.by_part}


def _gate_nodes(gs: GroupSum) -> int:
    """LUT4s of the core nodes the GroupSum counts as its own (its leaves absorb them or it
    prices them itself)."""
    return sum(1 for cone in gs.cones if isinstance(cone, frozenset) and cone)


@lru_cache(maxsize=None)
def _argmax(n: int, width: int, stage_levels: int, invert: bool, select: bool, adders: str) -> tuple[int, dict]:
    """The latency and :meth:`Argmax.resources` of the argmax a schedule with these fields
    shapes, without keeping the component."""
    argmax = argmax_for(n, width, Schedule(argmax_levels=stage_levels, argmax_invert=invert, argmax_select=select,
                                           adders=adders))
    argmax._MustUse__used = True  # built to be measured
    return argmax.latency, argmax.resources()


def _logic(part: Part, luts: int, carry_cells: int, lone_ffs: int, carries: int) -> int:
    # a flip-flop without a LUT of its own takes a whole unit where the part says so (iCE40, Gowin)
    lone = lone_ffs if part.ff_cost >= 1 else 0
    if part.family == "ice40":
        return luts + carry_cells + lone
    return luts + carries + lone


def estimate(net: Network, schedule: Schedule, gs: GroupSum, features: FeatureFormat | None = None) -> Estimate:
    """The resources and speed of the design of ``net`` that ``schedule`` shapes, whose GroupSum
    is ``gs`` (``top.group_sum``), on the schedule's part."""
    s, part = schedule, PARTS[schedule.part]
    core_luts = round(CORE_MAPPING * (lut4_estimate(net) - _gate_nodes(gs)))
    neuron_luts = neuron_ffs = 0
    for layer in net.layers:
        if isinstance(layer, Binarized):
            from .binarized import cost
            luts, ffs = cost(layer.fan_in)
            neuron_luts += luts * len(layer)
            neuron_ffs += ffs * len(layer)
    if features is not None:  # a comparator per thermometer bit: a carry chain over the code
        core_luts += net.n_inputs
    core_ffs, core_lone = register_cost(net, s.core_cuts, features)
    am_latency, am = _argmax(net.head.classes, gs.bits, s.argmax_levels, s.argmax_invert, s.argmax_select, s.adders)
    delay = Delay.cost(net.head.classes * gs.bits, am_latency, ram=s.delay_ram)
    latency = valid = core_latency(net, s.core_cuts, features) + gs.latency + am_latency
    # iCE40 cells with a carry and no LUT: a compare's chain, and the cell that brings its result out
    am_cells = am["carries"] + (net.head.classes - 1) if part.family == "ice40" else 0
    by_part = {
        "core": _logic(part, core_luts + neuron_luts, 0, core_lone + neuron_ffs, 0),
        "popcount": _logic(part, gs.luts, 0, gs.lone_ffs, gs.carries),
        "argmax": _logic(part, am["luts"], am_cells, am["lone_ffs"], am["carries"]),
        "score delay": _logic(part, delay["luts"], 0, delay["lone_ffs"], 0),
        "valid": valid,
    }
    luts = core_luts + neuron_luts + gs.luts + am["luts"] + delay["luts"]
    ffs = core_ffs + neuron_ffs + gs.ffs + am["ffs"] + delay["ffs"] + valid
    lone = core_lone + neuron_ffs + gs.lone_ffs + am["lone_ffs"] + delay["lone_ffs"] + valid
    return Estimate(luts=luts, carries=gs.carries + am["carries"], ffs=ffs, lone_ffs=lone,
                    brams=gs.brams + delay["brams"], logic=sum(by_part.values()),
                    fmax_mhz=_fmax(net, s, gs, part, features), latency=latency, by_part=by_part)


def with_part(est: Estimate, part: str, name: str, luts: int, ffs: int, lone_ffs: int, brams: int = 0) -> Estimate:
    """``est`` with a part of the design it did not plan added, as ``name`` in ``by_part``
    (a recurrent cell's state registers, a streaming design's pixel pipeline: they surround the
    planned datapath)."""
    logic = _logic(PARTS[part], luts, 0, lone_ffs, 0)
    return replace(est, luts=est.luts + luts, ffs=est.ffs + ffs, lone_ffs=est.lone_ffs + lone_ffs,
                   brams=est.brams + brams, logic=est.logic + logic, by_part={**est.by_part, name: logic})


def _levels(layer) -> int:
    if isinstance(layer, Layer):
        return 1 if layer.k <= 4 else 2
    return 1  # a binarized layer's compare; its popcount has stages of its own


def _fmax(net: Network, s: Schedule, gs: GroupSum, part: Part, features: FeatureFormat | None) -> float:
    """The slowest stage's estimated Fmax: LUT levels per core stage (the GroupSum's leaves
    absorb the last layer's gates), an adder level per popcount stage, a compare (a LUT in
    front of the chain and the cell that brings the carry out) and a select per argmax level."""
    stages: dict[int, int] = {}
    for layer, stage in zip(net.layers, layer_stage(net, s.core_cuts, features)):
        stages[int(stage)] = stages.get(int(stage), 0) + _levels(layer)
    if features is not None and not s.core_cuts[:1] == (-1,):
        stages[0] = stages.get(0, 0) + 1
    core = max(stages.values())
    w = gs.bits
    speeds = [part.stage_mhz(core, 0),
              part.stage_mhz(s.popcount_levels, s.popcount_levels * w),
              part.stage_mhz(s.argmax_levels * (1 if s.argmax_select else 2), s.argmax_levels * w)]
    if s.roms:  # the block RAM's slow data out, then an adder or a register
        speeds.append(part.stage_mhz(1, w if s.rom_stages == 1 else 0, bram=True))
    return float(min(speeds))


def _candidates(net: Network, part: Part, features: FeatureFormat | None, pipeline: int | None,
                roms: int | None) -> list[Schedule]:
    """The designs worth estimating on ``part`` (whose ``brams`` are those left to the design)."""
    ice40 = part.family == "ice40"
    # on iCE40 a register costs a cell: cherries invert in the compare's stage, and ROMs are read
    # straight into the adders; elsewhere the extra stages are free and buy speed
    base = Schedule(part=part.name, adders=part.adders, ff_cost=part.ff_cost, rom_stages=1 if ice40 else 2,
                    argmax_invert=not ice40, argmax_select=not ice40)
    if pipeline is not None:
        cut_options = [pipeline_cuts(net, pipeline, features)]
    else:
        cut_options = list(dict.fromkeys(
            [pipeline_cuts(net, k, features) for k in range(1, len(net.layers) + 2)]))
    classes, max_roms = net.head.classes, net.group_size // ROM_INPUTS
    ring = -(-(classes * net.group_size.bit_length()) // 16)  # block RAMs the score delay takes
    if roms is not None:
        totals = [(roms * classes, ice40 and part.brams - roms * classes >= ring)]
    elif part.brams:
        # every block RAM counting bits, or all but the delay ring's, or none
        most = min(max_roms * classes, part.brams)
        totals = [(0, ice40), (most, False)]
        if ice40 and part.brams >= ring:
            totals.append((min(most, part.brams - ring), True))
    else:
        totals = [(0, False)]
    out = []
    for cuts in cut_options:
        for total, ram in dict.fromkeys(totals):
            spread = tuple(total // classes + (c < total % classes) for c in range(classes))
            out.append(replace(base, core_cuts=cuts, delay_ram=ram,
                               roms=spread[0] if len(set(spread)) == 1 else spread))
    return out


def plan(net: Network, part: str, goal: str = "balanced", target_mhz: float | None = None,
         pipeline: int | None = None, roms: int | None = None,
         features: FeatureFormat | None = None, reserve: int = 0,
         reserve_brams: int = 0) -> tuple[Schedule, GroupSum, Estimate]:
    """The design of ``net`` for ``part`` that ``goal`` (or ``target_mhz``) asks for: its schedule,
    its GroupSum (``Top`` takes it) and its estimate.

    ``part`` may be ``auto``: the first part of ``LADDER`` the design fits, else ``generic``.
    ``pipeline`` and ``roms`` fix those choices (experts); the rest is searched.  ``reserve``
    logic units and ``reserve_brams`` block RAMs of the part are left for what surrounds the
    design (a board's UART link).
    Raises :class:`FitError` when no design fits the part.
    """
    if part == AUTO:
        for candidate in LADDER:
            try:
                return plan(net, candidate, goal, target_mhz, pipeline, roms, features, reserve, reserve_brams)
            except FitError:
                continue
        return plan(net, "generic", goal, target_mhz, pipeline, roms, features, reserve, reserve_brams)
    if part not in PARTS:
        raise UserError(f"unknown part {part!r}; choose one of {', '.join([AUTO, *PARTS])}")
    if goal not in GOALS:
        raise UserError(f"unknown goal {goal!r}; choose one of {', '.join(GOALS)}")
    if roms is not None and roms * ROM_INPUTS > net.group_size:
        raise UserError(f"--roms {roms}: each ROM counts {ROM_INPUTS} bits and a class has {net.group_size}; "
                        f"use at most {net.group_size // ROM_INPUTS}")
    p = replace(PARTS[part], brams=max(0, PARTS[part].brams - reserve_brams))
    designs = []
    for schedule in _candidates(net, p, features, pipeline, roms):
        gs = group_sum(net, schedule, features)
        designs.append((schedule, gs, estimate(net, schedule, gs, features)))
    capacity = p.logic * FIT_MARGIN - reserve if p.logic else float("inf")
    fits = [d for d in designs if d[2].logic <= capacity and (not p.logic or d[2].brams <= p.brams)]
    if not fits:
        raise FitError(_refusal(p, designs, reserve))
    if target_mhz is not None:
        fits = [d for d in fits if d[2].fmax_mhz >= target_mhz]
        if not fits:
            best = max(e.fmax_mhz for _, _, e in designs)
            raise UserError(f"no design of this model reaches {target_mhz:g} MHz on {part} by the estimate "
                            f"(the fastest: {best:.0f} MHz); ask for less, or --goal fmax")
    if target_mhz is None and goal in ("fmax", "balanced"):
        if goal == "balanced":
            smallest = min(e.logic for _, _, e in fits)
            room = max(BALANCED_SLACK * smallest, BALANCED_PART * p.logic)
            fits = [d for d in fits if d[2].logic <= smallest + room]
        key = lambda d: (-d[2].fmax_mhz, d[2].logic)  # noqa: E731
    else:
        key = lambda d: (d[2].logic, -d[2].fmax_mhz)  # noqa: E731
    return min(fits, key=key)


def _refusal(part: Part, designs: list, reserve: int) -> str:
    e = min(designs, key=lambda d: d[2].logic)[2]
    bigger = [p.name for p in PARTS.values()
              if p.family == part.family and p.logic * FIT_MARGIN - reserve >= e.logic]
    hints = [f"a larger part ({', '.join(bigger)})" if bigger else
             "a larger part (ecp5-85k)" if part.family != "ecp5" else "",
             "a smaller model", "" if reserve else "--target generic for Verilog with no part in mind"]
    around = f", {reserve:,} of them kept for the UART link" if reserve else ""
    return (f"the smallest design of this model needs about {e.logic:,} {part.logic_unit} "
            f"({e.brams} block RAMs), and {part.name} holds {part.logic:,} "
            f"(a design may fill {FIT_MARGIN:.0%} of it to place{around}); try " + " or ".join(h for h in hints if h))
