"""The evaluation report: every figure computed with scikit-learn from labels and probabilities."""

import numpy as np
from scipy.stats import norm
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support, roc_auc_score, roc_curve)

from skin_core.calibration import expected_calibration_error
from skin_core.classes import CLASS_CODES, MALIGNANT_INDICES, malignant_scores

FALLBACK_MALIGNANCY_THRESHOLD = 0.5  # when the validation split holds no malignant lesion to calibrate on


def malignancy_threshold(probabilities, labels, sensitivity=0.90, confidence=None) -> float:
    """The highest threshold on the malignant score whose sensitivity on these photos reaches ``sensitivity``.

    With ``confidence`` (e.g. 0.95) the one-sided lower Wilson bound of that sensitivity must reach it instead:
    a margin that shrinks as the malignant photos grow in number, so that the operating point chosen on
    validation still holds on photos it never saw (another clinic's camera included).
    """
    scores = np.sort(malignant_scores(probabilities)[np.isin(labels, MALIGNANT_INDICES)])[::-1]
    if scores.size == 0:
        return FALLBACK_MALIGNANCY_THRESHOLD
    if confidence is None:
        return float(np.quantile(scores, 1.0 - sensitivity, method="lower"))
    caught = np.arange(1, scores.size + 1)  # photos at or above the k-th highest score
    reaching = np.flatnonzero(wilson_lower_bound(caught, scores.size, confidence) >= sensitivity)
    return float(scores[reaching[0]] if reaching.size else scores[-1])


def wilson_lower_bound(successes, trials, confidence=0.95):
    """One-sided lower confidence bound of a proportion (Wilson score interval)."""
    z = norm.ppf(confidence)
    p = np.asarray(successes, dtype=np.float64) / trials
    centre = p + z * z / (2 * trials)
    spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre - spread) / (1 + z * z / trials)


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
