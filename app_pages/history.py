"""Case history: find saved cases, open one (photo, overlay, result, report again), record the final diagnosis,
set two visits of a lesion side by side; admins export and delete a patient's data. Every search, view, edit,
export, deletion and PDF download is logged by the store, once per thing the user did: the list and the open case
read again after a change (a note saved, a diagnosis recorded) are no new search or view."""

import datetime

import pandas as pd
import streamlit as st

from skin_core.bundle import BundleError, open_bundle
from skin_core.cases import FINAL_DIAGNOSES, FINAL_SOURCES, CaseError
from ui.cases import error_message, history_page, saved_prediction, stored_photo
from ui.i18n import (DATE_WIDGET_FORMAT, MISSING, count, diagnosis_name, external_summary, formatted, literal,
                     model_label, sex_name, site_name, t)
from ui.report import pdf_report
from ui.result import show_result
from ui.state import language

lang = language()
store, user = history_page("page_history", lang)


def final_name(code: str) -> str:
    return t("diagnosis_other", lang) if code == "other" else diagnosis_name(code, lang)


def forget_results() -> None:
    """After a change, read the list and the open cases again (not logged again: see search_again, open_afresh)."""
    for key in ("history_search", "opened_cases", "history_export", "research_export"):
        st.session_state.pop(key, None)


def search_again() -> None:
    """↻: the same filters searched anew (picking up other doctors' new cases), logged as a search."""
    forget_results()
    st.session_state.pop("history_searched", None)


def open_afresh() -> None:
    """The user opened a case: it, and the visit set beside it, are read and logged as views anew."""
    for key in ("opened_cases", "history_viewed"):
        st.session_state.pop(key, None)


def opened(case_id: int) -> tuple:
    """The case, its photo and its overlay: read and decoded once while the case stays on the page, not again
    at every rerun (typing a note, comparing visits), and logged as a view once per opening (open_afresh),
    not when read again after a change."""
    cache = st.session_state.setdefault("opened_cases", {})
    if case_id not in cache:
        if len(cache) >= 4:  # photos can be large: keep the last few only
            cache.pop(next(iter(cache)))
        viewed = st.session_state.setdefault("history_viewed", set())
        case = store.open_case(user, case_id, audit=case_id not in viewed)
        viewed.add(case_id)
        cache[case_id] = (case, *stored_photo(case))
    return cache[case_id]


def run(action, changed: bool = True) -> None:
    """A button's action (it may return a message to show). After a change, cases are read again; a refusal
    is shown, and what was typed stays."""
    try:
        message = action()
    except CaseError as error:
        st.session_state["history_message"] = ("error", t("history_error", lang, reason=error_message(error, lang)))
        return
    if changed:
        forget_results()
    if message:
        st.session_state["history_message"] = ("success", message)


def log_download(case_id: int) -> None:
    """A case's PDF report was downloaded: logged (a refusal or an outage is said as for any action)."""
    run(lambda: store.audit_event(user, "download_pdf", case_id), changed=False)


with st.container(border=True):
    st.caption(t("filters", lang))
    # the date fields need room for their whole dd/mm/yyyy
    code_column, from_column, to_column, diagnosis_column, alert_column = st.columns([2, 1.5, 1.5, 2, 1])
    code = code_column.text_input(t("patient_code_filter", lang), key="filter_code", max_chars=64)
    date_from = from_column.date_input(t("date_from", lang), value=None, key="filter_from",
                                       format=DATE_WIDGET_FORMAT, help=t("date_help", lang))
    date_to = to_column.date_input(t("date_to", lang), value=None, key="filter_to", format=DATE_WIDGET_FORMAT,
                                   help=t("date_help", lang))
    diagnosis = diagnosis_column.selectbox(
        t("diagnosis_filter", lang), ["any", "unconfirmed", *FINAL_DIAGNOSES], key="filter_diagnosis",
        format_func=lambda v: t(v, lang) if v in ("any", "unconfirmed") else final_name(v))
    alert = alert_column.selectbox(t("alert_filter", lang), ["any", "yes", "no"], key="filter_alert",
                                   format_func=lambda v: t(v, lang))
    st.button("↻", help=t("filters", lang), on_click=search_again)

message = st.session_state.pop("history_message", None)
if message:
    getattr(st, message[0])(message[1])

filters = (code, date_from, date_to, diagnosis, alert)
search = st.session_state.get("history_search")
try:
    if search is None or search[0] != filters:  # logged when the filters are new (or ↻), not when read again
        cases = store.find_cases(user, patient_code=code, date_from=date_from, date_to=date_to,
                                 diagnosis=None if diagnosis in ("any", "unconfirmed") else diagnosis,
                                 alert={"any": None, "yes": True, "no": False}[alert],
                                 unconfirmed=diagnosis == "unconfirmed",
                                 audit=st.session_state.get("history_searched") != filters)
        st.session_state["history_search"] = search = (filters, cases)
        st.session_state["history_searched"] = filters
except CaseError as error:
    st.error(t("history_error", lang, reason=error_message(error, lang)))
    st.stop()
cases = search[1]
if not cases:
    st.info(t("no_cases", lang))
    st.stop()

st.caption(t("cases_found", lang, cases=count(len(cases), "case", lang)))
st.dataframe(pd.DataFrame({
    t("case_column", lang): [c.id for c in cases],
    t("visit_date", lang): [c.visit_date for c in cases],
    t("patient_id", lang): [c.patient_code for c in cases],
    t("lesion_column", lang): [c.lesion_label for c in cases],
    t("top_column", lang): [diagnosis_name(c.top_code, lang) for c in cases],
    t("malignant_column", lang): [formatted(c.malignant_probability, lang, ".0%") for c in cases],  # as on the page
    t("alert_filter", lang): [t("yes" if c.malignancy_alert else "no", lang) for c in cases],
    t("final_column", lang): [final_name(c.final_diagnosis) if c.confirmed else "" for c in cases],
}), hide_index=True, width="stretch", column_config={t("visit_date", lang): st.column_config.DateColumn(
    format=DATE_WIDGET_FORMAT, help=t("date_help", lang))})

by_id = {c.id: c for c in cases}
case_id = st.selectbox(t("open_case", lang), [None, *by_id], key="open_case_id", on_change=open_afresh,
                       format_func=lambda i: "—" if i is None else
                       f"#{i} · {by_id[i].patient_code} · {formatted(by_id[i].visit_date, lang)} · "
                       f"{by_id[i].lesion_label}")


def visit_column(column, case, photo) -> None:
    """One visit: its photo and its result in a line."""
    top_code, top_probability = case.ranked[0]
    column.markdown(t("visit_summary", lang, date=case.visit_date, diagnosis=diagnosis_name(top_code, lang),
                      probability=top_probability, malignant=case.malignant_probability,
                      alert=t("alert_mark", lang) if case.malignancy_alert else ""))
    if photo is None:
        column.caption(t("no_photo_stored", lang))
    else:
        column.image(photo, width="stretch", output_format="JPEG")
    if case.confirmed:
        column.caption(t("final_is", lang, diagnosis=final_name(case.final_diagnosis), user=literal(case.confirmed_by),
                         source=t(f"source_{case.final_source}", lang), date=case.final_date))


def report(case, photo, overlay, outside_use) -> bytes:
    """The case's PDF for the record: what the model said then, with what the case holds now (its number, visit,
    lesion, note and final diagnosis)."""
    try:
        bundle = open_bundle(case.model_name)
        display, use = model_label(case.model_name, bundle.config.display_name, lang), bundle.config.model_card.text(
            "intended_use", lang)
        external = external_summary(bundle.report, lang)
    except BundleError:  # the model was removed since: the report still shows what it said
        display, use, external = case.model_name, "", t("no_external", lang)
    return pdf_report(photo, overlay, saved_prediction(case),
                      details={"patient_id": case.patient_code, "age": case.age, "sex": case.sex, "site": case.site},
                      staff={"clinic": case.clinic, "clinician": case.clinician}, photo_name=case.photo_name,
                      model_name=display, model_version=case.model_version, validated_use=use, external=external,
                      language=lang, when=case.created_at.astimezone(), outside_use=outside_use, case=case)


if case_id is not None:
    try:
        case, photo, overlay = opened(case_id)
    except CaseError as error:
        st.error(t("history_error", lang, reason=error_message(error, lang)))
        st.stop()
    st.divider()
    st.subheader(t("case_heading", lang, case_id=case.id, patient=literal(case.patient_code), date=case.visit_date))
    st.caption(t("saved_by", lang, user=literal(case.created_by), when=case.created_at.astimezone(),
                 model=model_label(case.model_name, language=lang), version=case.model_version) + " · "
               + f"{t('lesion_column', lang)}: {literal(case.lesion_label) or MISSING} · "
               + f"{t('age', lang).split(' (')[0]}: {formatted(case.age, lang)} · {sex_name(case.sex, lang)} · "
               + site_name(case.site, lang))
    outside_use = None
    if case.gate_reason not in (None, "ok"):
        outside_use = t(f"gate_what_{case.gate_problem or case.gate_reason}", lang)
        st.error(t("outside_use", lang, what=outside_use), icon="🚫")
    left, right = st.columns(2)
    if photo is None:
        left.info(t("no_photo_stored", lang))
    else:
        left.image(photo, caption=t("original", lang) + (
            "" if case.photo_storage == "full" else " · " + t("thumbnail_stored", lang)), width="stretch",
            output_format="JPEG")
        if overlay is not None:
            right.image(overlay, caption=t("overlay", lang), width="stretch", output_format="JPEG")
    show_result(saved_prediction(case), lang)

    note_key = f"case_note_{case.id}"
    st.session_state.setdefault(note_key, case.note)
    st.text_area(t("note", lang), key=note_key, max_chars=10_000)
    st.button(t("save_note", lang), key="save_note", on_click=run, args=(
        lambda: store.edit_note(user, case.id, st.session_state[note_key]) or t("note_saved", lang),))
    if len(case.note_versions) > 1:  # the last one is the note above
        with st.expander(t("note_versions", lang)):
            for version in reversed(case.note_versions[:-1]):
                st.caption(t("note_version", lang, number=version.number, user=literal(version.edited_by),
                             when=version.edited_at.astimezone()))
                st.text(version.text or MISSING)

    st.markdown(f"**{t('final_heading', lang)}**")
    if case.confirmed:
        st.success(t("final_is", lang, diagnosis=final_name(case.final_diagnosis), user=literal(case.confirmed_by),
                     source=t(f"source_{case.final_source}", lang), date=case.final_date))
    else:
        st.caption(t("not_confirmed", lang))
    # an unconfirmed case starts empty: a single click must never record the model's answer as proven
    diagnosis_column, source_column, date_column = st.columns(3)
    final_keys = {field: f"{field}_{case.id}" for field in ("final_diagnosis", "final_source", "final_date")}
    diagnosis_column.selectbox(t("final_diagnosis", lang), FINAL_DIAGNOSES, key=final_keys["final_diagnosis"],
                               index=FINAL_DIAGNOSES.index(case.final_diagnosis) if case.confirmed else None,
                               placeholder=t("choose_one", lang), format_func=final_name)
    source_column.selectbox(t("final_source", lang), FINAL_SOURCES, key=final_keys["final_source"],
                            index=FINAL_SOURCES.index(case.final_source) if case.confirmed else None,
                            placeholder=t("choose_one", lang), format_func=lambda s: t(f"source_{s}", lang))
    date_column.date_input(t("final_date", lang), key=final_keys["final_date"], value=case.final_date,
                           format=DATE_WIDGET_FORMAT, help=t("date_help", lang))

    def record_final():
        """Its outcome is said beside the button, where the doctor looks (the page's top may be far above)."""
        chosen = [st.session_state.get(key) for key in final_keys.values()]
        if None in chosen:
            return st.session_state.update(final_message=("error", t("final_incomplete", lang)))
        try:
            store.confirm(user, case.id, *chosen)
        except CaseError as error:
            return st.session_state.update(final_message=("error", t("history_error", lang,
                                                                     reason=error_message(error, lang))))
        forget_results()
        st.session_state["final_message"] = ("success", t("final_saved", lang))

    st.button(t("save_final", lang), key="save_final", type="primary", on_click=record_final)
    outcome = st.session_state.pop("final_message", None)
    if outcome is not None:
        getattr(st, outcome[0])(outcome[1])

    pdf = st.session_state.get("history_pdf")
    # a saved note or final diagnosis changes the report
    pdf_key = (case.id, lang, case.note, case.final_diagnosis, case.final_source, case.final_date)
    if pdf is None or pdf[0] != pdf_key:
        st.button(t("prepare_pdf", lang), key="history_prepare_pdf",
                  on_click=lambda: st.session_state.update(history_pdf=(pdf_key, None)))
    else:
        if pdf[1] is None:
            pdf = (pdf_key, report(case, photo, overlay, outside_use))
            st.session_state["history_pdf"] = pdf
        st.download_button(t("pdf", lang), data=pdf[1], mime="application/pdf", on_click=log_download, args=(case.id,),
                           file_name=f"{t('report_file', lang)}-{case.patient_code}-{case.visit_date}-{case.id}.pdf")

    st.subheader(t("follow_up", lang))
    others = [v for v in store.lesion_visits(user, case.id) if v.id != case.id]
    if not others:
        st.caption(t("no_other_visits", lang))
    else:
        other_id = st.selectbox(t("compare_with", lang), [v.id for v in others], key="compare_with",
                                format_func=lambda i: next(f"#{v.id} · {formatted(v.visit_date, lang)}"
                                                           for v in others if v.id == i))
        if other_id is not None:
            visits = sorted(((case, photo), opened(other_id)[:2]), key=lambda v: (v[0].visit_date, v[0].id))
            for column, (visit, visit_photo) in zip(st.columns(2), visits):
                visit_column(column, visit, visit_photo)

if user.is_admin:
    with st.expander(t("admin_tools", lang)):
        chosen = st.multiselect(t("export_cases", lang), list(by_id), default=list(by_id), key="export_ids",
                                format_func=lambda i: f"#{i} · {by_id[i].patient_code}",
                                placeholder=t("choose_one", lang))
        st.checkbox(t("with_photos", lang), key="export_photos")

        def prepare_export():
            data = store.export(user, st.session_state["export_ids"], photos=st.session_state["export_photos"])
            kind = ("zip", "application/zip") if st.session_state["export_photos"] else ("csv", "text/csv")
            st.session_state["history_export"] = (data, f"cases-{datetime.date.today()}.{kind[0]}", kind[1])

        st.button(t("prepare_export", lang), key="prepare_export", disabled=not chosen, on_click=run,
                  args=(prepare_export, False))
        export = st.session_state.get("history_export")
        if export is not None:
            st.download_button(t("download_export", lang), data=export[0], file_name=export[1], mime=export[2])
        st.divider()
        st.markdown(f"**{t('research_export', lang)}**", help=t("research_export_help", lang))

        def prepare_research_export():
            st.session_state["research_export"] = store.research_export(user)

        st.button(t("prepare_research_export", lang), key="prepare_research_export", on_click=run,
                  args=(prepare_research_export, False))
        if st.session_state.get("research_export") is not None:
            st.download_button(t("download_research_export", lang), data=st.session_state["research_export"],
                               file_name=f"research-export-{datetime.date.today()}.zip", mime="application/zip")
        st.divider()
        st.markdown(f"**{t('delete_patient', lang)}**")
        st.text_input(t("delete_code", lang), key="delete_code", max_chars=64)
        sure = st.checkbox(t("delete_confirm", lang), key="delete_sure")

        def delete_patient():
            patient = st.session_state["delete_code"]
            deleted = store.delete_patient(user, patient)
            for key in ("open_case_id", "delete_code", "delete_sure"):
                st.session_state.pop(key, None)
            return t("deleted", lang, cases=count(deleted, "case", lang), patient=literal(patient))

        st.button(t("delete_button", lang), key="delete_patient", disabled=not sure, on_click=run,
                  args=(delete_patient,))
