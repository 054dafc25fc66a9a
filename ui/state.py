"""Session state and the process-wide model cache of the Streamlit app."""

import streamlit as st

from skin_core import bundle as bundles
from skin_core.predictor import Predictor


def bundle_catalogue() -> tuple[list[str], str | None, dict[str, str]]:
    """The usable bundle names, the default one (None if it is not usable) and, for each broken bundle,
    why it cannot be used. Read on every run, so that a bundle added or repaired shows up at once."""
    usable, broken = bundles.scan()
    names = [b.name for b in usable]
    try:
        default = bundles.default_bundle_name()
    except bundles.BundleError:
        default = None
    return names, default if default in names else None, {name: str(error) for name, error in broken.items()}


@st.cache_resource(show_spinner=False)
def predictor(name: str) -> Predictor:
    """Each bundle is loaded once per process and shared by every session."""
    return Predictor.from_bundle(bundles.open_bundle(name))


def language() -> str:
    return st.session_state.get("language", st.session_state.get("kept_language", "en"))


def model_name() -> str | None:
    return st.session_state.get("model", st.session_state.get("kept_model"))


def keep(key: str, default=None):
    """Restore a widget's value after another page was shown (Streamlit forgets unrendered widgets)."""
    store = f"kept_{key}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(store, default)
    st.session_state[store] = st.session_state[key]


def remember(key: str) -> None:
    st.session_state[f"kept_{key}"] = st.session_state[key]
