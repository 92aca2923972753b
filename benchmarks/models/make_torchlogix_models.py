"""Train the benchmark's torchlogix models (4 x 1000 gates by default) and export them as torchlogix does.

Needs Python >= 3.12 (torchlogix's syntax), torchlogix 0.2.2, torch and scikit-learn:

    python benchmarks/models/make_torchlogix_models.py      # rewrites benchmarks/models/tl4x1000_s*/
    python benchmarks/models/make_torchlogix_models.py --depth 6 --width 8000 --seeds 1  # tl6x8000_s1/, prove's scale

Each model is ``LogicDense`` 256 -> 1000 -> 1000 -> 1000 -> 1000 (raw 16-op parametrization,
fixed random connections) + ``GroupSum(10, tau=width/30)``, trained on scikit-learn's digits with
the pixels (0..16) thermometer-encoded at 2, 6, 10, 14, as the shipped fixture
(tests/data/torchlogix_digits_s1) was, only deeper and wider. Per model it writes, to
``tl{depth}x{width}_s{seed}/``:

- ``circuit.json``: ``Circuit.write_json()`` before ``simplify()`` (what ``lgn2rtl`` reads);
- ``torchlogix.v``: ``get_verilog_code()`` after ``simplify()``, torchlogix's own hardware;
- ``vectors.npz``: ``x`` test input bits, ``y`` labels, ``torch_scores`` the eval-mode output;
- ``meta.json``: seed, sizes, epochs, test accuracy and gate counts.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent
THRESHOLDS = (2, 6, 10, 14)
EPOCHS = 40


def encode(x: np.ndarray) -> np.ndarray:
    """Pixel p, threshold t -> bit 4p + t, as the fixture."""
    return (x[:, :, None] > np.array(THRESHOLDS)[None, None]).reshape(len(x), -1).astype(np.uint8)


def train(seed: int, width: int, depth: int) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torchlogix import Circuit
    from torchlogix.layers import GroupSum, LogicDense
    d = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(d.data, d.target, test_size=0.22, random_state=seed)
    b_tr, b_te = encode(x_tr), encode(x_te)
    torch.manual_seed(seed)
    dims = [256] + [width] * depth
    layers = [LogicDense(i, o, lut_rank=2, parametrization="raw", connections="fixed") for i, o in zip(dims, dims[1:])]
    model = torch.nn.Sequential(*layers, GroupSum(10, width / 10 / 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(b_tr).float(), torch.from_numpy(y_tr)
    start = time.monotonic()
    for _ in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(xt)).split(100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
            opt.step()
    seconds = time.monotonic() - start
    model.eval()
    with torch.no_grad():
        scores = model(torch.from_numpy(b_te).float()).numpy()
    acc = float((scores.argmax(-1) == y_te).mean())
    out = OUT / f"tl{depth}x{width}_s{seed}"
    out.mkdir(exist_ok=True)
    circuit = Circuit.from_model(model, [256])
    circuit.write_json(str(out / "circuit.json"))
    raw = len(circuit.gates)
    circuit.simplify()
    (out / "torchlogix.v").write_text(circuit.get_verilog_code())
    np.savez_compressed(out / "vectors.npz", x=b_te, y=y_te.astype(np.int64), torch_scores=scores.astype(np.float32))
    meta = {"seed": seed, "width": width, "depth": depth, "epochs": EPOCHS, "test_acc": acc, "train_s": round(seconds, 1),
            "gates_raw": raw, "gates_simplified": len(circuit.gates), "inputs": 256,
            "torchlogix": __import__("torchlogix").__version__ if hasattr(__import__("torchlogix"), "__version__") else "0.2.2",
            "torch": torch.__version__}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{out.name}: test accuracy {acc:.3f}, {raw} gates exported, {len(circuit.gates)} after simplify")


def main() -> None:
    if sys.version_info < (3, 12):
        sys.exit("torchlogix needs Python >= 3.12")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1000, help="gates per layer")
    ap.add_argument("--depth", type=int, default=4, help="layers")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    for seed in args.seeds:
        train(seed, args.width, args.depth)


if __name__ == "__main__":
    main()
