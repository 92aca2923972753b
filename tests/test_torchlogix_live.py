"""Live torchlogix models: from_module (every parametrization and lut_rank) and torchlogix's own export.

The ground truth in tests/data/torchlogix/ comes from the real torchlogix 0.2.2
(tests/data/make_torchlogix_cases.py, Python 3.12): each case's parameters and
its eval-mode output on a fixed input set. Here the parameters become duck-typed
modules with torchlogix's attribute and class names, and lgn2rtl's golden model
and hardware must reproduce that output exactly. The ``real_`` tests run the
real package and are skipped where it is not importable (Python < 3.12).
"""
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lgn2rtl import golden
from lgn2rtl.importers.torchlogix import from_dict, from_module
from lgn2rtl.ir import ModelError
from test_rtl import assert_passes, run

DATA = Path(__file__).parent / "data"
CASES = sorted(p.stem for p in (DATA / "torchlogix").glob("*.npz"))


def case(name):
    with np.load(DATA / "torchlogix" / f"{name}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


PARAMETRIZATIONS = {name: type(name, (), {}) for name in
                    ("RawLUTParametrization", "WarpLUTParametrization", "LightLUTParametrization")}


class Connections:
    def __init__(self, indices, weights=None):
        self.indices = torch.from_numpy(indices)
        if weights is not None:  # LearnableDenseConnections
            self.weights = torch.from_numpy(weights)


class LogicDense:
    def __init__(self, a, i):
        self.in_dim, self.lut_rank = int(a[f"layer{i}_in_dim"]), int(a[f"layer{i}_lut_rank"])
        self.parametrization = PARAMETRIZATIONS[str(a[f"layer{i}_parametrization"])]()
        self.parametrization.materialize_basis = bool(a[f"layer{i}_materialize_basis"])
        self.weight = torch.nn.Parameter(torch.from_numpy(a[f"layer{i}_weight"]))
        self.connections = Connections(a[f"layer{i}_indices"], a.get(f"layer{i}_connection_weights"))


class Binarization:
    def __init__(self, a):
        self.thresholds, self.feature_dim = torch.from_numpy(a["thresholds"]), int(a["feature_dim"])
        self._compared = torch.from_numpy(a["get_thresholds"])

    def get_thresholds(self):  # LearnableBinarization's differ from its buffer
        return self._compared


class Flatten:
    pass


@dataclasses.dataclass
class GroupSum:
    k: int
    tau: float
    beta: float


def duck_model(a):
    mods = [Binarization(a), Flatten()] if "binarization" in a else []
    mods += [LogicDense(a, i) for i in range(int(a["n_layers"]))]
    return mods + [GroupSum(int(a["k"]), float(a["tau"]), float(a["beta"]))]


def expected(a):
    """torchlogix's integer scores and classes: its GroupSum outputs (count + beta) / tau."""
    return np.round(a["out"].astype(np.float64) * float(a["tau"]) - float(a["beta"])).astype(np.int64), a["out"].argmax(-1)


def bits(net, a):
    return net.encoder.encode(a["x"]) if "binarization" in a else a["x"]


def assert_reproduces(net, a):
    scores, classes = golden.predict(net, bits(net, a))
    want_scores, want_classes = expected(a)
    assert np.array_equal(scores, want_scores) and np.array_equal(classes, want_classes)


@pytest.mark.parametrize("name", CASES)
def test_golden_reproduces_torchlogix_eval(name):
    a = case(name)
    assert len(np.unique(expected(a)[0], axis=0)) > 20  # the outputs vary, so a wrong table shows
    net = from_module(duck_model(a), export=False)
    assert net.meta["source"] == "torchlogix-module"
    assert [layer.k for layer in net.layers] == [int(a[f"layer{i}_lut_rank"]) for i in range(int(a["n_layers"]))]
    assert (net.encoder is not None) == ("binarization" in a)
    assert_reproduces(net, a)


@pytest.mark.parametrize("name", [n for n in CASES if "circuit_json" in case(n)])
def test_torchlogix_export_reproduces_eval(name):
    a = case(name)
    net = from_dict(json.loads(str(a["circuit_json"])), source="torchlogix-export")
    assert_reproduces(net, a)


@pytest.mark.parametrize("name", CASES)
def test_hardware_reproduces_torchlogix(tmp_path, name):
    a = case(name)
    net = from_module(duck_model(a), export=False)
    x = bits(net, a)
    assert_passes(*run(net, x, tmp_path, pipeline=2, expected=expected(a)), len(x))


@pytest.mark.parametrize("name", ["warp2", "warp4", "warp6"])
def test_warp_sums_in_torchlogix_order(name):
    # the cases hold LUTs whose float32 sums, added as torchlogix adds them, round to 0 where
    # the exact sum is -1: exact arithmetic (float64 here) gives other tables and other scores
    a = case(name)
    model = duck_model(a)
    model[-2].weight = model[-2].weight.double()
    scores, _ = golden.predict(from_module(model, export=False), a["x"])
    assert not np.array_equal(scores, expected(a)[0])


@pytest.mark.parametrize("name", ["raw2", "warp4", "light6", "mixed"])
def test_one_inverted_lut_is_caught(name):
    a = case(name)
    model = duck_model(a)
    last = model[-2]
    with torch.no_grad():
        w = last.weight[1]  # LUT 1: the warp cases' rows 0, 4, ... are the near-zero ones
        if type(last.parametrization).__name__ == "RawLUTParametrization":
            w.copy_(torch.nn.functional.one_hot(15 - w.argmax(), 16).float())  # op 15 - id: every output inverted
        else:
            w.neg_()  # light: weight > 0 flips; warp: every sum changes sign
    scores, _ = golden.predict(from_module(model, export=False), a["x"])
    assert not np.array_equal(scores, expected(a)[0])


def test_unknown_parametrization_names_module_and_class():
    model = duck_model(case("light4"))
    model[1].parametrization = type("SoftLUTParametrization", (), {})()
    with pytest.raises(ModelError, match=r"model\[1\] \(LogicDense\): unknown LUT parametrization SoftLUTParametrization"):
        from_module(model, export=False)


def _set(i, attr, value):
    def change(model):
        setattr(model[i] if isinstance(i, int) else getattr(model[i[0]], i[1]), attr, value)
    return change


@pytest.mark.parametrize("change, message", [
    (_set(0, "lut_rank", 4), r"model\[0\] \(LogicDense\): RawLUTParametrization with lut_rank 4"),
    (_set(1, "weight", torch.zeros(40, 15)), r"model\[1\] \(LogicDense\): .weight of RawLUTParametrization "
                                              r"with lut_rank 2 must be float \[out, 16\], got float32 \[40, 15\]"),
    (_set((0, "connections"), "indices", torch.full((2, 48), 32)), r"model\[0\].*read input 32, but it has 32 inputs"),
    (_set((1, "connections"), "indices", torch.zeros(2, 39, dtype=torch.long)), r"integer \[2, 40\].*\[2, 39\]"),
    (_set(0, "lut_rank", 7), r"lut_rank 7; lgn2rtl compiles LUTs of 1..6 inputs"),
    (_set(1, "in_dim", 50), r"model\[1\] \(LogicDense\): in_dim is 50, but the layer before has 48 outputs"),
    (_set(2, "k", 3), r"40 outputs do not split into 3 equal groups"),
    (lambda m: m.insert(1, Flatten()), r"model\[1\] \(Flatten\) is not a LogicDense layer"),
    (_set(1, "receptive_field_size", (2, 2)), r"model\[0\] \(LogicDense\): a convolutional model \(model\[1\] \(LogicDense\) has a receptive "
                                                   r"field\) starts with a LogicConv2d"),
])
def test_bad_modules_get_one_clear_error(change, message):
    model = duck_model(case("raw2"))
    change(model)
    with pytest.raises(ModelError, match=message):
        from_module(model, export=False)


def test_learnable_connection_shapes_must_agree():
    model = duck_model(case("light4"))
    model[0].connections.weights = model[0].connections.weights[:, :, :-1]
    with pytest.raises(ModelError, match=r"model\[0\].*learnable connections need .weights and .indices of one shape"):
        from_module(model, export=False)


def test_binarization_feature_dim_other_than_default_is_refused():
    model = duck_model(case("digits_trained"))
    model[0].feature_dim = 1
    with pytest.raises(ModelError, match=r"model\[0\] \(Binarization\): feature_dim=1"):
        from_module(model, export=False)


def test_export_without_torchlogix(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchlogix", None)  # import torchlogix raises ImportError
    model = duck_model(case("raw2"))
    with pytest.raises(ModelError, match=r"export=True needs torchlogix, which is not importable.*Python >= 3.12"):
        from_module(model, export=True)
    assert from_module(model).meta["source"] == "torchlogix-module"  # the default reads the parameters


# The real torchlogix (Python >= 3.12)

# torch.fx warns while torchlogix's Circuit.from_model folds constants
real = pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node")


def peer_script(script: Path, stored: str):
    """torchlogix and ``script`` (the one that made the stored cases) loaded as a module, or a skip
    where torchlogix does not import; the stored outputs in ``stored`` are checked either way."""
    try:
        import torchlogix
    except Exception as e:  # absent, or a SyntaxError on Python < 3.12
        pytest.skip(f"peer check against the real torchlogix skipped: not importable ({type(e).__name__}: {e}); "
                    f"it needs Python >= 3.12 and pip install torchlogix==0.2.2 (its stored outputs in "
                    f"{stored} are checked either way)")
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return torchlogix, module


@pytest.fixture(scope="module")
def tlx():
    return peer_script(DATA / "make_torchlogix_cases.py", "tests/data/torchlogix")


@real
@pytest.mark.parametrize("name", CASES)
def test_real_torchlogix_gives_the_stored_outputs(tlx, name):
    _, maker = tlx
    a = case(name)
    model = maker.model_from(a)
    with torch.no_grad():
        assert np.array_equal(model(torch.from_numpy(a["x"]).float()).numpy(), a["out"])
    assert_reproduces(from_module(model, export=False), a)
    if "circuit_json" in a:
        net = from_module(model, export=True)
        assert net.meta["source"] == "torchlogix-export"
        assert_reproduces(net, a)
        assert maker.arrays(model, a["x"])["circuit_json"] == a["circuit_json"]


@real
@pytest.mark.parametrize("parametrization, rank", [("raw", 2), ("warp", 1), ("warp", 2), ("warp", 4), ("warp", 6),
                                                   ("light", 2), ("light", 4), ("light", 6)])
@pytest.mark.parametrize("connections", ["fixed", "learnable"])
def test_real_random_models(tlx, parametrization, rank, connections):
    torchlogix, maker = tlx
    torch.manual_seed(rank)
    layers = [maker.logic_dense(24, 64, parametrization, rank, connections, False),
              maker.logic_dense(64, 64, parametrization, rank, "fixed", True)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.normal_()
    model = torch.nn.Sequential(*layers, torchlogix.layers.GroupSum(4, 2.0)).eval()
    x = np.random.default_rng(rank).integers(0, 2, (600, 24), dtype=np.uint8)
    with torch.no_grad():
        a = {"x": x, "out": model(torch.from_numpy(x).float()).numpy(), "tau": 2.0, "beta": 0.0}
    net = from_module(model)
    assert net.meta["source"] == ("torchlogix-export" if rank == 2 else "torchlogix-module")
    assert_reproduces(net, a)
    assert_reproduces(from_module(model, export=False), a)
    # the derived tables agree with torchlogix's get_luts() (its matmul sums these weights to the same signs)
    luts = layers[1].get_luts().numpy()
    tables = from_module(model, export=False).layers[1].tables
    assert np.array_equal(luts, (tables[:, None] >> np.arange(1 << rank, dtype=np.uint64)) & 1 == 1)


@real
def test_real_export_refuses_higher_ranks_and_keeps_the_model_state(tlx):
    torchlogix, maker = tlx
    model = torch.nn.Sequential(maker.logic_dense(16, 32, "warp", 4, "fixed", False),
                                torchlogix.layers.GroupSum(4, 1.0))
    with pytest.raises(ModelError, match=r"model\[0\] \(LogicDense\): lut_rank 4 cannot go through torchlogix's export"):
        from_module(model, export=True)
    model = torch.nn.Sequential(maker.logic_dense(16, 32, "raw", 2, "learnable", False),
                                torchlogix.layers.GroupSum(4, 1.0)).train()
    # torchlogix's default init makes every gate a wire, which exports as a circuit without gates
    with pytest.raises(ModelError, match="torchlogix's export of the model: empty network: the circuit has no gates.*export=False"):
        from_module(model)
    assert from_module(model, export=False).n_nodes == 32
    torch.nn.init.normal_(model[0].weight)
    assert from_module(model).meta["source"] == "torchlogix-export"
    assert all(m.training and not getattr(m, "export_mode", False) for m in model.modules())
    assert not hasattr(model[0], "_export_lut_ids")


@real
def test_real_dlgn_model_with_its_binarization(tlx):
    torchlogix, _ = tlx
    from torchlogix.models.dense import Dlgn
    torch.manual_seed(3)
    model = Dlgn(torch.tensor([[-0.5, 0.0, 0.5]]).repeat(10, 1), "fixed", {}, in_dim=30, n_layers=2,
                 neurons_per_layer=[40, 30], class_count=3, tau=4.0, lut_rank=6, parametrization="light").eval()
    for layer in list(model)[2:4]:  # slicing a Dlgn calls its __init__ without arguments
        torch.nn.init.normal_(layer.weight)
    x = np.random.default_rng(3).standard_normal((400, 10)).astype(np.float32)
    with torch.no_grad():
        a = {"x": x, "out": model(torch.from_numpy(x)).numpy(), "tau": 4.0, "beta": 0.0, "binarization": "Fixed"}
    net = from_module(model)
    assert net.encoder.thresholds.shape == (10, 3) and [layer.k for layer in net.layers] == [6, 6]
    assert_reproduces(net, a)
