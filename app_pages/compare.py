"""Model comparison: interactive charts read from every bundle's measured metrics report. The released
(clinical) models are shown by default; the research ones (ablations, experiments) on request."""

import streamlit as st

from skin_core.bundle import evaluated_bundles
from ui import comparison
from ui.i18n import MISSING, t
from ui.state import language, model_name

lang = language()
st.title(t("page_compare", lang))
st.caption(t("compare_intro", lang))
evaluated = evaluated_bundles()
if not evaluated:
    st.info(t("no_metrics", lang))
    st.stop()
research = st.toggle(t("show_research", lang), key="compare_research", help=t("show_research_help", lang))
shown = comparison.shown_bundles(evaluated, research)
if not shown:
    st.info(t("no_released", lang))
    st.stop()
labels = comparison.model_labels(evaluated, lang)  # the same name for a model whichever bundles are shown
frame = comparison.summary_frame(shown, labels)
# On a phone the name stays in view, wrapped over up to three lines, while the figures scroll beside it; a figure
# nobody measured shows as a dash.
pinned = {t("model", lang): st.column_config.TextColumn(pinned=True, width=170)}
TABLE = {"hide_index": True, "width": "stretch", "row_height": 66, "placeholder": MISSING}

st.subheader(t("summary_metrics", lang))
st.plotly_chart(comparison.summary_figure(frame, lang), width="stretch")
st.dataframe(comparison.summary_table(frame, comparison.external_sets(shown), lang), column_config=pinned,
             **TABLE)
st.caption(t("external_sets_note", lang))

st.subheader(t("per_class", lang))
recall_tab, f1_tab = st.tabs([t("recall", lang), t("f1", lang)])
recall_tab.plotly_chart(comparison.per_class_figure(shown, labels, "recall", lang), width="stretch")
f1_tab.plotly_chart(comparison.per_class_figure(shown, labels, "f1", lang), width="stretch")

names = [b.name for b in shown]
current = model_name()
chosen = st.selectbox(t("choose_model", lang), names, index=names.index(current) if current in names else 0,
                      format_func=labels.get, key="compare_model")
bundle = shown[names.index(chosen)]
confusion, roc = st.columns(2)
with confusion:
    st.markdown(f"**{t('confusion', lang)}**")
    st.plotly_chart(comparison.confusion_figure(bundle.metrics["confusion_matrix"], lang), width="stretch")
with roc:
    st.markdown(f"**{t('roc', lang)}**")
    st.plotly_chart(comparison.roc_figure(bundle, lang), width="stretch")

no_ablations = "no_ablations" if research else "ablations_need_research"
for title, figure, missing in (("speed", comparison.speed_figure(frame, lang), "no_benchmark"),
                               ("ablations", comparison.ablation_figure(frame, lang), no_ablations)):
    st.subheader(t(title, lang))
    if figure is None:
        st.info(t(missing, lang))
    else:
        st.plotly_chart(figure, width="stretch")

st.subheader(t("attention_in_lesion", lang))
st.dataframe(comparison.translated(frame[["model", "attention_mass_inside", "lesion_area_share"]], lang),
             column_config=pinned, **TABLE)
st.subheader(t("input_check", lang))
st.caption(t("input_check_intro", lang))
gates = comparison.gate_frame(shown, labels, lang)
if gates.empty:
    st.info(t("no_gate", lang))
else:
    percent = {column: st.column_config.NumberColumn(format="percent") for column in gates.columns[1:-1]}
    st.dataframe(gates, column_config={**pinned, **percent}, **TABLE)
st.subheader(t("calibration", lang))
st.dataframe(frame[["model", "ece_before_calibration", "ece"]].rename(columns={
    "model": t("model", lang), "ece_before_calibration": t("before", lang), "ece": t("after", lang)}),
    column_config=pinned, **TABLE)
