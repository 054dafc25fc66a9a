"""Tables and plotly figures comparing model bundles, built only from their measured reports."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from skin_core.classes import CLASS_CODES
from ui.i18n import diagnosis_name, t

SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")


def summary_frame(evaluated) -> pd.DataFrame:
    """One row per bundle: its test metrics, calibration, attention and benchmark figures."""
    rows = []
    for b in evaluated:
        bench = b.config.benchmark
        attention = b.metrics.get("attention_in_lesion", {})
        external = next(iter(b.metrics.get("external", {}).values()), {})
        rows.append({
            "model": b.name, "backbone": b.config.backbone, "variant": b.config.variant,
            "intended_use": b.config.intended_use,
            **{m: b.metrics.get(m) for m in SUMMARY_METRICS},
            "external_balanced_accuracy": external.get("balanced_accuracy"),
            "external_mel_recall": external.get("per_class", {}).get("mel", {}).get("recall"),
            "ece": b.metrics.get("ece"), "ece_before_calibration": b.metrics.get("ece_before_calibration"),
            "malignant_sensitivity": b.metrics.get("malignant", {}).get("sensitivity"),
            "malignant_specificity": b.metrics.get("malignant", {}).get("specificity"),
            "attention_mass_inside": attention.get("mass_inside_lesion"),
            "lesion_area_share": attention.get("lesion_area_share"),
            "parameters": b.config.parameters, "latency_ms": None if bench is None else bench.latency_ms_median,
            "bundle_mb": None if bench is None else bench.bundle_mb, "test_images": b.metrics.get("n"),
        })
    return pd.DataFrame(rows)


# Column -> string key where the two differ.
COLUMN_KEYS = {"attention_mass_inside": "attention_mass", "lesion_area_share": "lesion_share",
               "latency_ms": "latency", "intended_use": "intended_use_column"}


def translated(frame: pd.DataFrame, language="en") -> pd.DataFrame:
    """The frame with column names and coded values (variant, intended use) in words."""
    words = frame.copy()
    for column in ("variant", "intended_use"):
        if column in words:
            words[column] = words[column].map(lambda value: t(value, language))
    return words.rename(columns={c: t(COLUMN_KEYS.get(c, c), language) for c in words.columns})


GATE_SETS = ("internal_test", "isic2017_test", "A_clinical", "A_clinical_logo_cropped", "B_nonskin", "C_medical")


def gate_frame(evaluated, language="en") -> pd.DataFrame:
    """Per bundle with an input gate: the share of photos it flags in each set (dermoscopic sets should
    pass, the others be flagged) and the lowest AUROC against the internal test split."""
    rows = []
    for b in evaluated:
        gate = b.metrics.get("gate")
        if not gate:
            continue
        sets = {**gate["in_distribution"], **gate["out_of_distribution"]}
        rows.append({t("model", language): b.name,
                     **{t(name, language): sets[name]["flagged"] for name in GATE_SETS if name in sets},
                     "AUROC (min)": min(v["auroc"] for v in gate["out_of_distribution"].values())})
    return pd.DataFrame(rows)


def summary_figure(frame: pd.DataFrame, language="en") -> go.Figure:
    long = frame.melt(id_vars="model", value_vars=list(SUMMARY_METRICS), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(lambda m: t(m, language))
    figure = px.bar(long, x="model", y="value", color="metric", barmode="group", range_y=(0, 1),
                    labels={"value": t("value", language), "metric": t("metric", language),
                            "model": t("model", language)})
    return figure


def per_class_figure(evaluated, metric="recall", language="en") -> go.Figure:
    values = [[b.metrics["per_class"][c][metric] for c in CLASS_CODES] for b in evaluated]
    return px.imshow(values, x=list(CLASS_CODES), y=[b.name for b in evaluated], zmin=0, zmax=1,
                     color_continuous_scale="Viridis", text_auto=".2f", aspect="auto",
                     labels={"color": t(metric, language)})


def confusion_figure(matrix, language="en") -> go.Figure:
    """Rows: the true class; columns: the predicted one (evaluation_report's confusion_matrix)."""
    return px.imshow(matrix, x=list(CLASS_CODES), y=list(CLASS_CODES), text_auto=True,
                     color_continuous_scale="Blues", aspect="auto",
                     labels={"x": t("predicted", language), "y": t("truth", language), "color": "n"})


def roc_figure(bundle, language="en") -> go.Figure:
    figure = go.Figure()
    for code, curve in bundle.metrics.get("roc", {}).items():
        auc = bundle.metrics["per_class"][code]["auc"]
        figure.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines",
                                    name=f"{diagnosis_name(code, language)} (AUC {auc:.3f})"))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                                showlegend=False))
    figure.update_layout(xaxis_title=t("fpr", language), yaxis_title=t("tpr", language), height=520,
                         legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0},
                         margin={"l": 10, "r": 10, "t": 10})
    return figure


def speed_figure(frame: pd.DataFrame, language="en") -> go.Figure | None:
    measured = frame.dropna(subset=["latency_ms", "parameters", "balanced_accuracy"])
    if measured.empty:
        return None
    return px.scatter(measured, x="latency_ms", y="balanced_accuracy", size="parameters", color="model",
                      hover_data=["parameters", "bundle_mb"], size_max=40,
                      labels={"latency_ms": t("latency", language),
                              "balanced_accuracy": t("balanced_accuracy", language),
                              "parameters": t("parameters", language)})


def ablation_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Backbones that have a full model and at least one ablation, one row per variant."""
    families = frame.groupby("backbone")["variant"].apply(lambda v: "full_model" in set(v) and len(set(v)) > 1)
    return frame[frame["backbone"].isin(families[families].index)]


def ablation_figure(frame: pd.DataFrame, language="en") -> go.Figure | None:
    ablations = ablation_frame(frame)
    if ablations.empty:
        return None
    long = ablations.melt(id_vars=["backbone", "variant"], value_vars=["balanced_accuracy", "macro_auc",
                                                                       "macro_f1"],
                          var_name="metric", value_name="value")
    long["variant"] = long["variant"].map(lambda v: t(v, language))
    long["metric"] = long["metric"].map(lambda m: t(m, language))
    return px.bar(long, x="metric", y="value", color="variant", barmode="group", facet_col="backbone",
                  range_y=(0, 1), labels={"value": t("value", language), "variant": t("variant", language),
                                          "metric": t("metric", language)})
