"""Train a Brevitas BNN on scikit-learn's digits and export it to QONNX, for tests/test_qonnx_import.py.

    PYTHONPATH=. python tests/data/brevitas_bnn_qonnx/make.py    # rewrites model.onnx and vectors.npz here

The network is the one issue 19 asks for, 256 -> 100 -> 75 -> 10, built as FINN's users build
BNNs in Brevitas: a bipolar QuantIdentity on the input, QuantLinear layers with binary weights
of scale 1 (SignedBinaryWeightPerTensorConst), BatchNorm1d and a bipolar QuantIdentity after
each hidden layer, and integer scores out of the last QuantLinear. Pixels (0..16) are
thermometer-encoded at 2, 6, 10, 14 (256 bits) and fed as ±1. ``brevitas.export.export_qonnx``
writes ``model.onnx`` (batch 1, as FINN takes it); ``vectors.npz`` holds the held-out 20 %
(``x`` bits and ``y``) and the ONNX model's own output on every row
(``onnx_scores``, from qonnx's executor, which runs the standard nodes in onnxruntime).
"""
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "examples"))
import digits_data  # noqa: E402  (the examples' split and thermometer)

THRESHOLDS, DIMS, SEED, EPOCHS = [2.0, 6.0, 10.0, 14.0], [256, 100, 75, 10], 0, 30


def model() -> torch.nn.Sequential:
    import brevitas.nn as qnn
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    def sign():
        return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, min_val=-1.0, max_val=1.0)

    mods = [sign()]
    for i, (a, b) in enumerate(zip(DIMS, DIMS[1:])):
        mods.append(qnn.QuantLinear(a, b, bias=False, weight_quant=SignedBinaryWeightPerTensorConst,
                                    weight_scaling_const=1.0))
        if i < len(DIMS) - 2:
            mods += [torch.nn.BatchNorm1d(b), sign()]
    return torch.nn.Sequential(*mods)


def onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    """The ONNX model's output on each row of ``x``, one row at a time (the export's batch is 1)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    m = ModelWrapper(str(path)).transform(InferShapes())
    name_in, name_out = m.graph.input[0].name, m.graph.output[0].name
    return np.concatenate([execute_onnx(m, {name_in: row[None]})[name_out] for row in x.astype(np.float32)])


def main() -> None:
    from brevitas.export import export_qonnx
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    _, _, _, bits_tr, bits_te, y_tr, y_te = digits_data.load(THRESHOLDS, SEED)
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(bits_tr * 2.0 - 1).float(), torch.from_numpy(y_tr)
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        net.train()
        for batch in torch.randperm(len(xt)).split(64):
            loss = torch.nn.functional.cross_entropy(net(xt[batch]) / DIMS[-2] ** 0.5, yt[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    xe = bits_te * 2.0 - 1
    with torch.no_grad():
        torch_out = net(torch.from_numpy(xe).float())
    acc = float(np.mean(torch_out.argmax(-1).numpy() == y_te))
    print(f"{EPOCHS} epochs in {time.perf_counter() - start:.0f} s, test accuracy (Brevitas) {acc:.2%}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, torch.zeros(1, DIMS[0]), export_path=str(HERE / "model.onnx"))
    # the dynamo exporter also writes an external-data file that the final model.onnx does not
    # reference (every initializer is inside it, checked), so it is noise
    (HERE / "model.onnx.data").unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = onnx_scores(HERE / "model.onnx", xe)
    np.savez_compressed(HERE / "vectors.npz", x=bits_te, y=y_te, onnx_scores=scores)
    print(f"wrote model.onnx and vectors.npz ({len(y_te)} rows); ONNX accuracy {np.mean(scores.argmax(1) == y_te):.2%}, "
          f"rows where Brevitas' forward differs from the ONNX execution: "
          f"{int(np.sum(np.any(torch_out.numpy() != scores, axis=1)))}")


if __name__ == "__main__":
    main()
