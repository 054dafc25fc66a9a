import datetime

import numpy as np

from skin_core.predictor import Prediction
from ui.report import pdf_report


def prediction(low_confidence=False):
    ranked = [("mel", 0.55), ("nv", 0.30), ("bkl", 0.05), ("bcc", 0.04), ("akiec", 0.03), ("df", 0.02),
              ("vasc", 0.01)]
    return Prediction(ranked=ranked, attention=None, attention_heads=None, malignant_probability=0.62,
                      malignancy_threshold=0.3, low_confidence=low_confidence, probabilities=dict(ranked))


def report(language="en", photo_side=200, with_photo=True, **overrides):
    photo = np.random.default_rng(0).integers(0, 255, (photo_side * 3 // 4, photo_side, 3), np.uint8)
    settings = dict(details={"patient_id": "BN-1", "age": 61, "sex": "female", "site": "back"},
                    staff={"clinic": "Trạm y tế", "clinician": "BS. Lan"}, photo_name="IMG_1.jpg",
                    model_name="MobileNetV2", model_version="2026-11-25", validated_use="Dermoscopic photos.",
                    external="On 600 photos from other clinics: balanced accuracy 0.48.", language=language,
                    when=datetime.datetime(2026, 11, 25, 10, 30))
    images = (photo, photo[::-1]) if with_photo else (None, None)
    return pdf_report(*images, prediction(**overrides.pop("prediction", {})), **{**settings, **overrides})


def test_pdf_report_in_both_languages():
    for language in ("en", "vi"):
        pdf = report(language)
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
        assert b"DejaVu" in pdf  # the Unicode font that carries the Vietnamese diacritics is embedded


def test_warnings_add_to_the_report_and_a_full_size_photo_stays_small():
    plain = report()
    flagged = report(outside_use="not a dermoscopic lesion photo", prediction={"low_confidence": True})
    assert len(flagged) > len(plain)  # the outside-use and low-confidence lines are there
    assert len(report(photo_side=4000)) < 2 * 2**20  # a 12-megapixel photo is embedded display-sized


def test_a_saved_case_without_a_stored_photo_still_has_its_report():
    for language in ("en", "vi"):
        without = report(language, with_photo=False)
        assert without.startswith(b"%PDF") and len(without) < len(report(language)) - 20_000
