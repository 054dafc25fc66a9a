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


def chart(where, figure) -> None:
    """A figure with the page language's decimal and thousands marks."""
    figure.update_layout(separators=comparison.SEPARATORS[lang])
    where.plotly_chart(figure, width="stretch")

st.subheader(t("summary_metrics", lang))
chart(st, comparison.summary_figure(frame, lang))
st.dataframe(comparison.summary_table(frame, comparison.external_sets(shown), lang), column_config=pinned,
             **TABLE)
st.caption(t("external_sets_note", lang))

st.subheader(t("per_class", lang))
recall_tab, f1_tab = st.tabs([t("recall", lang), t("f1", lang)])
chart(recall_tab, comparison.per_class_figure(shown, labels, "recall", lang))
chart(f1_tab, comparison.per_class_figure(shown, labels, "f1", lang))

names = [b.name for b in shown]
current = model_name()
chosen = st.selectbox(t("choose_model", lang), names, index=names.index(current) if current in names else 0,
                      format_func=labels.get, key="compare_model")
bundle = shown[names.index(chosen)]
confusion, roc = st.columns(2)
with confusion:
    st.markdown(f"**{t('confusion', lang)}**")
    chart(st, comparison.confusion_figure(bundle.report.confusion_matrix, lang))
with roc:
    st.markdown(f"**{t('roc', lang)}**")
    chart(st, comparison.roc_figure(bundle, lang))

no_ablations = "no_ablations" if research else "ablations_need_research"
for title, figure, missing in (("speed", comparison.speed_figure(frame, lang), "no_benchmark"),
                               ("ablations", comparison.ablation_figure(frame, lang), no_ablations)):
    st.subheader(t(title, lang))
    if figure is None:
        st.info(t(missing, lang))
    else:
        chart(st, figure)

st.subheader(t("attention_in_lesion", lang))
st.dataframe(comparison.written(comparison.translated(frame[["model", "attention_mass_inside", "lesion_area_share"]],
                                                      lang), lang), column_config=pinned, **TABLE)
st.subheader(t("input_check", lang))
st.caption(t("input_check_intro", lang))
gates = comparison.gate_frame(shown, labels, lang)
if gates.empty:
    st.info(t("no_gate", lang))
else:
    spec = {column: ".1%" for column in gates.columns[1:-1]}
    st.dataframe(comparison.written(gates, lang, spec), column_config=pinned, **TABLE)
st.subheader(t("calibration", lang))
st.dataframe(comparison.written(frame[["model", "ece_before_calibration", "ece"]].rename(columns={
    "model": t("model", lang), "ece_before_calibration": t("before", lang), "ece": t("after", lang)}), lang),
    column_config=pinned, **TABLE)
