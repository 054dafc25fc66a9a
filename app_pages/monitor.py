"""Drift monitor: per month and model version, how this clinic's photos and answers compare with what the model
was checked on (skin_core.cases.drift), with a clear mark where they drifted."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from skin_core.bundle import BundleError, open_bundle
from skin_core.cases import CaseError
from skin_core.cases.drift import MIN_ANALYSES, monthly, reference_of
from skin_core.classes import CLASS_CODES
from ui.cases import error_message, history_page
from ui.comparison import LEGEND_ON_TOP, SEPARATORS
from ui.i18n import diagnosis_name, formatted, model_label, t
from ui.state import language

lang = language()
store, user = history_page("page_monitor", lang)
st.caption(t("monitor_intro", lang, minimum=MIN_ANALYSES))
try:
    log = store.analyses(user)
except CaseError as error:
    st.error(t("history_error", lang, reason=error_message(error, lang)))
    st.stop()
if log.empty:
    st.info(t("monitor_empty", lang))
    st.stop()


def reference(name: str, version: str):
    """The model's own test figures, when this very version is still in weights/."""
    try:
        bundle = open_bundle(name)
    except BundleError:
        return None
    return reference_of(bundle.report) if bundle.release == version else None


references = {key: reference(*key) for key in log.groupby(["model_name", "model_version"]).groups}
months = monthly(log, references)
for (name, version), group in pd.DataFrame([vars(m) for m in months]).groupby(["model_name", "model_version"],
                                                                                  sort=False):
    st.subheader(t("validation_model", lang, model=model_label(name, language=lang), version=version))
    drifted = group[group["flags"].map(bool)]
    for _, month in drifted.iterrows():
        st.warning(t("monitor_drift", lang, month=month["month"],
                     what=", ".join(t(f"drift_{flag}", lang) for flag in month["flags"])), icon="⚠️")
    if drifted.empty and (group["n"] >= MIN_ANALYSES).any():
        st.success(t("monitor_no_drift", lang))
    elif drifted.empty:
        st.info(t("monitor_too_few", lang, minimum=MIN_ANALYSES))
    shares = go.Figure()
    for column, key in (("refused_share", "drift_refused"), ("low_confidence_share", "drift_low_confidence"),
                        ("alert_rate", "drift_alert_rate"), ("mean_top_probability", "drift_mean_top")):
        shares.add_trace(go.Scatter(x=group["month"], y=group[column], mode="lines+markers", name=t(key, lang)))
    known = references.get((name, version))
    if known is not None:
        for value, key in ((known.refused_share, "drift_refused_model"), (known.alert_rate, "drift_alert_model")):
            if value is not None:
                shares.add_hline(y=value, line_dash="dot", annotation_text=t(key, lang), annotation_position="top left")
    shares.update_layout(height=340, legend=LEGEND_ON_TOP, separators=SEPARATORS[lang], yaxis_tickformat=".0%",
                         margin={"l": 10, "r": 10, "t": 60, "b": 10}, xaxis_type="category")
    st.plotly_chart(shares, width="stretch", key=f"drift_{name}_{version}", config={"displayModeBar": False})
    mix = go.Figure([go.Bar(x=group["month"], y=[m[code] for m in group["top_mix"]],
                            name=diagnosis_name(code, lang)) for code in CLASS_CODES])
    mix.update_layout(barmode="stack", height=380, legend=LEGEND_ON_TOP, separators=SEPARATORS[lang],
                      yaxis_tickformat=".0%", margin={"l": 10, "r": 10, "t": 90, "b": 10}, xaxis_type="category")
    st.markdown(f"**{t('drift_mix', lang)}**")
    st.plotly_chart(mix, width="stretch", key=f"mix_{name}_{version}", config={"displayModeBar": False})
    st.dataframe(pd.DataFrame({
        t("drift_month", lang): group["month"], "n": group["n"],
        t("drift_refused", lang): [formatted(v, lang, ".0%") for v in group["refused_share"]],
        t("drift_reasons", lang): [", ".join(f"{t(f'gate_what_{r}', lang)} {n}" for r, n in reasons.items())
                                   for reasons in group["reasons"]],
        t("drift_flags", lang): [", ".join(t(f"drift_{flag}", lang) for flag in flags) for flags in group["flags"]],
    }), hide_index=True, width="stretch")
