"""QONNX import: Brevitas exports against their own ONNX execution, batch-norm folding against
ONNX Runtime on every count, hand-built MultiThreshold graphs, and one-line refusals."""
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from inprocess import lgn2rtl
from lgn2rtl import golden
from lgn2rtl.importers import detect, load_model
from lgn2rtl.importers.bnn import fold
from lgn2rtl.ir import ModelError

FIXTURE = Path(__file__).parent / "data" / "brevitas_bnn_qonnx"  # made by its make.py (README there)
QONNX = "qonnx.custom_op.general"


def execute(path, x):
    """The ONNX model's own output on each row of ``x`` (qonnx's executor; onnxruntime runs the
    standard nodes), one row at a time, since exports fix the batch at 1."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    m = ModelWrapper(str(path)).transform(InferShapes())
    name_in, name_out = m.graph.input[0].name, m.graph.output[0].name
    return np.concatenate([execute_onnx(m, {name_in: row[None]})[name_out] for row in x.astype(np.float32)])


def golden_scores(net, bits):
    """The golden model's float scores (count / tau + beta) and classes."""
    counts, classes = golden.predict(net, bits)
    return counts / net.head.tau + net.head.beta, classes


def test_brevitas_export_equals_its_onnx_execution_on_every_test_row():
    net = load_model(FIXTURE / "model.onnx")
    v = np.load(FIXTURE / "vectors.npz")
    out = execute(FIXTURE / "model.onnx", v["x"] * 2.0 - 1)
    assert np.array_equal(out, v["onnx_scores"])  # the executor here agrees with the one that made the file
    scores, classes = golden_scores(net, v["x"])
    assert len(scores) == 360 and np.array_equal(scores, out)
    assert np.array_equal(classes, out.argmax(axis=1))  # both take the lowest class on a tie
    assert [len(layer) for layer in net.layers[:2]] == [100, 75] and net.head.classes == 10
    assert np.mean(classes == v["y"]) > 0.9


def brevitas_bnn(dims, bias=False):
    """A Brevitas BNN as FINN's users build it, with running statistics as training leaves them."""
    import brevitas.nn as qnn
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    def sign():
        return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, min_val=-1.0, max_val=1.0)

    torch.manual_seed(0)
    mods = [sign()]
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        hidden = i < len(dims) - 2
        mods.append(qnn.QuantLinear(a, b, bias=bias and hidden, weight_quant=SignedBinaryWeightPerTensorConst,
                                    weight_scaling_const=1.0))
        if hidden:
            mods += [torch.nn.BatchNorm1d(b), sign()]
    model = torch.nn.Sequential(*mods).train()
    with torch.no_grad():
        for _ in range(10):
            model(torch.randn(64, dims[0]))
    return model.eval()


def brevitas_export(path, bias=False, dynamo=True):
    """A small Brevitas BNN (24 -> 16 -> 12 -> 5) exported to QONNX at ``path``."""
    from brevitas.export import export_qonnx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(brevitas_bnn([24, 16, 12, 5], bias), torch.zeros(1, 24), export_path=str(path), dynamo=dynamo)
    return path


@pytest.mark.parametrize("dynamo", [True, False])  # torch.export's graph (Gemm), and TorchScript's (MatMul)
@pytest.mark.parametrize("bias", [False, True])
def test_fresh_brevitas_export_equals_its_onnx_execution(tmp_path, dynamo, bias):
    path = brevitas_export(tmp_path / "m.onnx", bias, dynamo)
    bits = np.random.default_rng(1).integers(0, 2, (200, 24), dtype=np.uint8)
    out = execute(path, bits * 2.0 - 1)
    scores, classes = golden_scores(load_model(path), bits)
    assert np.array_equal(scores, out) and np.array_equal(classes, out.argmax(axis=1))


def test_an_imported_export_compiles_and_passes_cocotb(tmp_path):
    r = lgn2rtl("simulate", brevitas_export(tmp_path / "m.onnx", bias=True), "--random", 60)
    assert r.returncode == 0 and "mismatches 0" in r.stdout and "PASS" in r.stdout, r.stdout + r.stderr


def bn_node_fires(bn, dots):
    """Whether ONNX Runtime's BatchNormalization output is >= 0, for dot products [C, counts]."""
    c = len(bn["mean"])
    init = [numpy_helper.from_array(bn[k].astype(np.float32), k) for k in ("weight", "bias", "mean", "var")]
    graph = helper.make_graph([helper.make_node("BatchNormalization", ["x", "weight", "bias", "mean", "var"], ["y"],
                                                epsilon=float(bn["eps"]))], "bn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, c])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, c])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return (session.run(None, {"x": np.ascontiguousarray(dots.T, dtype=np.float32)})[0] >= 0).T


def test_fold_equals_onnxruntime_batch_norm_on_every_count():
    rng = np.random.default_rng(3)
    mismatches = differ_from_pytorch = 0
    for _ in range(30):
        channels, fan_in = int(rng.integers(1, 40)), int(rng.integers(1, 300))
        # statistics that put ties and near-ties on the integer dot products; some scales 0 or negative
        bn = {"mean": (rng.integers(-fan_in, fan_in + 1, channels) + rng.choice([0, 0.5, 1e-7, 0.3], channels)),
              "var": np.exp(rng.normal(0, 3, channels)), "eps": np.float32(1e-5),
              "weight": rng.normal(0, 1, channels) * (rng.random(channels) > 0.1),
              "bias": rng.normal(0, 1, channels) * (rng.random(channels) > 0.3)}
        bn = {k: np.asarray(v, dtype=np.float32) for k, v in bn.items()}
        w = rng.integers(0, 2, (channels, fan_in)).astype(np.uint8)
        count = np.arange(fan_in + 1)
        signs, theta = fold(w, "pm1", None, bn, fused=False)
        fires = np.where(np.any(signs != w, axis=1)[:, None], fan_in - count, count) >= theta[:, None]
        mismatches += int(np.sum(fires != bn_node_fires(bn, np.broadcast_to(2 * count - fan_in, fires.shape))))
        differ_from_pytorch += int(np.sum(theta != fold(w, "pm1", None, bn)[1]))
    assert mismatches == 0
    assert differ_from_pytorch > 0  # thresholds where PyTorch's fmas would have been wrong for ONNX were met


def test_fold_rounds_the_shift_twice_as_onnxruntime_does():
    # the PyTorch test's statistics where one fma and two roundings disagree at dot product 62
    bn = {k: np.array([v], np.float32) for k, v in
          dict(mean=57.68574142456055, var=4.0, weight=3.0, bias=-6.471392631530762).items()} | {"eps": np.float32(0)}
    w, dots = np.ones((1, 62), np.uint8), 2 * np.arange(63)[None] - 62
    onnx_fires = bn_node_fires(bn, dots)
    assert fold(w, "pm1", None, bn, fused=False)[1] != fold(w, "pm1", None, bn)[1]
    assert np.array_equal(np.arange(63)[None] >= fold(w, "pm1", None, bn, fused=False)[1], onnx_fires)


# hand-built graphs: what FINN's tools write (MultiThreshold) and what lgn2rtl must refuse

def tensor(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def build(path, nodes, inits, n_in, n_out, attrs=None):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid(QONNX, 1)])
    onnx.save_model(model, str(path))
    return path


def threshold_net(path, rng, input_levels=(2.0, -1.0), hidden_thresholds=1, hidden_levels=(2.0, -1.0)):
    """x -> MultiThreshold (per feature) -> MatMul -> MultiThreshold -> MatMul -> out."""
    w0, w1 = rng.choice([-1.0, 1.0], (6, 8)), rng.choice([-1.0, 1.0], (8, 3))
    t_in = rng.integers(-2, 3, (6, 1)) + 0.25  # on the grid the test draws features from, for ties
    t_hid = np.sort(rng.integers(-6, 7, (8, hidden_thresholds)) + rng.choice([0, 0.5], (8, hidden_thresholds)), 1)
    nodes = [helper.make_node("MultiThreshold", ["x", "t_in"], ["a"], domain=QONNX,
                              out_scale=input_levels[0], out_bias=input_levels[1]),
             helper.make_node("MatMul", ["a", "w0"], ["h"]),
             helper.make_node("MultiThreshold", ["h", "t_hid"], ["s"], domain=QONNX,
                              out_scale=hidden_levels[0], out_bias=hidden_levels[1]),
             helper.make_node("MatMul", ["s", "w1"], ["out"])]
    return build(path, nodes, [tensor("w0", w0), tensor("w1", w1), tensor("t_in", t_in), tensor("t_hid", t_hid)],
                 6, 3)


@pytest.mark.parametrize("levels", [(2.0, -1.0), (1.0, 0.0)])  # the input binarized to ±1, or to 0/1
def test_multithreshold_graph_equals_its_onnx_execution(tmp_path, levels):
    rng = np.random.default_rng(5)
    path = threshold_net(tmp_path / "t.onnx", rng, input_levels=levels)
    net = load_model(path)
    features = rng.integers(-12, 13, (300, 6)) / 4  # every threshold is hit exactly in some rows
    out = execute(path, features)
    scores, classes = golden_scores(net, net.encoder.encode(features))
    assert np.array_equal(scores, out) and np.array_equal(classes, out.argmax(axis=1))


def bnn_graph(path, weight_node=None, act_scale=1.0, extra=(), tail=None):
    """x -> BipolarQuant -> MatMul(BipolarQuant(w0)) -> BatchNormalization -> BipolarQuant -> MatMul -> out,
    with the first weights' quantizer, the activation's scale or the tail after the sign replaced."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("BipolarQuant", ["x", "one"], ["xb"], domain=QONNX),
             weight_node or helper.make_node("BipolarQuant", ["w0", "one"], ["w0b"], domain=QONNX),
             helper.make_node("MatMul", ["xb", "w0b"], ["h"]),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["n"]),
             helper.make_node("BipolarQuant", ["n", "act_scale"], ["s"], domain=QONNX),
             *extra,
             *(tail or [helper.make_node("MatMul", ["s", "w1"], ["out"])])]
    inits = [tensor("one", [1.0]), tensor("act_scale", [act_scale]), tensor("w0", rng.normal(0, 1, (6, 4))),
             tensor("w1", rng.choice([-1.0, 1.0], (4, 2))), tensor("g", np.ones(4)), tensor("b", np.zeros(4)),
             tensor("m", np.zeros(4)), tensor("v", np.ones(4)), tensor("bits", [2.0]), tensor("w1f", np.full((4, 2), 0.5))]
    return build(path, nodes, inits, 6, 2)


REFUSED = {
    "weights of 2 bits": (lambda p: bnn_graph(p, helper.make_node("Quant", ["w0", "one", "one", "bits"], ["w0b"],
                                                                  domain=QONNX)), "(Quant) quantizes to 2 bits"),
    "scaled activation": (lambda p: bnn_graph(p, act_scale=0.5), "has scale 0.5"),
    "float weights": (lambda p: bnn_graph(p, tail=[helper.make_node("MatMul", ["s", "w1f"], ["out"])]),
                      "its weights are not ±1 (magnitudes [0.5])"),
    "relu": (lambda p: bnn_graph(p, tail=[helper.make_node("Relu", ["s"], ["out"])]), "(Relu): lgn2rtl reads binarized"),
    "ends in a sign": (lambda p: bnn_graph(p, tail=[helper.make_node("MatMul", ["s", "w1"], ["o"]),
                                                    helper.make_node("BipolarQuant", ["o", "one"], ["out"], domain=QONNX)]),
                       "the graph ends in node 'out' (BipolarQuant)"),
    "scaled scores": (lambda p: bnn_graph(p, tail=[helper.make_node("MatMul", ["s", "w1"], ["o"]),
                                                   helper.make_node("Mul", ["o", "bits"], ["out"])]),
                      "(Mul): lgn2rtl reads binarized blocks"),
    "branch": (lambda p: bnn_graph(p, extra=[helper.make_node("Relu", ["s"], ["dead"])]), "tensor 's' feeds"),
    "4-level activation": (lambda p: threshold_net(p, np.random.default_rng(0), hidden_thresholds=3),
                           "of shape [8, 3]: 3 levels per channel"),
    "0/1 hidden activation": (lambda p: threshold_net(p, np.random.default_rng(0), hidden_levels=(1.0, 0.0)),
                              "outputs 0/1; between binarized layers"),
    "garbage": (lambda p: (p.write_bytes(b"\x08\x07\x12garbage\xff\xff"), p)[1], "not a readable ONNX model"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsupported_graphs_are_refused_in_one_line(tmp_path, case):
    make, message = REFUSED[case]
    path = make(tmp_path / "m.onnx")
    assert detect(path) == "qonnx"
    for command in (["info", path], ["compile", path, "-o", tmp_path / "out"]):
        r = lgn2rtl(*command)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {path}:"), r.stderr
        assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_a_bare_bnn_graph_is_accepted(tmp_path):
    """The base the refusals above change is itself fine."""
    net = load_model(bnn_graph(tmp_path / "m.onnx"))
    assert [len(layer) for layer in net.layers] == [4, 8]


def test_external_data_is_not_followed(tmp_path):
    path = bnn_graph(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    onnx.external_data_helper.convert_model_to_external_data(model, location="weights.bin", size_threshold=0)
    onnx.save_model(model, str(path))
    with pytest.raises(ModelError, match="keeps its data in an external file"):
        load_model(path)


def test_damaged_files_give_model_errors_only(tmp_path):
    """Truncated and bit-flipped copies of the fixture and of the small hand-built graphs (where flips
    land in attributes and structure more often): each loads or is a ModelError, never another exception."""
    rng = np.random.default_rng(0)
    bases = [(FIXTURE / "model.onnx").read_bytes(), bnn_graph(tmp_path / "b.onnx").read_bytes(),
             threshold_net(tmp_path / "t.onnx", rng).read_bytes()]
    path, outcomes = tmp_path / "m.onnx", {"loaded": 0, "refused": 0}
    for i in range(600):
        data = bases[i % 3]
        damaged = bytearray(data[:int(rng.integers(1, len(data)))] if i % 4 == 0 else data)
        for at in rng.integers(0, len(damaged), 1 + i % 3):
            damaged[at] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(damaged))
        try:
            load_model(path, "qonnx")
            outcomes["loaded"] += 1
        except ModelError:
            outcomes["refused"] += 1
    assert min(outcomes.values()) > 50  # both paths were exercised


def test_without_onnx_the_error_says_what_to_install():
    script = ("import sys; sys.modules['onnx'] = None  # import onnx raises ImportError\n"
              f"from lgn2rtl.cli import main; main(['info', {str(FIXTURE / 'model.onnx')!r}])")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=FIXTURE.parents[2])
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: {FIXTURE / 'model.onnx'}: reading QONNX needs the onnx package: pip install 'lgn2rtl[qonnx]'"]
