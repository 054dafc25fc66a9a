"""The clinic's own threshold against an independent computation: every candidate threshold tried, the Wilson
bound from scipy's normal quantile, the cross-validation from scikit-learn's folds."""

import types

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.model_selection import StratifiedKFold

from skin_core.cases.site_threshold import CONFIDENCE, MIN_MALIGNANT, TARGET_SENSITIVITY, site_operating_point


def clinic_history(malignant=60, benign=240, seed=0, model=("m", "1"), source="histopathology"):
    """Confirmed cases whose malignant scores come from known distributions: Beta(5, 2) for malignant lesions,
    Beta(2, 5) for benign ones."""
    rng = np.random.default_rng(seed)
    cases = []
    for is_malignant, n in ((True, malignant), (False, benign)):
        for score in rng.beta(*((5, 2) if is_malignant else (2, 5)), n):
            cases.append(types.SimpleNamespace(model_name=model[0], model_version=model[1], final_source=source,
                                               final_diagnosis=rng.choice(["mel", "bcc"] if is_malignant
                                                                          else ["nv", "bkl"]),
                                               malignant_probability=float(score)))
    return cases


def wilson_lower(successes, trials, confidence=CONFIDENCE):
    z = norm.ppf(confidence)
    p = successes / trials
    spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials ** 2))
    return (p + z * z / (2 * trials) - spread) / (1 + z * z / trials)


def highest_threshold(scores, malignant, target=TARGET_SENSITIVITY):
    """Brute force: of the malignant scores, the highest threshold whose Wilson bound reaches the target."""
    candidates = sorted(scores[malignant], reverse=True)
    for t in candidates:
        if wilson_lower((scores[malignant] >= t).sum(), malignant.sum()) >= target:
            return t
    return candidates[-1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_site_threshold_and_its_bound_match_an_independent_computation(seed):
    cases = clinic_history(seed=seed)
    cases += clinic_history(malignant=40, benign=10, seed=seed + 10, source="follow_up")  # never counted
    cases += clinic_history(malignant=40, benign=10, seed=seed + 20, model=("m", "2"))  # another version
    point = site_operating_point(cases, "m", "1")
    used = [c for c in cases if c.final_source == "histopathology" and c.model_version == "1"]
    scores = np.array([c.malignant_probability for c in used])
    malignant = np.array([c.final_diagnosis in ("mel", "bcc") for c in used])
    expected = highest_threshold(scores, malignant)
    assert point.offered and point.threshold == pytest.approx(expected)
    assert (point.n_malignant, point.n_benign) == (60, 240)
    caught = (scores[malignant] >= expected).sum()
    assert point.sensitivity_lower_bound == pytest.approx(wilson_lower(caught, 60))
    assert point.sensitivity_lower_bound >= 0.90
    assert point.specificity == pytest.approx((scores[~malignant] < expected).mean())
    cv_alert = np.zeros(len(used), bool)
    for kept, held in StratifiedKFold(5, shuffle=True, random_state=0).split(scores, malignant):
        cv_alert[held] = scores[held] >= highest_threshold(scores[kept], malignant[kept])
    assert point.cv_sensitivity == pytest.approx(cv_alert[malignant].mean())
    assert point.cv_specificity == pytest.approx((~cv_alert[~malignant]).mean())


def test_too_few_malignant_cases_or_only_follow_up_offer_nothing():
    few = site_operating_point(clinic_history(malignant=MIN_MALIGNANT - 1), "m", "1")
    assert not few.offered and few.reason == "too_few_malignant" and few.n_malignant == MIN_MALIGNANT - 1
    follow_up = site_operating_point(clinic_history(source="follow_up"), "m", "1")
    assert not follow_up.offered and follow_up.n_malignant == 0
    assert wilson_lower(24, 24) < 0.90 <= wilson_lower(25, 25)  # why fewer than about 25 can never reach it


def test_a_stricter_model_target_is_kept():
    point = site_operating_point(clinic_history(malignant=200, benign=200), "m", "1", target_sensitivity=0.95)
    assert point.target_sensitivity == 0.95 and point.sensitivity_lower_bound >= 0.95
