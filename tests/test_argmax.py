"""Argmax streamed through Amaranth's simulator (iCE40 cells through Icarus), one vector per
clock, vs numpy.argmax."""
import gc
import itertools

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import streaming
from lgn2rtl import yowasp
from lgn2rtl.hdl.argmax import Argmax
from lgn2rtl.hdl.popcount import ICE40_CELL_MODELS


pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl._ir.UnusedElaboratable")


@pytest.fixture(autouse=True)
def _collect_unused():
    # Components built only to inspect their attributes sit in reference cycles; collect them
    # while the warning filter above is active.
    yield
    gc.collect()


CONFIGS = [
    dict(),
    dict(stage_levels=2),
    dict(stage_levels=3),
    dict(invert_stage=False),
    dict(compare="lut"),
    dict(compare="lut", stage_levels=2),
    dict(select_stage=True),
    dict(select_stage=True, invert_stage=False),
    dict(invert_stage=False, inverted_in=True),
]


def pack(rows, width, inverted=frozenset()):
    """Scores packed as the argmax takes them: those in ``inverted`` inverted."""
    top = (1 << width) - 1
    return [sum((int(s) ^ (top if k in inverted else 0)) << (k * width) for k, s in enumerate(row)) for row in rows]


def stream(duts):
    return streaming.stream(duts, lambda ctx, dut: ctx.get(dut.index))


def vectors(rng, n, width, count=40):
    top = (1 << width) - 1
    rows = [np.zeros(n, int), np.full(n, top)]
    rows += list(rng.integers(0, top + 1, size=(count, n)))
    # Ties: equal maxima at several places, and maxima only at the ends.
    for _ in range(count // 2):
        row = rng.integers(0, top + 1, size=n)
        peak = rng.integers(0, top + 1)
        row = np.minimum(row, peak)
        row[rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False)] = peak
        rows.append(row)
    row = np.zeros(n, int)
    row[-1] = top
    rows.append(row)
    row = np.full(n, top)
    row[0] = 0
    rows.append(row)
    return np.array(rows)


def check(duts_rows):
    """``duts_rows``: list of (dut, rows [N, n]). Returns the number of checked samples."""
    duts = [(dut, pack(rows, dut.width, getattr(dut, "inverted", ()))) for dut, rows in duts_rows]
    checked = 0
    for (dut, packed), (_, rows), got in zip(duts, duts_rows, stream(duts)):
        expected = [int(np.argmax(row)) for row in rows]
        assert len(got) == len(expected) == len(rows)
        assert got == expected, (dut.n, dut.width, dut.stage_levels, dut.compare)
        checked += len(got)
    return checked


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_random_and_ties(kwargs):
    rng = np.random.default_rng(hash(tuple(sorted(kwargs.items()))) % 1000)
    cases = []
    # LUT compares simulate slowly (deep expressions): fewer shapes for them.
    sizes = [1, 2, 3, 5, 8, 10, 17] if kwargs.get("compare") == "lut" else list(range(1, 12)) + [16, 17]
    for n in sizes:
        for width in (1, 6) if n > 3 else (1, 2, 6):
            rows = vectors(rng, n, width, count=30)
            cases.append((Argmax(n, width, **kwargs), rows))
    expected_total = sum(len(rows) for _, rows in cases)
    assert check(cases) == expected_total


def test_exhaustive_small():
    for n, width in [(2, 2), (3, 2), (4, 1), (5, 1), (2, 3)]:
        rows = np.array(list(itertools.product(range(1 << width), repeat=n)))
        cases = [(Argmax(n, width, **kw), rows) for kw in CONFIGS]
        assert check(cases) == len(rows) * len(CONFIGS)


def test_all_equal_goes_to_zero():
    rng = np.random.default_rng(7)
    rows = np.repeat(rng.integers(0, 64, size=(30, 1)), 10, axis=1)
    dut = Argmax(10, 6)
    got = stream([(dut, pack(rows, 6))])[0]
    assert got == [0] * 30


def test_latency_contract():
    assert Argmax(1, 6).latency == 0
    one = Argmax(1, 6)
    assert len(one.index) == 1
    dut = Argmax(10, 6)
    assert len(dut.index) == 4 and len(dut.i) == 60
    # 4 levels, one per stage, after the stage of inverted left operands.
    assert dut.depth == 4 and dut.latency == 5
    assert Argmax(10, 6, invert_stage=False).latency == 4
    assert Argmax(10, 6, stage_levels=2, invert_stage=False).latency == 2
    assert Argmax(10, 6, select_stage=True).latency == 1 + 2 * 4 - 1
    for bad in [dict(n=0, width=3), dict(n=3, width=0), dict(n=3, width=3, compare="x"),
                dict(n=3, width=3, stage_levels=0), dict(n=3, width=3, stage_levels=2, select_stage=True)]:
        with pytest.raises(ValueError):
            Argmax(**bad)


class TiesToHighest(wiring.Component):
    """A plausible bug: the same tree on the reversed scores, so ties go to the highest index."""

    def __init__(self, n, width):
        self.n, self.width, self.stage_levels, self.compare = n, width, 1, "mutant"
        self._inner = Argmax(n, width)
        self.latency = self._inner.latency
        super().__init__({"i": In(n * width), "index": Out(len(self._inner.index))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self._inner
        w = self.width
        m.d.comb += inner.i.eq(Cat(*[self.i[k * w:(k + 1) * w] for k in reversed(range(self.n))]))
        m.d.comb += self.index.eq(self.n - 1 - inner.index)
        return m


def test_checker_catches_wrong_tie_rule():
    rng = np.random.default_rng(8)
    rows = vectors(rng, 5, 2)
    last = [int(len(row) - 1 - np.argmax(row[::-1])) for row in rows]
    assert last != [int(np.argmax(row)) for row in rows]  # the vectors do exercise ties
    # The mutant is right except on ties ...
    got = stream([(TiesToHighest(5, 2), pack(rows, 2))])[0]
    assert got == last
    # ... and the checker rejects it.
    with pytest.raises(AssertionError):
        check([(TiesToHighest(5, 2), rows)])


def test_shape_spends_the_fewest_cells():
    # the shortest tree (ceil(log2 n) levels) whose leaves wait the least: a leaf compared at a
    # later level waits in registers of its own, which on an iCE40 cost a logic cell each
    for n in range(2, 18):
        dut = Argmax(n, 6, invert_stage=False)
        assert dut.depth == (n - 1).bit_length()
    lone = {inv: Argmax(10, 6, invert_stage=inv).resources()["lone_ffs"] for inv in (False, True)}
    # ten 6-bit scores: five cherries would leave a score waiting three stages; the plan
    # keeps the waiting to a few registers, and inverting in a stage of its own costs more
    assert lone[False] <= 30 < lone[True]
    r = Argmax(10, 6, invert_stage=False).resources()
    assert r["carries"] == 9 * 6 and r["ffs"] > r["lone_ffs"]


def test_ice40_cells_compare_like_carry_chains(tmp_path):
    # the iCE40 compare is Instances, which Amaranth's simulator leaves out: Verilog + Icarus
    yowasp.use_for_amaranth()
    rng = np.random.default_rng(11)
    duts = []
    for n, width, kw in [(10, 6, {}), (5, 3, dict(invert_stage=False)), (7, 4, dict(stage_levels=2)), (2, 1, {}),
                         (11, 6, dict(invert_stage=False, inverted_in=True))]:
        dut = Argmax(n, width, compare="ice40", **kw)
        text = verilog.convert(dut, name=f"am{n}", ports=[dut.i, dut.index], emit_src=False)
        rows = vectors(rng, n, width, count=40)
        wrapper = (f"module w{n} (input wire clk, input wire [{n * width - 1}:0] i, output wire [{len(dut.index) - 1}:0] o);\n"
                   f"    am{n} u (.clk(clk), .rst(1'b0), .i(i), .index(o));\nendmodule\n")
        duts.append((text + wrapper, f"w{n}", n * width, len(dut.index), dut.latency,
                     pack(rows, width, dut.inverted), rows))
    duts[0] = (duts[0][0] + ICE40_CELL_MODELS, *duts[0][1:])
    got = streaming.stream_verilog([d[:6] for d in duts], tmp_path)
    for (*_, rows), out in zip(duts, got):
        assert out == [int(np.argmax(row)) for row in rows]


def test_inverted_inputs_take_the_cherries_inverters_away():
    # the cherries' left scores come inverted: no inverter LUTs, one fewer LUT level; the
    # checks above pass only if the argmax reads them as inverted (fed plain, it fails)
    for compare in ("carry", "ice40"):
        plain = Argmax(10, 6, compare=compare, invert_stage=False)
        dut = Argmax(10, 6, compare=compare, invert_stage=False, inverted_in=True)
        assert dut.inverted and plain.cherries and not dut.cherries
        assert dut.latency == plain.latency
        # the shape takes more cherries where they are free: 57 LUTs and 17 delay flip-flops
        # instead of 81 and 25 for 10 scores
        assert dut.resources()["luts"] < plain.resources()["luts"] - plain.cherries * 6 + 6
        assert dut.resources()["lone_ffs"] < plain.resources()["lone_ffs"]
    # with an invert stage or LUT compares nothing arrives inverted
    assert not Argmax(10, 6, inverted_in=True).inverted
    assert not Argmax(10, 6, compare="lut", invert_stage=False, inverted_in=True).inverted
    dut = Argmax(10, 6, invert_stage=False, inverted_in=True)
    rows = vectors(np.random.default_rng(3), 10, 6)
    got = stream([(dut, pack(rows, 6))])[0]
    assert got != [int(np.argmax(row)) for row in rows]
