"""Raw-feature input for an on-chip thermometer encoder (``compile --encoder``; docs/encoder.md).

A design with the encoder on chip takes feature ``f`` as a ``bits``-wide integer *code*
``q`` at bits ``[f*bits, (f+1)*bits)`` of its input bus (two's complement if ``signed``),
standing for the value ``x = q * 2**-frac``. Thermometer bit ``j`` of feature ``f`` is
``x > t[f, j]`` (docs/semantics.md). For an integer ``q``::

    q * 2**-frac > t   <=>   q > t * 2**frac   <=>   q > floor(t * 2**frac)

and ``t * 2**frac`` is exact in float64 (a power-of-two scale only moves the exponent),
so the hardware compares the code with the integer ``floor(t * 2**frac)`` and agrees with
``x > t`` for every code the format can hold. Repeated thresholds give repeated constants,
hence equal bits, as in the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .ir import ModelError, Network

MAX_BITS = 32  # codes and constants stay exact in float64 and int64


class FeatureError(UserError, ValueError):
    """Raw feature values that the design's input format cannot carry."""


@dataclass(frozen=True)
class FeatureFormat:
    """``count`` features of ``bits`` bits each; a code ``q`` stands for ``q * 2**-frac``."""
    count: int
    bits: int
    frac: int = 0
    signed: bool = False

    @property
    def width(self) -> int:
        """Bits of the input bus."""
        return self.count * self.bits

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def scale(self) -> float:
        return 2.0 ** -self.frac

    def describe(self) -> str:
        """E.g. "5-bit unsigned features 0..31", "8-bit signed codes x 2**-4: -8..7.9375"."""
        kind = f"{self.bits}-bit {'signed' if self.signed else 'unsigned'}"
        if not self.frac:
            return f"{kind} features {self.lo}..{self.hi}"
        return f"{kind} codes x 2**-{self.frac}: {self.lo * self.scale:g}..{self.hi * self.scale:g}"

    @classmethod
    def for_network(cls, net: Network, bits: int | None = None, frac: int | None = None,
                    signed: bool | None = None) -> FeatureFormat:
        """The format for ``net``'s thermometer thresholds; each option left None is chosen.

        ``frac`` defaults to the fewest fraction bits that keep every feature's distinct
        thresholds apart (0 for integer thresholds); ``signed`` to whether a constant is
        negative; ``bits`` to the fewest in which every comparison can go both ways (the
        constant lies in ``lo .. hi-1``). A ``bits`` or ``signed`` too small for that is refused.
        """
        if net.encoder is None:
            raise ModelError("the model carries no thermometer thresholds, so there is nothing to encode "
                             "on chip; compile without --encoder and feed input bits")
        t = net.encoder.thresholds
        if frac is None:
            frac = next((f for f in range(MAX_BITS) if _keeps_apart(t, f)), None)
            if frac is None:
                raise ModelError(f"thresholds too close together for {MAX_BITS - 1} fraction bits; "
                                 "choose the fraction bits (--feature-frac)")
        if not 0 <= frac < MAX_BITS:
            raise ModelError(f"fraction bits must be 0..{MAX_BITS - 1}, got {frac}")
        scaled = _floor_scaled(t, frac)
        low, high = (int(v) if abs(v) < 1 << MAX_BITS else None for v in (scaled.min(), scaled.max()))
        if signed is None and low is not None:
            signed = low < 0
        # the fewest bits with lo <= low and high < hi, so that no comparison is constant
        need = None if low is None or high is None else \
            max(1, max(max(high + 1, 0).bit_length(), max(-low - 1, 0).bit_length() * signed) + signed)
        if need is None or need > MAX_BITS:
            raise ModelError(f"thresholds {t.min():g}..{t.max():g} need more than {MAX_BITS}-bit features"
                             + (f" with {frac} fraction bits" if frac else ""))
        if low < 0 and not signed:
            raise ModelError(f"threshold {t.min():g} is negative: unsigned features cannot fall below it")
        if bits is None:
            bits = need
        elif not need <= bits <= MAX_BITS:
            raise ModelError(f"{bits}-bit features cannot carry thresholds {t.min():g}..{t.max():g}"
                             f"{f' with {frac} fraction bits' if frac else ''}: use {need}..{MAX_BITS} bits")
        return cls(t.shape[0], bits, frac, signed)

    def codes(self, features: np.ndarray) -> np.ndarray:
        """Codes [N, count] (int64) of raw feature values; refuses values the format cannot hold."""
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.count or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise FeatureError(f"features must be numbers [N, {self.count}], got {x.dtype} {list(x.shape)}")
        q = np.ldexp(x.astype(np.float64), self.frac)
        bad = ~np.isfinite(q) | (q != np.floor(q)) | (q < self.lo) | (q > self.hi)
        if bad.any():
            s, f = map(int, np.argwhere(bad)[0])
            v = x[s, f]
            if np.isfinite(q[s, f]) and q[s, f] == np.floor(q[s, f]):
                raise FeatureError(
                    f"feature {f} of sample {s} is {v:g}, outside the design's {self.describe()}; clamping "
                    "to that range keeps every thermometer bit, or compile with more --feature-bits")
            raise FeatureError(f"feature {f} of sample {s} is {v:g}, not a multiple of {self.scale:g} "
                               f"(the step of {self.frac} fraction bits)")
        return q.astype(np.int64)

    def values(self, codes: np.ndarray) -> np.ndarray:
        """The feature values [N, count] (float64) that codes stand for."""
        return np.ldexp(np.asarray(codes, dtype=np.float64), -self.frac)

    def random_codes(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` rows of codes drawn uniformly from the whole range, reproducible from ``seed``."""
        return np.random.default_rng(seed).integers(self.lo, self.hi, size=(n, self.count), endpoint=True)

    def pack(self, codes: np.ndarray) -> np.ndarray:
        """Codes [N, count] to input-bus bits [N, width] (uint8): code f at bits [f*bits, (f+1)*bits)."""
        u = np.asarray(codes, dtype=np.int64) & ((1 << self.bits) - 1)  # two's complement
        return ((u[:, :, None] >> np.arange(self.bits)) & 1).reshape(len(u), -1).astype(np.uint8)

    def manifest(self) -> dict:
        """The ``inputs.data.features`` entry of the manifest."""
        return {"count": self.count, "bits": self.bits, "signed": self.signed, "frac_bits": self.frac,
                "scale": self.scale}

    @classmethod
    def from_manifest(cls, manifest: dict) -> FeatureFormat | None:
        """The format a compiled design takes, or None for a design that takes input bits."""
        f = manifest["inputs"]["data"].get("features")
        return None if f is None else cls(f["count"], f["bits"], f["frac_bits"], f["signed"])


def constants(thresholds: np.ndarray, frac: int) -> np.ndarray:
    """Integer comparison constants: bit = ``code > floor(t * 2**frac)`` (int64, the shape of ``thresholds``)."""
    return _floor_scaled(thresholds, frac).astype(np.int64)


def _floor_scaled(t: np.ndarray, frac: int) -> np.ndarray:
    return np.floor(np.ldexp(np.asarray(t, dtype=np.float64), frac))


def _keeps_apart(t: np.ndarray, frac: int) -> bool:
    """Distinct thresholds of each feature stay distinct as constants (thresholds ascend per row)."""
    return bool(np.all((np.diff(t, axis=1) == 0) | (np.diff(_floor_scaled(t, frac), axis=1) != 0)))
