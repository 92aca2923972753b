"""Ground truth from the real torchlogix for tests/test_torchlogix_live.py.

Needs Python >= 3.12 (torchlogix's syntax), torchlogix 0.2.2 and scikit-learn:

    python tests/data/make_torchlogix_cases.py      # rewrites tests/data/torchlogix/*.npz

Each case is a small torchlogix model: random weights (``randn``, so every
truth table is a real function), or trained on scikit-learn's digits. Its
file holds the model's parameters the way a duck-typed reader sees them, a
fixed input set ``x`` and the model's eval-mode output ``out`` on it, plus,
where every layer has lut_rank 2, torchlogix's own export of it
(``Circuit.from_model(...).to_dict()`` as JSON). ``model_from`` rebuilds the
real torchlogix model from such a file.

Layout of a case file (one ``.npz``):
``x`` (uint8 bits, or features when the model binarizes), ``out`` float32
[N, k]; ``k``, ``tau``, ``beta`` (GroupSum); ``n_layers``; per layer i
``layer{i}_parametrization`` (class name), ``layer{i}_lut_rank``,
``layer{i}_in_dim``, ``layer{i}_materialize_basis``, ``layer{i}_weight``,
``layer{i}_indices`` ([k, out] fixed, or the candidate table [candidates, k,
out] of learnable connections, then also ``layer{i}_connection_weights``);
optional ``binarization`` (class name), ``thresholds`` (its buffer),
``get_thresholds`` (what it compares with), ``feature_dim``, and for
LearnableBinarization ``raw_diffs``; optional ``circuit_json``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "torchlogix"

# name: (layers as (parametrization, lut_rank, out, connections, materialize_basis), n_inputs, k, tau, beta)
RANDOM = {
    "raw2": ([("raw", 2, 48, "fixed", False), ("raw", 2, 40, "fixed", False)], 32, 4, 2.5, -3.0),
    "raw2_learnable": ([("raw", 2, 48, "learnable", False), ("raw", 2, 40, "fixed", True)], 32, 5, 4.0, 0.0),
    "warp1": ([("warp", 1, 64, "fixed", False), ("warp", 1, 64, "fixed", False)], 32, 4, 1.0, 0.0),
    "warp2": ([("warp", 2, 48, "fixed", False), ("warp", 2, 40, "learnable", False)], 32, 4, 2.0, 0.0),
    "warp4": ([("warp", 4, 60, "fixed", False), ("warp", 4, 40, "fixed", True)], 32, 4, 3.0, 0.0),
    "warp6": ([("warp", 6, 60, "fixed", False), ("warp", 6, 40, "fixed", False)], 32, 4, 3.0, 1.5),
    "light2": ([("light", 2, 48, "fixed", False), ("light", 2, 40, "fixed", True)], 32, 4, 2.0, 0.0),
    "light4": ([("light", 4, 60, "learnable", False), ("light", 4, 40, "fixed", False)], 32, 4, 3.0, 0.0),
    "light6": ([("light", 6, 60, "fixed", False), ("light", 6, 40, "fixed", True)], 32, 4, 3.0, 0.0),
    "mixed": ([("warp", 6, 64, "fixed", False), ("light", 4, 48, "fixed", False),
               ("raw", 2, 40, "fixed", False)], 32, 4, 2.0, 0.0),
}
ROWS = 512


def logic_dense(in_dim: int, out: int, parametrization: str, lut_rank: int, connections: str, materialize: bool):
    from torchlogix.layers import LogicDense
    return LogicDense(in_dim, out, lut_rank=lut_rank, parametrization=parametrization, connections=connections,
                      parametrization_kwargs={"materialize_basis": materialize})


def random_case(name: str, seed: int) -> tuple[torch.nn.Sequential, np.ndarray]:
    """A random model of RANDOM[name] and its input bits."""
    from torchlogix.layers import GroupSum
    layers_spec, n, k, tau, beta = RANDOM[name]
    torch.manual_seed(seed)
    layers, prev = [], n
    for parametrization, rank, out, connections, materialize in layers_spec:
        layer = logic_dense(prev, out, parametrization, rank, connections, materialize)
        with torch.no_grad():
            layer.weight.normal_()
            if connections == "learnable":
                layer.connections.weights.normal_()
        layers.append(layer)
        prev = out
    if layers_spec[-1][:1] == ("warp",) and layers_spec[-1][1] >= 2:
        # -1 +- 2**25 -+ 2**25 sums to 0 in float32 as torchlogix adds it (left to right), so the output
        # is 0 where exact arithmetic (-1 < 0) gives 1: at half the addresses of every fourth LUT
        with torch.no_grad():
            w = layers[-1].weight
            w[::4] = 0
            w[::4, 0], w[::4, 1], w[::4, -1] = -1.0, 2.0 ** 25, -2.0 ** 25
    x = np.random.default_rng(seed).integers(0, 2, (ROWS, n), dtype=np.uint8)
    return torch.nn.Sequential(*layers, GroupSum(k, tau, beta)).eval(), x


def digits_case(seed: int) -> tuple[torch.nn.Sequential, np.ndarray, float]:
    """A thermometer + warp-4 + light-6 model trained on digits; its test features and test accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torchlogix.layers import FixedBinarization, GroupSum
    d = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(d.data.astype(np.uint8), d.target, test_size=0.22, random_state=seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        FixedBinarization(torch.tensor([2.0, 6.0, 10.0, 14.0])), torch.nn.Flatten(),
        logic_dense(256, 300, "warp", 4, "fixed", False), logic_dense(300, 100, "light", 6, "fixed", False),
        GroupSum(10, 10 / 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)
    for _ in range(40):
        model.train()
        for batch in torch.randperm(len(xt)).split(100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(x_te).float()).argmax(-1).numpy() == y_te).mean()
    return model, x_te, float(acc)


def learnable_binarization_case(seed: int) -> tuple[torch.nn.Sequential, np.ndarray]:
    """LearnableBinarization, whose thresholds (a cumsum of its trained diffs) differ from its buffer."""
    from torchlogix.layers import GroupSum, LearnableBinarization
    torch.manual_seed(seed)
    binarization = LearnableBinarization(torch.linspace(-1.5, 1.5, 5).repeat(12, 1))
    with torch.no_grad():
        binarization.raw_diffs.add_(0.2 * torch.randn_like(binarization.raw_diffs))
    layers = [logic_dense(60, 60, "light", 4, "fixed", False), logic_dense(60, 30, "warp", 2, "fixed", False)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.normal_()
    x = np.random.default_rng(seed).standard_normal((ROWS, 12)).astype(np.float32)
    return torch.nn.Sequential(binarization, torch.nn.Flatten(), *layers, GroupSum(3, 5.0)).eval(), x


def arrays(model: torch.nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """The case file's arrays: parameters, inputs, eval output, and the export where torchlogix can make one."""
    from torchlogix import Circuit
    from torchlogix.utils import set_export_mode
    model.eval()
    mods = list(model)
    a: dict[str, np.ndarray] = {"x": x}
    if hasattr(mods[0], "thresholds"):
        b = mods.pop(0)
        a |= {"binarization": np.array(type(b).__name__), "thresholds": b.thresholds.numpy(),
              "get_thresholds": b.get_thresholds().detach().numpy(), "feature_dim": np.array(b.feature_dim)}
        if hasattr(b, "raw_diffs"):
            a["raw_diffs"] = b.raw_diffs.detach().numpy()
        mods.pop(0)  # Flatten
    *layers, head = mods
    a |= {"k": np.array(head.k), "tau": np.array(float(head.tau)), "beta": np.array(float(head.beta)),
          "n_layers": np.array(len(layers))}
    for i, layer in enumerate(layers):
        p, c = layer.parametrization, layer.connections
        a |= {f"layer{i}_parametrization": np.array(type(p).__name__), f"layer{i}_lut_rank": np.array(layer.lut_rank),
              f"layer{i}_in_dim": np.array(layer.in_dim), f"layer{i}_materialize_basis": np.array(p.materialize_basis),
              f"layer{i}_weight": layer.weight.detach().numpy(), f"layer{i}_indices": c.indices.numpy()}
        if hasattr(c, "weights"):
            a[f"layer{i}_connection_weights"] = c.weights.detach().numpy()
    with torch.no_grad():
        a["out"] = model(torch.from_numpy(x).float()).numpy()
    if all(layer.lut_rank == 2 for layer in layers):
        logic = torch.nn.Sequential(*layers, head)
        a["circuit_json"] = np.array(json.dumps(Circuit.from_model(logic, [layers[0].in_dim]).to_dict()))
        set_export_mode(logic, False)
    return a


def model_from(a: dict[str, np.ndarray]) -> torch.nn.Sequential:
    """The real torchlogix model a case file describes."""
    from torchlogix.layers import GroupSum, LearnableBinarization, FixedBinarization
    short = {"RawLUTParametrization": "raw", "WarpLUTParametrization": "warp", "LightLUTParametrization": "light"}
    mods = []
    if "binarization" in a:
        cls = {"FixedBinarization": FixedBinarization, "LearnableBinarization": LearnableBinarization}[str(a["binarization"])]
        b = cls(torch.from_numpy(a["thresholds"]), feature_dim=int(a["feature_dim"]))
        if "raw_diffs" in a:
            with torch.no_grad():
                b.raw_diffs.copy_(torch.from_numpy(a["raw_diffs"]))
        mods += [b, torch.nn.Flatten()]
    for i in range(int(a["n_layers"])):
        learnable = f"layer{i}_connection_weights" in a
        layer = logic_dense(int(a[f"layer{i}_in_dim"]), len(a[f"layer{i}_weight"]),
                            short[str(a[f"layer{i}_parametrization"])], int(a[f"layer{i}_lut_rank"]),
                            "learnable" if learnable else "fixed", bool(a[f"layer{i}_materialize_basis"]))
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(a[f"layer{i}_weight"]))
            layer.connections.indices.copy_(torch.from_numpy(a[f"layer{i}_indices"]))
            if learnable:
                layer.connections.weights.copy_(torch.from_numpy(a[f"layer{i}_connection_weights"]))
        mods.append(layer)
    return torch.nn.Sequential(*mods, GroupSum(int(a["k"]), float(a["tau"]), float(a["beta"]))).eval()


def main() -> None:
    if sys.version_info < (3, 12):
        sys.exit("torchlogix needs Python >= 3.12")
    OUT.mkdir(exist_ok=True)
    cases = {name: arrays(*random_case(name, seed)) for seed, name in enumerate(RANDOM)}
    model, x, acc = digits_case(1)
    cases["digits_trained"] = arrays(model, x) | {"test_accuracy": np.array(acc)}
    cases["learnable_binarization"] = arrays(*learnable_binarization_case(7))
    for name, a in cases.items():
        with open(OUT / f"{name}.npz", "wb") as f:
            np.savez_compressed(f, **a)
        print(f"{name}: {len(a['x'])} rows, layers {[int(a[f'layer{i}_lut_rank']) for i in range(int(a['n_layers']))]}"
              + (f", test accuracy {float(a['test_accuracy']):.3f}" if "test_accuracy" in a else ""))


if __name__ == "__main__":
    main()
