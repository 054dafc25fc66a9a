"""Skin-lesion decision support: `streamlit run app.py`."""

import streamlit as st

from ui.i18n import LANGUAGES, t
from ui.state import bundle_catalogue, keep, remember

st.set_page_config(page_title="Skin lesion decision support", page_icon="🩺", layout="wide")

keep("language", "en")
language = st.sidebar.selectbox("Language / Ngôn ngữ", list(LANGUAGES), format_func=LANGUAGES.get,
                                key="language", on_change=remember, args=("language",))
clinical, default, broken = bundle_catalogue()
if clinical:
    if st.session_state.get("kept_model") not in clinical:
        st.session_state["kept_model"] = default or next(iter(clinical))
    keep("model")
    st.sidebar.selectbox(
        t("model", language), list(clinical), key="model", on_change=remember, args=("model",),
        format_func=lambda name: f"{clinical[name]} ({t('default_model', language)})" if name == default
        else clinical[name])
for name, reason in broken.items():
    st.sidebar.warning(t("broken_model", language, name=name, reason=reason))
st.sidebar.caption(t("disclaimer", language))

pages = [
    st.Page("app_pages/diagnose.py", title=t("page_diagnose", language), icon=":material/biotech:", default=True),
    st.Page("app_pages/compare.py", title=t("page_compare", language), icon=":material/bar_chart:"),
    st.Page("app_pages/about.py", title=t("page_about", language), icon=":material/info:"),
]
st.navigation(pages).run()
