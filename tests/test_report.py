import datetime
import io
import re
import types

import numpy as np
from pypdf import PdfReader

import ui.report
from skin_core import bundle as bundles
from skin_core.cases import CaseDraft, CaseStore
from skin_core.predictor import Prediction
from test_app_cases import EXAMPLES, PASSWORDS, signed_in
from ui.i18n import external_summary
from ui.report import pdf_report


def prediction(low_confidence=False, threshold_source="model"):
    ranked = [("mel", 0.55), ("nv", 0.30), ("bkl", 0.05), ("bcc", 0.04), ("akiec", 0.03), ("df", 0.02),
              ("vasc", 0.01)]
    return Prediction(ranked=ranked, attention=None, attention_heads=None, malignant_probability=0.62,
                      malignancy_threshold=0.3, low_confidence=low_confidence, probabilities=dict(ranked),
                      threshold_source=threshold_source)


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


def test_the_report_writes_probabilities_as_the_page_does():
    """Vietnamese decimals with a comma (55,0%), and a probability that rounds to 0 reads "< 0,1%" as on screen."""
    from ui.i18n import formatted

    for language in ("en", "vi"):
        text = re.sub(r"\s+", " ", " ".join(pages(report(language))))
        for _, probability in prediction().ranked:
            assert formatted(probability, language, ".1%") in text
    assert "55,0" in " ".join(pages(report("vi"))) and "55.0%" not in " ".join(pages(report("vi")))


def test_the_report_names_whose_alert_threshold_it_used():
    for language, source, words in (("en", "model", "the model's own"), ("en", "clinic", "this clinic's own"),
                                    ("vi", "clinic", "ngưỡng riêng của phòng khám")):
        text = re.sub(r"\s+", " ", " ".join(pages(report(language, prediction={"threshold_source": source}))))
        assert words in text and {"en": "Alert threshold 30%", "vi": "Ngưỡng cảnh báo 30%"}[language] in text


def test_a_flagged_photo_analysed_anyway_gets_no_triage_advice_in_the_report():
    from skin_core.gate import NOT_DERMOSCOPIC, GateDecision

    for language, advice in (("en", ("biopsy", "follow-up")), ("vi", ("sinh thiết", "theo dõi;"))):
        plain = re.sub(r"\s+", " ", " ".join(pages(report(language))))
        assert any(word in plain for word in advice)
        flagged = prediction()
        flagged.gate = GateDecision(NOT_DERMOSCOPIC, None, 0.97)
        settings = dict(details={"patient_id": "BN-1", "age": 61, "sex": "female", "site": "back"},
                        staff={"clinic": "", "clinician": ""}, photo_name="cat.jpg", model_name="MobileNetV2",
                        model_version="2026-11-25", validated_use="Dermoscopic photos.", external="",
                        language=language, outside_use="not a dermoscopic lesion photo")
        text = re.sub(r"\s+", " ", " ".join(pages(pdf_report(None, None, flagged, **settings))))
        assert ("No triage advice" if language == "en" else "Không đưa ra khuyến nghị xử trí") in text
        assert "refer to a dermatologist" not in text and "Advice: follow-up" not in text


def test_a_saved_flagged_case_keeps_its_gate_decision():
    from skin_core.gate import NOT_DERMOSCOPIC
    from ui.cases import saved_prediction

    case = types.SimpleNamespace(ranked=prediction().ranked, attention=None, malignant_probability=0.62,
                                 malignancy_threshold=0.3, low_confidence=False,
                                 probabilities=prediction().probabilities, gate_reason=NOT_DERMOSCOPIC,
                                 gate_problem=None, gate_score=0.97, threshold_source="model")
    assert saved_prediction(case).triage_withheld
    assert not saved_prediction(types.SimpleNamespace(**{**vars(case), "gate_reason": "ok"})).triage_withheld
    assert not saved_prediction(types.SimpleNamespace(**{**vars(case), "gate_reason": None})).triage_withheld


def test_a_saved_case_without_a_stored_photo_still_has_its_report():
    for language in ("en", "vi"):
        without = report(language, with_photo=False)
        assert without.startswith(b"%PDF") and len(without) < len(report(language)) - 20_000


def saved_case(**overrides):
    """What history.py passes for a saved case (the fields of skin_core.cases.CaseRecord the report reads)."""
    fields = {"id": 12, "visit_date": datetime.date(2026, 11, 20), "lesion_label": "nose, lesion 1",
              "note": "Grew 2 mm since March; itches at night. " * 80, "final_diagnosis": "mel",
              "final_source": "histopathology", "final_date": datetime.date(2026, 12, 1), "confirmed_by": "lan"}
    return types.SimpleNamespace(**{**fields, **overrides})


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_a_report_from_history_is_a_record_on_every_page():
    """Each page of a two-page report (a long note, a photo analysed although the input check flagged it) names
    the patient and its place among the pages; the case's number, visit, lesion, note and final diagnosis are
    there, the time carries its zone and the overlay its captions and colour scale."""
    when = datetime.datetime(2026, 11, 25, 10, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=7)))
    expected = {
        "en": ("Page {n} of {m}", ["Case #12", "Visit date: 2026-11-20", "Lesion: nose, lesion 1",
                                   "Final diagnosis: Melanoma (histopathology, 2026-12-01, recorded by lan)",
                                   "Grew 2 mm since March", "2026-11-25 10:30 UTC+07:00", "Age: 61 years", "Photo",
                                   "Attention overlay", "little attention", "most attention"]),
        "vi": ("Trang {n}/{m}", ["Ca #12", "Ngày khám: 20/11/2026", "Tổn thương: nose, lesion 1",
                                 "Chẩn đoán cuối cùng: U hắc tố", "mô bệnh học, 1/12/2026, ghi bởi lan",
                                 "25/11/2026 10:30 UTC+07:00", "Tuổi: 61", "Ảnh chụp", "ít chú ý",
                                 "chú ý nhiều nhất"]),
    }
    for language, (page_mark, fields) in expected.items():
        text = pages(report(language, case=saved_case(), outside_use="not a dermoscopic lesion photo", when=when))
        assert len(text) >= 2
        for n, page in enumerate(text, 1):
            assert "BN-1" in page and page_mark.format(n=n, m=len(text)) in page, (language, n)
            assert re.search(r"UTC[+-]\d\d:\d\d", page)  # the time the report was issued, with its zone
        whole = re.sub(r"\s+", " ", " ".join(text))
        for field in fields:
            assert field in whole, (language, field)
        assert "(years, optional)" not in whole and "không bắt buộc" not in whole


def test_an_unconfirmed_case_says_so_and_a_fresh_report_has_no_case_lines():
    text = " ".join(pages(report(case=saved_case(final_diagnosis=None, note=""))))
    assert "Final diagnosis: not yet recorded" in text and "Page 1 of 1" in text
    fresh = " ".join(pages(report()))
    assert "Case #" not in fresh and "Final diagnosis" not in fresh


def test_data_sets_are_named_in_words():
    """The report's line on photos from other clinics names the set as a doctor reads it, not by its folder."""
    measured = [b for b in bundles.scan()[0] if b.report and b.report.external]
    assert measured
    for language in ("en", "vi"):
        for bundle in measured:
            summary = external_summary(bundle.report, language)
            assert "ISIC 2017" in summary and "isic2017" not in summary, (bundle.path.name, summary)
        assert "isic2017" not in " ".join(pages(report(language, external=summary)))


def test_the_untuned_claim_is_made_only_for_a_set_that_chose_nothing():
    """'Never used for training or tuning' must not describe a tuning set, whatever order metrics.json keeps."""
    from dataclasses import replace

    default = bundles.open_bundle().report

    def measured(balanced_accuracy):
        return replace(default.test, balanced_accuracy=balanced_accuracy)
    tuning_first = replace(default, external={"isic2017_val": measured(0.11), "ph2": measured(0.22),
                                              "isic2017_test": measured(0.33)})
    summary = external_summary(tuning_first)
    assert "0.33" in summary and "0.11" not in summary and "0.22" not in summary
    tuning_only = replace(default, external={"isic2017_val": measured(0.11)})
    assert external_summary(tuning_only) == external_summary(replace(default, external={}))


def test_the_history_page_reissues_a_case_with_what_the_case_holds(tmp_path, monkeypatch):
    database = str(tmp_path / "cases.db")
    clinic = CaseStore.open(database)
    clinic.add_user("lan", PASSWORDS["lan"], "doctor")
    monkeypatch.setenv("SKIN_CASES_DATABASE", database)
    doctor = clinic.authenticate("lan", PASSWORDS["lan"])
    case_id = clinic.save_case(doctor, CaseDraft.from_prediction(
        prediction(), patient_code="BN-0042", model_name=bundles.scan()[0][0].path.name, model_version="1",
        photo=(EXAMPLES / "mel.jpg").read_bytes(), photo_name="mel.jpg", lesion_label="left shoulder, lesion 1",
        visit_date=datetime.date(2026, 11, 20), age=54, note="Irregular border."))
    clinic.confirm(doctor, case_id, "bcc", "histopathology", datetime.date(2026, 12, 1))
    issued = []
    monkeypatch.setattr(ui.report, "pdf_report", lambda *a, **k: issued.append(pdf_report(*a, **k)) or issued[-1])
    at = signed_in("lan")
    at.switch_page("app_pages/history.py").run()
    at.selectbox(key="open_case_id").set_value(case_id).run()
    next(b for b in at.button if b.label == "Prepare the PDF report").click().run()
    assert not at.exception, at.exception
    clinic.close()
    text = re.sub(r"\s+", " ", " ".join(pages(issued[-1])))
    for field in (f"Case #{case_id}", "Visit date: 2026-11-20", "Lesion: left shoulder, lesion 1", "Irregular border.",
                  "Final diagnosis: Basal cell carcinoma (histopathology, 2026-12-01, recorded by lan)",
                  "Age: 54 years", "Page 1 of"):
        assert field in text, field


def test_the_pdf_builder_runs_without_streamlit():
    """The report is built by the page and could be by a script: it needs no web framework."""
    import subprocess
    import sys
    from pathlib import Path

    loaded = subprocess.run([sys.executable, "-c", "import sys, ui.report; print('streamlit' in sys.modules)"],
                            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip().splitlines()[-1] == "False"


def test_an_alert_never_reads_48_percent_above_48_percent():
    """Where whole percents would read alike, the alert's figures get the decimals that tell them apart."""
    from ui.i18n import alert_figures, t

    close = types.SimpleNamespace(malignant_probability=0.4834, malignancy_threshold=0.4801)
    assert alert_figures(close, "en") == {"probability": "48.3%", "threshold": "48.0%"}
    assert alert_figures(close, "vi") == {"probability": "48,3%", "threshold": "48,0%"}
    apart = types.SimpleNamespace(malignant_probability=0.62, malignancy_threshold=0.3)
    assert alert_figures(apart, "en") == {"probability": "62%", "threshold": "30%"}
    assert "reach 48.3% (alert threshold 48.0%)" in t("malignant_banner", "en", **alert_figures(close, "en"))
