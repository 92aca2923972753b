"""The examples' data: scikit-learn's load_digits, split 80/20 and thermometer-encoded into bits."""
from typing import NamedTuple

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lgn2rtl.ir import Thermometer


class Digits(NamedTuple):
    encoder: Thermometer
    x_train: np.ndarray  # raw pixels, 0..16
    x_test: np.ndarray
    bits_train: np.ndarray
    bits_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def load(thresholds: list[float], seed: int) -> Digits:
    """The split drawn from ``seed``; every pixel is compared with each of ``thresholds``."""
    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(digits.data, digits.target, test_size=0.2, random_state=seed,
                                              stratify=digits.target)
    encoder = Thermometer(np.tile(thresholds, (digits.data.shape[1], 1)))
    return Digits(encoder, x_tr, x_te, encoder.encode(x_tr), encoder.encode(x_te), y_tr, y_te)
