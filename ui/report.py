"""A one-page PDF report of one analysis, for the medical record (fpdf2, with a bundled Unicode font for
Vietnamese). Photos are embedded as display-sized JPEGs, so a report stays well under 2 MB."""

import datetime
import io

import numpy as np
from fpdf import FPDF

from skin_core import imaging, paths
from ui.i18n import diagnosis_name, sex_name, site_name, t

FONT_DIR = paths.REPO_DIR / "assets" / "fonts"
JPEG_QUALITY = 90


def _jpeg(array: np.ndarray) -> io.BytesIO:
    return io.BytesIO(imaging.jpeg_bytes(array, imaging.DISPLAY_SIDE, JPEG_QUALITY))


def pdf_report(photo: np.ndarray | None, overlay: np.ndarray | None, prediction, *, details: dict, staff: dict,
               photo_name: str, model_name: str, model_version: str, validated_use: str, external: str,
               language: str = "en", when: datetime.datetime | None = None, outside_use: str | None = None) -> bytes:
    """Identity (patient code, clinic, clinician), photo and overlay, inputs, ranked diagnoses, the alert
    and any low-confidence or input-check warning, the model with its validated use and its results on
    photos from other clinics, date and disclaimer.

    ``outside_use`` names what the input check saw when the doctor analysed a flagged photo anyway; the
    report then says, above everything else, that the result is outside the model's validated use. A report
    of a saved case whose photo the clinic did not store (``photo`` None) says so in its place."""
    when = when or datetime.datetime.now()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_page()

    def line(text: str, size: int = 9, bold: bool = False, height: float = 5) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    line(t("report_title", language), 16, bold=True, height=9)
    not_given = t("not_given", language)
    line(t("report_identity", language, patient_id=details["patient_id"] or not_given,
           clinic=staff["clinic"] or not_given, clinician=staff["clinician"] or not_given))
    line(t("report_date", language, date=when.strftime("%Y-%m-%d %H:%M")) + " · "
         + t("report_photo", language, name=photo_name))
    line(t("report_model", language, name=model_name, version=model_version))
    pdf.ln(2)
    if outside_use:
        pdf.set_text_color(180, 0, 0)
        line(t("report_outside_use", language, what=outside_use), 10, bold=True)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)

    if photo is None:
        line(t("no_photo_stored", language))
    else:
        top = pdf.get_y()
        width = 85
        height = width * photo.shape[0] / photo.shape[1]
        pdf.image(_jpeg(photo), x=pdf.l_margin, y=top, w=width, h=height)
        if overlay is not None:
            pdf.image(_jpeg(overlay), x=pdf.l_margin + width + 5, y=top, w=width, h=height)
        pdf.set_y(top + height + 4)

    line(t("report_inputs", language), 11, bold=True, height=6)
    age = not_given if details["age"] is None else f"{details['age']:g}"
    for label, value in ((t("age", language), age), (t("sex", language), sex_name(details["sex"], language)),
                         (t("site", language), site_name(details["site"], language))):
        line(f"{label}: {value}", 10)
    pdf.ln(2)

    line(t("results", language), 11, bold=True, height=6)
    pdf.set_font("DejaVu", "", 10)
    with pdf.table(col_widths=(120, 30), text_align=("LEFT", "RIGHT")) as table:
        table.row([t("diagnosis", language), t("probability", language)])
        for code, probability in prediction.ranked:
            table.row([f"{diagnosis_name(code, language)} ({code})", f"{probability:.1%}"])
    pdf.ln(3)
    figures = {"probability": prediction.malignant_probability, "threshold": prediction.malignancy_threshold}
    alert = prediction.malignancy_alert
    line(t("malignant_banner" if alert else "benign_note", language, **figures).replace("**", ""), 10, bold=alert)
    if prediction.alert_disagrees_with_top:
        line(t("alert_with_benign_top" if alert else "malignant_top_without_alert", language, **figures))
    if prediction.low_confidence:
        line(t("low_confidence", language, probability=prediction.top[1],
               margin=prediction.top[1] - prediction.ranked[1][1]), bold=True)
    pdf.ln(2)
    line(f"{t('report_validated_use', language)}: {validated_use}", 8)
    line(external, 8)
    pdf.ln(2)
    line(t("disclaimer", language))
    return bytes(pdf.output())
