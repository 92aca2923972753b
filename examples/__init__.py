"""The example models that ship inside the lgn2rtl package (as ``lgn2rtl.examples``), with their vectors.

A ``pip install`` user has no clone, so ``lgn2rtl example NAME -o DIR`` writes one of these
out to try every command on. The training scripts beside them made them; they need the
test extras (torch, scikit-learn) and are run as scripts (``python examples/train_digits.py``).
"""
from __future__ import annotations

from importlib.resources import files

# name -> what it is; its files are NAME.lgn and NAME_vectors.npz beside this module
EXAMPLES = {
    "digits": "torchlogix network (3 x 500 gates + GroupSum, 10 classes) on scikit-learn's digits; "
              "397 test digits",
    "bnn_digits": "binarized network (128 input bits, 64 neurons, 10 classes) on scikit-learn's digits; "
                  "360 test digits",
    "rdlgn_digits": "recurrent logic-gate network (digits fed row by row: 8 tokens of 32 bits, a 128-bit state, "
                    "1,452 gates, 10 classes read after the last row); 360 test sequences",
    "conv_digits": "convolutional torchlogix network (two 3x3 LogicConv2d + OR-pooling over 2x16x16 input bits, "
                   "then 2 x 640 gates + GroupSum, 10 classes) on scikit-learn's digits; 360 test digits",
    "conv32_digits": "convolutional torchlogix network on a 32x32 canvas (three 3x3 LogicConv2d + OR-pooling over "
                     "2x32x32 input bits, then 320 gates + GroupSum, 10 classes), where streaming "
                     "(--lowering streaming) pays; 360 test digits",
}


def example_files(name: str) -> dict[str, bytes]:
    """The files of example ``name``, ``{file name: content}``: the model, then its vectors."""
    if name not in EXAMPLES:
        raise KeyError(name)
    here = files(__name__)
    return {f: here.joinpath(f).read_bytes() for f in (f"{name}.lgn", f"{name}_vectors.npz")}
