"""The UART inference link (boards/link.py, boards/host.py) on a simulated board.

A compiled design behind :class:`Link` runs in Icarus; cocotb (sim/link_tb.py) drives real
serial waveforms into its ``rx`` and decodes its ``tx``. Every answer is checked against the
golden model. The host client talks to the same simulated board through a pseudo-terminal.
"""
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from conftest import REPO
from lgn2rtl import golden, native, synthetic
from lgn2rtl.features import FeatureFormat
from lgn2rtl.importers import load_model
from lgn2rtl.boards.host import Client, LinkError
from lgn2rtl.boards.link import BoardTop, Link, divisor
from lgn2rtl.boards.protocol import CRC, Format, Status
from lgn2rtl.errors import UserError
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.sim.link_runner import LinkBench
from lgn2rtl.sim.link_tb import CLOCK_NS

DIVISOR = 4          # the fastest the UART allows: 40 clocks per byte
TIMEOUT_BITS = 64    # short, so the timeout case costs little simulated time
HEARTBEAT_BITS = 64  # a 256-cycle heartbeat, to see it blink in a short run
ACTIVITY_BITS = 500  # longer than a digits request (400 bit times): lit while they stream
RESET_CYCLES = 4     # link_tb holds reset this long before the first byte


class Board:
    """A compiled network behind a Link, built for Icarus once per test module."""

    def __init__(self, net, tmp: Path, features=None, design=None, **link_options):
        self.net = net
        self.manifest = compile_design(net, tmp / "design", features=features, **(design or {}))
        self.fmt = Format.from_manifest(self.manifest)
        link = Link(self.manifest, DIVISOR, timeout_bits=TIMEOUT_BITS,
                    heartbeat_bits=HEARTBEAT_BITS, activity_bits=ACTIVITY_BITS, **link_options)
        top = verilog.convert(link, name="link_top", emit_src=False, strip_internal_attrs=True)
        self.bench = LinkBench(tmp / "design", self.manifest, top, tmp / "sim")

    def replay(self, stream: list[tuple[int, int, int]], expect_answers: int) -> dict:
        """Send (byte, stop bit, idle bits before) triples; collect the answer bytes."""
        byte, stop, gaps = (list(v) for v in zip(*stream))
        return self.bench.run("replay", {
            "divisor": DIVISOR, "bytes": byte, "stop": stop, "gaps": gaps,
            "expect": expect_answers * self.fmt.answer_bytes,
            "patience_bits": 100 * self.fmt.answer_bytes * 10,
            "linger_bits": ACTIVITY_BITS + 3 * HEARTBEAT_BITS})


def clean(frame: bytes, gap: int = 0) -> list[tuple[int, int, int]]:
    return [(b, 1, gap if i == 0 else 0) for i, b in enumerate(frame)]


def answers_of(board: Board, results: dict) -> list:
    assert all(stop == 1 for _, _, stop in results["received"]), "a tx byte had a low stop bit"
    return list(board.fmt.answers(bytearray(b for _, b, _ in results["received"])))


def crc7_mmc(words: list[int]) -> int:
    """CRC-7/MMC bit by bit (x^7 + x^3 + 1, 7-bit words fed MSB first), as the doc states."""
    reg = 0
    for word in words:
        for i in reversed(range(7)):
            feedback = (reg >> 6) ^ (word >> i) & 1
            reg = (reg << 1) & 0x7F ^ (0x09 if feedback else 0)
    return reg


def test_request_bytes_follow_the_protocol_doc():
    assert crc7_mmc([0]) == 0  # and the catalogue's check value, over 8-bit words:
    reg = 0
    for bit in (c >> i & 1 for c in b"123456789" for i in reversed(range(8))):
        reg = (reg << 1) & 0x7F ^ (0x09 if (reg >> 6) ^ bit else 0)
    assert reg == 0x75
    bits = [1, 0, 1, 1, 0, 0, 0, 1, 1, 1]
    payload = [5 >> i & 1 for i in range(8)] + bits + [0] * 3  # tag, inputs, zero padding
    chunks = [sum(b << i for i, b in enumerate(payload[j:j + 7])) for j in range(0, 21, 7)]
    frame = Format(input_bits=10, classes=3, class_bits=2, score_bits=3).request(5, np.array(bits))
    assert frame == bytes([0xA5, *chunks, crc7_mmc(chunks)]) == bytes.fromhex("a5 05 1a 0e 43")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return Board(native.load(REPO / "examples" / "digits.lgn"), tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def x_digits():
    return np.load(REPO / "examples" / "digits_vectors.npz")["x"][:12]


@pytest.fixture(scope="module")
def replayed(digits, x_digits):
    """Twelve requests back to back, four of them malformed in four different ways.

    Returns the stream, the expected (tag, status) of each answer, the stream index of the
    last byte of each intact request, and the bench's results.
    """
    fmt, x = digits.fmt, x_digits
    frame = [fmt.request(tag, x[tag]) for tag in range(len(x))]
    stream, last = [], {}

    def send(tag, triples):
        stream.extend(triples)
        last[tag] = len(stream) - 1

    bad_crc = bytearray(frame[2])
    bad_crc[10] ^= 0x01  # a data bit flips on the line
    send(0, clean(frame[0]))
    send(1, clean(frame[1]))
    stream.extend(clean(bytes(bad_crc)))
    send(3, clean(frame[3]))
    stream.extend(clean(frame[4][:10]))  # cut short by the next header
    send(5, clean(frame[5]))
    stream.extend(clean(frame[6][:7]) + [(frame[6][7], 0, 0)])  # a byte with a low stop bit,
    stream.extend(clean(frame[6][8:], gap=1))  # then the rest of the frame
    send(7, clean(frame[7]))
    stream.extend(clean(frame[8][:5]))  # the host stalls mid-frame
    send(9, clean(frame[9], gap=TIMEOUT_BITS + 10))
    stream.append((0x33, 1, 0))  # noise between frames
    send(10, clean(frame[10]))
    send(11, clean(frame[11]))
    expected = [(0, Status.OK), (1, Status.OK), (2, Status.CRC), (3, Status.OK),
                (4, Status.TRUNCATED), (5, Status.OK), (6, Status.FRAMING), (7, Status.OK),
                (8, Status.TIMEOUT), (9, Status.OK), (10, Status.OK), (11, Status.OK)]
    return stream, expected, last, digits.replay(stream, len(expected))


def test_every_answer_matches_the_golden_model(digits, x_digits, replayed):
    _, expected, _, results = replayed
    answers = answers_of(digits, results)
    assert [(a.tag, a.status) for a in answers] == expected
    scores, classes = golden.predict(digits.net, x_digits)
    for a in answers:
        if a.status == Status.OK:
            assert (a.klass, list(a.scores)) == (classes[a.tag], scores[a.tag].tolist()), a.tag
        else:
            assert (a.klass, set(a.scores)) == (0, {0})


def test_answers_stream_without_waiting(digits, replayed):
    """Each answer leaves as soon as its request is in: the design stays pipelined and an
    answer (shorter than a request) never waits for the one before it."""
    stream, expected, last, results = replayed
    cycle, ends = RESET_CYCLES, []
    for _, _, gap in stream:
        cycle += (gap + 10) * DIVISOR
        ends.append(cycle)
    headers = [c for c, b, _ in results["received"] if b == 0xDA]
    slack = digits.manifest["latency"] + 2 * DIVISOR + 8  # synchronizer, FSMs, FIFO
    for (tag, status), start in zip(expected, headers):
        if status == Status.OK:
            assert 0 < start - ends[last[tag]] <= slack, tag


def test_folded_design_answers_every_request_in_order(tmp_path, x_digits):
    """Folded layers behind the link: an AXI4-Stream design with a 32-clock interval and a
    latency past the flip-flop delay of the frame ends (their ring in block RAM)."""
    net = native.load(REPO / "examples" / "bnn_digits.lgn")
    board = Board(net, tmp_path, design={"fold": "8,32", "interface": "axis"})
    assert board.manifest["initiation_interval"] == 32 and board.manifest["latency"] > 16
    x = np.load(REPO / "examples" / "bnn_digits_vectors.npz")["x"][:6]
    frames = [board.fmt.request(tag, x[tag]) for tag in range(len(x))]
    broken = bytearray(frames[2])
    broken[-1] ^= 1  # a bad CRC: its error answer must keep its place between 1 and 3
    stream = [t for tag, f in enumerate(frames) for t in clean(bytes(broken) if tag == 2 else f)]
    answers = answers_of(board, board.replay(stream, len(frames)))
    assert [(a.tag, a.status) for a in answers] == [(t, Status.CRC if t == 2 else Status.OK) for t in range(6)]
    scores, classes = golden.predict(net, x)
    for a in answers:
        if a.status == Status.OK:
            assert (a.klass, list(a.scores)) == (classes[a.tag], scores[a.tag].tolist()), a.tag


def test_a_design_slower_than_the_requests_is_refused(digits):
    frame = digits.fmt.request_bytes * 10 * DIVISOR
    manifest = {**digits.manifest, "initiation_interval": frame + 1,
                "inputs": {**digits.manifest["inputs"], "ready": "s_axis_tready"}}
    with pytest.raises(UserError, match=rf"takes a sample every {frame + 1} clocks, and requests can arrive "
                                        rf"every {frame} \(a {digits.fmt.request_bytes}-byte frame\)"):
        Link(manifest, DIVISOR)


def test_led_lights_on_answers_and_blinks_when_idle(digits, replayed):
    results = replayed[-1]
    changes = results["led"]

    def led_at(cycle):
        return [v for c, v in changes if c <= cycle][-1]

    headers = [c for c, b, _ in results["received"] if b == 0xDA]
    assert all(led_at(c) == 1 for c in headers)
    # Between the first and the last of the last three answers requests streamed back to back.
    assert all(v == 1 for c, v in changes if headers[-3] <= c <= headers[-1])
    idle_since = headers[-1] + ACTIVITY_BITS * DIVISOR
    period = (1 << (HEARTBEAT_BITS - 1).bit_length()) * DIVISOR
    rises = [c for c, v in changes if v == 1 and c > idle_since]
    assert len(rises) >= 2 and {b - a for a, b in zip(rises, rises[1:])} == {period}


def test_host_parser_recovers_from_damaged_answers(digits, replayed):
    """The real board's answer bytes, damaged on the way: each damaged frame is reported as
    None and the frames after it still decode."""
    _, expected, _, results = replayed
    line = bytearray(b for _, b, _ in results["received"])
    n = digits.fmt.answer_bytes
    line[n + 5] ^= 0x04  # answer 1: a flipped bit
    del line[3 * n + 4]  # answer 3: a lost byte
    buffer, got = bytearray(), []
    for i in range(0, len(line), 5):  # as bytes trickle in from a serial port
        buffer += line[i:i + 5]
        got += digits.fmt.answers(buffer)
    assert got[1] is None and got[3] is None
    assert [(a.tag, a.status) for a in got if a is not None] == \
        [e for i, e in enumerate(expected) if i not in (1, 3)]


def test_answers_longer_than_requests_queue_without_loss(tmp_path):
    """16 inputs, 16 classes: an answer takes twice a request's time, so answers pile up."""
    net = synthetic.random_network(16, [64, 64], classes=16, seed=3)
    board = Board(net, tmp_path, depth=24)
    fmt = board.fmt
    assert fmt.answer_bytes >= 2 * fmt.request_bytes
    x = np.random.default_rng(4).integers(0, 2, size=(24, 16), dtype=np.uint8)
    stream = [triple for tag in range(len(x)) for triple in clean(fmt.request(tag, x[tag]))]
    results = board.replay(stream, len(x))
    answers = answers_of(board, results)
    headers = [c for c, b, _ in results["received"] if b == 0xDA]
    assert {b - a for a, b in zip(headers, headers[1:])} == {fmt.answer_bytes * 10 * DIVISOR}
    scores, classes = golden.predict(net, x)
    assert [a.tag for a in answers] == list(range(len(x)))
    assert [(a.klass, list(a.scores)) for a in answers] == \
        [(c, s.tolist()) for c, s in zip(classes, scores)]


def over_pty(board: Board, tmp_path: Path, host, flip=()):
    """Run ``host(port)`` against ``board`` simulated behind a pty; returns its result and the
    bench's results."""
    pty_file = tmp_path / "pty"
    job = {"divisor": DIVISOR, "pty_file": str(pty_file), "seconds": 120, "flip": list(flip)}
    results = {}
    sim = threading.Thread(target=lambda: results.update(board.bench.run("bridge", job)))
    start = time.monotonic()
    sim.start()
    try:
        while not pty_file.exists() and sim.is_alive():
            time.sleep(0.05)
        assert pty_file.exists(), "the simulation did not open a pseudo-terminal"
        got = host(pty_file.read_text())
    finally:
        sim.join()
    assert results["closed"] and time.monotonic() - start < 60
    return got, results


def classify_over_pty(board: Board, x, tmp_path: Path, flip=()):
    """The real Client on a pty; returns what it got, the client and the bench's results."""
    def host(port):
        with Client(port, board.fmt, timeout=30) as client:
            return client.classify(x), client
    ((classes, scores), client), results = over_pty(board, tmp_path, host, flip)
    return classes, scores, client, results


def test_host_client_through_a_pseudo_terminal(digits, x_digits, tmp_path):
    """One byte is damaged on the way to the board, so the client must resend that sample."""
    x = x_digits[:6]
    flip = digits.fmt.request_bytes + 12  # a data byte of the second request
    classes, scores, client, results = classify_over_pty(digits, x, tmp_path, flip=[flip])
    want_scores, want_classes = golden.predict(digits.net, x)
    assert classes.tolist() == want_classes.tolist()
    assert scores.tolist() == want_scores.tolist()
    assert client.stats == {"sent": 7, "resent": 1, "CRC": 1}
    assert results["bytes_in"] == 7 * digits.fmt.request_bytes


def test_request_of_raw_features_carries_their_codes():
    codes = [3, 17, 0]
    with_features = Format(input_bits=15, classes=3, class_bits=2, score_bits=3, features=FeatureFormat(3, 5))
    bits = np.array([(c >> b) & 1 for c in codes for b in range(5)])  # feature f at bus bits [5f, 5f+5)
    assert with_features.request(9, np.array(codes)) == Format(15, 3, 2, 3).request(9, bits)


@pytest.fixture(scope="module")
def encoder_board(fixture_dir, tmp_path_factory):
    """The fixture's digits model with the encoder on chip: 5-bit pixel codes, 320 input bits."""
    net = load_model(fixture_dir / "difflogic_layout.npz")
    return Board(net, tmp_path_factory.mktemp("encoder"), features=FeatureFormat.for_network(net, bits=5))


def test_host_client_sends_raw_features(encoder_board, digits_features, tmp_path):
    """A design with the encoder on chip behind the link: the frames carry 5-bit pixel codes,
    sized and packed from its manifest alone, and the answers match the golden model's raw path."""
    board, net = encoder_board, encoder_board.net
    assert board.fmt.features == FeatureFormat(64, 5) and board.fmt.input_bits == 320
    x = digits_features[:8]
    assert x.max() == 16  # beyond 4 bits, which the default width would refuse
    classes, scores, client, results = classify_over_pty(board, x, tmp_path)
    want_scores, want_classes = golden.predict_features(net, x)
    assert classes.tolist() == want_classes.tolist() and scores.tolist() == want_scores.tolist()
    assert client.stats == {"sent": 8} and results["bytes_in"] == 8 * board.fmt.request_bytes
    with pytest.raises(ValueError, match="feature codes span 0..32"):
        client.classify(np.r_[x[:1], [[32] * 64]])


def test_client_without_a_device_says_so():
    with pytest.raises(LinkError, match="could not open port /dev/nonexistent"):
        Client("/dev/nonexistent", Format(8, 2, 1, 4))


def test_client_times_out_when_nothing_answers():
    with pytest.raises(LinkError, match="no answer from the board on loop://"):
        # A loopback port hears only its own requests, which are no answers.
        Client("loop://", Format(8, 2, 1, 4), timeout=0.2).classify(np.zeros((3, 8), np.uint8))


def test_client_times_out_when_the_board_repeats_a_stale_answer():
    """A board that answers forever, but never a request in flight, must not keep the client waiting."""
    fmt = Format(8, 2, 1, 4)
    chunks = [(200 >> (7 * i)) & 0x7F for i in range(fmt.answer_chunks)]  # tag 200, status OK, zeros
    frame = bytes([0xDA, *chunks, CRC.compute(chunks)])

    class Chatty:
        in_waiting = len(frame)
        def read(self, n): return frame
        def write(self, data): pass
        def close(self): pass

    client = Client("loop://", fmt, timeout=0.2)
    client.serial = Chatty()
    outcome = []
    def classify():
        try:
            client.classify(np.zeros((3, 8), np.uint8))
        except LinkError as e:
            outcome.append(str(e))
    worker = threading.Thread(target=classify, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the client kept waiting on stale answers"
    assert outcome and "failed 4 times" in outcome[0], outcome


@pytest.mark.parametrize("platform_name", ["ICEBreakerPlatform", "ULX3S_85F_Platform"])
def test_board_top_elaborates_on_real_platforms(digits, tmp_path, platform_name):
    import amaranth_boards.icebreaker
    import amaranth_boards.ulx3s
    platform = getattr(amaranth_boards.icebreaker if "ICE" in platform_name
                       else amaranth_boards.ulx3s, platform_name)()
    design = Path(digits.bench.build_dir).parent / "design"
    plan = platform.prepare(BoardTop(design, digits.manifest), name="top")
    files = plan.files
    assert {"lgn_top.v", "lgn_core.v"} <= set(files)
    constraints = next(text for name, text in files.items() if name.endswith((".pcf", ".lpf")))
    assert "uart_0__rx" in constraints and "uart_0__tx" in constraints
    assert "led_0" in constraints


def test_a_clock_that_cannot_make_the_baud_rate_is_refused():
    assert divisor(12e6, 115200) == 104
    with pytest.raises(UserError, match="cannot make 115200 baud"):
        divisor(300e3, 115200)


def test_infer_command_with_the_encoder(encoder_board, fixture_dir, digits_features, tmp_path):
    """`lgn2rtl infer --encoder` reads raw features from a vectors file and sends their codes."""
    y = np.load(fixture_dir / "vectors.npz")["y"][:5]
    np.savez(tmp_path / "v.npz", features=digits_features[:5], y=y)

    def host(port):
        return subprocess.run([sys.executable, "-m", "lgn2rtl", "infer", fixture_dir / "difflogic_layout.npz",
                               "--encoder", "--feature-bits", "5", "--port", port, "--vectors", tmp_path / "v.npz"],
                              capture_output=True, text=True, timeout=60)
    r, results = over_pty(encoder_board, tmp_path, host)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "agreement with the golden model 100.00% (0 of 5 differ)" in r.stdout
    assert results["bytes_in"] == 5 * encoder_board.fmt.request_bytes
