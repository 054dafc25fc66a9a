"""Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) and ECE."""

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

_EPS = 1e-7


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the model's probabilities recalibrated by temperature T."""
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), _EPS, 1.0))
    return softmax(logits / temperature, axis=-1)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the negative log-likelihood of ``labels``."""
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), _EPS, 1.0))
    labels = np.asarray(labels, dtype=int)

    def nll(log_temperature):
        scaled = log_softmax(logits / np.exp(log_temperature), axis=-1)
        return -scaled[np.arange(len(labels)), labels].mean()

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| weighted by bin size."""
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)
