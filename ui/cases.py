"""The app's side of the case history: the shared CaseStore, the signed-in user, and messages for its errors."""

import dataclasses
import logging

import streamlit as st

from skin_core import imaging
from skin_core.cases import (CaseError, CaseRecord, CaseStore, DatabaseUnavailableError, InvalidCaseError, UserInfo,
                             configured_database)
from skin_core.gate import GateDecision
from skin_core.predictor import Prediction
from ui.i18n import t
from ui.resume import forget, remember
from ui.state import clear_session
from ui.result import OVERLAY_OPACITY

# the words each store field name is shown with
FIELD_KEYS = {"Patient code": "patient_id", "Lesion": "lesion_label", "Note": "note", "Clinic": "clinic",
              "Clinician": "clinician", "Username": "username", "Password": "password", "Role": "role",
              "Diagnosis": "final_diagnosis", "Source": "final_source", "Photo storage": "photo_storage",
              "Age": "age", "Sex": "sex", "Site": "site", "Final date": "final_date"}
FIRST_ADMIN = "python -m skin_core.cases add-user <name> --role admin"
RETRY_S = 15  # how often the maintenance page tries the database again
LOG = logging.getLogger("skin_app.cases")


@st.cache_resource(show_spinner=False)
def _open_store(database: str) -> CaseStore:
    """One store (connection pool) per process, shared by every session; migrated once at start."""
    return CaseStore.open(database)


def case_store() -> tuple[CaseStore | None, str | None]:
    """(the store, None) when history is on, (None, None) in the demo mode, (None, reason) when it is on but
    cannot be used."""
    try:
        database = configured_database()
        return (None, None) if database is None else (_open_store(database), None)
    except CaseError as error:
        return None, str(error)


def current_user() -> UserInfo | None:
    return st.session_state.get("user")


def history_page(title_key: str, lang: str, admins_only: bool = False) -> tuple[CaseStore, UserInfo]:
    """Title a case-history page and return the store and the signed-in user; the page stops there without a
    case history, a signed-in user or (``admins_only``) an admin. app.py offers such pages only then."""
    store, _ = case_store()
    user = current_user()
    st.title(t(title_key, lang))
    if store is None or user is None or (admins_only and not user.is_admin):
        st.stop()
    return store, user


def sign_in(store: CaseStore, username: str, password: str) -> bool:
    """Failed sign-ins are limited per name and per client address (None on localhost or behind a local
    proxy, where only the name counts)."""
    user = store.authenticate(username, password, st.context.ip_address)
    if user is not None:
        st.session_state["user"] = user
        remember(user)  # a reload keeps the sign-in (ui/resume.py)
    return user is not None


def sign_out() -> None:
    """The next person at this browser starts from nothing: no photo, result, patient or open case. The
    sign-out is audited first; the session is cleared even when the database cannot say so."""
    store, user = case_store()[0], current_user()
    if store is not None and user is not None:
        try:
            store.audit_event(user, "sign_out")
        except CaseError as error:
            LOG.error("Case history: the sign-out of %s was not audited: %s", user.username, error)
    forget()
    clear_session()


def history_usable() -> bool:
    """Whether the configured case history opens and answers a query now."""
    store, problem = case_store()
    if problem is not None:
        return False
    try:
        store.has_users()
    except CaseError:
        return False
    return True


def maintenance_page(problem, language: str) -> None:
    """Case history is configured but cannot be used: no analysis, no sign-in, and nothing about the database
    on screen (its address and file path go to the server log); the page tries again every RETRY_S seconds."""
    LOG.error("Case history unavailable, the app is not serving: %s", problem)
    st.title(t("app_title", language))
    st.error(t("maintenance", language))

    @st.fragment(run_every=RETRY_S)
    def retry():
        if history_usable():
            st.rerun(scope="app")
        st.caption(t("maintenance_retry", language, seconds=RETRY_S))

    retry()
    st.stop()


def error_message(error: CaseError, language: str) -> str:
    """A store error in the page's language (the store's English message when it has no translation)."""
    if isinstance(error, DatabaseUnavailableError):  # its reason can name the server or file: the log only
        LOG.error("Case history: %s", error)
        return t("database_unavailable", language)
    if isinstance(error, InvalidCaseError):
        field = t(FIELD_KEYS[error.field], language) if error.field in FIELD_KEYS else error.field
        return t(f"field_{error.problem}", language, field=field.split(" (")[0], limit=error.limit)
    return str(error)


def stored_photo(case: CaseRecord):
    """The case's stored photo (full or thumbnail) as RGB, and its attention overlay if there is one."""
    if case.photo is None:
        return None, None
    photo = imaging.load_rgb(case.photo, max_side=imaging.DISPLAY_SIDE)
    if case.attention is None:
        return photo, None
    return photo, imaging.overlay(photo, imaging.upscale_map(case.attention, photo.shape[:2]), OVERLAY_OPACITY)


def answered(prediction: Prediction, model_name: str, model_version: str, counted: bool = True) -> Prediction:
    """``prediction`` as the clinic answers it: at the clinic's own malignancy threshold for this model version
    when one is in force (adopted on the Clinic validation page), else as the model gave it; with ``counted``,
    counted in the analysis log of the drift monitor (not when it is computed again after a reload). Without a
    case history, the model's answer."""
    store, _ = case_store()
    if store is None:
        return prediction
    threshold = store.site_threshold(model_name, model_version)
    if threshold is not None:
        prediction = dataclasses.replace(prediction, malignancy_threshold=threshold, threshold_source="clinic")
    if counted:
        store.log_analysis(model_name, model_version, prediction)
    return prediction


def saved_prediction(case: CaseRecord) -> Prediction:
    """The result as it was shown when the case was saved (for its report)."""
    return Prediction(ranked=case.ranked, attention=case.attention, attention_heads=None,
                      malignant_probability=case.malignant_probability,
                      malignancy_threshold=case.malignancy_threshold, low_confidence=case.low_confidence,
                      probabilities=dict(case.probabilities), threshold_source=case.threshold_source,
                      gate=None if case.gate_reason is None else GateDecision(case.gate_reason, case.gate_problem,
                                                                              case.gate_score))
