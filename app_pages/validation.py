"""Clinic validation: each model's figures on this clinic's confirmed cases (skin_core.cases.clinic_validation),
with how many cases they rest on and a warning while they are too few; and the clinic's own alert threshold
(skin_core.cases.site_threshold), which an admin may adopt or revert."""

import pandas as pd
import streamlit as st

from skin_core.bundle import BundleError, open_bundle
from skin_core.cases import MIN_CASES, MIN_MALIGNANT, CaseError, clinic_validation
from skin_core.cases.site_threshold import MIN_MALIGNANT as SITE_MIN_MALIGNANT
from skin_core.cases.site_threshold import TARGET_SENSITIVITY, site_operating_point
from skin_core.classes import CLASS_CODES
from ui import comparison
from ui.cases import error_message, history_page
from ui.i18n import count, diagnosis_name, formatted, literal, model_label, t
from ui.state import language

lang = language()
store, user = history_page("page_validation", lang)
st.caption(t("validation_intro", lang))
try:
    confirmed = store.confirmed_cases(user)
    reports = clinic_validation(confirmed)
except CaseError as error:
    st.error(t("history_error", lang, reason=error_message(error, lang)))
    st.stop()
if not reports:
    st.info(t("no_confirmed", lang))
    st.stop()
message = st.session_state.pop("validation_message", None)
if message is not None:
    getattr(st, message[0])(message[1])


def figure(value) -> str:
    return t("not_available", lang) if value is None else formatted(value, lang, ".2f")


def act(action, *args) -> None:
    """An admin's adopt or revert; a refusal or an outage is said, nothing changes."""
    try:
        st.session_state["validation_message"] = ("success", action(*args))
    except CaseError as error:
        st.session_state["validation_message"] = ("error", t("history_error", lang, reason=error_message(error, lang)))


def adopt(name, version, target) -> str:
    return t("site_adopted", lang, threshold=figure(store.adopt_site_threshold(user, name, version, target).threshold))


def revert(name, version) -> str:
    store.revert_site_threshold(user, name, version)
    return t("site_reverted", lang)


def site_section(name: str, version: str) -> None:
    """Which threshold is in force, what the confirmed cases offer, and (for an admin) adopt or revert."""
    st.markdown(f"**{t('site_heading', lang)}**")
    try:
        shipped = open_bundle(name).config
    except BundleError:  # the model was removed since: its cases stay, no new analysis can use it
        shipped = None
    history = store.site_threshold_history(user, name, version)
    if history and history[0]["threshold"] is not None:
        st.markdown(t("site_in_force_clinic", lang, threshold=figure(history[0]["threshold"]),
                      when=formatted(history[0]["at"], lang), user=literal(history[0]["by"])))
    elif shipped is not None:
        st.markdown(t("site_in_force_model", lang, threshold=figure(shipped.malignancy_threshold)))
    target = shipped.operating_point.target_sensitivity if shipped and shipped.operating_point else TARGET_SENSITIVITY
    point = site_operating_point(confirmed, name, version, target)
    if not point.offered:
        st.info(t("site_too_few_malignant", lang, needed=SITE_MIN_MALIGNANT, have=point.n_malignant)
                if point.reason == "too_few_malignant" else t("site_no_benign", lang))
    else:
        st.markdown(t("site_offered", lang, malignant=point.n_malignant, benign=point.n_benign,
                      threshold=figure(point.threshold), sensitivity=formatted(point.sensitivity, lang, ".0%"),
                      lower=formatted(point.sensitivity_lower_bound, lang, ".0%"),
                      specificity=formatted(point.specificity, lang, ".0%"),
                      cv_sensitivity=formatted(point.cv_sensitivity, lang, ".0%"),
                      cv_lower=formatted(point.cv_sensitivity_lower_bound, lang, ".0%"),
                      cv_specificity=formatted(point.cv_specificity, lang, ".0%")))
    if user.is_admin and shipped is not None:
        left, right = st.columns(2)
        left.button(t("site_adopt", lang), key=f"adopt_{name}_{version}", disabled=not point.offered, on_click=act,
                    args=(adopt, name, version, target))
        right.button(t("site_revert", lang), key=f"revert_{name}_{version}",
                     disabled=not (history and history[0]["threshold"] is not None), on_click=act,
                     args=(revert, name, version))


for clinic in reports:
    st.subheader(t("validation_model", lang, model=model_label(clinic.model_name, language=lang),
                   version=clinic.model_version))
    sources = ", ".join(f"{t(f'source_{s}', lang)} {n}" for s, n in clinic.sources.items())
    st.markdown(t("validation_rests_on", lang, confirmed=count(clinic.n, "confirmed_case", lang),
                  malignant=clinic.n_malignant, other=count(clinic.outside_classes, "case", lang), sources=sources))
    if not clinic.enough_cases:
        st.warning(t("too_few_cases", lang, cases=MIN_CASES, malignant=MIN_MALIGNANT))
    try:
        site_section(clinic.model_name, clinic.model_version)
    except CaseError as error:
        st.error(t("history_error", lang, reason=error_message(error, lang)))
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
