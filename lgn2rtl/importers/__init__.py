"""Model file formats: detection and dispatch to one importer per format."""
from __future__ import annotations

from pathlib import Path

from .. import native
from ..conv import ConvNetwork
from ..ir import ModelError, Network, Recurrent
from . import bnn, difflogic, dwn, qonnx, recurrent, torchlogix

FORMATS = {"lgn": native.load, "torchlogix-json": torchlogix.load, "difflogic-npz": difflogic.load,
           "dwn-npz": dwn.load, "bnn-npz": bnn.load, "qonnx": qonnx.load, "rdlgn-npz": recurrent.load}
# content tests in the order they are tried: each format's own marker
_DETECT = (("lgn", native.is_native), ("torchlogix-json", torchlogix.looks_like),
           ("rdlgn-npz", recurrent.looks_like),  # before difflogic: its cell has difflogic's layer arrays
           ("difflogic-npz", difflogic.looks_like), ("dwn-npz", dwn.looks_like), ("bnn-npz", bnn.looks_like),
           ("qonnx", qonnx.looks_like))


def detect(path: Path) -> str:
    """Name of the format ``path`` holds, judged by content rather than extension."""
    for name, looks_like in _DETECT:
        if looks_like(path):
            return name
    difflogic.refuse_checkpoint(path)
    raise ModelError(f"cannot tell what kind of model this is; use --format ({', '.join(FORMATS)})")


def load_model(path: str | Path, fmt: str | None = None) -> Network | Recurrent:
    """Load any supported model file; every defect becomes a ModelError naming the file.
    A convolutional model comes unrolled (``ConvNetwork.lower``), as every design reads it."""
    model = read_model(path, fmt)
    return model.lower() if isinstance(model, ConvNetwork) else model


def read_model(path: str | Path, fmt: str | None = None) -> Network | Recurrent | ConvNetwork:
    """Like ``load_model``, but a convolutional model stays a ConvNetwork (for info and import)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        fmt = fmt or detect(path)
        if fmt not in FORMATS:
            raise ModelError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        # only native files store conv stages; every other format is read as it always was
        return native.read(path) if fmt == "lgn" else FORMATS[fmt](path)
    except ModelError as e:
        msg = str(e)
        raise ModelError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
