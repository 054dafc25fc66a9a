"""Clinic validation: each model's figures on this clinic's confirmed cases (skin_core.cases.clinic_validation),
with how many cases they rest on and a warning while they are too few."""

import pandas as pd
import streamlit as st

from skin_core.cases import MIN_CASES, MIN_MALIGNANT, CaseError, clinic_validation
from skin_core.classes import CLASS_CODES
from ui import comparison
from ui.cases import case_store, current_user, error_message
from ui.i18n import count, diagnosis_name, formatted, model_label, t
from ui.state import language

lang = language()
store, _ = case_store()
user = current_user()
st.title(t("page_validation", lang))
if store is None or user is None:
    st.stop()
st.caption(t("validation_intro", lang))
try:
    reports = clinic_validation(store.confirmed_cases(user))
except CaseError as error:
    st.error(t("history_error", lang, reason=error_message(error, lang)))
    st.stop()
if not reports:
    st.info(t("no_confirmed", lang))
    st.stop()


def figure(value) -> str:
    return t("not_available", lang) if value is None else formatted(value, lang, ".2f")


for clinic in reports:
    st.subheader(t("validation_model", lang, model=model_label(clinic.model_name, language=lang),
                   version=clinic.model_version))
    sources = ", ".join(f"{t(f'source_{s}', lang)} {n}" for s, n in clinic.sources.items())
    st.markdown(t("validation_rests_on", lang, confirmed=count(clinic.n, "confirmed_case", lang),
                  malignant=clinic.n_malignant, other=count(clinic.outside_classes, "case", lang), sources=sources))
    if not clinic.enough_cases:
        st.warning(t("too_few_cases", lang, cases=MIN_CASES, malignant=MIN_MALIGNANT))
    if clinic.report is None:
        continue
    report = clinic.report
    malignant = report["malignant"]
    columns = st.columns(3)
    columns[0].metric(t("balanced_accuracy", lang), figure(report["balanced_accuracy"]))
    columns[1].metric(t("accuracy", lang), figure(report["accuracy"]))
    columns[2].metric("n", clinic.n)
    st.markdown(t("malignant_at_threshold", lang, sensitivity=figure(malignant["sensitivity"]),
                  lower=figure(clinic.sensitivity_lower_bound), specificity=figure(malignant["specificity"]),
                  threshold=malignant["threshold"]))
    st.dataframe(pd.DataFrame({
        t("diagnosis", lang): [diagnosis_name(code, lang) for code in CLASS_CODES],
        "n": [report["per_class"][code]["support"] for code in CLASS_CODES],
        t("recall", lang): [figure(report["per_class"][code]["recall"]) for code in CLASS_CODES],
    }), hide_index=True, width="stretch")
    st.plotly_chart(comparison.confusion_figure(report["confusion_matrix"], lang), width="stretch",
                    key=f"confusion_{clinic.model_name}_{clinic.model_version}")
