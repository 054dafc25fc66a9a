"""The app's side of the case history: the shared CaseStore, the signed-in user, and messages for its errors."""

import streamlit as st

from skin_core import imaging
from skin_core.cases import CaseError, CaseRecord, CaseStore, InvalidCaseError, UserInfo, configured_database
from skin_core.predictor import Prediction
from ui.i18n import t
from ui.result import OVERLAY_OPACITY

# the words each store field name is shown with
FIELD_KEYS = {"Patient code": "patient_id", "Lesion": "lesion_label", "Note": "note", "Clinic": "clinic",
              "Clinician": "clinician", "Username": "username", "Password": "password", "Role": "role",
              "Diagnosis": "final_diagnosis", "Source": "final_source", "Photo storage": "photo_storage"}
FIRST_ADMIN = "python -m skin_core.cases add-user <name> --role admin"


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


def sign_in(store: CaseStore, username: str, password: str) -> bool:
    user = store.authenticate(username, password)
    if user is not None:
        st.session_state["user"] = user
    return user is not None


def sign_out() -> None:
    st.session_state.pop("user", None)


def error_message(error: CaseError, language: str) -> str:
    """A store error in the page's language (the store's English message when it has no translation)."""
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


def saved_prediction(case: CaseRecord) -> Prediction:
    """The result as it was shown when the case was saved (for its report)."""
    return Prediction(ranked=case.ranked, attention=case.attention, attention_heads=None,
                      malignant_probability=case.malignant_probability,
                      malignancy_threshold=case.malignancy_threshold, low_confidence=case.low_confidence,
                      probabilities=dict(case.probabilities))
