"""Tables and plotly figures comparing model bundles, built only from their measured reports.

The figures must stay readable on a phone (390 px wide) as on a desk: bars run horizontally with each model's
name on its own row, heights grow with the number of rows, legends sit above the plot, and a model is named
in words on its row rather than told apart by colour alone."""

import math
import textwrap
from collections import Counter
from functools import partial

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from skin_core.bundle import read_catalogue
from skin_core.classes import CLASS_CODES
from skin_core.paths import EXTERNAL_ROLES  # sets not named there show as "other clinics"
from ui.i18n import MISSING, diagnosis_name, formatted, model_label, short_diagnosis_name, t

SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")
ABLATION_METRICS = ("balanced_accuracy", "macro_auc", "macro_f1")
# Enough distinct colours for every bundle in weights/ (plotly's default palette repeats after 10).
PALETTE = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
LABEL_WIDTH = 26  # characters per line of a model's name beside a chart: leaves the bars room at 390 px
LINE_PX = 15
LEGEND_ON_TOP = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "title": None}


def shown_bundles(evaluated, research=False) -> list:
    """The released models (weights/catalogue.json; without one, the clinical bundles); with ``research`` every
    bundle: older versions, ablations and experiments."""
    catalogue = read_catalogue()
    released = (lambda b: b.name in catalogue.released) if catalogue else (lambda b: b.config.clinical)
    return [b for b in evaluated if research or released(b)]


def model_labels(evaluated, language="en") -> dict:
    """Bundle name -> the name a reader sees (the app's readable name), followed by the folder name where two
    bundles share one (a chart must never show two rows under the same name)."""
    names = {b.name: model_label(b.name, b.config.display_name, language) for b in evaluated}
    counts = Counter(names.values())
    return {name: label if counts[label] == 1 else f"{label} ({name})" for name, label in names.items()}


def external_sets(evaluated) -> list:
    """The external sets any of these bundles was measured on: tuning sets, then report-only, then others."""
    measured = {name for b in evaluated for name in b.report.external}
    return [name for name in EXTERNAL_ROLES if name in measured] + sorted(measured - set(EXTERNAL_ROLES))


def summary_frame(evaluated, labels: dict) -> pd.DataFrame:
    """One row per bundle: its HAM10000 validation and test metrics, each external set's balanced accuracy and
    melanoma recall (None where not measured), calibration, attention and benchmark figures."""
    sets = external_sets(evaluated)
    rows = []
    for b in evaluated:
        bench, report = b.benchmark, b.report
        test, attention, external = report.test, report.attention_in_lesion, report.external
        rows.append({
            "model": labels[b.name], "backbone": b.config.backbone, "variant": b.config.variant,
            "intended_use": b.config.intended_use,
            "validation_balanced_accuracy": report.validation and report.validation.balanced_accuracy,
            **{m: getattr(test, m) for m in SUMMARY_METRICS}, "mel_recall": test.melanoma_recall,
            **{column: value for name in sets for column, value in (
                (f"{name}_balanced_accuracy", external[name].balanced_accuracy if name in external else None),
                (f"{name}_mel_recall", external[name].melanoma_recall if name in external else None))},
            "ece": test.ece, "ece_before_calibration": report.ece_before_calibration,
            "malignant_sensitivity": test.malignant.sensitivity,
            "malignant_specificity": test.malignant.specificity,
            "attention_mass_inside": attention and attention.mass_inside_lesion,
            "lesion_area_share": attention and attention.lesion_area_share,
            "parameters": b.config.parameters, "latency_ms": None if bench is None else bench.latency_ms_median,
            "bundle_mb": None if bench is None else bench.bundle_mb, "test_images": test.n,
        })
    return pd.DataFrame(rows)


# Column -> string key where the two differ.
COLUMN_KEYS = {"attention_mass_inside": "attention_mass", "lesion_area_share": "lesion_share"}
# The summary table's columns and string keys: every HAM10000 test figure says so beside the other sets.
TABLE_KEYS = {"model": "model", "intended_use": "intended_use_column",
              "validation_balanced_accuracy": "validation_balanced_accuracy",
              "balanced_accuracy": "test_balanced_accuracy", "mel_recall": "test_mel_recall"}
TABLE_TAIL_KEYS = {"accuracy": "test_accuracy", "macro_f1": "test_macro_f1", "macro_auc": "test_macro_auc",
                   "malignant_sensitivity": "test_malignant_sensitivity",
                   "malignant_specificity": "test_malignant_specificity", "ece": "test_ece",
                   "parameters": "parameters", "latency_ms": "latency", "bundle_mb": "bundle_mb",
                   "test_images": "test_images"}
TABLE_SPECS = {"parameters": ",", "test_images": ",", "latency_ms": ".1f", "bundle_mb": ".1f"}  # others: ".3f"


def translated(frame: pd.DataFrame, language="en") -> pd.DataFrame:
    """The frame with its column names in words."""
    return frame.rename(columns={c: t(COLUMN_KEYS.get(c, c), language) for c in frame.columns})


def written(frame: pd.DataFrame, language="en", specs: dict | None = None):
    """The frame as shown, its figures written the page language's way (Babel): ``specs`` maps a column to
    its format spec, ".3f" for any other number column; a figure nobody measured shows as a dash."""
    specs = specs or {}
    numeric = frame.select_dtypes("number").columns
    return frame.style.format({column: partial(formatted, language=language, spec=specs.get(column, ".3f"))
                               for column in numeric}, na_rep=MISSING)


def external_heading(name: str, figure: str, language="en") -> str:
    """A column heading such as "PH2 (tuning): melanoma recall"."""
    title = t(f"set_{name}", language) if name in EXTERNAL_ROLES else name
    role = t(f"set_role_{EXTERNAL_ROLES.get(name, 'other')}", language)
    return t(f"set_{figure}", language, set=title, role=role)


def summary_table(frame: pd.DataFrame, sets, language="en"):
    """The summary as shown: HAM10000 validation and test beside each external set in ``sets``, in words; a
    figure that was not measured shows as a dash, never as a number."""
    headings = {column: t(key, language) for column, key in TABLE_KEYS.items()}
    for name in sets:
        for figure in ("balanced_accuracy", "mel_recall"):
            headings[f"{name}_{figure}"] = external_heading(name, figure, language)
    headings.update({column: t(key, language) for column, key in TABLE_TAIL_KEYS.items()})
    table = frame[list(headings)].copy()
    table["intended_use"] = table["intended_use"].map(lambda value: t(value, language))
    table = table.rename(columns=headings)
    return table.style.format({heading: partial(formatted, language=language, spec=TABLE_SPECS.get(column, ".3f"))
                               for column, heading in headings.items() if column not in ("model", "intended_use")},
                              na_rep=MISSING)


SEPARATORS = {"en": ".,", "vi": ",."}  # plotly's decimal and thousands marks, per language

GATE_SETS = ("internal_test", *EXTERNAL_ROLES, "A_clinical", "A_clinical_logo_cropped", "B_nonskin", "C_medical")


def gate_frame(evaluated, labels: dict, language="en") -> pd.DataFrame:
    """Per bundle with an input gate: the share of photos it flags in each set (dermoscopic sets should
    pass, the others be flagged; a set the bundle was not measured on is left empty) and the lowest AUROC
    against the internal test split."""
    rows = []
    for b in evaluated:
        gate = b.report.gate
        if not gate:
            continue
        measured = {name: report.gate for name, report in b.report.external.items() if report.gate is not None}
        sets = {**measured, **gate.in_distribution, **gate.out_of_distribution}
        rows.append({t("model", language): labels[b.name],
                     **{external_heading(name, "flagged", language) if name in EXTERNAL_ROLES else t(name, language):
                        sets[name].flagged if name in sets else None for name in GATE_SETS},
                     "AUROC (min)": min(v.auroc for v in gate.out_of_distribution.values())})
    return pd.DataFrame(rows)


def wrapped(label: str) -> str:
    """A model's name broken into lines (plotly's <br>) that fit beside a chart on a phone."""
    return "<br>".join(textwrap.wrap(label, LABEL_WIDTH))


def _row_px(labels, bars=1) -> int:
    """The height one chart row needs: its name's lines, and room for ``bars`` bars side by side."""
    lines = max((wrapped(label).count("<br>") + 1 for label in labels), default=1)
    return max(lines * LINE_PX + 10, bars * 10 + 12)


def _horizontal(figure: go.Figure, labels, bars: int) -> go.Figure:
    """Names on the y axis top-down in the table's order, one labelled tick per row, legend above."""
    figure.update_yaxes(autorange="reversed", tickmode="array", tickvals=list(labels),
                        ticktext=[wrapped(label) for label in labels], title=None)
    figure.update_layout(height=len(labels) * _row_px(labels, bars) + 130, legend=LEGEND_ON_TOP,
                         margin={"l": 0, "r": 10, "t": 40, "b": 40})
    return figure


def summary_figure(frame: pd.DataFrame, language="en") -> go.Figure:
    long = frame.melt(id_vars="model", value_vars=list(SUMMARY_METRICS), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(lambda m: t(m, language))
    figure = px.bar(long, y="model", x="value", color="metric", orientation="h", barmode="group", range_x=(0, 1),
                    labels={"value": t("value", language), "metric": t("metric", language)})
    return _horizontal(figure, list(frame["model"]), bars=len(SUMMARY_METRICS))


def per_class_figure(evaluated, labels: dict, metric="recall", language="en") -> go.Figure:
    """One row per bundle, every row named (plotly would otherwise skip names when rows are crowded)."""
    values = [[getattr(b.report.test.per_class[c], metric) for c in CLASS_CODES] for b in evaluated]
    rows = [labels[b.name] for b in evaluated]
    figure = px.imshow(values, x=list(CLASS_CODES), zmin=0, zmax=1, color_continuous_scale="Viridis",
                       text_auto=".2f", aspect="auto", labels={"color": t(metric, language)})
    figure.update_traces(textfont_size=10)
    figure.update_yaxes(tickmode="array", tickvals=list(range(len(rows))), ticktext=[wrapped(r) for r in rows])
    figure.update_xaxes(side="top")
    figure.update_layout(height=len(rows) * _row_px(rows) + 110, margin={"l": 0, "r": 0, "t": 30, "b": 10},
                         coloraxis_colorbar={"orientation": "h", "y": -0.02, "yanchor": "top", "thickness": 12,
                                             "title": {"side": "top"}})
    return figure


def confusion_figure(matrix, language="en") -> go.Figure:
    """Rows: the true class; columns: the predicted one (evaluation_report's confusion_matrix), named by
    diagnosis (short names, wrapped, so that all seven fit a phone); counts are whole numbers, on the cells and
    on the colour scale."""
    names = [wrapped(short_diagnosis_name(code, language)) for code in CLASS_CODES]
    figure = px.imshow(matrix, x=names, y=names, text_auto=True, color_continuous_scale="Blues", aspect="auto",
                       labels={"x": t("predicted", language), "y": t("truth", language),
                               "color": t("photos", language)})
    step = max(1, math.ceil(max(max(row) for row in matrix) / 4))  # whole counts: never 0.5 shown as 1
    figure.update_layout(separators=SEPARATORS[language], height=520, margin={"l": 0, "r": 0, "t": 10, "b": 0},
                         coloraxis_colorbar={"tickformat": ",d", "tick0": 0, "dtick": step, "thickness": 10,
                                             "title": {"side": "top"}})
    figure.update_yaxes(automargin=True)
    figure.update_xaxes(tickangle=-45, automargin=True)
    return figure


def roc_figure(bundle, language="en") -> go.Figure:
    figure = go.Figure()
    for code, curve in bundle.report.roc.items():
        auc = bundle.report.test.per_class[code].auc
        figure.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines",
                                    name=wrapped(f"{diagnosis_name(code, language)} (AUC {auc:.3f})")))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                                showlegend=False))
    figure.update_layout(xaxis_title=t("fpr", language), yaxis_title=t("tpr", language), height=560,
                         legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0},
                         margin={"l": 10, "r": 10, "t": 10})
    return figure


def speed_figure(frame: pd.DataFrame, language="en") -> go.Figure | None:
    """Each model its own colour and marker, named in the legend under the plot."""
    measured = frame.dropna(subset=["latency_ms", "parameters", "balanced_accuracy"])
    if measured.empty:
        return None
    figure = px.scatter(measured, x="latency_ms", y="balanced_accuracy", size="parameters", color="model",
                        symbol="model", color_discrete_sequence=PALETTE, hover_data=["parameters", "bundle_mb"],
                        size_max=30, labels={"latency_ms": t("latency", language),
                                             "balanced_accuracy": t("balanced_accuracy", language),
                                             "parameters": t("parameters", language), "model": t("model", language)})
    figure.for_each_trace(lambda trace: trace.update(name=wrapped(trace.name)))
    legend_px = sum(wrapped(name).count("<br>") * LINE_PX + 24 for name in measured["model"])  # a row each on a phone
    figure.update_layout(height=400 + legend_px, margin={"l": 0, "r": 10, "t": 10},
                         legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0,
                                 "title": None, "maxheight": legend_px + 20})
    return figure


def ablation_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Backbones that have a full model and at least one ablation, one row per bundle: full models first."""
    families = frame.groupby("backbone")["variant"].apply(lambda v: "full_model" in set(v) and len(set(v)) > 1)
    ablations = frame[frame["backbone"].isin(families[families].index)]
    return ablations.sort_values(["backbone", "variant"], kind="stable",
                                 key=lambda column: column.where(column != "full_model", ""))


def ablation_figure(frame: pd.DataFrame, language="en") -> go.Figure | None:
    """One panel per metric, one bar per bundle with its value written on it; the colour says the variant
    (a full model or what it leaves out), so bundles of the same variant never merge into one bar."""
    ablations = ablation_frame(frame)
    if ablations.empty:
        return None
    long = ablations.melt(id_vars=["model", "variant"], value_vars=list(ABLATION_METRICS), var_name="metric",
                          value_name="value")
    long["variant"] = long["variant"].map(lambda v: t(v, language))
    long["metric"] = long["metric"].map(lambda m: t(m, language))
    labels = list(ablations["model"])
    figure = px.bar(long, y="model", x="value", color="variant", facet_col="metric", facet_col_wrap=1,
                    orientation="h", barmode="overlay", text_auto=".3f", range_x=(0, 1),
                    facet_row_spacing=0.12 / len(ABLATION_METRICS) + 0.04,
                    color_discrete_sequence=PALETTE,
                    labels={"value": t("value", language), "variant": t("variant", language)})
    figure.for_each_annotation(lambda note: note.update(text=note.text.split("=", 1)[-1], font_size=13))
    figure.update_traces(textposition="inside", insidetextanchor="end", marker_opacity=1)
    figure.update_xaxes(title=None)
    figure.update_layout(height=len(ABLATION_METRICS) * (len(labels) * _row_px(labels) + 60) + 80,
                         legend=LEGEND_ON_TOP, margin={"l": 0, "r": 10, "t": 40, "b": 30})
    figure.update_yaxes(categoryorder="array", categoryarray=labels, range=(len(labels) - 0.5, -0.5),
                        tickmode="array", tickvals=labels, ticktext=[wrapped(label) for label in labels], title=None)
    return figure
