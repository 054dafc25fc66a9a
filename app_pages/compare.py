"""Model comparison: interactive charts read from every bundle's measured metrics report."""

import streamlit as st

from skin_core.bundle import evaluated_bundles
from ui import comparison
from ui.i18n import t
from ui.state import language

lang = language()
st.title(t("page_compare", lang))
st.caption(t("compare_intro", lang))
evaluated = evaluated_bundles()
if not evaluated:
    st.info(t("no_metrics", lang))
    st.stop()
frame = comparison.summary_frame(evaluated)

st.subheader(t("summary_metrics", lang))
st.plotly_chart(comparison.summary_figure(frame, lang), width="stretch")
st.dataframe(comparison.translated(frame, lang), hide_index=True, width="stretch")

st.subheader(t("per_class", lang))
recall_tab, f1_tab = st.tabs([t("recall", lang), t("f1", lang)])
recall_tab.plotly_chart(comparison.per_class_figure(evaluated, "recall", lang), width="stretch")
f1_tab.plotly_chart(comparison.per_class_figure(evaluated, "f1", lang), width="stretch")

names = [b.name for b in evaluated]
current = st.session_state.get("model")
chosen = st.selectbox(t("choose_model", lang), names, index=names.index(current) if current in names else 0,
                      key="compare_model")
bundle = evaluated[names.index(chosen)]
confusion, roc = st.columns(2)
with confusion:
    st.markdown(f"**{t('confusion', lang)}**")
    st.plotly_chart(comparison.confusion_figure(bundle.metrics["confusion_matrix"], lang), width="stretch")
with roc:
    st.markdown(f"**{t('roc', lang)}**")
    st.plotly_chart(comparison.roc_figure(bundle, lang), width="stretch")

for title, figure, missing in (("speed", comparison.speed_figure(frame, lang), "no_benchmark"),
                               ("ablations", comparison.ablation_figure(frame, lang), "no_ablations")):
    st.subheader(t(title, lang))
    if figure is None:
        st.info(t(missing, lang))
    else:
        st.plotly_chart(figure, width="stretch")

st.subheader(t("attention_in_lesion", lang))
st.dataframe(comparison.translated(frame[["model", "attention_mass_inside", "lesion_area_share"]], lang),
             hide_index=True, width="stretch")
st.subheader(t("input_check", lang))
st.caption(t("input_check_intro", lang))
gates = comparison.gate_frame(evaluated, lang)
if gates.empty:
    st.info(t("no_gate", lang))
else:
    st.dataframe(gates, hide_index=True, width="stretch",
                 column_config={column: st.column_config.NumberColumn(format="percent")
                                for column in gates.columns[1:-1]})
st.subheader(t("calibration", lang))
st.dataframe(frame[["model", "ece_before_calibration", "ece"]].rename(columns={
    "model": t("model", lang), "ece_before_calibration": t("before", lang), "ece": t("after", lang)}),
    hide_index=True, width="stretch")
