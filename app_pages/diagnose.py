"""Diagnose: a photo and patient details in, ranked diagnoses, warnings, attention and a PDF report out.

Patient details are the app's own state, kept as language-independent codes in ``details`` (sex "female", site
"face") and ``staff``; the analysis reads only them. The photo, the Analyse latch, the result and what was done
with it are one ``DiagnoseFlow`` (ui/diagnose_flow.py), changed only through its transitions. Their widgets only show them: each is drawn from them under
a key that changes with the language and whenever the widgets were not drawn in the last run (ui.state.widget_key),
and writes its new value back through on_change. Switching the language, signing in again or an outage page
change the words on screen and never the data.
"""

import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from skin_core import imaging
from skin_core.bundle import BundleError, open_bundle
from skin_core.cases import CaseDraft, CaseError
from skin_core.imaging import InvalidImageError
from skin_core.metadata import SEXES, SITES, UNKNOWN, InvalidMetadataError
from ui.i18n import (DATE_WIDGET_FORMAT, diagnosis_name, external_summary, formatted, gate_finding, literal,
                     model_label, sex_name, site_name, t)
from ui.cases import answered, case_store, current_user, error_message
from ui.diagnose_flow import ANALYSE, FLOW_KEY, DiagnoseFlow
from ui.report import pdf_report
from ui.result import OVERLAY_OPACITY, show_result
from ui.state import (DETAILS, analyse, attention_in_lesion, drawn, heads_differ, language, model_name, predictor,
                      redraw_fresh, widget_key)

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
UPLOAD_TYPES = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "gif"]
EMPTY_DETAILS = {"patient_id": "", "age": None, "sex": UNKNOWN, "site": UNKNOWN}
STAFF_FIELDS = ("clinic", "clinician")
CASE_FIELDS = ("case_lesion", "case_visit_date", "case_note")  # what the save form holds for this patient
THUMBNAIL_SIDE = 160  # pixels: the chosen photo shown small before it is analysed

lang = language()
st.title(t("app_title", lang))
name = model_name()
if name is None:
    st.error(t("no_model", lang))
    st.stop()
details = st.session_state.setdefault("details", dict(EMPTY_DETAILS))
staff = st.session_state.setdefault("staff", {field: "" for field in STAFF_FIELDS})
flow: DiagnoseFlow = st.session_state.setdefault(FLOW_KEY, DiagnoseFlow())
analyse_key = flow.analyse_key


def write_back(target: dict, field: str, key: str) -> None:
    target[field] = st.session_state[key]


def shown(field: str, target: dict = details) -> dict:
    """Keyword arguments of a widget that shows this field of the app's state and writes its changes back."""
    key = widget_key(DETAILS, field, lang)
    return {"key": key, "on_change": write_back, "args": (target, field, key)}


def thumbnail(photo) -> bytes | None:
    """A small JPEG of the chosen photo, made once (None when the file is no readable image: Analyse says why)."""
    if photo.thumbnail is None:
        try:
            photo.thumbnail = imaging.jpeg_bytes(photo.data, max_side=THUMBNAIL_SIDE)
        except InvalidImageError:
            photo.thumbnail = b""  # tried once: no page run decodes an unreadable file again
    return photo.thumbnail or None


def take_new_file(file, label: str | None = None) -> None:
    """Show a newly uploaded or photographed file. Read from the widget's value while the page is drawn, not in
    an on_change callback: under load Streamlit can cut a run short inside the callback (every session-state
    access checks for a newer request) after it stored the widget's value, and the next run then sees no
    change, so the photo never arrived (measured: "Choose a photo first." next to the uploaded file)."""
    if file is not None:
        flow.take(file.file_id, label or file.name, file.getvalue())


def on_example(row: dict) -> None:
    """Show an example photo; its patient details fill the form only if the doctor has not typed any."""
    flow.choose(f"HAM10000 {row['image_id']}.jpg", (EXAMPLES / f"{row['dx']}.jpg").read_bytes())
    example = {"age": None if pd.isna(row["age"]) else int(row["age"]), "sex": row["sex"],
               "site": row["localization"]}
    typed = any(details[field] != EMPTY_DETAILS[field] for field in example)
    flow.example_details = example if typed else None
    if not typed:
        details.update(example)
        redraw_fresh(DETAILS)


def new_patient() -> None:
    for key in (analyse_key, *CASE_FIELDS):
        st.session_state.pop(key, None)
    flow.new_patient()
    st.session_state["details"] = dict(EMPTY_DETAILS)
    redraw_fresh(DETAILS)


def keep_analysing() -> None:
    """Analyse is a latch kept on until New patient, not a one-shot button. A button's click is sent once: when
    the upload's own update reaches the server a few milliseconds later, Streamlit drops the run that carried
    the click before applying it, and the click is gone (measured under load: the page stayed idle with the
    file shown). A selected option is sent again with every later update, so it cannot be lost; a second
    click, which would unselect it, selects it again."""
    st.session_state[analyse_key] = ANALYSE


def log_download(request: tuple) -> None:
    """The PDF report was downloaded: logged with the case number once this analysis is saved (none in the demo
    mode). The browser has the file already; a refusal or an outage is said in a toast."""
    store, user = case_store()[0], current_user()
    if store is not None and user is not None:
        try:
            store.audit_event(user, "download_pdf", flow.saved_cases.get(request))
        except CaseError as error:
            st.toast(t("history_error", lang, reason=error_message(error, lang)))


def save_case(store, user, request: tuple) -> None:
    """Save the analysis shown for ``request`` (the analysis request, the patient code and the threshold) with
    what the save form holds; a refusal is kept for the page to show, and the form keeps everything typed."""
    result = flow.result.prediction
    release = predictor(request[0]).release
    photo = flow.photo
    try:
        case_id = store.save_case(user, CaseDraft.from_prediction(
            result, patient_code=details["patient_id"], model_name=request[0], model_version=release,
            photo=photo.data, photo_name=photo.name, lesion_label=st.session_state.get("case_lesion", ""),
            visit_date=st.session_state.get("case_visit_date"), age=details["age"], sex=details["sex"],
            site=details["site"], clinic=staff["clinic"], clinician=staff["clinician"],
            note=st.session_state.get("case_note", "")))
    except CaseError as error:
        flow.save_failed(request, error_message(error, lang))
        return
    st.session_state.pop("history_search", None)  # the History page searches again and finds it
    flow.saved(request, case_id)


def save_section(store, user, request: tuple) -> None:
    st.subheader(t("save_heading", lang))
    try:
        settings = store.settings()
    except CaseError as error:
        st.error(t("history_error", lang, reason=error_message(error, lang)))
        return
    st.caption(t("photo_storage_is", lang, storage=t(f"storage_{settings['photo_storage']}", lang)))
    lesion_column, date_column = st.columns([3, 1])
    lesion_column.text_input(t("lesion_label", lang), key="case_lesion", max_chars=120)
    date_column.date_input(t("visit_date", lang), key="case_visit_date", value=datetime.date.today(),
                           format=DATE_WIDGET_FORMAT, help=t("date_help", lang))
    st.text_area(t("note", lang), key="case_note", max_chars=10_000)
    saved = flow.saved_cases
    if settings["auto_save"] and request not in saved and flow.save_error_for(request) is None:
        save_case(store, user, request)
        if request in saved:
            st.success(t("auto_saved", lang, case_id=saved[request]))
            return
    if request in saved:
        st.success(t("saved_case", lang, case_id=saved[request]))
        return
    refusal = flow.save_error_for(request)
    if refusal is not None:
        st.error(t("save_failed", lang, reason=refusal))
    st.button(t("save_case", lang), type="primary", on_click=save_case, args=(store, user, request))


@st.fragment
def attention_section(image, prediction) -> None:
    """Photo, overlay and per-head maps: a fragment, so that a slider step redraws only this part."""
    st.subheader(t("attention", lang))
    if prediction.attention is None:
        st.info(t("no_attention", lang))
        return
    opacity = st.slider(t("opacity", lang), 0, 100, round(OVERLAY_OPACITY * 100), 5, key="opacity",
                        format="%d%%") / 100  # whole percent: no decimal mark to write the Vietnamese way
    left, right = st.columns(2)
    # JPEG: a tenth of PNG's encoding time for a photo, which is what a slider step waits for
    left.image(image, caption=t("original", lang), width="stretch", output_format="JPEG")
    right.image(imaging.overlay(image, prediction.attention, opacity), caption=t("overlay", lang), width="stretch",
                output_format="JPEG")
    right.image(imaging.colour_scale(), caption=t("colour_scale", lang), width="stretch")
    measured = attention_in_lesion(name, predictor(name).release)
    if measured:
        st.caption(t("attention_measured", lang, n=formatted(measured.n, lang, ","),
                     inside=formatted(measured.mass_inside_lesion, lang, ".0%"),
                     area=formatted(measured.lesion_area_share, lang, ".0%")))
    if st.toggle(t("heads", lang), key="show_heads"):
        heads = prediction.attention_heads
        if not heads_differ(heads):
            st.caption(t("heads_identical", lang))
            return
        for row_start in range(0, len(heads), 8):
            for offset, column in enumerate(st.columns(8)):
                index = row_start + offset
                if index < len(heads):
                    head = imaging.upscale_map(heads[index], image.shape[:2])
                    column.image(imaging.overlay(image, head, opacity), caption=t("head", lang, index=index + 1),
                                 output_format="JPEG")


inputs, patient = st.columns([3, 2])
with inputs:
    with st.container(horizontal=True):
        st.subheader(t("photo", lang))
        camera_on = st.toggle(t("use_camera", lang), key="camera_on")
    take_new_file(st.file_uploader(t("upload", lang), type=UPLOAD_TYPES, key=f"upload_{flow.generation}"))
    if camera_on:
        take_new_file(st.camera_input(t("camera", lang), key=f"camera_{flow.generation}"), "camera.jpg")
    if flow.photo is not None and not flow.analysing:  # what Analyse will read, before it does
        preview = thumbnail(flow.photo)
        if preview is not None:
            st.image(preview, caption=flow.photo.name, width=THUMBNAIL_SIDE)
    example = flow.example_details
    if example:
        st.info(t("example_details_kept", lang, age=example["age"], sex=sex_name(example["sex"], lang),
                  site=site_name(example["site"], lang)))

with patient:
    with st.container(horizontal=True):  # laid out as the photo's heading, so that both line up
        st.subheader(t("patient", lang))
    st.text_input(t("patient_id", lang), value=details["patient_id"], max_chars=64, **shown("patient_id"))
    with st.container(horizontal=True):  # side by side on a phone too: Analyse stays on the first screen
        st.number_input(t("age", lang), min_value=0, max_value=120, step=1, format="%d", value=details["age"],
                        **shown("age"))
        st.selectbox(t("sex", lang), SEXES, index=SEXES.index(details["sex"]),
                     format_func=lambda s: sex_name(s, lang), **shown("sex"))
    st.selectbox(t("site", lang), SITES, index=SITES.index(details["site"]), format_func=lambda s: site_name(s, lang),
                 **shown("site"))
    analyse_column, clear_column = st.columns(2)
    if flow.analysing:  # a widget's own state is dropped while another page is shown: the latch is the flow's
        st.session_state.setdefault(analyse_key, ANALYSE)
    analyse_column.segmented_control(t("analyse", lang), [ANALYSE], key=analyse_key, label_visibility="collapsed",
                                     format_func=lambda _: t("analyse", lang), on_change=keep_analysing,
                                     help=t("analyse_help", lang), width="stretch")
    clear_column.button(t("new_patient", lang), on_click=new_patient, help=t("new_patient_help", lang), width="stretch")
    st.info(t("disclaimer", lang))
    # filled once per session, so below Analyse
    with st.expander(t("clinic", lang) + " / " + t("clinician", lang), expanded=not all(staff.values())):
        for field in STAFF_FIELDS:
            st.text_input(t(field, lang), value=staff[field], max_chars=80, **shown(field, staff))
    drawn(DETAILS)

result_area = st.container()  # above the examples, so that Analyse shows its result where the doctor looks
# folded away below Analyse: seven photos stacked on a phone put Analyse some 4000 px down
with st.expander(t("examples", lang)):
    with st.container(horizontal=True, gap="xsmall"):
        for row in pd.read_csv(EXAMPLES / "examples.csv").to_dict("records"):
            with st.container(width=150, gap="xsmall"):
                st.image(str(EXAMPLES / f"{row['dx']}.jpg"), width="stretch")
                st.button(diagnosis_name(row["dx"], lang), key=f"example_{row['dx']}", on_click=on_example,
                          args=(row,), width="stretch")
    st.caption(t("examples_credit", lang))

photo = flow.photo
if st.session_state.get(analyse_key) == ANALYSE:
    flow.start()
if not flow.analysing:
    st.stop()
if photo is None:  # the request stays on: the photo that arrives next is analysed
    result_area.warning(t("need_photo", lang))
    st.stop()

request = flow.request(name, details)
slot = result_area.empty()  # one slot for the result: an outdated result is removed before a new one is computed
result = flow.result_for(request)
if result is None:  # new photo, details or model: predict again
    flow.forget_result()
    slot.info(t("analysing", lang))
    try:
        image, prediction = analyse(name, photo.data, age=details["age"], sex=details["sex"], site=details["site"])
    except InvalidImageError as error:
        slot.error(f"{t('bad_image', lang)} {t('image_' + error.reason, lang)}")
        st.stop()
    except InvalidMetadataError as error:
        slot.error(t("bad_metadata", lang, error=error))
        st.stop()
    except BundleError as error:
        slot.error(t("model_failed", lang, name=name, reason=error))
        st.stop()
    try:
        prediction = answered(prediction, name, predictor(name).release, counted=flow.first_answer(request))
    except CaseError as error:  # whether the clinic's own threshold is in force is not known: no answer
        slot.error(t("history_error", lang, reason=error_message(error, lang)))
        st.stop()
    result = flow.show(request, image, prediction)
image, prediction = result.image, result.prediction
bundle_config = predictor(name).config

with slot.container():
    st.divider()
    st.caption(t("current_photo", lang, name=literal(photo.name)))
    gate = prediction.gate
    outside_use = None  # what the input check saw, when the doctor analyses a flagged photo anyway
    if gate is not None and gate.flagged:
        if not flow.overridden(request):
            st.warning(t(f"gate_{gate_finding(gate)}", lang), icon="🚫")
            st.image(image, caption=t("original", lang), width=2 * THUMBNAIL_SIDE, output_format="JPEG")
            st.info(t(f"gate_advice_{gate_finding(gate)}", lang))
            st.button(t("analyse_anyway", lang), key="analyse_anyway", on_click=flow.analyse_anyway, args=(request,))
            st.stop()
        outside_use = t(f"gate_what_{gate_finding(gate)}", lang)
        st.error(t("outside_use", lang, what=outside_use), icon="🚫")

    st.subheader(t("results", lang))
    show_result(prediction, lang)
    # what a saved case is of: this analysis for this patient at this threshold (the same photo and details
    # for the next patient, or after correcting a mistyped code, are a case of their own)
    saved_key = (*request, details["patient_id"], prediction.malignancy_threshold)
    attention_section(image, prediction)

    report_key = (request, lang, outside_use, tuple(details.values()), tuple(staff.values()))
    pdf = flow.pdf_for(report_key)
    if pdf is None:  # built only when asked for, never on a slider step
        st.button(t("prepare_pdf", lang), on_click=flow.ask_pdf, args=(report_key,))
    else:
        if pdf.data is None:
            overlay = None if prediction.attention is None else imaging.overlay(
                image, prediction.attention, st.session_state.get("opacity", OVERLAY_OPACITY * 100) / 100)
            pdf.data = pdf_report(
                image, overlay, prediction, details=details, staff=staff, photo_name=photo.name,
                model_name=model_label(name, bundle_config.display_name, lang),
                model_version=predictor(name).release,
                validated_use=bundle_config.model_card.text("intended_use", lang),
                external=external_summary(open_bundle(name).report, lang),
                language=lang, outside_use=outside_use)
        stamp = datetime.date.today().isoformat()
        st.download_button(t("pdf", lang), data=pdf.data, mime="application/pdf", on_click=log_download,
                           args=(saved_key,),
                           file_name=f"{t('report_file', lang)}-{details['patient_id'] or photo.sha[:8]}-{stamp}.pdf")
    store, _ = case_store()
    if store is not None and current_user() is not None:
        save_section(store, current_user(), saved_key)
