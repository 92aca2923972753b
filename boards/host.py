"""The host side of the UART inference link: classify samples on a board over a serial port.

>>> with Client("/dev/ttyUSB1", Format.from_manifest(manifest)) as board:
...     classes, scores = board.classify(x)

Samples stream: the client keeps up to ``window`` requests in flight, so the serial line stays
busy, and matches each answer to its request by tag. A request the board rejected (error
answer) or never answered is sent again, up to ``retries`` more times.
"""
from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque

import numpy as np
import serial

from ..errors import UserError
from .protocol import WINDOW, Answer, Format, Status

__all__ = ["LinkError", "Client"]

TAGS = 256


class LinkError(UserError):
    """The board could not be reached, did not answer or kept failing."""


class Client:
    """A board running the lgn2rtl UART link on serial port ``port``.

    ``port`` is a device path or any URL pyserial's ``serial_for_url`` takes. ``fmt`` must
    match the design on the board (:meth:`Format.from_manifest` of its manifest). ``timeout``
    is how long to wait for an answer before sending the open requests again; the default
    allows for twice the time the line needs to carry ``window`` frames, plus one second.

    ``stats`` counts ``sent`` and ``resent`` requests, the board's error answers by status
    name, and ``garbled`` answer frames.
    """

    def __init__(self, port: str, fmt: Format, baud: int = 115200, *,
                 timeout: float | None = None, window: int = WINDOW, retries: int = 3):
        if not 1 <= window <= WINDOW:
            raise ValueError(f"window must be 1..{WINDOW}, not {window}")
        self.port, self.fmt, self.baud = port, fmt, baud
        self.window, self.retries = window, retries
        self.timeout = timeout if timeout is not None else 1.0 + 2 * window / fmt.samples_per_second(baud)
        self.stats: Counter = Counter()
        try:
            self.serial = serial.serial_for_url(port, baudrate=baud, timeout=0.01)
        except (serial.SerialException, ValueError) as e:
            raise LinkError(f"{e} (is the board plugged in? `ls /dev/ttyUSB* /dev/ttyACM*` "
                            "lists the serial ports)") from None

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def classify(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classes [N] and integer scores [N, classes] of the samples ``x``: input bits (0/1,
        [N, inputs]) or, for a design with the encoder on chip, feature codes [N, features]."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1:] != self.fmt.sample_shape:
            raise ValueError(f"x has shape {x.shape}, the board takes [N, {self.fmt.sample_shape[0]}]")
        f = self.fmt.features
        if f is not None and x.size and (x.min() < f.lo or x.max() > f.hi):
            raise ValueError(f"feature codes span {x.min()}..{x.max()}, the board takes {f.describe()}")
        return _Exchange(self, x).run()

    def _write(self, data: bytes) -> None:
        try:
            self.serial.write(data)
        except serial.SerialException as e:
            raise LinkError(f"writing to {self.port} failed: {e}") from None

    def _read(self) -> bytes:
        try:
            return self.serial.read(max(1, self.serial.in_waiting))
        except serial.SerialException as e:
            raise LinkError(f"reading from {self.port} failed: {e}") from None


class _Exchange:
    """One :meth:`Client.classify` call: requests in flight, answers, retries."""

    def __init__(self, client: Client, x: np.ndarray):
        self.client, self.x = client, x
        n = len(x)
        self.classes = np.zeros(n, dtype=np.int64)
        self.scores = np.zeros((n, client.fmt.classes), dtype=np.int64)
        self.todo = deque(range(n))
        self.open: OrderedDict[int, int] = OrderedDict()  # tag -> sample, in sending order
        self.attempts = np.zeros(n, dtype=np.int64)
        self.left = n
        self.next_tag = 0
        self.answered = False

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        client, buffer = self.client, bytearray()
        last_answer = time.monotonic()
        while self.left:
            self._send()
            buffer += client._read()
            for answer in client.fmt.answers(buffer):
                if answer is None:
                    client.stats["garbled"] += 1
                elif self._take(answer):
                    # only an answer to an open request counts: a board that repeats stale tags
                    # forever must still time out
                    last_answer = time.monotonic()
            if self.open and time.monotonic() - last_answer > client.timeout:
                self._time_out()
                last_answer = time.monotonic()
        return self.classes, self.scores

    def _send(self) -> None:
        frames = []
        while self.todo and len(self.open) < self.client.window:
            sample = self.todo.popleft()
            while self.next_tag in self.open:
                self.next_tag = (self.next_tag + 1) % TAGS
            self.open[self.next_tag] = sample
            frames.append(self.client.fmt.request(self.next_tag, self.x[sample]))
            self.next_tag = (self.next_tag + 1) % TAGS
            self.attempts[sample] += 1
            self.client.stats["sent"] += 1
        if frames:
            self.client._write(b"".join(frames))

    def _take(self, answer: Answer) -> bool:
        """Take an answer; False if it answers no open request."""
        self.answered = True
        if answer.tag not in self.open:
            return False  # a stale answer to a request already sent again, or a garbled tag
        if answer.status != Status.OK:
            self.client.stats[getattr(answer.status, "name", f"status {answer.status}")] += 1
            self._retry(self.open.pop(answer.tag), f"the board reported {answer.status!r}")
            return True
        # Answers come in sending order: requests sent before this one were lost.
        while (tag := next(iter(self.open))) != answer.tag:
            self._retry(self.open.pop(tag), "the board did not answer")
        sample = self.open.pop(answer.tag)
        self.classes[sample] = answer.klass
        self.scores[sample] = answer.scores
        self.left -= 1
        return True

    def _retry(self, sample: int, reason: str) -> None:
        if self.attempts[sample] > self.client.retries:
            raise LinkError(f"sample {sample} failed {self.attempts[sample]} times on "
                            f"{self.client.port}; last time {reason}")
        self.client.stats["resent"] += 1
        self.todo.appendleft(sample)

    def _time_out(self) -> None:
        client = self.client
        if not self.answered:
            hint = (f"{client.stats['garbled']} garbled frames came back: is the baud rate "
                    f"{client.baud} right?" if client.stats["garbled"] else
                    f"is the lgn2rtl bitstream for this model loaded, at {client.baud} baud?")
            raise LinkError(f"no answer from the board on {client.port} within "
                            f"{client.timeout:.1f} s: {hint}")
        for sample in reversed(self.open.values()):
            self._retry(sample, f"no answer came within {client.timeout:.1f} s")
        self.open.clear()
