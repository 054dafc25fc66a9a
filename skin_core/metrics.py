"""The evaluation report: every figure computed with scikit-learn from labels and probabilities."""

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support, roc_auc_score, roc_curve)

from skin_core.calibration import expected_calibration_error
from skin_core.classes import CLASS_CODES, MALIGNANT_INDICES

FALLBACK_MALIGNANCY_THRESHOLD = 0.5  # when the validation split holds no malignant lesion to calibrate on


def malignant_scores(probabilities: np.ndarray) -> np.ndarray:
    """P(melanoma) + P(basal cell carcinoma) + P(actinic keratosis / Bowen's)."""
    return np.asarray(probabilities)[:, list(MALIGNANT_INDICES)].sum(axis=1)


def malignancy_threshold(probabilities, labels, sensitivity=0.90) -> float:
    """The highest threshold on the malignant score whose sensitivity reaches ``sensitivity``."""
    scores = malignant_scores(probabilities)[np.isin(labels, MALIGNANT_INDICES)]
    if scores.size == 0:
        return FALLBACK_MALIGNANCY_THRESHOLD
    return float(np.quantile(scores, 1.0 - sensitivity, method="lower"))


def _round(value):
    return None if value is None else round(float(value), 6)


def evaluation_report(labels, probabilities, threshold: float) -> dict:
    """Accuracy, balanced accuracy, AUC, F1, per-class figures, confusion matrix, malignancy and ECE.

    Classes absent from ``labels`` are reported with ``support`` 0 and no recall / AUC; macro figures
    average over the classes present.
    """
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    present = sorted(set(labels.tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(len(CLASS_CODES)), zero_division=0)
    matrix = confusion_matrix(labels, predicted, labels=range(len(CLASS_CODES)))
    per_class, roc, aucs = {}, {}, []
    for index, code in enumerate(CLASS_CODES):
        is_class = labels == index
        negatives = ~is_class
        specificity = (predicted[negatives] != index).mean() if negatives.any() else None
        auc = None
        if is_class.any() and negatives.any():
            auc = roc_auc_score(is_class, probabilities[:, index])
            aucs.append(auc)
            fpr, tpr, _ = roc_curve(is_class, probabilities[:, index])
            roc[code] = {"fpr": [_round(v) for v in fpr], "tpr": [_round(v) for v in tpr]}
        per_class[code] = {
            "support": int(support[index]),
            "absent": not is_class.any(),
            "precision": _round(precision[index]) if (predicted == index).any() else None,
            "recall": _round(recall[index]) if is_class.any() else None,
            "f1": _round(f1[index]) if is_class.any() else None,
            "specificity": _round(specificity),
            "auc": _round(auc),
        }
    is_malignant = np.isin(labels, MALIGNANT_INDICES)
    scores = malignant_scores(probabilities)
    flagged = scores >= threshold
    both_sides = is_malignant.any() and (~is_malignant).any()
    return {
        "n": int(labels.size),
        "accuracy": _round(accuracy_score(labels, predicted)),
        "balanced_accuracy": _round(balanced_accuracy_score(labels, predicted)),
        "macro_auc": _round(np.mean(aucs)) if aucs else None,
        "macro_f1": _round(f1_score(labels, predicted, labels=present, average="macro", zero_division=0)),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "malignant": {
            "threshold": _round(threshold),
            "auc": _round(roc_auc_score(is_malignant, scores)) if both_sides else None,
            "sensitivity": _round(flagged[is_malignant].mean()) if is_malignant.any() else None,
            "specificity": _round((~flagged[~is_malignant]).mean()) if (~is_malignant).any() else None,
        },
        "ece": _round(expected_calibration_error(probabilities, labels)),
        "roc": roc,
    }


def attention_in_lesion(attention_maps, masks) -> dict:
    """Share of the aggregated attention mass inside the lesion, against the lesion's share of the image.

    ``attention_maps`` and ``masks`` are same-sized (H, W) arrays; masks are boolean.
    """
    inside, share = [], []
    for attention, mask in zip(attention_maps, masks):
        total = attention.sum()
        if total <= 0 or not mask.any():
            continue
        inside.append(float(attention[mask].sum() / total))
        share.append(float(mask.mean()))
    if not inside:
        return {"n": 0}
    return {"n": len(inside), "mass_inside_lesion": _round(np.mean(inside)),
            "lesion_area_share": _round(np.mean(share)), "ratio": _round(np.mean(inside) / np.mean(share))}
