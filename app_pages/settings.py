"""Settings (admins only): photo storage and automatic saving for the clinic, users, and the audit log (filtered
by user, action and date, a page at a time, each run of failed sign-ins one row)."""

import datetime

import pandas as pd
import streamlit as st

from skin_core.cases import AUDIT_ACTIONS, PHOTO_STORAGE, ROLES, CaseError
from ui.cases import error_message, history_page
from ui.i18n import DATE_WIDGET_FORMAT, audit_action, audit_detail, formatted, literal, t
from ui.state import language

AUDIT_PAGE_ROWS = 100

lang = language()
store, user = history_page("page_settings", lang, admins_only=True)
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

def fresh_choice(key: str, names: list) -> None:
    """A user list's selectbox keeps its value when the list changes, even a name no longer in it or None from
    an empty list (then "There is no user None"): such a value is dropped, and the box starts afresh."""
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)


def when(moment) -> str:
    return formatted(moment.astimezone(), lang, "seconds")


st.subheader(t("users", lang))
st.dataframe(pd.DataFrame({
    t("username", lang): [u["username"] for u in users],
    t("role", lang): [t(f"role_{u['role']}", lang) for u in users],
    t("user_active", lang): [u["active"] for u in users],
    t("user_created", lang): [when(u["created_at"]) for u in users],
}), hide_index=True, width="stretch")
add_column, deactivate_column, reactivate_column = st.columns(3)
with add_column.form("add_user", clear_on_submit=False):
    st.markdown(f"**{t('add_user', lang)}**")
    name = st.text_input(t("username", lang), max_chars=64, key="new_username")
    password = st.text_input(t("password", lang), type="password", key="new_password")
    role = st.selectbox(t("role", lang), ROLES, format_func=lambda r: t(f"role_{r}", lang), key="new_role")
    if st.form_submit_button(t("add_user", lang)):
        attempt(lambda: store.add_user(name, password, role, by=user), t("user_added", lang, user=literal(name)))
        st.rerun()
with deactivate_column.form("deactivate_user"):
    st.markdown(f"**{t('deactivate_user', lang)}**")
    active = [u["username"] for u in users if u["active"] and u["username"] != user.username]
    fresh_choice("deactivate_username", active)
    chosen = st.selectbox(t("username", lang), active, key="deactivate_username")
    if st.form_submit_button(t("deactivate", lang), disabled=not active):
        attempt(lambda: store.set_user(chosen, by=user, active=False),
                t("user_deactivated", lang, user=literal(chosen)))
        st.rerun()
with reactivate_column.form("reactivate_user"):
    st.markdown(f"**{t('reactivate_user', lang)}**")
    inactive = [u["username"] for u in users if not u["active"]]
    fresh_choice("reactivate_username", inactive)
    returning = st.selectbox(t("username", lang), inactive, key="reactivate_username")
    if st.form_submit_button(t("reactivate", lang), disabled=not inactive):
        attempt(lambda: store.set_user(returning, by=user, active=True),
                t("user_reactivated", lang, user=literal(returning)))
        st.rerun()


def local_midnight(day: datetime.date | None) -> datetime.datetime | None:
    """The start of ``day`` in the server's time zone, in which the log shows its times."""
    return None if day is None else datetime.datetime.combine(day, datetime.time()).astimezone()


def detail(entry: dict) -> str:
    """The entry's detail; for a run of failed sign-ins, how many and from when to when (the detail is the
    last one's)."""
    words = audit_detail(entry["action"], entry["detail"], lang)
    if entry["times"] == 1:
        return words
    run = t("audit_run", lang, times=entry["times"], first=when(entry["first"]), last=when(entry["at"]))
    return f"{run} · {words}" if entry["detail"] else run


def go_to(filters: tuple, offset: int) -> None:
    st.session_state["audit_paging"] = (filters, offset)


st.subheader(t("audit_log", lang))
with st.container(border=True):
    user_column, action_column, from_column, to_column = st.columns([1, 2, 1, 1])
    audit_user = user_column.text_input(t("audit_user_filter", lang), key="audit_user", max_chars=64)
    audit_actions = action_column.multiselect(t("audit_actions_filter", lang), AUDIT_ACTIONS, key="audit_actions",
                                              format_func=lambda a: audit_action(a, lang),
                                              placeholder=t("choose_one", lang))
    audit_from = from_column.date_input(t("audit_from", lang), value=None, key="audit_from",
                                        format=DATE_WIDGET_FORMAT, help=t("date_help", lang))
    audit_to = to_column.date_input(t("audit_to", lang), value=None, key="audit_to", format=DATE_WIDGET_FORMAT,
                                    help=t("date_help", lang))
    grouped = st.toggle(t("audit_grouped", lang), value=True, key="audit_grouped")
filters = (audit_user, tuple(audit_actions), audit_from, audit_to, grouped)
paging = st.session_state.get("audit_paging")
offset = paging[1] if paging is not None and paging[0] == filters else 0  # new filters: the first page
try:
    audit = store.audit_log(user, AUDIT_PAGE_ROWS, offset=offset, user=audit_user, actions=audit_actions,
                            since=local_midnight(audit_from),
                            before=local_midnight(audit_to and audit_to + datetime.timedelta(days=1)),
                            grouped=grouped)
except CaseError as error:
    st.error(t("history_error", lang, reason=error_message(error, lang)))
    st.stop()
if not audit:
    st.info(t("audit_none", lang))
    st.stop()
st.caption(t("audit_rows", lang, first=offset + 1, last=offset + len(audit), total=audit.total))
st.dataframe(pd.DataFrame({
    t("audit_when", lang): [when(e["at"]) for e in audit],
    t("username", lang): [e["user"] for e in audit],
    t("audit_action", lang): [audit_action(e["action"], lang) for e in audit],
    t("case_column", lang): [formatted(e["case"], lang) for e in audit],
    t("audit_detail", lang): [detail(e) for e in audit],
}), hide_index=True, width="stretch")
previous_column, next_column = st.columns(2)
previous_column.button(t("previous_page", lang), key="audit_previous", disabled=offset == 0, on_click=go_to,
                       args=(filters, max(0, offset - AUDIT_PAGE_ROWS)))
next_column.button(t("next_page", lang), key="audit_next", disabled=offset + len(audit) >= audit.total,
                   on_click=go_to, args=(filters, offset + AUDIT_PAGE_ROWS))
