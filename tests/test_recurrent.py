"""Recurrent cells: the IR's checks and the golden model over sequences."""
from dataclasses import replace

import numpy as np
import pytest

from lgn2rtl import golden
from lgn2rtl.ir import Binarized, ModelError
from lgn2rtl.synthetic import random_recurrent


def reference(model, x):
    """Step by step, one sequence and one signal at a time, straight from docs/semantics.md."""
    cell = model.cell
    scores = np.zeros((*x.shape[:2], model.head.classes), dtype=np.int64)
    for s, seq in enumerate(x):
        h = model.init.astype(int).tolist()
        for t, token in enumerate(seq):
            sig = [int(b) for b in token] + h
            for layer in cell.layers:
                for j in range(len(layer)):
                    ins = [sig[i] for i in layer.inputs[j]]
                    if isinstance(layer, Binarized):
                        agree = sum(int(v == w) for v, w in zip(ins, layer.signs[j]))
                        sig.append(int(agree >= layer.thresholds[j]))
                    else:
                        sig.append((int(layer.tables[j]) >> sum(v << m for m, v in enumerate(ins))) & 1)
            out = [sig[i] for i in cell.outputs]
            g = cell.group_size
            scores[s, t] = [sum(out[c * g:(c + 1) * g]) for c in range(model.head.classes)]
            h = [sig[i] for i in model.state]
    return scores


@pytest.mark.parametrize("k", [2, [3, -5, 2]])
def test_golden_equals_a_step_by_step_reference(k):
    model = random_recurrent(5, 7, [12, 10, 6], k=k, classes=3, seed=4)
    x = np.random.default_rng(0).integers(0, 2, size=(70, 6, 5), dtype=np.uint8)  # 70: two packed words
    scores, states = golden.sequences(model, x)
    assert np.array_equal(scores, reference(model, x))
    # h_t feeds step t+1: running the tail from the states reached gives the same scores
    tail = replace(model, init=states[3, 2])
    assert np.array_equal(golden.sequences(tail, x[3:4, 3:])[0], scores[3:4, 3:])


def test_state_matters():
    """A model whose scores ignored h would pass the tests above trivially for k=2 seeds."""
    model = random_recurrent(4, 6, [10, 4], classes=2, seed=1)
    x = np.random.default_rng(2).integers(0, 2, size=(200, 5, 4), dtype=np.uint8)
    scores, _ = golden.sequences(model, x)
    flipped, _ = golden.sequences(replace(model, init=1 - model.init), x)
    assert not np.array_equal(scores, flipped)


@pytest.mark.parametrize("change, message", [
    (dict(n_x=0), "token bits n_x must be a positive integer, got 0"),
    (dict(n_x=6), "the cell reads 11 inputs but x_t (6 bits) and h_t-1 (6 bits) make 12"),
    (dict(init=np.array([0, 1, 2, 0, 0, 0])), "recurrent init bit 2 is 2"),
    (dict(init=np.zeros(0, dtype=np.uint8)), "the state is empty"),
    (dict(state=np.array([20, 21, 22])), "state names 3 next-state signals but init has 6 bits"),
    (dict(state=np.array([20, 21, 22, 23, 24, 999])), "state bit 5: signal 999 is out of range"),
    (dict(readout="sometimes"), "readout 'sometimes' is not one of every, end"),
])
def test_inconsistent_models_are_refused_in_one_line(change, message):
    model = random_recurrent(5, 6, [10, 4], seed=3)
    with pytest.raises(ModelError, match="^[^\n]*$") as e:
        replace(model, **change).validate()
    assert message in str(e.value)


def test_sequences_of_the_wrong_width_are_refused():
    model = random_recurrent(5, 6, [10, 4], seed=3)
    with pytest.raises(ModelError, match=r"shape \[N, T, 5\], got \[2, 3, 4\]"):
        golden.sequences(model, np.zeros((2, 3, 4), dtype=np.uint8))
