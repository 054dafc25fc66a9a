"""Clinic validation: how each model did on the clinic's own patients, from the cases with a confirmed diagnosis.

The same figures as ``skin_core.research.evaluate`` (skin_core.metrics.evaluation_report), per model version, at the
malignancy threshold the model used when the cases were saved.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

from skin_core.classes import CLASS_CODES, MALIGNANT_CODES
from skin_core.metrics import evaluation_report, wilson_lower_bound

# Below these, the figures are anecdotes: with 50 cases a balanced accuracy is uncertain by about +/- 0.15, and
# a sensitivity from 10 malignant cases by about +/- 0.2 (95 % intervals).
MIN_CASES = 50
MIN_MALIGNANT = 10


@dataclass
class ClinicReport:
    model_name: str
    model_version: str
    n: int  # confirmed cases within the seven classes: what the figures rest on
    n_malignant: int
    outside_classes: int  # confirmed as "other": not counted in the figures
    sources: dict  # how the diagnoses were confirmed: source -> count
    report: dict | None  # evaluation_report, None when n == 0
    sensitivity_lower_bound: float | None  # 95 % Wilson lower bound of the malignant sensitivity

    @property
    def enough_cases(self) -> bool:
        return self.n >= MIN_CASES and self.n_malignant >= MIN_MALIGNANT


def clinic_validation(cases) -> list[ClinicReport]:
    """One ClinicReport per (model name, version) among confirmed ``cases`` (CaseRecords), most cases first."""
    groups: dict[tuple, list] = {}
    for case in cases:
        if case.final_diagnosis is not None:
            groups.setdefault((case.model_name, case.model_version), []).append(case)
    reports = []
    for (name, version), group in groups.items():
        inside = [c for c in group if c.final_diagnosis in CLASS_CODES]
        malignant = [c for c in inside if c.final_diagnosis in MALIGNANT_CODES]
        report = lower = None
        if inside:
            labels = np.array([CLASS_CODES.index(c.final_diagnosis) for c in inside])
            probabilities = np.array([[c.probabilities[code] for code in CLASS_CODES] for c in inside])
            threshold = Counter(c.malignancy_threshold for c in inside).most_common(1)[0][0]
            report = evaluation_report(labels, probabilities, threshold)
            if malignant:
                caught = round(report["malignant"]["sensitivity"] * len(malignant))
                lower = round(float(wilson_lower_bound(caught, len(malignant))), 6)
        reports.append(ClinicReport(name, version, len(inside), len(malignant), len(group) - len(inside),
                                    dict(Counter(c.final_source for c in group)), report, lower))
    return sorted(reports, key=lambda r: -r.n)
