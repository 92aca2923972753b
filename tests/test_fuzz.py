"""Fuzzing every reader through every command (issue 18).

Valid files of every format, and valid vectors, are mutated in ways that each make them
invalid: a field's dtype or number of dimensions, NaN and infinity, huge and negative
integers, a required array dropped, truncation, flipped bytes, duplicate and foreign zip
members, and for JSON wrong types, NaN tokens, duplicate keys, bad UTF-8 and deep nesting.
Every CLI command that reads the file runs on it in this process (click's CliRunner); each
case must end in exit 2 with exactly one line on stderr, no traceback, no input file changed
and nothing written. Commands that would run Yosys or a simulator are refused at the input,
so no case starts a tool. A few cases run as real subprocesses too.

Each test counts the cases it ran and asserts the count, so a run covers at least
CASES_PER_RUN cases (3,200: about 35 s on 2 cores).
"""
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import npzfiles
from inprocess import lgn2rtl
from lgn2rtl import native
from lgn2rtl.ir import Thermometer
from lgn2rtl.synthetic import random_network

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicate members are one of the mutations

CASES = {"npz models": 1500, "json models": 500, "vectors": 600, "bytes": 400, "build.json": 200}
CASES_PER_RUN = sum(CASES.values())


@dataclass(frozen=True)
class Field:
    """What a valid file may hold under one name: dtype kinds, numbers of dimensions, whether
    a huge or negative integer breaks it, whether it may be left out."""
    kinds: str
    ndims: tuple[int, ...]
    values_matter: bool = False
    required: bool = True


INT, INTS = Field("iu", (0,), True), Field("iu", (1,), True)
REAL = Field("iuf", (0,), required=True)
TEXT = Field("U", (0,))


def _native(net) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        native.save(net, Path(tmp) / "m.lgn")
        return npzfiles.arrays(Path(tmp) / "m.lgn")


def _native_schema(arrays: dict) -> dict:
    schema = {"format": TEXT, "n_inputs": INT, "n_layers": INT, "outputs": INTS, "classes": INT,
              "tau": REAL, "beta": REAL, "meta": TEXT}
    for key in arrays:
        if key.endswith("_inputs"):
            schema[key] = Field("iu", (2,), True)
        elif key.endswith("_tables"):  # 2-input LUTs: a negative or huge table is refused
            schema[key] = INTS
        elif key.endswith("_signs"):
            schema[key] = Field("biu", (2,), True)
        elif key.endswith("_thresholds"):  # any integer threshold is a valid neuron
            schema[key] = Field("iu", (1,))
    if "thresholds" in arrays:
        schema["thresholds"] = Field("iuf", (2,), required=False)
    return schema


def _with_encoder():
    """A 6-input network behind a thermometer of 3 features x 2 levels."""
    net = random_network(6, [6, 4], classes=2)
    net.encoder = Thermometer(np.sort(np.random.default_rng(1).random((3, 2)), axis=1))
    return net.validate()


def _bases() -> dict[str, tuple[dict, dict]]:
    """Valid model files as arrays, each with its schema."""
    luts = _native(random_network(6, [6, 4], classes=2))
    bnn_layers = _native(random_network(6, [4, 4], k=[-3, 2], classes=2))
    encoded = _native(_with_encoder())
    difflogic = dict(layer0_weights=np.eye(16, dtype=np.float32)[[1, 6, 7, 9]],
                     layer0_indices=np.array([[0, 1, 2, 3], [1, 2, 3, 0]]), group_k=np.array(2),
                     tau=np.array(1.0), thresholds=np.array([0.5, 1.5]), n_inputs=np.array(4))
    dwn = dict(dwn_format=np.array("lgn2rtl-dwn/1"), layer0_luts=np.array([[-1, 1, 1, -1]] * 4, np.float32),
               layer0_mapping=np.array([[0, 1], [1, 2], [2, 3], [3, 0]]), n_inputs=np.array(4),
               group_k=np.array(2), tau=np.array(1.0), group_perm=np.array([3, 2, 1, 0]))
    rng = np.random.default_rng(0)
    bnn = dict(bnn_format=np.array("lgn2rtl-bnn/1"), input_coding=np.array("pm1"),
               layer0_weight=rng.normal(size=(3, 4)).astype(np.float32), layer0_bias=np.zeros(3, np.float32),
               layer0_bn_mean=np.zeros(3, np.float32), layer0_bn_var=np.ones(3, np.float32),
               layer0_bn_eps=np.array(1e-5), layer1_weight=rng.normal(size=(2, 3)).astype(np.float32))
    real = lambda ndim, required=True: Field("iuf", (ndim,), required=required)  # noqa: E731
    return {
        "native": (luts, _native_schema(luts)),
        "native binarized": (bnn_layers, _native_schema(bnn_layers)),
        "native encoder": (encoded, _native_schema(encoded)),
        "difflogic": (difflogic, {"layer0_weights": Field("f", (2,)), "layer0_indices": Field("iu", (2,), True),
                                  "group_k": INT, "tau": REAL, "thresholds": Field("iuf", (1, 2), required=False),
                                  "n_inputs": Field("iu", (0,), True, required=False)}),
        "dwn": (dwn, {"dwn_format": TEXT, "layer0_luts": real(2), "layer0_mapping": Field("iu", (2,), True),
                      "n_inputs": INT, "group_k": INT, "tau": REAL,
                      "group_perm": Field("iu", (1,), True, required=False)}),
        "bnn": (bnn, {"bnn_format": TEXT, "input_coding": Field("U", (0,), required=False),
                      "layer0_weight": real(2), "layer0_bias": real(1, False), "layer0_bn_mean": real(1),
                      "layer0_bn_var": real(1), "layer0_bn_eps": real(0), "layer1_weight": real(2)}),
    }


BASES = _bases()
GOOD_JSON = {"n_inputs": 3,
             "gates": [{"gate_id": 3, "op": "AND", "in0": 0, "in1": 1}, {"gate_id": 4, "op": "XOR", "in0": 2, "in1": 3},
                       {"gate_id": 5, "op": "OR", "in0": 0, "in1": 2}, {"gate_id": 6, "op": "NAND", "in0": 4, "in1": 5}],
             "sum_nodes": [{"node_id": 9, "input_ids": [3, 4], "tau": 2.0, "beta": 0.5},
                           {"node_id": 10, "input_ids": [5, 6], "tau": 2.0, "beta": 0.5}],
             "outputs": [9, 10]}
WRONG_DTYPES = [np.bool_, np.int8, np.int64, np.uint16, np.float16, np.float64, np.complex64, "<U3", "S3",
                "datetime64[s]", "timedelta64[s]", object, [("a", "<i4")]]
HUGE_OR_NEGATIVE = [-1, -2, -(2**31), -(2**63), 2**31, 2**40, 2**62, 2**63 - 1]


def _dtype_kind(dtype) -> str:
    return np.dtype(dtype).kind


@st.composite
def broken_arrays(draw, arrays: dict, schema: dict, extra_names_ok: bool):
    """``arrays`` changed so that ``schema`` no longer holds, and the extra zip members to add."""
    arrays = dict(arrays)
    extra = []
    keys = sorted(schema)
    floats = [k for k in keys if "f" in schema[k].kinds and arrays[k].size]
    ints = [k for k in keys if schema[k].values_matter and arrays[k].size]
    how = draw(st.sampled_from(["dtype", "ndim", "drop", "duplicate", "foreign"] + ["nonfinite"] * bool(floats)
                               + ["huge"] * bool(ints)))
    if how == "dtype":
        key = draw(st.sampled_from(keys))
        dtype = draw(st.sampled_from([d for d in WRONG_DTYPES if _dtype_kind(d) not in schema[key].kinds]))
        arrays[key] = np.zeros(arrays[key].shape, dtype=dtype)
    elif how == "ndim":
        key = draw(st.sampled_from(keys))
        ndim = draw(st.sampled_from([n for n in range(4) if n not in schema[key].ndims]))
        shape = tuple(draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim)))
        arrays[key] = np.zeros(shape, dtype=arrays[key].dtype)
    elif how == "nonfinite":
        key = draw(st.sampled_from(floats))
        value = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        a = arrays[key].astype(arrays[key].dtype if arrays[key].dtype.kind == "f" else np.float64)
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = value
        arrays[key] = a
    elif how == "huge":
        key = draw(st.sampled_from(ints))
        a = arrays[key].astype(np.int64)
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(HUGE_OR_NEGATIVE))
        arrays[key] = a
    elif how == "drop":
        del arrays[draw(st.sampled_from([k for k in keys if schema[k].required]))]
    elif how == "duplicate":
        key = draw(st.sampled_from(keys))
        extra.append((f"{key}.npy", npzfiles.npy_bytes(draw(st.sampled_from([arrays[key], np.array(7)])))))
    else:
        names = st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=12)
        name = draw(names.filter(lambda n: not n.endswith(".npy")) | names.map(lambda n: f"sub/{n}.npy")
                    | (names.map(lambda n: f"zz{n}.npy") if not extra_names_ok else st.nothing()))
        extra.append((name, draw(st.binary(max_size=64))))
    return arrays, extra


@pytest.fixture(scope="module")
def work():
    """One directory for the whole module: each case overwrites its files (a fresh directory
    per hypothesis example would cost more than the case)."""
    with tempfile.TemporaryDirectory(prefix="lgn2rtl-fuzz-") as tmp:
        work = Path(tmp)
        native.save(random_network(6, [6, 4], classes=2), work / "good.lgn")
        native.save(_with_encoder(), work / "good_encoder.lgn")
        npzfiles.write(work / "good_vectors.npz", {"x": np.random.default_rng(0).integers(0, 2, (5, 6), dtype=np.uint8)})
        yield work


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


MODEL_COMMANDS = [
    ["info", "{m}"], ["import", "{m}", "-o", "{w}/out.lgn"], ["predict", "{m}", "--vectors", "{w}/good_vectors.npz"],
    ["predict", "{m}", "--vectors", "{w}/good_vectors.npz", "-o", "{w}/p.npz"], ["compile", "{m}", "-o", "{w}/out"],
    ["simulate", "{m}", "--random", "3"], ["simulate", "{m}", "--vectors", "{w}/good_vectors.npz", "-o", "{w}/s.json"],
    ["prove", "{m}", "-o", "{w}/p.json"], ["synth", "{m}", "-o", "{w}/syn"],
    ["build", "{m}", "--board", "icestick", "-o", "{w}/bld"],
    ["infer", "{m}", "--port", "loop://", "--vectors", "{w}/good_vectors.npz"],
]
VECTOR_COMMANDS = [
    ["predict", "{w}/good.lgn", "--vectors", "{m}"], ["predict", "{w}/good.lgn", "--vectors", "{m}", "-o", "{w}/p.npz"],
    ["simulate", "{w}/good.lgn", "--vectors", "{m}"], ["infer", "{w}/good.lgn", "--port", "loop://", "--vectors", "{m}"],
]


def refused(work: Path, target: Path, command: list[str]) -> None:
    """Run ``command`` on ``target``: exit 2, one line on stderr naming a cause, inputs unchanged, nothing written."""
    inputs = {p: _sha(p) for p in work.iterdir() if p.is_file()}
    before = _listing(work)
    args = [a.format(m=target, w=work) for a in command]
    r = lgn2rtl(*args)  # an exception escaping the CLI (a traceback for the user) fails here
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), (args, r.stderr)
    assert "Traceback" not in r.stderr
    assert {p: _sha(p) for p in inputs} == inputs, args
    assert _listing(work) == before, args


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                database=None)


def test_mutated_npz_models(work):
    count = []

    @settings(max_examples=CASES["npz models"], **SETTINGS)
    @given(st.data())
    def case(data):
        name = data.draw(st.sampled_from(sorted(BASES)))
        arrays, schema = BASES[name]
        arrays, extra = data.draw(broken_arrays(arrays, schema, extra_names_ok=False))
        target = npzfiles.write(work / "model.npz", arrays, extra)
        refused(work, target, data.draw(st.sampled_from(MODEL_COMMANDS)))
        count.append(name)

    case()
    assert len(count) >= CASES["npz models"] and set(count) == set(BASES)


def _json_text(doc) -> bytes:
    return json.dumps(doc).encode()


@st.composite
def broken_json(draw) -> bytes:
    """GOOD_JSON broken at one place."""
    doc = json.loads(json.dumps(GOOD_JSON))
    how = draw(st.sampled_from(["type", "number", "token", "dupkey", "utf8", "deep", "drop"]))
    gate, node = doc["gates"][draw(st.integers(0, 3))], doc["sum_nodes"][draw(st.integers(0, 1))]
    places = [(doc, "n_inputs"), (gate, "gate_id"), (gate, "in0"), (gate, "in1"), (gate, "op"),
              (node, "node_id"), (node, "tau"), (node, "beta"), (node, "input_ids"), (doc, "outputs"), (doc, "gates")]
    where, key = draw(st.sampled_from(places))
    if how == "type":  # a value of another JSON type than the schema's
        wrong = {"n_inputs": ["3", 3.5, None, [3]], "gate_id": ["3", 3.5, None], "in0": ["0", 0.5, None, {}],
                 "in1": ["1", True, []], "op": [7, None, ["AND"]], "node_id": ["9", 9.5], "tau": ["2", None, [2]],
                 "beta": ["0", {}], "input_ids": [3, "3", [3.5], [None]], "outputs": [9, "9", [9.5]], "gates": [{}, 5]}
        where[key] = draw(st.sampled_from(wrong[key]))
    elif how == "number":  # out of range: huge, negative, zero where it must be positive
        if key in ("tau",):
            where[key] = draw(st.sampled_from([0, -1.5, 1e301, -1e301]))
        elif key in ("n_inputs", "gate_id", "in0", "in1"):
            where[key] = draw(st.sampled_from([-2, -(10**20), 10**20, 2**63] + ([0, 2**30] if key == "n_inputs" else [])))
        else:
            doc["n_inputs"] = -draw(st.integers(1, 10**6))
    elif how == "token":
        text = _json_text(doc).replace(b'"tau": 2.0', b'"tau": ' + draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999"])), 1)
        return text
    elif how == "dupkey":
        return _json_text(doc).replace(b'"n_inputs": 3', b'"n_inputs": 3, "n_inputs": 3', 1)
    elif how == "utf8":
        text = _json_text(doc)
        at = draw(st.integers(0, len(text)))  # decoding comes first, so anywhere is refused
        return text[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc"])) + text[at:]
    elif how == "deep":
        depth = draw(st.sampled_from([65, 1000, 100_000]))
        where[key] = "@"
        return _json_text(doc).replace(b'"@"', b"[" * depth + b"]" * depth, 1)
    else:
        del doc[draw(st.sampled_from(["n_inputs", "gates", "outputs", "sum_nodes"]))]
    return _json_text(doc)


def test_mutated_json_models(work):
    count = []

    @settings(max_examples=CASES["json models"], **SETTINGS)
    @given(broken_json(), st.sampled_from(MODEL_COMMANDS))
    def case(text, command):
        (work / "model.json").write_bytes(text)
        refused(work, work / "model.json", command)
        count.append(1)

    case()
    assert len(count) >= CASES["json models"]


VECTORS_FOR = {  # for good.lgn (6 input bits, 2 classes), and raw features for good_encoder.lgn (3 features)
    "bits": ({"x": np.random.default_rng(2).integers(0, 2, (5, 6), dtype=np.uint8), "y": np.array([0, 1, 1, 0, 1]),
              "scores": np.zeros((5, 2), np.int64)},
             {"x": Field("biu", (2,), True), "y": Field("iu", (1,), True, required=False),
              "scores": Field("iu", (2,), required=False)}),
    "features": ({"features": np.random.default_rng(3).random((5, 3)), "y": np.array([1, 1, 0, 0, 1])},
                 {"features": Field("biuf", (2,)), "y": Field("iu", (1,), True, required=False)}),
}


@st.composite
def broken_vectors(draw):
    kind = draw(st.sampled_from(sorted(VECTORS_FOR)))
    arrays, schema = VECTORS_FOR[kind]
    how = draw(st.sampled_from(["generic", "features width"] if kind == "features" else
                               ["generic", "x width", "y length", "scores shape"]))
    if how == "generic":
        return kind, *draw(broken_arrays(arrays, schema, extra_names_ok=True))
    arrays = dict(arrays)
    n = draw(st.integers(0, 7))
    if how == "features width":
        arrays["features"] = np.zeros((5, draw(st.sampled_from([0, 1, 2, 4, 6]))))
    elif how == "x width":
        arrays["x"] = np.zeros((5, draw(st.sampled_from([0, 1, 5, 7, 64]))), np.uint8)
    elif how == "y length":
        arrays["y"] = np.zeros(draw(st.sampled_from([0, 1, 4, 6, 50])), np.int64)
    else:
        arrays["scores"] = np.zeros(draw(st.sampled_from([(5, 1), (5, 3), (4, 2), (n, 2) if n != 5 else (0, 2)])), np.int64)
    return kind, arrays, []


def test_mutated_vectors(work):
    count = []

    @settings(max_examples=CASES["vectors"], **SETTINGS)
    @given(broken_vectors(), st.sampled_from(VECTOR_COMMANDS))
    def case(mutated, command):
        kind, arrays, extra = mutated
        target = npzfiles.write(work / "vectors.npz", arrays, extra)
        refused(work, target, [a.replace("good.lgn", "good_encoder.lgn") if kind == "features" else a for a in command])
        count.append(1)

    case()
    assert len(count) >= CASES["vectors"]


def _member_data(path: Path) -> list[tuple[int, int]]:
    """(start, end) of each stored member's data in the zip file at ``path``."""
    spans, raw = [], path.read_bytes()
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            local = info.header_offset
            name_len, extra_len = int.from_bytes(raw[local + 26:local + 28], "little"), int.from_bytes(raw[local + 28:local + 30], "little")
            start = local + 30 + name_len + extra_len
            spans.append((start, start + info.compress_size))
    return spans


def test_truncated_and_flipped_files(work):
    """Any valid file cut short, or with a byte of an array's stored data changed (its CRC no longer matches)."""
    files = {name: npzfiles.write(work / f"base-{i}.npz", arrays) for i, (name, (arrays, _)) in enumerate(BASES.items())}
    files["json"] = work / "base-json.json"
    files["json"].write_bytes(_json_text(GOOD_JSON))
    files["vectors"] = npzfiles.write(work / "base-vectors.npz", VECTORS_FOR["bits"][0])
    sources = {name: path.read_bytes() for name, path in files.items()}
    for path in files.values():
        path.unlink()
    count = []

    @settings(max_examples=CASES["bytes"], **SETTINGS)
    @given(st.data())
    def case(data):
        name = data.draw(st.sampled_from(sorted(sources)))
        raw = bytearray(sources[name])
        suffix = ".json" if name == "json" else ".npz"
        if name != "json" and data.draw(st.booleans()):
            (work / f"base{suffix}").write_bytes(raw)
            start, end = data.draw(st.sampled_from(_member_data(work / f"base{suffix}")))
            at = data.draw(st.integers(start, end - 1))
            raw[at] ^= data.draw(st.integers(1, 255))
        else:
            raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
        target = work / f"broken{suffix}"
        target.write_bytes(bytes(raw))
        (work / f"base{suffix}").unlink(missing_ok=True)
        commands = VECTOR_COMMANDS if name == "vectors" else MODEL_COMMANDS
        refused(work, target, data.draw(st.sampled_from(commands)))
        count.append(1)

    case()
    assert len(count) >= CASES["bytes"]


@st.composite
def broken_build_json(draw) -> bytes:
    """lgn2rtl build's report for an icebreaker, broken at one place."""
    doc = {"board": "icebreaker", "bitstream": "top.bin", "fmax_mhz": 80.0}
    how = draw(st.sampled_from(["board", "bitstream", "top", "text"]))
    if how == "board":
        doc["board"] = draw(st.sampled_from([None, 5, ["icebreaker"], {"name": "icebreaker"}, "icestick", "", "ICEBREAKER"])
                            | st.text(max_size=20).filter(lambda b: b != "icebreaker"))
    elif how == "bitstream":
        doc["bitstream"] = draw(st.sampled_from([None, 5, 1.5, [], {}, "", ".", "..", "../top.bin", "/etc/passwd",
                                                 "top.bit", "missing.bin", "a\0b", "sub/../../top.bin"])
                                | st.text(st.characters(codec="ascii"), min_size=1, max_size=8).map(lambda t: f"/{t}"))
    elif how == "top":
        doc = draw(st.sampled_from([[], [doc], "icebreaker", 5, None]))
    else:
        text = json.dumps(doc).encode()
        return draw(st.sampled_from([text[:draw(st.integers(0, len(text) - 1))], text.replace(b"ice", b"\xffce"),
                                     text.replace(b'"board"', b'"board": "x", "board"'), b"[" * 10_000]))
    return json.dumps(doc).encode()


def test_mutated_build_json(work):
    """flash reads build.json, which any program (or person) may have written."""
    build = work / "build"
    build.mkdir()
    (build / "top.bin").write_bytes(b"\xff\x00")
    count = []

    @settings(max_examples=CASES["build.json"], **SETTINGS)
    @given(broken_build_json(), st.booleans())
    def case(text, dry_run):
        (build / "build.json").write_bytes(text)
        # without --dry-run the programmer is the next step: none is on this PATH, and it must not be reached
        refused(build, build, ["flash", "{m}", "--board", "icebreaker"] + ["--dry-run"] * dry_run)
        count.append(1)

    try:
        case()
    finally:
        shutil.rmtree(build)
    assert len(count) >= CASES["build.json"]


def test_good_bases_are_accepted(work):
    """The mutations break valid files: every base loads, and the vectors drive the model."""
    for name, (arrays, schema) in BASES.items():
        assert set(schema) == set(arrays), name
        r = lgn2rtl("info", npzfiles.write(work / "base.npz", arrays))
        assert r.returncode == 0, (name, r.stderr)
    (work / "base.json").write_bytes(_json_text(GOOD_JSON))
    assert lgn2rtl("info", work / "base.json").returncode == 0
    for kind, model in (("bits", "good.lgn"), ("features", "good_encoder.lgn")):
        r = lgn2rtl("predict", work / model, "--vectors", npzfiles.write(work / "v.npz", VECTORS_FOR[kind][0]))
        assert r.returncode == 0, r.stderr
    for path in (work / "base.npz", work / "base.json", work / "v.npz"):
        path.unlink()


@pytest.mark.parametrize("name", sorted(BASES))
def test_as_a_subprocess(work, tmp_path, name):
    """The same refusal from a real process: a NaN or a wrong dtype in each format."""
    arrays, schema = BASES[name]
    key = next(k for k in sorted(schema) if "f" in schema[k].kinds and arrays[k].size)
    model = npzfiles.write(tmp_path / "m.npz", {**arrays, key: np.full(arrays[key].shape, np.nan)})
    before = _sha(model)
    r = subprocess.run([sys.executable, "-m", "lgn2rtl", "compile", model, "-o", tmp_path / "out"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {model}"), r.stderr
    assert _sha(model) == before and not (tmp_path / "out").exists()
