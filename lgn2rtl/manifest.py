"""``manifest.json``: what a compiled design is and how to drive it, with its schema.

``compile`` writes it (``hdl.emit.manifest``); everything that reads a compiled design reads it
through :func:`load`, which checks every field it relies on against :data:`SCHEMA` and the
rules between fields, so a reader never meets a missing key or a wrong type.  The fields
are described in docs/semantics.md ("manifest.json").
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from .errors import UserError

__all__ = ["FORMAT", "INTERFACES", "LOWERINGS", "SCHEMA", "ManifestError", "load", "load_compiled", "validate"]

FORMAT = "lgn2rtl-manifest/1"
# how a design meets the world: its own ports (one sample per clock, never stalls), or
# AXI4-Stream with backpressure (hdl/axis.py)
INTERFACES = ("native", "axis")
# how a convolutional model becomes hardware: flat, one image per clock, or streamed, one pixel
# per clock through shared trees (hdl/convstream.py, docs/conv.md)
LOWERINGS = ("unrolled", "streaming")

_NAME = {"type": "string", "minLength": 1}
_OPTIONAL_NAME = {"type": ["string", "null"], "minLength": 1}  # a port a design may lack
_COUNT = {"type": "integer", "minimum": 0}
_PORT = {"type": "object", "required": ["name", "width"],
         "properties": {"name": _NAME, "width": {"type": "integer", "minimum": 1}}}
_FILES = {"type": "array", "items": _NAME}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    # what drives any design; what only compile writes (pipeline, schedule, ...) is checked if there
    "required": ["format", "top", "files", "clock", "reset", "inputs", "outputs", "latency",
                 "initiation_interval", "classes"],
    "properties": {
        "format": {"const": FORMAT},
        "top": _NAME,
        "files": {**_FILES, "minItems": 1},
        "sim_files": _FILES,
        "groupsum_terms": _NAME,
        "clock": _NAME,
        "reset": _NAME,
        "interface": {"enum": list(INTERFACES)},
        "lowering": {"enum": list(LOWERINGS)},
        "inputs": {"type": "object", "required": ["valid", "data"],
                   "properties": {"valid": _NAME, "ready": _OPTIONAL_NAME, "last": _OPTIONAL_NAME, "data": _PORT}},
        "outputs": {"type": "object", "required": ["valid", "class", "scores"],
                    "properties": {"valid": _NAME, "ready": _OPTIONAL_NAME, "last": _OPTIONAL_NAME, "class": _PORT,
                                   "scores": {**_PORT, "required": ["name", "width", "bits_per_class"],
                                              "properties": {**_PORT["properties"],
                                                             "bits_per_class": {"type": "integer", "minimum": 1}}}}},
        "latency": {"type": "integer", "minimum": 1},
        "initiation_interval": {"type": "integer", "minimum": 1},
        "classes": {"type": "integer", "minimum": 1},
        "tau": {"type": "number"},
        "beta": {"type": "number"},
        "part": _NAME,
        "options": {"type": "object", "required": ["part", "goal", "target_mhz", "pipeline", "roms", "opt_level"]},
        # the imported network's Network.digest(); None where no model is known
        "model": {"type": "object", "required": ["digest"],
                  "properties": {"digest": {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"}}},
        "schedule": {"type": "object"},
        "estimate": {"type": "object"},
        # classes whose count the GroupSum hands the argmax inverted (hdl.top.SCORES_NET, where
        # prove cuts); o_scores holds every count as it is
        "inverted_scores": {"type": "array", "items": _COUNT, "uniqueItems": True},
        "pipeline": {"type": "object", "required": ["core", "groupsum", "argmax"],
                     "properties": {"core": _COUNT, "groupsum": _COUNT, "argmax": _COUNT,
                                    "answer_fifo": _COUNT, "folded": _COUNT, "stream": _COUNT}},
        # folded binarized layers in front of the rest (hdl/folded.py): clocks per sample each
        "folding": {"type": "array", "items": {"type": "object", "required": ["layer", "pe", "simd", "cycles"]}},
        # a recurrent design: sequences take turns, one slot a clock (docs/recurrent.md)
        "recurrent": {"type": "object",
                      "required": ["interleave", "token_bits", "state_bits", "readout", "init", "state_registers"],
                      "properties": {"interleave": {"type": "integer", "minimum": 1},
                                     "token_bits": {"type": "integer", "minimum": 1},
                                     "state_bits": {"type": "integer", "minimum": 1},
                                     "readout": {"enum": ["every", "end"]},
                                     "init": {"type": "string", "pattern": "^[01]+$"},
                                     "state_registers": _COUNT}},
        # a streaming design takes images as pixels (docs/conv.md)
        "stream": {"type": "object", "required": ["image", "pixels_per_image", "image_bits", "order"],
                   "properties": {"image": {"type": "array", "items": {"type": "integer", "minimum": 1},
                                            "minItems": 3, "maxItems": 3},
                                  "pixels_per_image": {"type": "integer", "minimum": 1},
                                  "image_bits": {"type": "integer", "minimum": 1},
                                  "order": {"const": "raster"}}},
        "nodes": {"type": "object", "required": ["before_opt", "after_opt"],
                  "properties": {"before_opt": _COUNT, "after_opt": _COUNT}},
    },
}


class ManifestError(UserError):
    """A design directory's manifest is missing, unreadable or breaks the schema."""


def validate(manifest: object, source: str) -> dict:
    """``manifest`` if it follows :data:`SCHEMA` and the rules between its fields; else
    :class:`ManifestError` naming ``source``, the field and what is wrong."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(manifest))
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "the top level"
        raise ManifestError(f"{source}: {where}: {error.message}")
    scores, lat = manifest["outputs"]["scores"], manifest.get("pipeline")
    if scores["width"] != manifest["classes"] * scores["bits_per_class"]:
        raise ManifestError(f"{source}: outputs.scores.width {scores['width']} is not classes "
                            f"({manifest['classes']}) x bits_per_class ({scores['bits_per_class']})")
    parts = ("core", "groupsum", "argmax", "answer_fifo", "folded", "stream")
    if lat is not None and sum(lat.get(part, 0) for part in parts) != manifest["latency"]:
        raise ManifestError(f"{source}: pipeline latencies {lat} do not add up to latency {manifest['latency']}")
    return manifest


def load(design_dir: str | Path) -> dict:
    """The checked manifest of the design ``compile`` wrote to ``design_dir``."""
    path = Path(design_dir) / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise ManifestError(f"cannot read {path} as the manifest of a compiled design: {e}") from None
    return validate(data, str(path))


def load_compiled(design_dir: str | Path, digest: str) -> dict:
    """The manifest of the design ``compile`` wrote to ``design_dir`` from the model whose
    :meth:`~lgn2rtl.ir.Network.digest` is ``digest``: its options are how to treat it.

    A :class:`ManifestError` in one line when the directory holds no such manifest, one of
    a design from elsewhere (a netlist, an older lgn2rtl), or one compiled from another model.
    """
    manifest = load(design_dir)
    path = Path(design_dir) / "manifest.json"
    if "netlist" in manifest:
        raise ManifestError(f"{design_dir} holds a gate-level netlist, not a design compile wrote: "
                            f"give the directory compile wrote (its RTL is listed under netlist.rtl_files)")
    missing = [key for key in ("options", "schedule", "pipeline", "model") if key not in manifest]
    if missing:
        raise ManifestError(f"{path} is not one this version of lgn2rtl compile wrote (no {', '.join(missing)}): "
                            f"compile the model again")
    if manifest["model"]["digest"] != digest:
        raise ManifestError(f"{design_dir} was compiled from another model (its manifest's model digest "
                            f"{str(manifest['model']['digest'])[:19]}... is not this model's {digest[:19]}...)")
    return manifest
