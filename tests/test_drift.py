"""The drift monitor on generated analysis logs: a month like the model's own test photos raises nothing, a
shifted one raises what shifted, and the reference figures agree with the test report they come from."""

import datetime
import json

import numpy as np
import pandas as pd
import pytest

from skin_core import paths
from skin_core.cases.drift import MIN_ANALYSES, Reference, monthly, reference_of
from skin_core.reports import read_report
from skin_core.cases.store import DRIFT_COLUMNS
from skin_core.classes import CLASS_CODES

REFERENCE = Reference(refused_share=0.02, top_mix={"nv": 0.6, "bkl": 0.15, "mel": 0.1, "bcc": 0.05, "akiec": 0.04,
                                                  "df": 0.03, "vasc": 0.03}, alert_rate=0.3)


def month_of_analyses(month: str, n=200, refused=0.02, mix=REFERENCE.top_mix, alert=0.3, confidence=(6, 2),
                      seed=0) -> pd.DataFrame:
    """``n`` analyses in ``month`` drawn from known shares: refusals, top-diagnosis mix, alerts, and top
    probabilities from Beta(*confidence)."""
    rng = np.random.default_rng(seed)
    day = datetime.datetime.fromisoformat(f"{month}-10T09:00:00+00:00")
    is_refused = rng.random(n) < refused
    return pd.DataFrame({
        "at": [day + datetime.timedelta(minutes=i) for i in range(n)], "model_name": "m", "model_version": "1",
        "gate_reason": np.where(is_refused, "poor_quality", "ok"),
        "gate_problem": np.where(is_refused, "blurred", None),
        "top_code": rng.choice(list(mix), n, p=list(mix.values())), "top_probability": rng.beta(*confidence, n),
        "low_confidence": rng.random(n) < 0.1, "malignancy_alert": rng.random(n) < alert}, columns=list(DRIFT_COLUMNS))


def test_a_stable_month_raises_nothing_and_a_shifted_one_says_what_shifted():
    shifted_mix = {"nv": 0.2, "bkl": 0.45, "mel": 0.1, "bcc": 0.1, "akiec": 0.1, "df": 0.03, "vasc": 0.02}
    log = pd.concat([month_of_analyses("2026-09", seed=1), month_of_analyses("2026-10", seed=2),
                     month_of_analyses("2026-11", refused=0.12, mix=shifted_mix, alert=0.7, confidence=(3, 3), seed=3),
                     month_of_analyses("2026-12", n=MIN_ANALYSES - 1, refused=0.5, seed=4)])
    months = monthly(log, {("m", "1"): REFERENCE})
    assert [(m.month, m.flags) for m in months] == [
        ("2026-09", ()), ("2026-10", ()), ("2026-11", ("refusals", "alerts", "mix", "confidence")),
        ("2026-12", ())]  # too few analyses to judge
    november = months[2]
    rows = log[log["at"].dt.strftime("%Y-%m") == "2026-11"]
    answered = rows[rows["gate_reason"] == "ok"]
    assert november.n == 200 and november.refused_share == pytest.approx((rows["gate_reason"] != "ok").mean())
    assert november.reasons == {"blurred": int((rows["gate_reason"] != "ok").sum())}
    assert november.top_mix["bkl"] == pytest.approx((answered["top_code"] == "bkl").mean())
    assert november.alert_rate == pytest.approx(answered["malignancy_alert"].mean())
    assert november.mean_top_probability == pytest.approx(answered["top_probability"].mean())


def test_without_the_model_s_report_only_confidence_is_judged():
    log = pd.concat([month_of_analyses("2026-10"), month_of_analyses("2026-11", refused=0.5, confidence=(2, 4))])
    assert [m.flags for m in monthly(log, {})] == [(), ("confidence",)]


def test_the_reference_is_the_model_s_own_test_report():
    metrics = json.loads((paths.REPO_DIR / "weights" / "efficientnetlite2-224-isic2017-v3" / "metrics.json")
                         .read_text(encoding="utf-8"))
    reference = reference_of(read_report(metrics))  # the typed report; the figures below read the JSON itself
    matrix = np.array(metrics["confusion_matrix"])
    assert reference.refused_share == metrics["gate"]["in_distribution"]["internal_test"]["flagged"]
    assert reference.top_mix["nv"] == pytest.approx(matrix[:, CLASS_CODES.index("nv")].sum() / matrix.sum())
    truly_malignant = matrix[[CLASS_CODES.index(c) for c in ("akiec", "bcc", "mel")]].sum()
    caught = metrics["malignant"]["sensitivity"] * truly_malignant
    false_alerts = (1 - metrics["malignant"]["specificity"]) * (matrix.sum() - truly_malignant)
    assert reference.alert_rate == pytest.approx((caught + false_alerts) / matrix.sum())
