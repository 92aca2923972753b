"""Recurrent DLGNs from PyTorch: from_module, the npz layout and the native file agree with torch's eval output."""
import re
import sys

import numpy as np
import pytest

from conftest import REPO
from lgn2rtl import golden, native
from lgn2rtl.importers import load_model
from lgn2rtl.importers.recurrent import from_module, save_layout
from lgn2rtl.ir import ModelError, Recurrent
from lgn2rtl.synthetic import random_recurrent

torch = pytest.importorskip("torch")
sys.path.insert(0, str(REPO / "examples"))
from recurrent_dlgn import RecurrentDLGN  # noqa: E402


def torch_eval(model, x):
    """PyTorch's eval scores [N, T, classes] of bits x [N, T, n_x]."""
    model.eval()
    with torch.no_grad():
        return model(torch.tensor(x, dtype=torch.float32)).numpy()


def small_model(seed=0):
    model = RecurrentDLGN(6, 10, [16, 12], classes=3, group=4, tau=2.0, readout="every", seed=seed)
    with torch.no_grad():  # trained-looking weights: every op somewhere, the state carried or not
        for layer in model.layers:
            layer.weights.normal_(0, 3)
        model.init.copy_(torch.randint(0, 2, (10,)))
    return model


def test_golden_equals_torch_on_every_sequence_and_step(tmp_path):
    model = small_model()
    x = np.random.default_rng(1).integers(0, 2, size=(300, 9, 6), dtype=np.uint8)
    rec = from_module(model)
    scores, _ = golden.sequences(rec, x)
    assert np.array_equal(scores / rec.head.tau, torch_eval(model, x))
    # the layout file and the native file hold the same model
    save_layout(model, tmp_path / "m.npz")
    native.save(load_model(tmp_path / "m.npz"), tmp_path / "m.lgn")
    again = load_model(tmp_path / "m.lgn")
    assert isinstance(again, Recurrent) and again.digest() == rec.digest()
    assert np.array_equal(golden.sequences(again, x)[0], scores)


def test_native_round_trip_and_older_readers_refuse(tmp_path):
    model = random_recurrent(5, 9, [12, 8], k=[2, -4], classes=2, seed=7, readout="every")
    native.save(model, tmp_path / "r.lgn")
    again = native.load(tmp_path / "r.lgn")
    assert again.digest() == model.digest() and again.readout == "every"
    with np.load(tmp_path / "r.lgn") as f:
        arrays = dict(f)
    assert str(arrays["format"]) == "lgn2rtl-model/3"
    # a /2 reader accepts only /1 and /2: the format is what stops it, before any array
    np.savez(tmp_path / "as_v2.lgn.npz", **{**arrays, "format": np.array("lgn2rtl-model/2")})
    with pytest.raises(ModelError, match="'recurrent_n_x' belongs to a recurrent model, whose format is 'lgn2rtl-model/3'"):
        native.load(tmp_path / "as_v2.lgn.npz")


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(init=np.array([0, 1, 2, 0, 0, 0, 0, 0, 0, 0])), "recurrent init bit 2 is 2"),
    (lambda a: a.update(layer0_indices=a["layer0_indices"] + 100), r"array 'layer0_indices'\[0\]\[0\] is 1\d\d; the layer reads 16 bits"),
    (lambda a: a.update(readout=np.array("often")), "array 'readout' is 'often', not one of every, end"),
    (lambda a: a.update(classes=np.array(5)), "the last layer has 22 gates: 10 for the state leave 12, which do not split into 5 non-empty groups"),
])
def test_broken_layouts_get_one_line(tmp_path, change, message):
    save_layout(small_model(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelError, match="^[^\n]*$") as e:
        load_model(tmp_path / "bad.npz")
    assert re.search(message, str(e.value))
