import datetime

import numpy as np

from skin_core.predictor import Prediction
from ui.report import pdf_report


def prediction():
    ranked = [("mel", 0.55), ("nv", 0.30), ("bkl", 0.05), ("bcc", 0.04), ("akiec", 0.03), ("df", 0.02),
              ("vasc", 0.01)]
    return Prediction(ranked=ranked, attention=None, attention_heads=None, malignant_probability=0.62,
                      malignancy_threshold=0.3, low_confidence=False, probabilities=dict(ranked))


def test_pdf_report_in_both_languages():
    photo = np.random.default_rng(0).integers(0, 255, (150, 200, 3), np.uint8)
    when = datetime.datetime(2026, 11, 25, 10, 30)
    for language in ("en", "vi"):
        pdf = pdf_report(photo, photo[::-1], prediction(), age=61, sex="female", site="back",
                         model_name="mobilenetv3small", model_version="2026-11-25", language=language, when=when)
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
        assert b"DejaVu" in pdf  # the Unicode font that carries the Vietnamese diacritics is embedded
