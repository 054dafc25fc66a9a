import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score

from skin_core.calibration import apply_temperature, expected_calibration_error, fit_temperature
from conftest import REPORT_FIELDS
from skin_core.classes import CLASS_CODES, MALIGNANT_INDICES
from skin_core.metrics import attention_in_lesion, evaluation_report, malignancy_threshold


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 12)
    logits = rng.normal(size=(labels.size, 7))
    logits[np.arange(labels.size), labels] += 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def test_report_equals_scikit_learn(predictions):
    labels, probabilities = predictions
    report = evaluation_report(labels, probabilities, threshold=0.4)
    predicted = probabilities.argmax(axis=1)
    assert set(REPORT_FIELDS) <= set(report)
    assert report["n"] == labels.size
    assert report["accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-6)
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted), abs=1e-6)
    assert report["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-6)
    assert report["macro_auc"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr"), abs=1e-6)
    assert report["confusion_matrix"] == confusion_matrix(labels, predicted).tolist()
    for index, code in enumerate(CLASS_CODES):
        row = report["per_class"][code]
        truth, guess = labels == index, predicted == index
        assert row["support"] == truth.sum()
        assert row["recall"] == pytest.approx((guess & truth).sum() / truth.sum(), abs=1e-6)
        assert row["specificity"] == pytest.approx((~guess & ~truth).sum() / (~truth).sum(), abs=1e-6)
        assert row["auc"] == pytest.approx(roc_auc_score(truth, probabilities[:, index]), abs=1e-6)
    malignant = np.isin(labels, MALIGNANT_INDICES)
    score = probabilities[:, list(MALIGNANT_INDICES)].sum(axis=1)
    assert report["malignant"]["auc"] == pytest.approx(roc_auc_score(malignant, score), abs=1e-6)
    assert report["malignant"]["sensitivity"] == pytest.approx((score[malignant] >= 0.4).mean(), abs=1e-6)
    assert report["malignant"]["specificity"] == pytest.approx((score[~malignant] < 0.4).mean(), abs=1e-6)


def test_absent_classes_are_reported_not_a_crash(predictions):
    labels, probabilities = predictions
    keep = np.isin(labels, [2, 4, 5])  # like the ISIC 2017 set: bkl, mel, nv only
    report = evaluation_report(labels[keep], probabilities[keep], threshold=0.5)
    assert report["per_class"]["df"]["absent"] and report["per_class"]["df"]["recall"] is None
    assert report["per_class"]["df"]["support"] == 0
    assert not report["per_class"]["mel"]["absent"]
    present = labels[keep]
    assert report["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(present, probabilities[keep].argmax(axis=1)), abs=1e-6)


def test_ece_equals_a_direct_computation():
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.62, 0.38], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins of width 1/15: 0.95 -> bin 14 (acc 0.5, conf 0.95); 0.62 -> bin 9 (acc 1, conf 0.62);
    # 0.7 -> bin 10 (acc 1, conf 0.7)
    direct = 2 / 4 * abs(0.5 - 0.95) + 1 / 4 * abs(1 - 0.62) + 1 / 4 * abs(1 - 0.7)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(direct)


def test_temperature_scaling_recovers_overconfidence():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(4000, 7)) * 1.5
    probabilities = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in probabilities])
    overconfident = apply_temperature(probabilities, 1 / 3)  # logits multiplied by 3
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    calibrated = apply_temperature(overconfident, temperature)
    assert expected_calibration_error(calibrated, labels) < expected_calibration_error(overconfident, labels)


def test_malignancy_threshold_reaches_the_requested_sensitivity(predictions):
    labels, probabilities = predictions
    threshold = malignancy_threshold(probabilities, labels, sensitivity=0.9)
    report = evaluation_report(labels, probabilities, threshold)
    assert report["malignant"]["sensitivity"] >= 0.9


def test_attention_inside_lesion_against_lesion_share():
    mask = np.zeros((10, 10), bool)
    mask[:5, :] = True  # half the image
    focused = np.where(mask, 3.0, 1.0)  # 3/4 of the mass inside
    result = attention_in_lesion([focused], [mask])
    assert result["mass_inside_lesion"] == pytest.approx(0.75)
    assert result["lesion_area_share"] == pytest.approx(0.5)
    assert result["ratio"] == pytest.approx(1.5)


def test_wilson_lower_bound_matches_scipy():
    from scipy.stats import binomtest

    from skin_core.metrics import wilson_lower_bound

    for caught, total in ((27, 30), (262, 290), (5, 5)):
        expected = binomtest(caught, total).proportion_ci(confidence_level=0.90, method="wilson").low
        assert wilson_lower_bound(caught, total, 0.95) == pytest.approx(expected, abs=1e-9)


def test_threshold_with_a_confidence_margin_is_stricter_and_its_lower_bound_reaches_the_target(predictions):
    from skin_core.classes import malignant_scores
    from skin_core.metrics import wilson_lower_bound

    labels, probabilities = predictions
    plain = malignancy_threshold(probabilities, labels, sensitivity=0.9)
    margin = malignancy_threshold(probabilities, labels, sensitivity=0.9, confidence=0.95)
    assert margin <= plain  # a lower threshold: more photos called possibly malignant
    malignant = malignant_scores(probabilities)[np.isin(labels, MALIGNANT_INDICES)]
    caught = int((malignant >= margin).sum())
    assert wilson_lower_bound(caught, malignant.size, 0.95) >= 0.9 or caught == malignant.size
    assert wilson_lower_bound(caught - 1, malignant.size, 0.95) < 0.9  # the highest such threshold
