"""compile --interface axis: the design behind AXI4-Stream ports, checked with cocotbext-axi's
source and sink under random pauses on both sides (sim/tb.py, check_axis_design)."""

import numpy as np
import pytest

from lgn2rtl import golden
from lgn2rtl.hdl import axis, emit
from lgn2rtl.ir import Layer, Network
from lgn2rtl.manifest import ManifestError, validate
from lgn2rtl.sim.runner import simulate
from lgn2rtl.synthetic import random_network

SAMPLES = 300


@pytest.fixture(scope="module")
def net():
    return random_network(24, [40, 32, 24], k=2, classes=4, seed=5)


def _check(net, tmp_path, samples: int = SAMPLES, seed: int = 1):
    design = tmp_path / "design"
    m = emit.compile_design(net, design, part="ice40-up5k", interface="axis")
    x = np.random.default_rng(seed).integers(0, 2, size=(samples, net.n_inputs), dtype=np.uint8)
    scores, classes = golden.predict(net, x)
    return m, simulate(design, x, scores, classes, build_dir=tmp_path / "sim", seed=seed)


def test_every_answer_in_order_under_backpressure(net, tmp_path):
    m, r = _check(net, tmp_path)
    assert r.ok, r.errors
    assert (r.checked, r.mismatches) == (SAMPLES, 0)
    # the answer FIFO adds its two cycles to the core's latency, and an idle master port sees them
    assert m["latency"] == m["pipeline"]["core"] + m["pipeline"]["groupsum"] + m["pipeline"]["argmax"] + 2
    assert r.latency_measured == m["latency"]
    # both sides pause 30 % of cycles: the run takes longer than one sample per clock
    assert r.cycles > SAMPLES * 1.2


def test_manifest_names_the_axi_ports(net, tmp_path):
    m = emit.compile_design(net, tmp_path / "d", part="ice40-up5k", interface="axis")
    assert m["interface"] == "axis"
    assert (m["inputs"]["valid"], m["inputs"]["ready"], m["inputs"]["data"]["name"], m["inputs"]["last"]) == \
        ("s_axis_tvalid", "s_axis_tready", "s_axis_tdata", "s_axis_tlast")
    assert (m["outputs"]["scores"]["name"], m["outputs"]["class"]["name"], m["outputs"]["ready"]) == \
        ("m_axis_tdata", "m_axis_tuser", "m_axis_tready")
    verilog = (tmp_path / "d" / "lgn_top.v").read_text()
    header = verilog[verilog.index("module lgn_top("):verilog.index(");")]
    assert sorted(header.removeprefix("module lgn_top(").split(", ")) == sorted(
        ["clk", "rst", *axis.PORTS["inputs"].values(), *axis.PORTS["outputs"].values()])
    native = emit.compile_design(net, tmp_path / "n", part="ice40-up5k")
    assert native["interface"] == "native" and native["inputs"]["ready"] is None


def test_manifest_latency_must_include_the_fifo(net, tmp_path):
    m = emit.compile_design(net, tmp_path / "d", part="ice40-up5k", interface="axis")
    with pytest.raises(ManifestError, match="do not add up"):
        validate({**m, "pipeline": {**m["pipeline"], "answer_fifo": 0}}, "test")
    with pytest.raises(ManifestError, match="interface"):
        validate({**m, "interface": "axi-lite"}, "test")


class _NoCredit(axis.AxisTop):
    """Takes a sample whenever one is offered, whether or not its answer will find room."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.s_axis_tready.eq(1)  # the last assignment in a module wins
        return m


class _NoLast(axis.AxisTop):
    """Forgets the samples' TLAST."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.tlast.i.eq(0)
        return m


@pytest.mark.parametrize("broken, says", [(_NoCredit, "produced no output"), (_NoLast, "never ended")])
def test_a_broken_wrapper_fails_the_check(net, tmp_path, monkeypatch, broken, says):
    monkeypatch.setattr(emit, "AxisTop", broken)
    _, r = _check(net, tmp_path, samples=120)
    assert not r.ok
    assert any(says in e for e in r.errors), r.errors


def test_a_wrong_gate_fails_the_check(net, tmp_path):
    """The golden model of the network, the design of it with the first truth-table bit flipped
    that changes a score on these samples."""
    x = np.random.default_rng(2).integers(0, 2, size=(200, net.n_inputs), dtype=np.uint8)
    scores, classes = golden.predict(net, x)
    layer = net.layers[-1]
    for node, bit in ((n, b) for n in range(len(layer)) for b in range(4)):
        tables = layer.tables.copy()
        tables[node] ^= np.uint64(1 << bit)
        bad = Network(net.n_inputs, net.layers[:-1] + [Layer(layer.inputs, tables)], net.outputs, net.head)
        if not np.array_equal(golden.scores(bad, x), scores):
            break
    emit.compile_design(bad, tmp_path / "design", part="ice40-up5k", interface="axis")
    r = simulate(tmp_path / "design", x, scores, classes, build_dir=tmp_path / "sim", seed=2)
    assert not r.ok and r.mismatches > 0
