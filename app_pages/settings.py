"""Settings (admins only): photo storage and automatic saving for the clinic, users, and the audit log."""

import pandas as pd
import streamlit as st

from skin_core.cases import PHOTO_STORAGE, ROLES, CaseError
from ui.cases import case_store, current_user, error_message
from ui.i18n import t
from ui.state import language

lang = language()
store, _ = case_store()
user = current_user()
st.title(t("page_settings", lang))
if store is None or user is None or not user.is_admin:
    st.stop()
st.caption(t("settings_intro", lang))


def attempt(action, success: str) -> None:
    try:
        action()
    except CaseError as error:
        st.session_state["settings_message"] = ("error", t("history_error", lang, reason=error_message(error, lang)))
    else:
        st.session_state["settings_message"] = ("success", success)


message = st.session_state.pop("settings_message", None)
if message:
    getattr(st, message[0])(message[1])

try:
    settings = store.settings()
    users = store.users(user)
    audit = store.audit_log(user)
except CaseError as error:
    st.error(t("history_error", lang, reason=error_message(error, lang)))
    st.stop()

with st.form("clinic_settings"):
    storage = st.radio(t("photo_storage", lang), PHOTO_STORAGE, index=PHOTO_STORAGE.index(settings["photo_storage"]),
                       format_func=lambda s: t(f"storage_{s}", lang), key="setting_photo_storage")
    auto = st.toggle(t("auto_save", lang), value=settings["auto_save"], key="setting_auto_save")
    if st.form_submit_button(t("save_settings", lang)):
        attempt(lambda: store.change_settings(user, photo_storage=storage, auto_save=auto), t("settings_saved", lang))
        st.rerun()

def when(moment) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


st.subheader(t("users", lang))
st.dataframe(pd.DataFrame({
    t("username", lang): [u["username"] for u in users],
    t("role", lang): [t(f"role_{u['role']}", lang) for u in users],
    t("user_active", lang): [u["active"] for u in users],
    t("user_created", lang): [when(u["created_at"]) for u in users],
}), hide_index=True, width="stretch")
add_column, deactivate_column = st.columns(2)
with add_column.form("add_user", clear_on_submit=False):
    st.markdown(f"**{t('add_user', lang)}**")
    name = st.text_input(t("username", lang), max_chars=64, key="new_username")
    password = st.text_input(t("password", lang), type="password", key="new_password")
    role = st.selectbox(t("role", lang), ROLES, format_func=lambda r: t(f"role_{r}", lang), key="new_role")
    if st.form_submit_button(t("add_user", lang)):
        attempt(lambda: store.add_user(name, password, role, by=user), t("user_added", lang, user=name))
        st.rerun()
with deactivate_column.form("deactivate_user"):
    st.markdown(f"**{t('deactivate_user', lang)}**")
    active = [u["username"] for u in users if u["active"] and u["username"] != user.username]
    chosen = st.selectbox(t("username", lang), active, key="deactivate_username")
    if st.form_submit_button(t("deactivate", lang), disabled=not active):
        attempt(lambda: store.set_user(chosen, by=user, active=False), t("user_deactivated", lang, user=chosen))
        st.rerun()

st.subheader(t("audit_log", lang))
st.dataframe(pd.DataFrame({
    t("audit_when", lang): [when(e["at"]) for e in audit],
    t("username", lang): [e["user"] for e in audit],
    t("audit_action", lang): [e["action"] for e in audit],
    t("case_column", lang): [e["case"] for e in audit],
    t("audit_detail", lang): [e["detail"] for e in audit],
}), hide_index=True, width="stretch")
