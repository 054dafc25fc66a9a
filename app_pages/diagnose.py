"""Diagnose: a photo and patient details in, ranked diagnoses, warnings, attention and a PDF report out."""

import hashlib
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from skin_core import imaging
from skin_core.bundle import BundleError
from skin_core.imaging import InvalidImageError
from skin_core.metadata import SEXES, SITES, InvalidMetadataError
from ui.i18n import diagnosis_name, gate_finding, sex_name, site_name, t
from ui.report import pdf_report
from ui.state import keep, language, model_name, predictor, remember

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
UPLOAD_TYPES = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"]

lang = language()
st.title(t("app_title", lang))
st.info(t("disclaimer", lang))
name = model_name()
if name is None:
    st.error(t("no_model", lang))
    st.stop()


def set_photo(label: str, data: bytes, details: dict | None = None) -> None:
    st.session_state["photo"] = {"name": label, "bytes": data, "sha": hashlib.sha256(data).hexdigest()}
    for key, value in (details or {}).items():
        st.session_state[key] = value
        remember(key)


def on_upload() -> None:
    upload = st.session_state.get("upload")
    if upload is not None:
        set_photo(upload.name, upload.getvalue())


def on_camera() -> None:
    shot = st.session_state.get("camera")
    if shot is not None:
        set_photo("camera", shot.getvalue())


def on_example(row: dict) -> None:
    age = None if pd.isna(row["age"]) else float(row["age"])
    set_photo(f"HAM10000 {row['image_id']}", (EXAMPLES / f"{row['dx']}.jpg").read_bytes(),
              {"age": age, "sex": row["sex"], "site": row["localization"]})


def override_gate(request: tuple) -> None:
    """The doctor chose to see the result of a flagged photo (for this photo, details and model only)."""
    st.session_state["gate_override"] = request


inputs, patient = st.columns([3, 2])
with inputs:
    st.subheader(t("photo", lang))
    st.file_uploader(t("upload", lang), type=UPLOAD_TYPES, key="upload", on_change=on_upload)
    if st.toggle(t("use_camera", lang), key="camera_on"):
        st.camera_input(t("camera", lang), key="camera", on_change=on_camera)
    examples = pd.read_csv(EXAMPLES / "examples.csv")
    st.caption(t("examples", lang))
    for column, row in zip(st.columns(len(examples)), examples.to_dict("records")):
        with column:
            st.image(str(EXAMPLES / f"{row['dx']}.jpg"), width="stretch")
            st.button(row["dx"], key=f"example_{row['dx']}", on_click=on_example, args=(row,),
                      help=t("example_button", lang, name=diagnosis_name(row["dx"], lang)), width="stretch")
    st.caption(t("examples_credit", lang))

with patient:
    st.subheader(t("patient", lang))
    keep("age")
    keep("sex", "unknown")
    keep("site", "unknown")
    st.number_input(t("age", lang), min_value=0.0, max_value=120.0, step=1.0, key="age",
                    on_change=remember, args=("age",))
    st.selectbox(t("sex", lang), SEXES, key="sex", format_func=lambda s: sex_name(s, lang),
                 on_change=remember, args=("sex",))
    st.selectbox(t("site", lang), SITES, key="site", format_func=lambda s: site_name(s, lang),
                 on_change=remember, args=("site",))
    analyse = st.button(t("analyse", lang), type="primary", width="stretch")

photo = st.session_state.get("photo")
if analyse:
    if photo is None:
        st.warning(t("need_photo", lang))
    else:
        st.session_state["analysed"] = photo["sha"]
if photo is None or st.session_state.get("analysed") != photo["sha"]:
    st.stop()

st.caption(t("current_photo", lang, name=photo["name"]))
age, sex, site = st.session_state["age"], st.session_state["sex"], st.session_state["site"]
request = (name, photo["sha"], age, sex, site)
if st.session_state.get("result_key") != request:  # new photo, details or model: predict again
    st.session_state.pop("result", None)
    try:
        image = imaging.load_rgb(photo["bytes"])
        with st.spinner("…"):
            prediction = predictor(name).predict(image, age=age, sex=sex, site=site)
    except InvalidImageError as error:
        st.error(f"{t('bad_image', lang)} {t('image_' + error.reason, lang)}")
        st.stop()
    except InvalidMetadataError as error:
        st.error(t("bad_metadata", lang, error=error))
        st.stop()
    except BundleError as error:
        st.error(t("model_failed", lang, name=name, reason=error))
        st.stop()
    st.session_state["result"] = {"image": image, "prediction": prediction}
    st.session_state["result_key"] = request
image = st.session_state["result"]["image"]
prediction = st.session_state["result"]["prediction"]

st.divider()
gate = prediction.gate
outside_use = None  # what the input check saw, when the doctor analyses a flagged photo anyway
if gate is not None and gate.flagged:
    if st.session_state.get("gate_override") != request:
        st.warning(t(f"gate_{gate_finding(gate)}", lang), icon="🚫")
        st.info(t("gate_how_to", lang))
        st.button(t("analyse_anyway", lang), key="analyse_anyway", on_click=override_gate, args=(request,))
        st.stop()
    outside_use = t(f"gate_what_{gate_finding(gate)}", lang)
    st.error(t("outside_use", lang, what=outside_use), icon="🚫")

st.subheader(t("results", lang))
top_code, top_probability = prediction.top
st.markdown(t("top_sentence", lang, name=diagnosis_name(top_code, lang), probability=top_probability))
if prediction.malignancy_alert:
    st.error(t("malignant_banner", lang, probability=prediction.malignant_probability,
               threshold=prediction.malignancy_threshold), icon="⚠️")
else:
    st.success(t("benign_note", lang, probability=prediction.malignant_probability,
                 threshold=prediction.malignancy_threshold))
if prediction.low_confidence:
    st.warning(t("low_confidence", lang, probability=top_probability,
                 margin=top_probability - prediction.ranked[1][1]))

ranked = pd.DataFrame({
    t("diagnosis", lang): [diagnosis_name(code, lang) for code, _ in prediction.ranked],
    t("code", lang): [code for code, _ in prediction.ranked],
    t("probability", lang): [probability for _, probability in prediction.ranked],
})
table, chart = st.columns(2)
with table:
    st.dataframe(ranked, hide_index=True, width="stretch",
                 column_config={t("probability", lang): st.column_config.ProgressColumn(
                     format="percent", min_value=0.0, max_value=1.0)})
with chart:
    figure = px.bar(ranked[::-1], x=t("probability", lang), y=t("diagnosis", lang), orientation="h",
                    range_x=(0, 1), text_auto=".1%")
    st.plotly_chart(figure, width="stretch")

st.subheader(t("attention", lang))
overlay = None
if prediction.attention is None:
    st.info(t("no_attention", lang))
else:
    opacity = st.slider(t("opacity", lang), 0.0, 1.0, 0.45, 0.05, key="opacity")
    overlay = imaging.overlay(image, prediction.attention, opacity)
    left, right = st.columns(2)
    left.image(image, caption=t("original", lang), width="stretch")
    right.image(overlay, caption=t("overlay", lang), width="stretch")
    if st.toggle(t("heads", lang), key="show_heads"):
        heads = prediction.attention_heads
        for row_start in range(0, len(heads), 8):
            for offset, column in enumerate(st.columns(8)):
                index = row_start + offset
                if index < len(heads):
                    head = imaging.upscale_map(heads[index], image.shape[:2])
                    column.image(imaging.overlay(image, head, opacity), caption=t("head", lang, index=index + 1))

report_key = (request, st.session_state.get("opacity"), lang, outside_use)
if st.session_state.get("report_key") != report_key:  # the PDF is rebuilt only when its content changes
    st.session_state["report"] = pdf_report(
        image, overlay, prediction, age=age, sex=sex, site=site, model_name=name,
        model_version=predictor(name).config.version, language=lang, outside_use=outside_use)
    st.session_state["report_key"] = report_key
st.download_button(t("pdf", lang), data=st.session_state["report"], mime="application/pdf",
                   file_name=f"lesion-report-{photo['sha'][:8]}.pdf")
st.caption(t("disclaimer", lang))
