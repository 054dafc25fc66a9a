"""The result block a doctor reads, the same on the diagnose page and for a saved case: the most likely
diagnosis, the malignancy banner, the notes that explain a disagreement or low confidence, the ranked table."""

import pandas as pd
import streamlit as st

from ui.i18n import alert_figures, diagnosis_name, formatted, t

OVERLAY_OPACITY = 0.45  # how strongly the attention map covers the photo until the doctor moves the slider


def show_result(prediction, lang: str) -> None:
    top_code, top_probability = prediction.top
    st.markdown(t("top_sentence", lang, name=diagnosis_name(top_code, lang), probability=top_probability))
    figures = alert_figures(prediction, lang)
    withheld = prediction.triage_withheld
    if withheld:
        st.warning(t("triage_withheld", lang, **figures), icon="🚫")
    elif prediction.malignancy_alert:
        st.error(t("malignant_banner", lang, **figures), icon="⚠️")
    else:
        st.success(t("benign_note", lang, **figures))
    if prediction.alert_disagrees_with_top and not withheld:
        key = "alert_with_benign_top" if prediction.malignancy_alert else "malignant_top_without_alert"
        st.info(t(key, lang, **figures))
    if prediction.low_confidence:
        st.warning(t("low_confidence", lang, probability=top_probability,
                     margin=top_probability - prediction.ranked[1][1]))
    st.caption(t(f"threshold_source_{prediction.threshold_source}", lang, threshold=figures["threshold"]))

    ranked = pd.DataFrame({
        t("diagnosis", lang): [diagnosis_name(code, lang) for code, _ in prediction.ranked],
        t("probability", lang): [probability for _, probability in prediction.ranked],
    })
    probability = t("probability", lang)
    st.table(ranked.style.hide(axis="index").format({probability: lambda p: formatted(p, lang, ".1%")})
             .bar(subset=[probability], vmin=0.0, vmax=1.0, color="#7fb3d5"))
