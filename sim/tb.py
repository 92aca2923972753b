"""cocotb testbench: drive every sample through a compiled design, check every output.

Run by :func:`lgn2rtl.sim.runner.simulate`. The job comes in the ``.npz`` named by
``LGN2RTL_SIM_VECTORS``: ``x`` (each sample's input bits packed little-endian, uint8
[N, ceil(width/8)]), ``scores`` [N, classes], ``classes`` [N], ``manifest`` (the manifest
JSON text), ``gaps`` and ``seed``. The results go, as JSON, to the file named by
``LGN2RTL_SIM_RESULTS``: ``samples``, ``checked``, ``mismatches``, ``first_mismatch``,
``latency_expected``, ``latency_measured``, ``cycles`` and ``errors``.

Inputs are driven and outputs sampled on the falling clock edge, half a period away from
the rising edge where the design samples, so nothing races the design's registers. This
needs registered outputs (latency >= 1) and, if the design has a ready port, a ready that
does not depend combinationally on the inputs.

A design with AXI4-Stream ports (manifest ``interface`` ``axis``) is checked by
``check_axis_design`` instead: cocotbext-axi's source sends the samples in frames of random
length, its sink takes the answers, both pausing at random, and every answer must come in
order, equal, with its frame's ``tlast``; the latency is the shortest from a sample taken
to its answer given.

A streaming design (manifest ``stream``) is checked by ``check_stream_design``: each sample
is an image, sent as its pixels (``image_pixels``).
"""

import json
import os
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, SimTimeoutError, with_timeout

__all__ = ["VECTORS_ENV", "RESULTS_ENV", "TESTS", "STREAM_TEST", "check_design", "check_axis_design",
           "check_recurrent_design", "check_stream_design", "image_pixels"]

VECTORS_ENV = "LGN2RTL_SIM_VECTORS"
RESULTS_ENV = "LGN2RTL_SIM_RESULTS"

CLOCK_NS = 10
RESET_CYCLES = 4
GAP_PROBABILITY = 0.25
AXIS_PAUSE_PROBABILITY = 0.3  # of tvalid low at the source and of tready low at the sink, per cycle
AXIS_FRAME = 8  # the longest frame (samples between tlast) the AXI4-Stream source sends


@dataclass(frozen=True)
class _Job:
    """The expected behaviour, with each sample's inputs and scores packed into one int."""

    x: list[int]
    scores: list[int]
    classes: list[int]
    manifest: dict
    gaps: bool
    seed: int

    @property
    def latency(self) -> int:
        return self.manifest["latency"]

    @property
    def bits_per_class(self) -> int:
        return self.manifest["outputs"]["scores"]["bits_per_class"]

    @classmethod
    def load(cls, path: str) -> "_Job":
        with np.load(path) as f:
            manifest = json.loads(str(f["manifest"]))
            bpc = manifest["outputs"]["scores"]["bits_per_class"]
            return cls(
                x=[int.from_bytes(row.tobytes(), "little") for row in f["x"]],
                scores=[sum(int(s) << (c * bpc) for c, s in enumerate(row)) for row in f["scores"]],
                classes=[int(c) for c in f["classes"]],
                manifest=manifest,
                gaps=bool(f["gaps"]),
                seed=int(f["seed"]),
            )

    def unpack_scores(self, packed: int | None) -> list[int] | None:
        if packed is None:
            return None
        mask = (1 << self.bits_per_class) - 1
        return [(packed >> (c * self.bits_per_class)) & mask for c in range(self.manifest["classes"])]


@dataclass
class _Checker:
    """Pairs each o_valid pulse with the oldest sample in flight and records what differs."""

    job: _Job
    in_flight: deque = field(default_factory=deque)  # (index, cycle) of accepted samples
    checked: int = 0
    mismatches: int = 0
    first_mismatch: dict | None = None
    latency: int | None = None  # the expected value until some sample deviates
    stalls: bool = False  # backpressure delays answers: then latency is the shortest seen
    later: bool = False  # answers may come later than the latency, never earlier (streaming with gaps)
    extra_cycles: list[int] = field(default_factory=list)
    unknown_valid_cycles: list[int] = field(default_factory=list)

    def accept(self, index: int, cycle: int) -> None:
        self.in_flight.append((index, cycle))

    def output(self, cycle: int, scores: int | None, klass: int | None) -> None:
        if not self.in_flight:
            self.extra_cycles.append(cycle)
            return
        index, start = self.in_flight.popleft()
        self.checked += 1
        if self.stalls:
            self.latency = min(self.latency or cycle - start, cycle - start)
        elif self.latency in (None, self.job.latency):
            self.latency = cycle - start
        if scores != self.job.scores[index] or klass != self.job.classes[index]:
            self.mismatches += 1
            if self.first_mismatch is None:
                self.first_mismatch = {
                    "index": index,
                    "expected_scores": self.job.unpack_scores(self.job.scores[index]),
                    "got_scores": self.job.unpack_scores(scores),
                    "expected_class": self.job.classes[index],
                    "got_class": klass,
                }

    def results(self, cycles: int, accepted: int, errors: list[str] = ()) -> dict:
        """What the testbench reports (``SimResult``'s fields but ``seconds`` and ``simulator``)."""
        return {"samples": len(self.job.x), "checked": self.checked, "mismatches": self.mismatches,
                "first_mismatch": self.first_mismatch, "latency_expected": self.job.latency,
                "latency_measured": self.latency, "cycles": cycles, "errors": [*errors, *self.errors(accepted)]}

    def errors(self, accepted: int) -> list[str]:
        """Human-readable reasons the run failed; empty if it passed."""
        n, m = len(self.job.x), self.job.manifest
        errors = []
        if accepted < n:
            errors.append(f"the design accepted only {accepted} of {n} samples "
                          f"({m['inputs']['ready']} stayed low)")
        if self.checked < accepted:
            errors.append(f"{accepted - self.checked} of {accepted} samples produced no output "
                          f"({m['outputs']['valid']} never rose for them)")
        if self.mismatches:
            errors.append(f"{self.mismatches} of {self.checked} outputs differ from the expected "
                          f"ones, first at sample {self.first_mismatch['index']}")
        if self.latency not in (None, self.job.latency) and not (self.later and self.latency > self.job.latency):
            errors.append(f"latency is {self.latency} cycles, the manifest says {self.job.latency}")
        if self.extra_cycles:
            errors.append(f"{m['outputs']['valid']} was high in {len(self.extra_cycles)} cycles "
                          f"with no sample in flight, first at cycle {self.extra_cycles[0]}")
        if self.unknown_valid_cycles:
            errors.append(f"{m['outputs']['valid']} was X/Z in {len(self.unknown_valid_cycles)} "
                          f"cycles, first at cycle {self.unknown_valid_cycles[0]}")
        return errors


def _read(handle) -> int | None:
    """The handle's value as an unsigned int, or None if any bit is X or Z."""
    try:
        # int(), not .to_unsigned(): Icarus hands out a 1-bit vector port as a scalar Logic.
        return int(handle.value)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Ports:
    clock: object
    reset: object
    i_valid: object
    i_ready: object | None
    i_data: object
    o_valid: object
    o_class: object
    o_scores: object

    @classmethod
    def of(cls, dut, manifest: dict) -> "_Ports":
        ins, outs = manifest["inputs"], manifest["outputs"]
        return cls(
            clock=getattr(dut, manifest["clock"]),
            reset=getattr(dut, manifest["reset"]),
            i_valid=getattr(dut, ins["valid"]),
            i_ready=getattr(dut, ins["ready"]) if ins.get("ready") else None,
            i_data=getattr(dut, ins["data"]["name"]),
            o_valid=getattr(dut, outs["valid"]),
            o_class=getattr(dut, outs["class"]["name"]),
            o_scores=getattr(dut, outs["scores"]["name"]),
        )

    def check_widths(self, manifest: dict) -> None:
        """Fail early and clearly if the RTL's ports disagree with the manifest."""
        ins, outs = manifest["inputs"], manifest["outputs"]
        for port, spec in [(self.i_data, ins["data"]), (self.o_class, outs["class"]),
                           (self.o_scores, outs["scores"])]:
            assert len(port) == spec["width"], (
                f"port {spec['name']} is {len(port)} bits wide, the manifest says {spec['width']}")


async def _reset(ports: _Ports) -> None:
    ports.reset.value = 1
    ports.i_valid.value = 0
    ports.i_data.value = 0
    for _ in range(RESET_CYCLES):
        await FallingEdge(ports.clock)
    ports.reset.value = 0


async def _run(dut, job: _Job) -> dict:
    """Drive all samples and collect all outputs; return the results dict."""
    ports = _Ports.of(dut, job.manifest)
    ports.check_widths(job.manifest)
    Clock(ports.clock, CLOCK_NS, unit="ns").start()
    await _reset(ports)

    checker = _Checker(job)
    rng = random.Random(job.seed)
    # Every output is due `latency` cycles after its input; twice that plus slack leaves room
    # to measure a wrong latency and to catch stray pulses after the last output.
    patience = 2 * job.latency + 16
    falling = FallingEdge(ports.clock)
    n, nxt, cycle, stop, valid = len(job.x), 0, 0, patience, 0
    while cycle < stop:
        await falling
        cycle += 1
        # Outputs now hold what the rising edge before stored; a consumer samples them at the
        # next rising edge, like the design samples what we write now: so the distance in
        # falling edges between a write and its output is exactly the latency.
        o_valid = str(ports.o_valid.value)
        if o_valid == "1":
            checker.output(cycle, _read(ports.o_scores), _read(ports.o_class))
        elif o_valid != "0":
            checker.unknown_valid_cycles.append(cycle)

        feeding = nxt < n
        ready = ports.i_ready is None or str(ports.i_ready.value) == "1"
        want = int(feeding and not (job.gaps and rng.random() < GAP_PROBABILITY))
        if want:
            ports.i_data.value = job.x[nxt]
            if ready:
                checker.accept(nxt, cycle)
                nxt += 1
        if want != valid:
            ports.i_valid.value = valid = want
        # A stalled design (ready low) runs out of patience; a feeding one never does.
        if feeding and ready:
            stop = cycle + patience

    return checker.results(RESET_CYCLES + cycle, nxt)


async def _check(dut, run, load=_Job.load) -> None:
    """Run the job of ``VECTORS_ENV`` (read by ``load``) with ``run``, write its results to
    ``RESULTS_ENV``, and fail the cocotb test if it found anything wrong."""
    results = await run(dut, load(os.environ[VECTORS_ENV]))
    Path(os.environ[RESULTS_ENV]).write_text(json.dumps(results, indent=1))
    assert not results["errors"], "\n".join(results["errors"])


@cocotb.test()
async def check_design(dut) -> None:
    """Every sample's scores, class and latency match; o_valid pulses once per sample."""
    await _check(dut, _run)


async def _count_handshakes(clock, valid, ready, cycles: list[int], stop: list[bool]) -> None:
    """Append the cycle of every transfer on a valid/ready pair (both high at a rising edge)."""
    cycle = 0
    while not stop:
        await RisingEdge(clock)
        cycle += 1
        if str(valid.value) == "1" and str(ready.value) == "1":
            cycles.append(cycle)


async def _run_axis(dut, job: _Job) -> dict:
    """Send every sample through the AXI4-Stream ports under random pauses on both sides."""
    from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

    m, rng = job.manifest, random.Random(job.seed)
    ins, outs = m["inputs"], m["outputs"]
    clock, reset = getattr(dut, m["clock"]), getattr(dut, m["reset"])
    Clock(clock, CLOCK_NS, unit="ns").start()
    # one lane: each transfer's TDATA is one word of the port's full width
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, ins["data"]["name"].removesuffix("_tdata")),
                             clock, reset, byte_lanes=1)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, outs["scores"]["name"].removesuffix("_tdata")),
                         clock, reset, byte_lanes=1)
    source.set_pause_generator(rng.random() < AXIS_PAUSE_PROBABILITY for _ in iter(int, 1))
    sink.set_pause_generator(rng.random() < AXIS_PAUSE_PROBABILITY for _ in iter(int, 1))
    reset.value = 1
    for _ in range(RESET_CYCLES):
        await RisingEdge(clock)
    reset.value = 0

    taken, given, stop = [], [], []
    cocotb.start_soon(_count_handshakes(clock, getattr(dut, ins["valid"]), getattr(dut, ins["ready"]), taken, stop))
    cocotb.start_soon(_count_handshakes(clock, getattr(dut, outs["valid"]), getattr(dut, outs["ready"]), given, stop))
    frames, n = [], len(job.x)
    while sum(frames) < n:
        frames.append(min(rng.randint(1, AXIS_FRAME), n - sum(frames)))
    start = 0
    for length in frames:
        await source.send(AxiStreamFrame(job.x[start:start + length]))
        start += length
    checker, answers, errors = _Checker(job, stalls=True), [], []
    patience = 2 * job.latency + 16
    for number, length in enumerate(frames):
        try:
            frame = await with_timeout(sink.recv(), (length * m["initiation_interval"] + patience) * CLOCK_NS * 20,
                                       "ns")
        except SimTimeoutError:
            errors.append(f"frame {number} of {len(frames)} ({length} samples) never ended on the master "
                          f"port ({outs['last']} did not rise, or too few answers came)")
            break
        if len(frame.tdata) != length:
            errors.append(f"a frame of {length} samples came back as {len(frame.tdata)} answers "
                          f"({outs['last']} misplaced), first at answer {len(answers)}")
        # the sink compacts a TUSER that is the same on every transfer of the frame to one value
        classes = frame.tuser if isinstance(frame.tuser, list) else [frame.tuser] * len(frame.tdata)
        answers += zip(frame.tdata, classes)
    for _ in range(patience):  # stray answers after the last one
        await RisingEdge(clock)
    stop.append(True)
    for index, cycle in enumerate(taken):
        checker.accept(index, cycle)
    for (scores, klass), cycle in zip(answers, given):
        checker.output(cycle, scores, klass)
    checker.extra_cycles += given[len(answers):]
    # the closest two samples were taken: under random pauses some follow each other as fast as
    # the design takes them, so this is its initiation interval (the manifest's, or a bug)
    interval = min((b - a for a, b in zip(taken, taken[1:])), default=None)
    if interval is not None and interval < m["initiation_interval"]:
        errors.append(f"samples were taken {interval} cycles apart, the manifest's initiation interval "
                      f"is {m['initiation_interval']}")
    return {**checker.results(RESET_CYCLES + (given or taken or [0])[-1], len(taken), errors),
            "interval_measured": interval}


@cocotb.test()
async def check_axis_design(dut) -> None:
    """As check_design, through AXI4-Stream ports with random backpressure and gaps."""
    await _check(dut, _run_axis)


@dataclass(frozen=True)
class _Program:
    """A recurrent design's job (``sim/interleave.py``): ``tokens`` packed like samples, their
    ``last`` bits, what each clock does (``clocks``: a token, IDLE -1 or RESET -2), and in
    ``expect`` the answers, whose ``x`` are the indices of the tokens answered."""

    tokens: list[int]
    last: list[int]
    clocks: list[int]
    expect: _Job

    @classmethod
    def load(cls, path: str) -> "_Program":
        with np.load(path) as f:
            manifest = json.loads(str(f["manifest"]))
            bpc = manifest["outputs"]["scores"]["bits_per_class"]
            expect = _Job(x=[int(t) for t in f["answers"]],
                          scores=[sum(int(s) << (c * bpc) for c, s in enumerate(row)) for row in f["scores"]],
                          classes=[int(c) for c in f["classes"]], manifest=manifest, gaps=False, seed=int(f["seed"]))
            return cls(tokens=[int.from_bytes(row.tobytes(), "little") for row in f["tokens"]],
                       last=[int(b) for b in f["last"]], clocks=[int(c) for c in f["clocks"]], expect=expect)


async def _run_program(dut, program: _Program) -> dict:
    """Drive the program clock by clock; every answer is checked in order against the expected
    one, with its token's ``i_last`` on ``o_last``."""
    job = program.expect
    ports = _Ports.of(dut, job.manifest)
    ports.check_widths(job.manifest)
    i_last = getattr(dut, job.manifest["inputs"]["last"])
    o_last = getattr(dut, job.manifest["outputs"]["last"])
    Clock(ports.clock, CLOCK_NS, unit="ns").start()
    i_last.value = 0
    await _reset(ports)
    checker = _Checker(job)
    answer = {token: k for k, token in enumerate(job.x)}
    given_last: list[int | None] = []
    falling = FallingEdge(ports.clock)
    drain = 2 * job.latency + 16
    for cycle, what in enumerate(program.clocks + [-1] * drain, start=1):
        await falling
        o_valid = str(ports.o_valid.value)
        if o_valid == "1":
            checker.output(cycle, _read(ports.o_scores), _read(ports.o_class))
            given_last.append(_read(o_last))
        elif o_valid != "0":
            checker.unknown_valid_cycles.append(cycle)
        ports.reset.value = int(what == -2)
        ports.i_valid.value = int(what >= 0)
        if what >= 0:
            ports.i_data.value = program.tokens[what]
            i_last.value = program.last[what]
            if what in answer:
                checker.accept(answer[what], cycle)
    wrong_last = [k for k, got in enumerate(given_last[:len(job.x)]) if got != program.last[job.x[k]]]
    errors = [f"{job.manifest['outputs']['last']} differs from the token's i_last in {len(wrong_last)} answers, "
              f"first at answer {wrong_last[0]}"] if wrong_last else []
    return checker.results(RESET_CYCLES + len(program.clocks) + drain, len(job.x), errors)


@cocotb.test()
async def check_recurrent_design(dut) -> None:
    """A recurrent design: interleaved sequences with bubbles and resets, every answer checked."""
    await _check(dut, _run_program, _Program.load)


def image_pixels(image: int, manifest: dict) -> list[int]:
    """An image's bits (model input i at bit i, channel-major: bit c*H*W + p) as its pixels
    in raster order, channel c at bit c (the manifest's ``stream``)."""
    channels, height, width = manifest["stream"]["image"]
    n = height * width
    return [sum(((image >> (c * n + p)) & 1) << c for c in range(channels)) for p in range(n)]


async def _run_stream(dut, job: _Job) -> dict:
    """A streaming design: every image as its pixels, one a clock while valid; with ``gaps``
    the input idles and the output holds ready low at random. Every answer is checked in order;
    the latency is from an image's last pixel taken to its answer taken (exact without gaps;
    with them the shortest seen, which must not be below the manifest's), the interval between images' first pixels taken is measured."""
    m, rng = job.manifest, random.Random(job.seed)
    ports = _Ports.of(dut, m)
    ports.check_widths(m)
    o_ready = getattr(dut, m["outputs"]["ready"])
    o_ready.value = 1
    Clock(ports.clock, CLOCK_NS, unit="ns").start()
    await _reset(ports)
    per_image = m["stream"]["pixels_per_image"]
    stream = [p for image in job.x for p in image_pixels(image, m)]
    # gaps among the next image's first pixels hold the drain of the one before (docs/conv.md)
    checker = _Checker(job, stalls=job.gaps, later=job.gaps)
    patience = 2 * job.latency + 2 * per_image + 16
    falling = FallingEdge(ports.clock)
    firsts, sent, cycle, stop, valid = [], 0, 0, patience, 0
    while cycle < stop:
        await falling
        cycle += 1
        # what the design shows now is taken at the next rising edge if both sides agree
        ready_out = int(not (job.gaps and rng.random() < AXIS_PAUSE_PROBABILITY))
        o_ready.value = ready_out
        o_valid = str(ports.o_valid.value)
        if o_valid == "1" and ready_out:
            checker.output(cycle, _read(ports.o_scores), _read(ports.o_class))
        elif o_valid not in "01":
            checker.unknown_valid_cycles.append(cycle)
        feeding = sent < len(stream)
        want = int(feeding and not (job.gaps and rng.random() < GAP_PROBABILITY))
        ready = str(ports.i_ready.value) == "1"
        if want:
            ports.i_data.value = stream[sent]
            if ready:
                if sent % per_image == 0:
                    firsts.append(cycle)
                if sent % per_image == per_image - 1:
                    checker.accept(sent // per_image, cycle)
                sent += 1
        if want != valid:
            ports.i_valid.value = valid = want
        if (feeding and ready) or checker.in_flight:
            stop = cycle + patience
    errors = []
    intervals = [b - a for a, b in zip(firsts, firsts[1:])]
    if intervals and min(intervals) < m["initiation_interval"]:
        errors.append(f"images began {min(intervals)} cycles apart, the manifest's initiation interval is "
                      f"{m['initiation_interval']}")
    if intervals and not job.gaps and max(intervals) != m["initiation_interval"]:
        errors.append(f"with valid always high, images began {max(intervals)} cycles apart, not back to back "
                      f"every {m['initiation_interval']} (the initiation interval)")
    return {**checker.results(RESET_CYCLES + cycle, sent // per_image, errors),
            "interval_measured": min(intervals, default=None)}


@cocotb.test()
async def check_stream_design(dut) -> None:
    """A streaming design: images as pixel streams, every answer checked, the interval measured."""
    await _check(dut, _run_stream)


# the test that checks a design, by its manifest's interface (a streaming design: STREAM_TEST)
TESTS = {"native": "check_design", "axis": "check_axis_design"}
STREAM_TEST = "check_stream_design"
RECURRENT_TEST = "check_recurrent_design"  # any interface of a design whose manifest has "recurrent"
