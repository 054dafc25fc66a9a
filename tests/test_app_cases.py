"""The app with case history on (AppTest): sign-in, saving an analysis, the history and clinic validation."""

import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from skin_core.cases import CaseStore, UserInfo
from test_app import press_analyse

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "assets" / "examples"
PASSWORDS = {"lan": "doctor password", "chi": "admin password"}


@pytest.fixture
def clinic(tmp_path, monkeypatch) -> CaseStore:
    """A clinic database with one doctor and one admin, configured for the app."""
    database = str(tmp_path / "cases.db")
    store = CaseStore.open(database)
    store.add_user("lan", PASSWORDS["lan"], "doctor")
    store.add_user("chi", PASSWORDS["chi"], "admin")
    monkeypatch.setenv("SKIN_CASES_DATABASE", database)
    yield store
    store.close()


def signed_in(username: str, password: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception
    at.text_input(key="login_username").set_value(username)
    at.text_input(key="login_password").set_value(password or PASSWORDS[username])
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, at.exception
    return at


def analyse_example(at, code="mel", patient="BN-0042"):
    at.text_input(key="patient_id_en").set_value(patient).run()
    next(b for b in at.button if b.label == code).click().run()
    press_analyse(at)
    assert not at.exception, at.exception


def test_history_on_asks_for_a_sign_in_before_anything(clinic):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.file_uploader  # no diagnosis before signing in
    at = signed_in("lan", "wrong password")
    assert any("password is wrong" in error.value for error in at.error)
    assert not at.file_uploader
    assert [e["action"] for e in clinic.audit_log(UserInfo("chi", "admin"))][0] == "login_failed"


def test_login_analyse_save_history_confirm_and_clinic_validation(clinic):
    at = signed_in("lan")
    assert any("Signed in as lan (doctor)" in caption.value for caption in at.sidebar.caption)
    analyse_example(at)
    assert any("thumbnail" in caption.value for caption in at.caption)  # the clinic's photo-storage setting
    at.text_input(key="case_lesion").set_value("left shoulder, lesion 1")
    at.text_area(key="case_note").set_value("Bờ không đều; \"so sánh\" lần sau 🙂").run()
    next(b for b in at.button if b.label == "Save case").click().run()
    assert not at.exception, at.exception
    assert any("Saved as case #1" in success.value for success in at.success)
    doctor = UserInfo("lan", "doctor")
    [case] = clinic.find_cases(doctor)
    assert (case.patient_code, case.lesion_label, case.created_by) == ("BN-0042", "left shoulder, lesion 1", "lan")
    assert case.note == "Bờ không đều; \"so sánh\" lần sau 🙂" and case.photo_storage == "thumbnail"

    at.switch_page("app_pages/history.py").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["Case"]) == [1]
    at.selectbox(key="open_case_id").set_value(1).run()
    assert not at.exception, at.exception
    assert at.text_area(key="case_note_1").value == "Bờ không đều; \"so sánh\" lần sau 🙂"  # shown verbatim
    assert any(image.captions and "Attention overlay" in image.captions[0] for image in at.image)
    at.selectbox(key="final_diagnosis_1").set_value("mel")
    at.selectbox(key="final_source_1").set_value("histopathology")
    at.date_input(key="final_date_1").set_value(datetime.date(2026, 11, 20)).run()
    next(b for b in at.button if b.label == "Record the final diagnosis").click().run()
    assert not at.exception, at.exception
    assert any("Final diagnosis recorded" in success.value for success in at.success)
    assert clinic.open_case(doctor, 1).final_diagnosis == "mel"
    next(b for b in at.button if b.label == "Prepare the PDF report").click().run()
    assert at.get("download_button")[0].proto.label == "Download PDF report"

    at.switch_page("app_pages/validation.py").run()
    assert not at.exception, at.exception
    assert any("Rests on 1 confirmed cases (1 malignant)" in markdown.value for markdown in at.markdown)
    assert any("Too few cases" in warning.value for warning in at.warning)
    assert any("sensitivity 1.00" in markdown.value for markdown in at.markdown)  # the melanoma example alerts
    actions = iter(e["action"] for e in reversed(clinic.audit_log(UserInfo("chi", "admin"))))
    expected = ["login", "save", "search", "view", "confirm", "clinic_validation"]
    assert all(action in actions for action in expected), "the app's steps are logged in order"


def test_a_refused_save_keeps_what_the_doctor_typed(clinic):
    at = signed_in("lan")
    analyse_example(at, patient="")  # no patient code: the case cannot be saved
    at.text_area(key="case_note").set_value("x" * 500).run()
    next(b for b in at.button if b.label == "Save case").click().run()
    assert not at.exception
    assert any("Patient identifier is required" in error.value for error in at.error)
    assert at.text_area(key="case_note").value == "x" * 500
    at.text_input(key="patient_id_en").set_value("BN-7").run()
    next(b for b in at.button if b.label == "Save case").click().run()
    assert any("Saved as case #1" in success.value for success in at.success)
    assert clinic.open_case(UserInfo("lan", "doctor"), 1).note == "x" * 500


def test_only_an_admin_sees_settings_and_export(clinic):
    doctor = signed_in("lan")
    analyse_example(doctor)
    next(b for b in doctor.button if b.label == "Save case").click().run()
    doctor.switch_page("app_pages/history.py").run()
    assert not any(b.label == "Prepare the export" for b in doctor.button)
    admin = signed_in("chi")
    admin.switch_page("app_pages/settings.py").run()
    assert not admin.exception, admin.exception
    admin.radio(key="setting_photo_storage").set_value("none")
    admin.toggle(key="setting_auto_save").set_value(True)
    next(b for b in admin.button if b.label == "Save the settings").click().run()
    assert not admin.exception, admin.exception
    assert clinic.settings() == {"photo_storage": "none", "auto_save": True}
    admin.switch_page("app_pages/history.py").run()
    next(b for b in admin.button if b.label == "Prepare the export").click().run()
    assert not admin.exception, admin.exception
    assert admin.get("download_button")[0].proto.label == "Download the export"
    admin.switch_page("app_pages/diagnose.py").run()
    analyse_example(admin, code="nv", patient="BN-0043")  # automatic saving, no photo kept
    assert any("Saved automatically as case #2" in success.value for success in admin.success)
    assert clinic.open_case(UserInfo("chi", "admin"), 2).photo is None

    admin.switch_page("app_pages/history.py").run()
    admin.text_input(key="delete_code").set_value("BN-0042")
    admin.checkbox(key="delete_sure").check().run()
    next(b for b in admin.button if b.label == "Delete the patient's cases").click().run()
    assert not admin.exception, admin.exception
    assert any("1 cases of patient BN-0042 were deleted" in s.value for s in admin.success)
    assert [c.patient_code for c in clinic.find_cases(UserInfo("chi", "admin"))] == ["BN-0043"]
    assert any(e["action"] == "delete_patient" and e["user"] == "chi" and "BN-0042" in e["detail"]
               for e in clinic.audit_log(UserInfo("chi", "admin")))


def test_demo_mode_needs_no_sign_in_and_saves_nothing(monkeypatch):
    monkeypatch.setenv("SKIN_CASES_DATABASE", "")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception and at.file_uploader
    analyse_example(at)
    assert any(markdown.value.startswith("Most likely") for markdown in at.markdown)
    assert not any(b.label in ("Sign in", "Save case") for b in at.button)


def test_a_deactivated_doctor_is_signed_out_at_the_next_step(clinic):
    at = signed_in("lan")
    assert at.file_uploader
    clinic.set_user("lan", by=UserInfo("chi", "admin"), active=False)
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"] and not at.file_uploader


def test_two_visits_of_a_lesion_side_by_side_in_vietnamese(clinic):
    at = signed_in("lan")
    at.session_state["language"] = "vi"
    at.session_state["model"] = "ensemble-three"  # one that alerts on the melanoma example (the history shows it)
    at.run()
    for visit, (code, day) in enumerate((("nv", datetime.date(2026, 5, 4)), ("mel", datetime.date(2026, 11, 2)))):
        at.text_input(key="patient_id_vi").set_value("BN-9").run()
        next(b for b in at.button if b.label == code).click().run()
        press_analyse(at)
        assert not at.exception, at.exception
        at.text_input(key="case_lesion").set_value("lưng, tổn thương 2")
        at.date_input(key="case_visit_date").set_value(day).run()
        next(b for b in at.button if b.label == "Lưu ca bệnh").click().run()
        assert any(f"Đã lưu thành ca #{visit + 1}" in s.value for s in at.success)
    at.switch_page("app_pages/history.py").run()
    assert at.title[0].value == "Lịch sử ca bệnh"
    at.selectbox(key="open_case_id").set_value(2).run()
    assert not at.exception, at.exception
    visits = [m.value for m in at.markdown if m.value.startswith("2026-")]
    assert len(visits) == 2 and visits[0].startswith("2026-05-04") and visits[1].startswith("2026-11-02")
    assert "cảnh báo ác tính" in visits[1]  # the later visit of the melanoma example alerts


def test_repeated_wrong_passwords_lock_the_name_with_a_message(clinic):
    at = signed_in("lan", "wrong password")
    for _ in range(5):
        at.text_input(key="login_username").set_value("lan")
        at.text_input(key="login_password").set_value("wrong password")
        next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception
    assert any("Too many failed sign-ins" in error.value for error in at.error)
    assert not at.file_uploader
