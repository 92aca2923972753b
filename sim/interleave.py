"""The clock-by-clock program that drives many sequences through a C-slow recurrent design.

A recurrent design (``hdl/recurrent.py``) takes the token presented at clock c for slot
``c mod interleave``. :func:`program` deals sequences out to the slots as they come free,
leaves a slot's turn empty now and then (the state must hold through it), and in phases:
after each phase's sequences have started, the ones still running are abandoned part-way,
the answers in flight drain and ``rst`` is held, so the next phase checks that every slot
starts afresh from ``init``. Which answers the design gives, and for which (sequence, step),
follows from the program alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..golden import sequences
from ..ir import Recurrent

__all__ = ["IDLE", "RESET", "Program", "program", "drive"]

IDLE, RESET = -1, -2  # what a clock of the program does when it drives no token
RESET_CLOCKS = 2


@dataclass(frozen=True)
class Program:
    """``clocks``: per clock the token driven, IDLE or RESET. Per token: ``sequence``, ``step``
    and ``last`` (``i_last``). ``answers``: the tokens the design answers, in order."""
    clocks: np.ndarray
    sequence: np.ndarray
    step: np.ndarray
    last: np.ndarray
    answers: np.ndarray


def program(lengths: np.ndarray, interleave: int, readout: str, latency: int, seed: int = 0,
            phases: int = 3, bubble: float = 0.2) -> Program:
    """Every sequence (``lengths[i]`` tokens of sequence i) dealt out to ``interleave`` slots.

    Each of ``phases`` phases starts its share of the sequences; when it has started the last
    of them, the slots still busy run on for a random number of turns and are then abandoned
    (they never send ``i_last``). A slot skips its turn with probability ``bubble``.
    """
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or np.any(lengths < 1):
        raise ValueError(f"lengths must be positive integers, got {lengths!r}")
    clocks, sequence, step, last = [], [], [], []
    for share in np.array_split(np.arange(len(lengths)), phases):
        queue = list(share)
        busy: list[list[int] | None] = [None] * interleave  # per slot: [sequence, next step]
        overtime = None  # turns left once the queue is empty
        while queue or any(busy):
            if not queue and overtime is None:
                overtime = int(rng.integers(0, 2 * interleave * (lengths.max() + 1)))
            if overtime is not None:
                if overtime == 0:
                    break  # abandon what is still running: the reset below must restart it
                overtime -= 1
            slot = len(clocks) % interleave
            if busy[slot] is None and queue:
                busy[slot] = [queue.pop(0), 0]
            if busy[slot] is None or rng.random() < bubble:
                clocks.append(IDLE)
                continue
            s, t = busy[slot]
            clocks.append(len(sequence))
            sequence.append(s)
            step.append(t)
            last.append(int(t + 1 == lengths[s]))
            busy[slot] = None if last[-1] else [s, t + 1]
        clocks += [IDLE] * (latency + 1) + [RESET] * RESET_CLOCKS  # answers drain, then rst
    last_ = np.array(last, dtype=np.uint8)
    tokens = np.arange(len(sequence))
    answers = tokens if readout == "every" else tokens[last_ == 1]
    return Program(np.array(clocks, dtype=np.int64), np.array(sequence, dtype=np.int64),
                   np.array(step, dtype=np.int64), last_, answers)


def drive(model: Recurrent, x: np.ndarray, lengths: np.ndarray, manifest: dict, seed: int = 0,
          bubble: float = 0.2) -> tuple[Program, np.ndarray, np.ndarray]:
    """The program that drives sequences x [N, T, n_x] (sequence i: its first ``lengths[i]``
    steps) through the design ``manifest`` describes (``bubble`` as :func:`program` has it),
    each token's bits [M, n_x] and the golden model's counts after it [M, classes]."""
    rec = manifest["recurrent"]
    p = program(lengths, rec["interleave"], rec["readout"], manifest["latency"], seed, bubble=bubble)
    scores, _ = sequences(model, x)
    return p, x[p.sequence, p.step], scores[p.sequence, p.step]
