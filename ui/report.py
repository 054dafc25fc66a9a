"""The PDF report of one analysis, for the medical record (fpdf2, with a bundled Unicode font for Vietnamese).
Photos are embedded as display-sized JPEGs, so a report stays well under 2 MB."""

import datetime
import io

import numpy as np
from fpdf import FPDF
from PIL import Image

from skin_core import imaging, paths
from ui.i18n import alert_figures, diagnosis_name, formatted, sex_name, short_diagnosis_name, site_name, t

FONT_DIR = paths.REPO_DIR / "assets" / "fonts"
JPEG_QUALITY = 90
PHOTO_WIDTH = 85  # mm: photo and overlay side by side on A4
PHOTO_HEIGHT = 110  # mm at most: a tall photo is shrunk to leave room for its captions on the page


def _jpeg(array: np.ndarray) -> io.BytesIO:
    return io.BytesIO(imaging.jpeg_bytes(array, imaging.DISPLAY_SIDE, JPEG_QUALITY))


def local_time(moment: datetime.datetime, language: str = "en") -> str:
    """A time with its zone ("2026-12-05 14:03 UTC+07:00"): a record read elsewhere or later must not guess it.
    A time without a zone is the server's local time."""
    moment = moment if moment.tzinfo else moment.astimezone()
    offset = moment.strftime("%z")
    return f"{formatted(moment, language)} UTC{offset[:3]}:{offset[3:5]}"


class RecordPDF(FPDF):
    """A4 pages that each name the patient and say which page of how many they are, so that a printed page
    that comes loose (a second page, say) still belongs to its record."""

    def __init__(self, heading: str, issued: str, language: str):
        super().__init__(format="A4")
        self.heading, self.issued, self.language = heading, issued, language
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(True, margin=16)

    def header(self) -> None:
        self.set_font("DejaVu", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.heading, new_x="LMARGIN", new_y="NEXT")
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_text_color(0, 0, 0)
        self.ln(3)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.issued, new_x="LMARGIN", new_y="TOP")
        # "{nb}" is fpdf2's alias for the number of pages, filled in when the document is written
        self.cell(0, 5, t("report_page", self.language, page=self.page_no(), pages="{nb}"), align="R")
        self.set_text_color(0, 0, 0)


def pdf_report(photo: np.ndarray | None, overlay: np.ndarray | None, prediction, *, details: dict, staff: dict,
               photo_name: str, model_name: str, model_version: str, validated_use: str, external: str,
               language: str = "en", when: datetime.datetime | None = None, outside_use: str | None = None,
               case=None) -> bytes:
    """Identity (patient code, clinic, clinician), photo and overlay with their captions and colour scale,
    inputs, ranked diagnoses, the alert and any low-confidence or input-check warning, the model with its
    validated use and its results on photos from other clinics, date with time zone and disclaimer.

    ``outside_use`` names what the input check saw when the doctor analysed a flagged photo anyway; the
    report then says, above everything else, that the result is outside the model's validated use. ``case``
    is the saved case (skin_core.cases.CaseRecord) when the report is issued again from the case history: it
    adds the case number, visit date, lesion, final diagnosis and note. A saved case whose photo the clinic did
    not store (``photo`` None) says so in its place."""
    when = when or datetime.datetime.now()
    not_given = t("not_given", language)
    heading = [t("report_title", language)]
    if details["patient_id"]:
        heading.append(t("report_patient", language, patient_id=details["patient_id"]))
    if case is not None:
        heading.append(f"{t('case_column', language)} #{case.id}")
    pdf = RecordPDF(" · ".join(heading), t("report_issued", language, date=local_time(datetime.datetime.now(), language)),
                    language)
    pdf.add_page()

    def line(text: str, size: int = 9, bold: bool = False, height: float = 5) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    line(t("report_title", language), 16, bold=True, height=9)
    line(t("report_identity", language, patient_id=details["patient_id"] or not_given,
           clinic=staff["clinic"] or not_given, clinician=staff["clinician"] or not_given))
    if case is not None:
        line(t("report_case", language, case_id=case.id, visit_date=case.visit_date,
               lesion=case.lesion_label or not_given))
        if case.final_diagnosis is None:
            line(t("report_no_final", language), bold=True)
        else:
            final = (t("diagnosis_other", language) if case.final_diagnosis == "other"
                     else diagnosis_name(case.final_diagnosis, language))
            line(t("report_final", language, diagnosis=final, source=t(f"source_{case.final_source}", language),
                   date=case.final_date, user=case.confirmed_by), bold=True)
    line(t("report_date", language, date=local_time(when, language)) + " · " + t("report_photo", language, name=photo_name))
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
        scale = min(PHOTO_WIDTH / photo.shape[1], PHOTO_HEIGHT / photo.shape[0])
        width, height = photo.shape[1] * scale, photo.shape[0] * scale
        if pdf.get_y() + height + 16 > pdf.page_break_trigger:
            pdf.add_page()
        top, right = pdf.get_y(), pdf.l_margin + PHOTO_WIDTH + 5
        pdf.image(_jpeg(photo), x=pdf.l_margin, y=top, w=width, h=height)
        pdf.set_font("DejaVu", "", 8)
        pdf.set_xy(pdf.l_margin, top + height + 1)
        pdf.cell(PHOTO_WIDTH, 4, t("original", language))
        if overlay is not None:
            pdf.image(_jpeg(overlay), x=right, y=top, w=width, h=height)
            pdf.set_xy(right, top + height + 1)
            pdf.cell(PHOTO_WIDTH, 4, t("overlay", language))
            pdf.image(Image.fromarray(imaging.colour_scale()), x=right, y=top + height + 6, w=width, h=3)
            pdf.set_xy(right, top + height + 9.5)
            pdf.cell(width / 2, 4, t("report_scale_low", language))
            pdf.cell(width / 2, 4, t("report_scale_high", language), align="R")
        pdf.set_xy(pdf.l_margin, top + height + 16)

    line(t("report_inputs", language), 11, bold=True, height=6)
    age = not_given if details["age"] is None else t("age_years", language, age=details["age"])
    for label, value in ((t("age_label", language), age), (t("sex", language), sex_name(details["sex"], language)),
                         (t("site", language), site_name(details["site"], language))):
        line(f"{label}: {value}", 10)
    pdf.ln(2)

    line(t("results", language), 11, bold=True, height=6)
    pdf.set_font("DejaVu", "", 10)
    with pdf.table(col_widths=(120, 30), text_align=("LEFT", "RIGHT")) as table:
        table.row([t("diagnosis", language), t("probability", language)])
        for code, probability in prediction.ranked:
            table.row([f"{short_diagnosis_name(code, language)} ({code})", formatted(probability, language, ".1%")])
    pdf.ln(3)
    figures = alert_figures(prediction, language)
    alert = prediction.malignancy_alert
    withheld = prediction.triage_withheld
    if withheld:
        line(t("triage_withheld", language, **figures), 10, bold=True)
    else:
        line(t("malignant_banner" if alert else "benign_note", language, **figures).replace("**", ""), 10,
             bold=alert)
    if prediction.alert_disagrees_with_top and not withheld:
        line(t("alert_with_benign_top" if alert else "malignant_top_without_alert", language, **figures))
    line(t(f"threshold_source_{prediction.threshold_source}", language, threshold=figures["threshold"]))
    if prediction.low_confidence:
        line(t("low_confidence", language, probability=prediction.top[1],
               margin=prediction.top[1] - prediction.ranked[1][1]), bold=True)
    if case is not None and case.note:
        pdf.ln(2)
        line(f"{t('note', language)}: {case.note}", 10)
    pdf.ln(2)
    line(f"{t('report_validated_use', language)}: {validated_use}", 8)
    line(external, 8)
    pdf.ln(2)
    line(t("disclaimer", language))
    return bytes(pdf.output())
