"""Skin-lesion decision support: `streamlit run app.py`.

With a case-history database configured (README: Case history), every page asks for a sign-in first and the
History, Clinic validation and (for admins) Settings pages appear; without one the app runs as a demo, open
to anyone, and nothing is saved. A configured history that cannot be used stops the app (maintenance page,
retried) rather than letting it run open.
"""

import streamlit as st

from skin_core.cases import CaseError, NotAllowedError
from ui.cases import FIRST_ADMIN, case_store, current_user, error_message, maintenance_page, sign_in, sign_out
from ui.i18n import LANGUAGES, literal, model_label, t
from ui.resume import keep, restore
from ui.state import (LANGUAGE, MODEL, SIDEBAR, begin_run, bundle_catalogue, choose, drawn, redraw_fresh,
                      widget_key)
from ui.server import set_up_server

set_up_server()
st.set_page_config(page_title="Skin lesion decision support", page_icon="🩺", layout="wide")
begin_run()
restore(case_store()[0])  # a reload brings back the sign-in and the case (ui/resume.py)


def choose_language() -> None:
    choose(LANGUAGE, "language", LANGUAGES)
    redraw_fresh()  # every widget's words change: draw them anew from the app's state


language = st.session_state.setdefault(LANGUAGE, "en")
st.sidebar.selectbox("Language / Ngôn ngữ", list(LANGUAGES), index=list(LANGUAGES).index(language),
                     format_func=LANGUAGES.get, key="language", on_change=choose_language)
store, history_problem = case_store()
if history_problem:
    maintenance_page(history_problem, language)
user = current_user()
if store is not None and user is not None:
    try:
        if not store.is_active(user):  # deactivated or given another role since signing in
            sign_out()
            user = None
    except CaseError as error:
        maintenance_page(error, language)
if store is not None and user is None:
    st.title(t("app_title", language))
    st.subheader(t("login_title", language))
    st.info(t("login_intro", language))
    try:
        if not store.has_users():
            st.warning(t("no_users", language, command=FIRST_ADMIN))
        with st.form("login"):
            username = st.text_input(t("username", language), max_chars=64, key="login_username")
            password = st.text_input(t("password", language), type="password", key="login_password",
                                     autocomplete="current-password")
            if st.form_submit_button(t("sign_in", language), type="primary"):
                try:
                    if sign_in(store, username, password):
                        st.rerun()
                    st.error(t("login_failed", language))
                except NotAllowedError:
                    st.error(t("login_locked", language))
    except CaseError as error:
        st.error(t("history_error", language, reason=error_message(error, language)))
    st.stop()
if store is not None:
    st.sidebar.caption(t("signed_in_as", language, user=literal(user.username),
                         role=t(f"role_{user.role}", language)))
    st.sidebar.button(t("sign_out", language), on_click=sign_out)

clinical, default, broken = bundle_catalogue()
if clinical:
    chosen = st.session_state.get(MODEL)
    if chosen not in clinical:
        if chosen is not None:  # the bundle was removed or broke since it was chosen: say so, never silently
            st.sidebar.warning(t("model_gone", language, name=model_label(chosen, language=language)))
        chosen = st.session_state[MODEL] = default or next(iter(clinical))
    names = list(clinical)
    model_key = widget_key(SIDEBAR, "model", language)
    st.sidebar.selectbox(
        t("model", language), names, index=names.index(chosen), key=model_key, on_change=choose,
        args=(MODEL, model_key, names), help=t("model_help", language),
        format_func=lambda name: f"{model_label(name, clinical[name], language)} ({t('default_model', language)})"
        if name == default else model_label(name, clinical[name], language))
else:
    st.session_state.pop(MODEL, None)
drawn(SIDEBAR)
for name, reason in broken.items():
    st.sidebar.warning(t("broken_model", language, name=name, reason=reason))
st.sidebar.caption(t("disclaimer", language))

pages = [st.Page("app_pages/diagnose.py", title=t("page_diagnose", language), icon=":material/biotech:",
                 default=True)]
if store is not None:
    pages += [st.Page("app_pages/history.py", title=t("page_history", language), icon=":material/history:"),
              st.Page("app_pages/validation.py", title=t("page_validation", language), icon=":material/fact_check:"),
              st.Page("app_pages/monitor.py", title=t("page_monitor", language), icon=":material/monitoring:")]
pages += [st.Page("app_pages/compare.py", title=t("page_compare", language), icon=":material/bar_chart:"),
          st.Page("app_pages/about.py", title=t("page_about", language), icon=":material/info:")]
if store is not None and user.is_admin:
    pages.append(st.Page("app_pages/settings.py", title=t("page_settings", language), icon=":material/settings:"))
try:
    st.navigation(pages).run()
finally:
    keep()
