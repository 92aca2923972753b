from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A torchlogix 0.2.2 model with its own Verilog and vectors, made outside this project (its README)
FIXTURE = REPO / "tests" / "data" / "torchlogix_digits_s1"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return FIXTURE


@pytest.fixture(scope="session")
def digits_features(fixture_dir):
    """The raw pixels (0..16) of the fixture's 397 test digits, recovered from sklearn's load_digits.

    The fixture stores only thermometer bits (x > 2, 6, 10, 14) and labels; each of its rows
    matches exactly one load_digits row with the same bits and label, which is asserted.
    """
    import numpy as np
    from sklearn.datasets import load_digits
    digits = load_digits()
    v = np.load(fixture_dir / "vectors.npz")
    bits = (digits.data[:, :, None] > np.array([2, 6, 10, 14])).reshape(len(digits.data), -1)
    rows = []
    for i, (x, y) in enumerate(zip(v["x"], v["y"])):
        match = np.flatnonzero((bits == x).all(axis=1) & (digits.target == y))
        assert len(match) == 1, f"fixture row {i} matches {len(match)} load_digits rows"
        rows.append(int(match[0]))
    return digits.data[rows].astype(np.int64)
