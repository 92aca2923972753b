"""Recurrent designs in cocotb (Icarus): interleaved sequences of many lengths, bubbles and resets,
every answer checked against the golden model step by step."""
from dataclasses import replace

import numpy as np
import pytest

from lgn2rtl import golden
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.ir import Layer
from lgn2rtl.sim.interleave import IDLE, RESET, drive, program
from lgn2rtl.sim.runner import simulate_program
from lgn2rtl.synthetic import random_recurrent


def sequences(model, n=40, steps=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, size=(n, steps, model.n_x), dtype=np.uint8), rng.integers(1, steps + 1, size=n)


def check(model, tmp_path, expect=None, **options):
    """Compile ``model``, drive sequences through it and check the answers against ``expect``'s
    golden model (``model``'s by default)."""
    manifest = compile_design(model, tmp_path / "design", part="ecp5-85k", **options)
    x, lengths = sequences(model)
    p, tokens, scores = drive(expect or model, x, lengths, manifest, seed=3)
    return manifest, p, simulate_program(tmp_path / "design", p, tokens, scores, build_dir=tmp_path / "sim")


@pytest.mark.parametrize("readout, pipeline, interleave", [
    ("every", 9, 1),  # no register inside the core: the combinational cell
    ("end", 9, 1),
    ("every", 1, 4),  # a register after every layer of four: four sequences take turns
    ("end", 2, 2),
])
def test_interleaved_sequences_match_the_golden_model(tmp_path, readout, pipeline, interleave):
    model = random_recurrent(6, 9, [24, 20, 16, 12], k=[2, 3, 2, 2], classes=3, seed=5, readout=readout)
    manifest, p, result = check(model, tmp_path, pipeline=pipeline, opt=False)
    assert manifest["recurrent"]["interleave"] == interleave
    assert manifest["pipeline"]["core"] == interleave - 1
    assert result.errors == [] and result.checked == len(p.answers) > 30
    assert result.latency_measured == manifest["latency"]
    # one token a clock: the program kept every slot busy except for its bubbles and resets
    assert np.mean(p.clocks >= 0) > 0.6


def test_one_token_every_clock(tmp_path):
    """Without bubbles every clock carries a token while sequences are waiting, whatever the interleave."""
    model = random_recurrent(6, 9, [24, 20, 16, 12], k=[2, 3, 2, 2], classes=3, seed=5, readout="every")
    manifest = compile_design(model, tmp_path / "design", part="ecp5-85k", pipeline=1, opt=False)
    x, lengths = sequences(model, n=60)
    p, tokens, scores = drive(model, x, lengths, manifest, seed=3, bubble=0)
    result = simulate_program(tmp_path / "design", p, tokens, scores, build_dir=tmp_path / "sim")
    assert manifest["recurrent"]["interleave"] == 4 and result.errors == [] and result.checked == len(tokens)
    first = p.clocks[:np.argmax(p.clocks == RESET)]  # phase 1, up to its reset
    busy = first[:np.flatnonzero(first >= 0)[-1] + 1]  # up to its last token
    assert np.mean(busy >= 0) > 0.9  # idle only where a slot's sequences ran out before the others'


def test_optimized_cell_with_binarized_layer(tmp_path):
    model = random_recurrent(6, 12, [20, 16, 10], k=[2, -5, 2], classes=2, seed=8, readout="every")
    manifest, p, result = check(model, tmp_path, pipeline=1)
    assert manifest["recurrent"]["interleave"] > 1
    assert result.errors == [] and result.checked == len(p.answers)


def test_a_mutated_state_gate_fails(tmp_path):
    """A flipped truth-table bit in a gate only the next state reads: the head sees it a step later."""
    model = random_recurrent(6, 9, [24, 16, 12], classes=3, seed=5, readout="every")
    cell = model.cell
    start = int(cell.layer_starts[1])
    only_state = np.setdiff1d(model.state[(model.state >= start) & (model.state < start + len(cell.layers[1]))],
                              np.concatenate([cell.outputs, cell.layers[2].inputs.ravel()]))
    j = int(only_state[0]) - start
    tables = cell.layers[1].tables.copy()
    tables[j] ^= np.uint64(0b0110)
    layers = [*cell.layers[:1], Layer(cell.layers[1].inputs, tables), *cell.layers[2:]]
    mutant = replace(model, cell=replace(cell, layers=layers))
    _, _, result = check(mutant, tmp_path, expect=model, pipeline=1, opt=False)
    assert result.mismatches > 0 and not result.ok
    assert any("differ from the expected" in e for e in result.errors)


def test_program_deals_sequences_to_slots():
    lengths = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    p = program(lengths, interleave=3, readout="end", latency=5, seed=2, phases=2)
    assert np.sum(p.clocks == RESET) == 4
    tokens = np.flatnonzero(p.clocks >= 0)
    for s in np.unique(p.sequence):
        clocks = tokens[p.sequence[p.clocks[tokens]] == s]
        assert np.all(np.diff(clocks) % 3 == 0)  # a sequence keeps its slot
        assert np.array_equal(p.step[p.clocks[clocks]], np.arange(len(clocks)))  # in order, none skipped
    assert np.array_equal(p.answers, np.flatnonzero(p.last))
    assert IDLE in p.clocks


def test_a_1024_bit_state_compiles_and_simulates(tmp_path):
    model = random_recurrent(32, 1024, [1536, 1280], classes=4, seed=11, readout="every")
    manifest = compile_design(model, tmp_path / "design", part="ecp5-85k", pipeline=1)
    assert manifest["recurrent"]["state_bits"] == 1024 and manifest["recurrent"]["interleave"] == 2
    x, lengths = sequences(model, n=24, steps=6)
    p, tokens, scores = drive(model, x, lengths, manifest, seed=2)
    result = simulate_program(tmp_path / "design", p, tokens, scores, build_dir=tmp_path / "sim")
    assert result.errors == [] and result.checked == len(p.answers) > 50
    # the state is live: another h_0 changes the answers
    assert not np.array_equal(golden.sequences(replace(model, init=1 - model.init), x)[0], golden.sequences(model, x)[0])
