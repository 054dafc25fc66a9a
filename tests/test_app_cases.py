"""The app with case history on (AppTest): sign-in, saving an analysis, the history and clinic validation."""

import contextlib
import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from skin_core.cases import CaseStore, UserInfo
from test_app import press_analyse, shown

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
    shown(at.text_input, "patient_id", "en").set_value(patient).run()
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
    # the form starts empty: one click records nothing, least of all the model's own answer as proven
    assert (at.selectbox(key="final_diagnosis_1").value, at.selectbox(key="final_source_1").value,
            at.date_input(key="final_date_1").value) == (None, None, None)
    next(b for b in at.button if b.label == "Record the final diagnosis").click().run()
    assert any("Choose the diagnosis" in error.value for error in at.error)
    assert not clinic.open_case(doctor, 1).confirmed
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
    shown(at.text_input, "patient_id", "en").set_value("BN-7").run()
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
    at.selectbox(key="language").set_value("vi").run()
    shown(at.selectbox, "model", "vi").set_value("ensemble-three").run()  # alerts on the melanoma example
    for visit, (code, day) in enumerate((("nv", datetime.date(2026, 5, 4)), ("mel", datetime.date(2026, 11, 2)))):
        shown(at.text_input, "patient_id", "vi").set_value("BN-9").run()
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


def page_text(at) -> str:
    """Everything the page says in words."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success", "text")
    return "\n".join(str(element.value) for kind in kinds for element in at.get(kind))


def history_refused(at) -> bool:
    """The maintenance page: no analysis and no sign-in."""
    return (not at.exception and not at.file_uploader and not any(b.label == "Sign in" for b in at.button)
            and any("under maintenance" in error.value for error in at.error))


@pytest.mark.parametrize("database", ["postgresql+psycopg://clinic_role:secret@127.0.0.1:9/clinic_db",
                                      "not-a-database"])
def test_configured_history_that_cannot_be_used_stops_the_app_without_showing_where_it_is(database, tmp_path,
                                                                                          monkeypatch):
    if database == "not-a-database":
        database = str(tmp_path / "clinic_db.sqlite")
        Path(database).write_text("clinic_role " * 200)  # a file that is no SQLite database
    monkeypatch.setenv("SKIN_CASES_DATABASE", database)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert history_refused(at)
    text = page_text(at)
    assert not any(part in text for part in ("127.0.0.1", "clinic_role", "clinic_db", str(tmp_path), "9/"))


def test_a_broken_secrets_file_stops_the_app(tmp_path, monkeypatch):
    import skin_core.cases.store

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[cases]\ndatabase = "postgresql+psycopg://clinic_role@db.clinic.local/cases\n')  # no quote
    monkeypatch.delenv("SKIN_CASES_DATABASE", raising=False)
    monkeypatch.setattr(skin_core.cases.store, "SECRETS_FILE", secrets)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert history_refused(at)
    assert "db.clinic.local" not in page_text(at) and str(secrets) not in page_text(at)


def test_a_database_outage_keeps_what_the_doctor_chose(clinic, monkeypatch):
    """A run stopped early by the outage page, then the database back: every choice is the doctor's, both on
    screen and in the analysis."""
    from skin_core.cases import CaseStore, DatabaseUnavailableError

    at = signed_in("lan")
    shown(at.selectbox, "model").set_value("mobilenetv2").run()
    shown(at.selectbox, "sex").set_value("female").run()
    shown(at.selectbox, "site").set_value("face").run()
    shown(at.text_input, "patient_id").set_value("BN-0042").run()
    @contextlib.contextmanager
    def down(self):
        raise DatabaseUnavailableError("connection to server at 10.0.0.5, port 5432 failed")
        yield

    with monkeypatch.context() as outage:
        outage.setattr(CaseStore, "_transaction", down)
        at.run()
        assert history_refused(at) and "10.0.0.5" not in page_text(at)
    at.run()
    assert not at.exception, at.exception
    assert (shown(at.selectbox, "model").value, shown(at.selectbox, "sex").value, shown(at.selectbox, "site").value,
            shown(at.text_input, "patient_id").value) == ("mobilenetv2", "female", "face", "BN-0042")
    next(b for b in at.button if b.label == "mel").click().run()
    press_analyse(at)
    assert not at.exception, at.exception
    assert at.session_state["result_key"][0] == "mobilenetv2" and at.session_state["result_key"][3:] == ("female",
                                                                                                          "face")


def test_sign_out_forgets_the_patient_and_the_next_user_starts_afresh(clinic):
    at = signed_in("lan")
    shown(at.selectbox, "model").set_value("mobilenetv2").run()
    shown(at.selectbox, "sex").set_value("female").run()
    analyse_example(at)
    assert any(markdown.value.startswith("Most likely") for markdown in at.markdown)
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert not at.exception and not at.image and not at.file_uploader  # nothing of the patient on the sign-in page
    at.text_input(key="login_username").set_value("chi")
    at.text_input(key="login_password").set_value(PASSWORDS["chi"])
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, at.exception
    assert not any(markdown.value.startswith("Most likely") for markdown in at.markdown)
    assert "photo" not in at.session_state and "result" not in at.session_state
    default = (REPO / "weights" / "default.txt").read_text().strip()
    assert (shown(at.selectbox, "model").value, shown(at.selectbox, "sex").value,
            shown(at.text_input, "patient_id").value) == (default, "unknown", "")
    at.switch_page("app_pages/history.py").run()
    assert not at.exception and not at.image  # the previous user's open case is not shown


def test_a_click_after_deactivation_saves_nothing(clinic):
    at = signed_in("lan")
    analyse_example(at)
    clinic.set_user("lan", by=UserInfo("chi", "admin"), active=False)
    next(b for b in at.button if b.label == "Save case").click().run()
    assert not at.exception, at.exception
    assert clinic.find_cases(UserInfo("chi", "admin")) == []
    assert [b.label for b in at.button] == ["Sign in"] and not at.file_uploader
