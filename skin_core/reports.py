"""Typed reports: what a bundle's metrics.json and its added reports say, read by field.

The research tools write these reports as plain JSON (``skin_core.metrics.evaluation_report`` and the tools
that call it); pages, the selection rule, the models table and the drift monitor read them through these types,
so that a missing or renamed figure is one clear error when a bundle is opened, not a KeyError on a page.
"""

from dataclasses import MISSING, dataclass, field, fields

from skin_core.classes import CLASS_CODES


@dataclass(frozen=True)
class ClassFigures:
    """One diagnosis on one set of photos; ``absent``: the set holds none of it (recall and AUC are then None)."""

    precision: float | None
    recall: float | None
    f1: float | None
    specificity: float | None
    auc: float | None
    support: int
    absent: bool = False


@dataclass(frozen=True)
class MalignantFigures:
    """Melanoma + basal cell carcinoma + actinic keratosis against the rest, at the bundle's threshold."""

    auc: float | None
    sensitivity: float | None
    specificity: float | None
    threshold: float | None = None


@dataclass(frozen=True)
class GateRates:
    """What the input gate did to one set of photos: the share it flagged, per reason, and (for photos that are
    not dermoscopy) how well its score separates them from the internal test photos."""

    n: int
    flagged: float
    auroc: float | None = None
    reasons: dict = field(default_factory=dict)  # reason -> share of the set


@dataclass(frozen=True)
class GateReport:
    """How the bundle's input gate was fitted and what it flags (the figures beside GateSettings)."""

    threshold: float
    in_distribution: dict  # set name -> GateRates (dermoscopy: should pass)
    out_of_distribution: dict  # category -> GateRates (should be flagged)
    latency_ms_median: float | None = None


@dataclass(frozen=True)
class SetReport:
    """The evaluation figures on one set of labelled photos."""

    n: int
    accuracy: float
    balanced_accuracy: float
    macro_auc: float | None
    macro_f1: float
    per_class: dict  # class code -> ClassFigures
    malignant: MalignantFigures
    ece: float
    data: str = ""  # where the photos came from, relative to the shared data folder
    gate: GateRates | None = None  # measured with the bundle's gate, when it has one

    @property
    def melanoma_recall(self) -> float | None:
        return self.per_class["mel"].recall


@dataclass(frozen=True)
class ValidationFigures:
    n: int
    balanced_accuracy: float
    macro_auc: float | None
    ece: float
    ece_before_calibration: float | None = None


@dataclass(frozen=True)
class ImageOnlyFigures:
    """The test split again with every patient detail left unknown."""

    balanced_accuracy: float
    accuracy: float
    macro_auc: float | None
    macro_f1: float
    ece: float


@dataclass(frozen=True)
class AttentionFigures:
    """How much of the attention map falls inside the dermatologists' lesion masks, against the lesions' area."""

    n: int
    mass_inside_lesion: float
    lesion_area_share: float
    ratio: float


@dataclass(frozen=True)
class BundleReport:
    """A bundle's report: its test split (``test``), the validation split, other sources' photos (``external``,
    by set name), the input gate and the attention check."""

    test: SetReport
    confusion_matrix: tuple  # rows = truth, columns = prediction, in CLASS_CODES order
    roc: dict  # class code -> {"fpr": [...], "tpr": [...]}
    ece_before_calibration: float | None
    validation: ValidationFigures | None
    image_only: ImageOnlyFigures | None
    attention_in_lesion: AttentionFigures | None
    gate: GateReport | None
    external: dict  # set name -> SetReport


def read_report(raw: dict) -> BundleReport:
    """The typed report of a metrics.json (with its added external reports merged); raises ValueError naming the
    part that is missing or malformed."""
    return BundleReport(
        test=read_set_report({key: value for key, value in raw.items() if key != "gate"}, "test"),  # gate: its fitting
        confusion_matrix=tuple(tuple(row) for row in _required(raw, "confusion_matrix", "")),
        roc=dict(raw.get("roc") or {}),
        ece_before_calibration=raw.get("ece_before_calibration"),
        validation=_optional(ValidationFigures, raw.get("validation"), "validation"),
        image_only=_optional(ImageOnlyFigures, raw.get("image_only"), "image_only"),
        attention_in_lesion=_optional(AttentionFigures, raw.get("attention_in_lesion"), "attention_in_lesion"),
        gate=None if not raw.get("gate") else _gate_report(raw["gate"]),
        external={name: read_set_report(report, f"external.{name}") for name, report in (raw.get("external") or {}).items()})


def read_set_report(raw: dict, where: str = "") -> SetReport:
    """The typed figures on one set of photos (an external report, or the test split's in metrics.json)."""
    per_class = _required(raw, "per_class", where)
    missing = [code for code in CLASS_CODES if code not in per_class]
    if missing:
        raise ValueError(f"{where}.per_class lacks {missing}")
    return SetReport(
        **_known(SetReport, raw, where, skip=("per_class", "malignant", "gate")),
        per_class={code: _typed(ClassFigures, per_class[code], f"{where}.per_class.{code}") for code in CLASS_CODES},
        malignant=_typed(MalignantFigures, _required(raw, "malignant", where), f"{where}.malignant"),
        gate=None if not raw.get("gate") else _gate_rates(raw["gate"], f"{where}.gate"))


def _gate_report(raw: dict) -> GateReport:
    return GateReport(
        threshold=_required(raw, "threshold", "gate"),
        in_distribution={name: _gate_rates(rates, f"gate.in_distribution.{name}")
                         for name, rates in _required(raw, "in_distribution", "gate").items()},
        out_of_distribution={name: _gate_rates(rates, f"gate.out_of_distribution.{name}")
                             for name, rates in _required(raw, "out_of_distribution", "gate").items()},
        latency_ms_median=raw.get("latency_ms_median"))


def _gate_rates(raw: dict, where: str) -> GateRates:
    return GateRates(n=_required(raw, "n", where), flagged=_required(raw, "flagged", where), auroc=raw.get("auroc"),
                     reasons={key: value for key, value in raw.items() if key not in ("n", "flagged", "auroc")})


def _optional(kind, raw, where: str):
    return None if not raw else _typed(kind, raw, where)


def _typed(kind, raw: dict, where: str):
    return kind(**_known(kind, raw, where))


def _known(kind, raw, where: str, skip=()) -> dict:
    """The fields of ``kind`` in ``raw`` (figures the type does not name are left to the JSON's other readers);
    a required one that is missing is an error."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where or 'the report'} is not a JSON object")
    values = {}
    for item in fields(kind):
        if item.name in skip:
            continue
        if item.name in raw:
            values[item.name] = raw[item.name]
        elif item.default is MISSING and item.default_factory is MISSING:
            raise ValueError(f"{(where + '.') if where else ''}{item.name} is missing")
    return values


def _required(raw: dict, key: str, where: str):
    if not isinstance(raw, dict) or key not in raw:
        raise ValueError(f"{(where + '.') if where else ''}{key} is missing")
    return raw[key]

