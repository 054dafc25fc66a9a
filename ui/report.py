"""A one-page PDF report of one analysis (fpdf2, with a bundled Unicode font for Vietnamese)."""

import datetime
import io

import numpy as np
from fpdf import FPDF
from PIL import Image

from skin_core import paths
from ui.i18n import diagnosis_name, sex_name, site_name, t

FONT_DIR = paths.REPO_DIR / "assets" / "fonts"


def _png(array: np.ndarray) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def pdf_report(photo: np.ndarray, overlay: np.ndarray | None, prediction, *, age=None, sex="unknown",
               site="unknown", model_name: str, model_version: str, language: str = "en",
               when: datetime.datetime | None = None, outside_use: str | None = None) -> bytes:
    """Photo, attention overlay, inputs, ranked diagnoses, model and version, date, disclaimer.

    ``outside_use`` names what the input check saw when the doctor analysed a flagged photo anyway; the
    report then says, above everything else, that the result is outside the model's validated use."""
    when = when or datetime.datetime.now()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 10, t("report_title", language), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(0, 5, t("report_date", language, date=when.strftime("%Y-%m-%d %H:%M")), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, t("report_model", language, name=model_name, version=model_version), new_x="LMARGIN",
             new_y="NEXT")
    pdf.ln(2)
    if outside_use:
        pdf.set_font("DejaVu", "B", 10)
        pdf.set_text_color(180, 0, 0)
        pdf.multi_cell(0, 5, t("report_outside_use", language, what=outside_use))
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)

    top = pdf.get_y()
    width = 85
    height = width * photo.shape[0] / photo.shape[1]
    pdf.image(_png(photo), x=pdf.l_margin, y=top, w=width, h=height)
    if overlay is not None:
        pdf.image(_png(overlay), x=pdf.l_margin + width + 5, y=top, w=width, h=height)
    pdf.set_y(top + height + 4)

    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 6, t("report_inputs", language), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    age_text = t("not_given", language) if age is None else f"{age:g}"
    for label, value in ((t("age", language), age_text), (t("sex", language), sex_name(sex, language)),
                         (t("site", language), site_name(site, language))):
        pdf.cell(0, 5, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 6, t("results", language), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    with pdf.table(col_widths=(120, 30), text_align=("LEFT", "RIGHT")) as table:
        table.row([t("diagnosis", language), t("probability", language)])
        for code, probability in prediction.ranked:
            table.row([f"{diagnosis_name(code, language)} ({code})", f"{probability:.1%}"])
    pdf.ln(3)
    key = "malignant_banner" if prediction.malignancy_alert else "benign_note"
    pdf.set_font("DejaVu", "B" if prediction.malignancy_alert else "", 10)
    pdf.multi_cell(0, 5, t(key, language, probability=prediction.malignant_probability,
                           threshold=prediction.malignancy_threshold).replace("**", ""))
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(0, 5, t("disclaimer", language))
    return bytes(pdf.output())
