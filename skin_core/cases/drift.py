"""Drift monitor: does this clinic's stream of photos still look like what the model was checked on?

Per month and model version, from the analysis log (CaseStore.analyses: no patient data): the share of photos
the input check refused and why, the mix of top diagnoses, the mean top probability, the share of
low-confidence answers and the alert rate. Each is set against the model's own test report (its metrics.json:
the input gate's rate on the internal test photos, the predicted-class mix and the alert rate there), or, for
confidence, which the report does not hold, against the clinic's own earlier months with that model version. A
month with fewer than ``MIN_ANALYSES`` analyses is shown, never judged: its shares are too uncertain.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from skin_core.classes import CLASS_CODES, MALIGNANT_CODES
from skin_core.reports import BundleReport

MIN_ANALYSES = 30
REFUSAL_FACTOR, REFUSAL_MARGIN = 2.0, 0.05  # refusals at least doubled and 5 points above the model's own rate
ALERT_FACTOR = 2.0  # the alert rate more than doubled or halved
MIX_DISTANCE = 0.25  # total variation distance between the month's top-diagnosis mix and the model's
CONFIDENCE_DROP = 0.10  # mean top probability below the earlier months' by this much
FLAGS = ("refusals", "alerts", "mix", "confidence")


@dataclass(frozen=True)
class Reference:
    """What the model did on its own test photos."""

    refused_share: float | None  # the input gate's rate on the internal test split (None: no gate)
    top_mix: dict  # class code -> share of the photos predicted as it
    alert_rate: float


@dataclass(frozen=True)
class Month:
    model_name: str
    model_version: str
    month: str  # "2026-11"
    n: int
    refused_share: float
    reasons: dict  # finding -> count among the refused
    top_mix: dict  # class code -> share among the answered photos
    mean_top_probability: float | None
    low_confidence_share: float | None
    alert_rate: float | None
    flags: tuple  # FLAGS raised this month


def reference_of(report: BundleReport) -> Reference:
    """The Reference in a bundle's report (its test split)."""
    matrix = np.asarray(report.confusion_matrix, dtype=np.float64)
    n = matrix.sum()
    malignant_rows = [CLASS_CODES.index(code) for code in MALIGNANT_CODES]
    prevalence = matrix[malignant_rows].sum() / n
    figures = report.test.malignant
    return Reference(refused_share=report.gate.in_distribution["internal_test"].flagged if report.gate else None,
                     top_mix=dict(zip(CLASS_CODES, (matrix.sum(axis=0) / n).tolist())),
                     alert_rate=float(figures.sensitivity * prevalence + (1 - figures.specificity) * (1 - prevalence)))


def monthly(log: pd.DataFrame, references: dict) -> list[Month]:
    """One Month per model version and calendar month of ``log`` (CaseStore.analyses), oldest first;
    ``references``: (model name, version) -> Reference, or None where the model's report is gone."""
    if log.empty:
        return []
    log = log.assign(month=pd.to_datetime(log["at"], utc=True).dt.strftime("%Y-%m"),
                     refused=log["gate_reason"].notna() & (log["gate_reason"] != "ok"))
    months = []
    for (name, version), rows in log.groupby(["model_name", "model_version"], sort=False):
        reference = references.get((name, version))
        earlier = rows.iloc[:0]
        for month, group in rows.groupby("month"):
            months.append(_month(name, version, month, group, reference, earlier))
            earlier = pd.concat([earlier, group])
    return months


def _month(name, version, month, group, reference, earlier) -> Month:
    answered = group[~group["refused"]]
    refused = group[group["refused"]]
    reasons = (refused["gate_problem"].fillna(refused["gate_reason"])).value_counts().to_dict()
    mix = {code: float((answered["top_code"] == code).mean()) if len(answered) else 0.0 for code in CLASS_CODES}
    figures = dict(refused_share=float(group["refused"].mean()), reasons=reasons, top_mix=mix,
                   mean_top_probability=_mean(answered["top_probability"]),
                   low_confidence_share=_mean(answered["low_confidence"]),
                   alert_rate=_mean(answered["malignancy_alert"]))
    flags = []
    if len(group) >= MIN_ANALYSES and reference is not None:
        if reference.refused_share is not None and figures["refused_share"] >= max(
                REFUSAL_FACTOR * reference.refused_share, reference.refused_share + REFUSAL_MARGIN):
            flags.append("refusals")
        if len(answered) and not (reference.alert_rate / ALERT_FACTOR <= figures["alert_rate"]
                                  <= reference.alert_rate * ALERT_FACTOR):
            flags.append("alerts")
        if len(answered) and 0.5 * sum(abs(mix[c] - reference.top_mix[c]) for c in CLASS_CODES) > MIX_DISTANCE:
            flags.append("mix")
    before = earlier[~earlier["refused"]]
    if len(answered) >= MIN_ANALYSES and len(before) >= MIN_ANALYSES and (
            figures["mean_top_probability"] < before["top_probability"].mean() - CONFIDENCE_DROP):
        flags.append("confidence")
    return Month(name, version, month, len(group), **figures, flags=tuple(flags))


def _mean(values: pd.Series) -> float | None:
    return float(values.astype(float).mean()) if len(values) else None
