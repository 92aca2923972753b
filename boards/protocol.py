"""The frames of the UART inference link (docs/uart-protocol.md), as Python values and bytes.

A frame is a header byte (bit 7 set) followed by data bytes (bit 7 clear) that carry 7 bits
each: the payload, least significant bit first and zero-padded to whole bytes, then a CRC-7
of those payload bytes. A header byte can never appear inside a frame, so a receiver that
lost its place starts afresh at the next header.

=================  ========================================================================
frame              payload, from bit 0 up
=================  ========================================================================
request (0xA5)     tag (8 bits), the sample's input bits (``inputs.data.width`` of the
                   manifest, bus bit i at payload bit 8 + i; for an on-chip encoder the bus
                   holds the feature codes, ``inputs.data.features``)
answer (0xDA)      tag (8), status (8), class (``outputs.class.width``), scores
                   (``outputs.scores.width``: class c's count at bits [c*b, (c+1)*b))
=================  ========================================================================
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from amaranth.lib import enum
from amaranth.lib.crc import catalog

from ..features import FeatureFormat

__all__ = ["REQUEST", "ANSWER", "CHUNK_BITS", "CRC", "TAG_BITS", "WINDOW", "TIMEOUT_BITS",
           "Status", "Answer", "Format"]

REQUEST = 0xA5
ANSWER = 0xDA
CHUNK_BITS = 7  # payload bits per data byte; bit 7 tells headers from data
CRC = catalog.CRC7_MMC(CHUNK_BITS)  # over the payload's data bytes; fits one data byte
TAG_BITS = 8
STATUS_BITS = 8
WINDOW = 64          # answers a board holds; a host keeps at most this many requests open
TIMEOUT_BITS = 1024  # idle bit times that end a request in progress (8.9 ms at 115200 baud)


class Status(enum.IntEnum, shape=STATUS_BITS):
    """Why the board answered as it did; anything but OK carries class and scores 0."""
    OK = 0
    CRC = 1        # the request's CRC did not match its payload
    FRAMING = 2    # a byte of the request had a low stop bit
    TRUNCATED = 3  # a header byte came before the request was complete
    TIMEOUT = 4    # the line stayed idle in the middle of the request


@dataclass(frozen=True)
class Answer:
    """One decoded answer frame. ``status`` is an int when the board sent an unknown code."""
    tag: int
    status: Status | int
    klass: int
    scores: tuple[int, ...]


def _chunks(value: int, count: int) -> list[int]:
    return [(value >> (CHUNK_BITS * i)) & 0x7F for i in range(count)]


@dataclass(frozen=True)
class Format:
    """The frame sizes for one compiled design; see the module docstring for the layout.

    ``features`` is the raw-feature format of a design with the encoder on chip, else None.
    """
    input_bits: int
    classes: int
    class_bits: int
    score_bits: int  # per class
    features: FeatureFormat | None = None

    @classmethod
    def from_manifest(cls, manifest: dict) -> Format:
        outputs = manifest["outputs"]
        return cls(input_bits=manifest["inputs"]["data"]["width"], classes=manifest["classes"],
                   class_bits=outputs["class"]["width"],
                   score_bits=outputs["scores"]["bits_per_class"],
                   features=FeatureFormat.from_manifest(manifest))

    @property
    def sample_shape(self) -> tuple[int]:
        """What one sample is: ``input_bits`` bits, or ``features.count`` feature codes."""
        return (self.input_bits if self.features is None else self.features.count,)

    @property
    def request_chunks(self) -> int:
        """Data bytes of a request's payload (the CRC byte not counted)."""
        return math.ceil((TAG_BITS + self.input_bits) / CHUNK_BITS)

    @property
    def answer_bits(self) -> int:
        return TAG_BITS + STATUS_BITS + self.class_bits + self.classes * self.score_bits

    @property
    def answer_chunks(self) -> int:
        return math.ceil(self.answer_bits / CHUNK_BITS)

    @property
    def request_bytes(self) -> int:
        return 1 + self.request_chunks + 1

    @property
    def answer_bytes(self) -> int:
        return 1 + self.answer_chunks + 1

    def samples_per_second(self, baud: int) -> float:
        """The link's throughput: each direction carries 10 bits per byte, both at once."""
        return baud / (10 * max(self.request_bytes, self.answer_bytes))

    def request(self, tag: int, sample: np.ndarray) -> bytes:
        """The request frame for one sample: its input bits (0/1, ``input_bits`` of them) or,
        with ``features``, its feature codes."""
        bits = np.asarray(sample) if self.features is None else self.features.pack(np.asarray(sample)[None])[0]
        packed = np.packbits(bits.astype(np.uint8), bitorder="little")
        value = tag | int.from_bytes(packed.tobytes(), "little") << TAG_BITS
        chunks = _chunks(value, self.request_chunks)
        return bytes([REQUEST, *chunks, CRC.compute(chunks)])

    def answers(self, buffer: bytearray) -> Iterator[Answer | None]:
        """Take every complete answer frame out of the front of ``buffer``.

        Yields an :class:`Answer` per intact frame and None per damaged one (a CRC mismatch,
        a header byte inside it, a wrong header). Bytes before the first header are dropped;
        an incomplete frame at the end stays in ``buffer`` for the next call.
        """
        while buffer:
            if buffer[0] != ANSWER:
                damaged = buffer[0] & 0x80  # a header of the wrong kind; stray data is noise
                del buffer[0]
                if damaged:
                    yield None
                continue
            body = buffer[1:self.answer_bytes]
            cut = next((i for i, b in enumerate(body) if b & 0x80), None)
            if cut is not None:  # the frame ended early; the header at `cut` starts the next
                del buffer[:1 + cut]
                yield None
                continue
            if len(body) < self.answer_bytes - 1:
                return
            del buffer[:self.answer_bytes]
            chunks, crc = list(body[:-1]), body[-1]
            yield self._answer(chunks) if CRC.compute(chunks) == crc else None

    def _answer(self, chunks: list[int]) -> Answer:
        value = sum(c << (CHUNK_BITS * i) for i, c in enumerate(chunks))
        tag = value & ((1 << TAG_BITS) - 1)
        status = (value >> TAG_BITS) & ((1 << STATUS_BITS) - 1)
        value >>= TAG_BITS + STATUS_BITS
        klass = value & ((1 << self.class_bits) - 1)
        value >>= self.class_bits
        mask = (1 << self.score_bits) - 1
        scores = tuple((value >> (c * self.score_bits)) & mask for c in range(self.classes))
        known = status in set(Status)
        return Answer(tag, Status(status) if known else status, klass, scores)
