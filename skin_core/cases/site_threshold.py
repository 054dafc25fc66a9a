"""A clinic's own malignancy threshold, from its confirmed cases (the site operating point).

A threshold chosen on another clinic's photos does not transfer: camera, light and patients move the malignant
scores. Once a model version has enough confirmed cases here, the threshold can be chosen on them by the rule
the model's own threshold was chosen by (skin_core.metrics.malignancy_threshold): the highest one whose
one-sided 95 % Wilson lower bound of malignant sensitivity reaches the target. Only cases confirmed by
histopathology or a specialist count (follow-up alone can miss a melanoma), and only when at least
``MIN_MALIGNANT`` of them are malignant: below 25 the bound cannot reach 0.90 even if every malignant case is
caught, and at 30 it can still afford none missed, so fewer would offer a threshold that rests on luck.
The figures at the chosen threshold are measured on the very cases that chose it, so they flatter; the
cross-validated ones (chosen on four fifths, measured on the fifth left out, in turn) are what to expect.
"""

from dataclasses import dataclass

import numpy as np

from skin_core.classes import CLASS_CODES, MALIGNANT_CODES
from skin_core.metrics import malignancy_threshold, wilson_lower_bound

SOURCES = ("histopathology", "specialist")  # confirmations a threshold may rest on
TARGET_SENSITIVITY = 0.90
CONFIDENCE = 0.95
MIN_MALIGNANT = 30
FOLDS = 5


@dataclass(frozen=True)
class SiteOperatingPoint:
    """What the clinic's confirmed cases say about one model version's threshold. ``threshold`` is None when
    none is offered (``reason`` says why)."""

    model_name: str
    model_version: str
    target_sensitivity: float
    n_malignant: int
    n_benign: int
    threshold: float | None = None
    sensitivity: float | None = None  # on the cases that chose it (optimistic)
    sensitivity_lower_bound: float | None = None
    specificity: float | None = None
    cv_sensitivity: float | None = None  # cross-validated: what to expect on the next cases
    cv_sensitivity_lower_bound: float | None = None
    cv_specificity: float | None = None
    reason: str = ""  # "too_few_malignant", "no_benign" or "" when offered

    @property
    def offered(self) -> bool:
        return self.threshold is not None


def site_operating_point(cases, model_name: str, model_version: str,
                         target_sensitivity: float = TARGET_SENSITIVITY) -> SiteOperatingPoint:
    """The site operating point of ``model_name`` / ``model_version`` from confirmed ``cases`` (CaseRecords;
    the others are ignored); ``target_sensitivity`` never below TARGET_SENSITIVITY."""
    target = max(float(target_sensitivity), TARGET_SENSITIVITY)
    used = [c for c in cases if (c.model_name, c.model_version) == (model_name, model_version)
            and c.final_source in SOURCES and c.final_diagnosis in CLASS_CODES]
    malignant = np.array([c.final_diagnosis in MALIGNANT_CODES for c in used], dtype=bool)
    scores = np.array([c.malignant_probability for c in used], dtype=np.float64)
    counts = dict(model_name=model_name, model_version=model_version, target_sensitivity=target,
                  n_malignant=int(malignant.sum()), n_benign=int((~malignant).sum()))
    if malignant.sum() < MIN_MALIGNANT:
        return SiteOperatingPoint(**counts, reason="too_few_malignant")
    if not (~malignant).any():
        return SiteOperatingPoint(**counts, reason="no_benign")
    threshold = _chosen(scores, malignant, target)
    cv_alert = np.zeros(len(used), bool)
    for held in _folds(malignant):
        kept = np.setdiff1d(np.arange(len(used)), held)
        cv_alert[held] = scores[held] >= _chosen(scores[kept], malignant[kept], target)
    alert = scores >= threshold
    return SiteOperatingPoint(
        **counts, threshold=threshold, sensitivity=_share(alert[malignant]),
        sensitivity_lower_bound=float(wilson_lower_bound(alert[malignant].sum(), malignant.sum(), CONFIDENCE)),
        specificity=_share(~alert[~malignant]), cv_sensitivity=_share(cv_alert[malignant]),
        cv_sensitivity_lower_bound=float(wilson_lower_bound(cv_alert[malignant].sum(), malignant.sum(), CONFIDENCE)),
        cv_specificity=_share(~cv_alert[~malignant]))


def _chosen(scores: np.ndarray, malignant: np.ndarray, target: float) -> float:
    """The model's own rule on these scores: malignancy_threshold takes class probabilities, so each case's
    malignant score stands in as the melanoma column (the malignant sum is then that score)."""
    probabilities = np.zeros((len(scores), len(CLASS_CODES)))
    probabilities[:, CLASS_CODES.index("mel")] = scores
    labels = np.where(malignant, CLASS_CODES.index("mel"), CLASS_CODES.index("nv"))
    return malignancy_threshold(probabilities, labels, target, CONFIDENCE)


def _folds(malignant: np.ndarray) -> list[np.ndarray]:
    """FOLDS held-out parts with the malignant and benign cases spread evenly (a fixed shuffle: the same cases
    give the same estimate)."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=max(2, min(FOLDS, int((~malignant).sum()))), shuffle=True, random_state=0)
    return [held for _, held in splitter.split(np.zeros(len(malignant)), malignant)]


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if flags.size else float("nan")
