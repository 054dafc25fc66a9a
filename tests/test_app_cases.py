"""The app with case history on (AppTest): sign-in, saving an analysis, the history and clinic validation."""

import contextlib
import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from skin_core import bundle as bundles
from skin_core.cases import AUDIT_ACTIONS, CaseStore, UserInfo
from test_app import displayed, in_page_order, press_analyse, shown
from ui.i18n import audit_action, literal

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
    at.button(key=f"example_{code}").click().run()
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
    drawn = list(in_page_order(at.main))
    record = next(i for i, e in enumerate(drawn) if getattr(e, "label", None) == "Record the final diagnosis")
    refusal = next(i for i, e in enumerate(drawn)
                   if type(e).__name__ == "Error" and "Choose the diagnosis" in e.value)
    assert record < refusal < record + 3  # said beside the button, not at the top of the page
    assert not clinic.open_case(doctor, 1).confirmed
    at.selectbox(key="final_diagnosis_1").set_value("mel")
    at.selectbox(key="final_source_1").set_value("histopathology")
    at.date_input(key="final_date_1").set_value(datetime.date.today()).run()
    next(b for b in at.button if b.label == "Record the final diagnosis").click().run()
    assert not at.exception, at.exception
    assert any("Final diagnosis recorded" in success.value for success in at.success)
    assert clinic.open_case(doctor, 1).final_diagnosis == "mel"
    next(b for b in at.button if b.label == "Prepare the PDF report").click().run()
    assert at.get("download_button")[0].proto.label == "Download PDF report"

    at.switch_page("app_pages/validation.py").run()
    assert not at.exception, at.exception
    assert any("Rests on 1 confirmed case (1 malignant)" in markdown.value for markdown in at.markdown)
    assert any("Too few cases" in warning.value for warning in at.warning)
    assert any("sensitivity 1.00" in markdown.value for markdown in at.markdown)  # the melanoma example alerts
    actions = iter(e["action"] for e in reversed(clinic.audit_log(UserInfo("chi", "admin"))))
    expected = ["login", "save", "search", "view", "confirm", "clinic_validation"]
    assert all(action in actions for action in expected), "the app's steps are logged in order"


def test_dates_the_doctor_chose_survive_a_language_switch(clinic):
    """A date field whose pattern changes is reset by Streamlit: every date keeps one pattern in both languages."""
    at = signed_in("lan")
    analyse_example(at)
    at.date_input(key="case_visit_date").set_value(datetime.date(2026, 11, 30)).run()
    at.selectbox(key="language").set_value("vi").run()
    assert at.date_input(key="case_visit_date").value == datetime.date(2026, 11, 30)
    at.selectbox(key="language").set_value("en").run()
    next(b for b in at.button if b.label == "Save case").click().run()
    assert not at.exception, at.exception
    [case] = clinic.find_cases(UserInfo("lan", "doctor"))
    assert case.visit_date == datetime.date(2026, 11, 30)
    at.switch_page("app_pages/history.py").run()
    at.date_input(key="filter_from").set_value(datetime.date(2026, 11, 1)).run()
    at.selectbox(key="open_case_id").set_value(case.id).run()
    at.date_input(key=f"final_date_{case.id}").set_value(datetime.date(2026, 12, 1)).run()
    at.selectbox(key="language").set_value("vi").run()
    assert not at.exception, at.exception
    assert at.date_input(key="filter_from").value == datetime.date(2026, 11, 1)
    assert at.date_input(key=f"final_date_{case.id}").value == datetime.date(2026, 12, 1)


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
    assert not any(b.label == "Prepare the de-identified export" for b in doctor.button)
    next(b for b in admin.button if b.label == "Prepare the de-identified export").click().run()
    assert not admin.exception, admin.exception
    assert "Download the de-identified export (ZIP)" in [b.proto.label for b in admin.get("download_button")]
    admin.switch_page("app_pages/diagnose.py").run()
    analyse_example(admin, code="nv", patient="BN-0043")  # automatic saving, no photo kept
    assert any("Saved automatically as case #2" in success.value for success in admin.success)
    assert clinic.open_case(UserInfo("chi", "admin"), 2).photo is None

    admin.switch_page("app_pages/history.py").run()
    admin.text_input(key="delete_code").set_value("BN-0042")
    admin.checkbox(key="delete_sure").check().run()
    next(b for b in admin.button if b.label == "Delete the patient's cases").click().run()
    assert not admin.exception, admin.exception
    assert any(f"Deleted 1 case of patient {literal('BN-0042')}" in s.value for s in admin.success)
    assert [c.patient_code for c in clinic.find_cases(UserInfo("chi", "admin"))] == ["BN-0043"]
    audit = clinic.audit_log(UserInfo("chi", "admin"))
    assert next(e["user"] for e in audit if e["action"] == "delete_patient") == "chi"
    assert not any("BN-0042" in e["detail"] for e in audit)  # the deleted patient is no longer named


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
    shown(at.selectbox, "model", "vi").set_value("ensemble-four-v2").run()  # alerts on the melanoma example
    for visit, (code, day) in enumerate((("nv", datetime.date(2026, 5, 4)), ("mel", datetime.date(2026, 11, 2)))):
        shown(at.text_input, "patient_id", "vi").set_value("BN-9").run()
        at.button(key=f"example_{code}").click().run()
        press_analyse(at)
        assert not at.exception, at.exception
        at.text_input(key="case_lesion").set_value("lưng, tổn thương 2")
        at.date_input(key="case_visit_date").set_value(day).run()
        next(b for b in at.button if b.label == "Lưu ca bệnh").click().run()
        assert any(f"Đã lưu thành ca #{visit + 1}" in s.value for s in at.success)
    at.switch_page("app_pages/history.py").run()
    assert at.title[0].value == "Lịch sử ca bệnh"
    from ui.i18n import formatted, t

    shares = list(at.dataframe[0].value[t("malignant_column", "vi")])
    cases = clinic.find_cases(UserInfo("lan", "doctor"))
    assert shares == [formatted(c.malignant_probability, "vi", ".0%") for c in cases]  # as the page writes them
    at.selectbox(key="open_case_id").set_value(2).run()
    assert not at.exception, at.exception
    visits = [m.value for m in at.markdown if m.value.split(":")[0].endswith("/2026")]  # Vietnamese dates
    assert len(visits) == 2 and visits[0].startswith("4/5/2026") and visits[1].startswith("2/11/2026")
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
    shown(at.selectbox, "model").set_value("efficientnetlite2-224-v2").run()
    shown(at.selectbox, "sex").set_value("female").run()
    shown(at.selectbox, "site").set_value("face").run()
    shown(at.text_input, "patient_id").set_value("BN-0042").run()
    @contextlib.contextmanager
    def down(self, *args, **kwargs):
        raise DatabaseUnavailableError("connection to server at 10.0.0.5, port 5432 failed")
        yield

    with monkeypatch.context() as outage:
        outage.setattr(CaseStore, "_transaction", down)
        at.run()
        assert history_refused(at) and "10.0.0.5" not in page_text(at)
    at.run()
    assert not at.exception, at.exception
    assert (shown(at.selectbox, "model").value, shown(at.selectbox, "sex").value, shown(at.selectbox, "site").value,
            shown(at.text_input, "patient_id").value) == ("efficientnetlite2-224-v2", "female", "face", "BN-0042")
    at.button(key="example_mel").click().run()
    press_analyse(at)
    assert not at.exception, at.exception
    request = at.session_state["diagnose"].result.request
    assert request[0] == "efficientnetlite2-224-v2" and request[3:] == ("female", "face")


def test_sign_out_forgets_the_patient_and_the_next_user_starts_afresh(clinic):
    at = signed_in("lan")
    shown(at.selectbox, "model").set_value("efficientnetlite2-224-v2").run()
    shown(at.selectbox, "sex").set_value("female").run()
    analyse_example(at)
    assert any(markdown.value.startswith("Most likely") for markdown in at.markdown)
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert not at.exception and not at.image and not at.file_uploader  # nothing of the patient on the sign-in page
    assert [(e["user"], e["action"]) for e in clinic.audit_log(UserInfo("chi", "admin"))][0] == ("lan", "sign_out")
    at.text_input(key="login_username").set_value("chi")
    at.text_input(key="login_password").set_value(PASSWORDS["chi"])
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, at.exception
    assert not any(markdown.value.startswith("Most likely") for markdown in at.markdown)
    assert at.session_state["diagnose"].photo is None and at.session_state["diagnose"].result is None
    default = bundles.default_bundle_name(REPO / "weights")
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


def test_an_admin_reactivates_a_deactivated_user(clinic):
    admin = signed_in("chi")
    admin.switch_page("app_pages/settings.py").run()
    admin.selectbox(key="deactivate_username").set_value("lan")
    next(b for b in admin.button if b.label == "Deactivate").click().run()
    assert not admin.exception, admin.exception
    assert not clinic.is_active(UserInfo("lan", "doctor"))
    assert admin.selectbox(key="reactivate_username").options == ["lan"]
    next(b for b in admin.button if b.label == "Reactivate").click().run()
    assert not admin.exception, admin.exception
    assert any("User lan can sign in again" in s.value for s in admin.success)
    assert clinic.is_active(UserInfo("lan", "doctor"))
    assert clinic.authenticate("lan", PASSWORDS["lan"]) == UserInfo("lan", "doctor")


def test_typed_text_in_the_case_history_shows_as_typed_and_words_are_readable(clinic):
    """A patient code or lesion label typed with Markdown in it must not become a link, an image (every
    viewer's browser would fetch it), colour or LaTeX on any page; the model, actions and counts read as words."""
    code, lesion = "BN-*0042*", "![b](http://x/p.png) [l](http://x) :red[x] $x^2$"
    at = signed_in("lan")
    analyse_example(at, patient=code)
    at.text_input(key="case_lesion").set_value(lesion).run()
    next(b for b in at.button if b.label == "Save case").click().run()
    assert any("Saved as case #1" in success.value for success in at.success), [e.value for e in at.error]
    at.switch_page("app_pages/history.py").run()
    assert any(c.value == "1 case (newest visit first)" for c in at.caption)
    at.selectbox(key="open_case_id").set_value(1).run()
    assert not at.exception, at.exception
    [heading] = [h.value for h in at.subheader if h.value.startswith("Case #1")]
    assert displayed(heading).startswith(f"Case #1 · patient {code} · ")
    [saved] = [c.value for c in at.caption if c.value.startswith("Saved by")]
    assert f"Lesion: {lesion} · " in displayed(saved)
    catalogue = bundles.read_catalogue(REPO / "weights")
    assert catalogue.names[catalogue.default]["en"] in displayed(saved)  # the model's readable name
    assert not any(name in displayed(saved) for name in ("efficientnetlite2-224", "mobilenetv2 "))

    assert signed_in("lan", "wrong password").error
    admin = signed_in("chi")
    admin.switch_page("app_pages/settings.py").run()
    assert not admin.exception, admin.exception
    audit = admin.dataframe[-1].value
    assert "sign-in failed" in set(audit["Action"]) and "login_failed" not in set(audit["Action"])
    assert "None" not in set(audit["Case"].astype(str)) and "None" not in set(audit["Detail"].astype(str))
    admin.selectbox(key="language").set_value("vi").run()
    audit = admin.dataframe[-1].value
    assert "đăng nhập không thành công" in set(audit[audit.columns[2]])
    assert admin.subheader[-1].value.startswith("Nhật ký hoạt động")


def test_clinic_validation_in_words_and_numbers_a_doctor_reads(clinic):
    at = signed_in("lan")
    analyse_example(at)
    next(b for b in at.button if b.label == "Save case").click().run()
    at.switch_page("app_pages/history.py").run()
    at.selectbox(key="open_case_id").set_value(1).run()
    at.selectbox(key="final_diagnosis_1").set_value("mel")
    at.selectbox(key="final_source_1").set_value("histopathology")
    at.date_input(key="final_date_1").set_value(datetime.date.today()).run()
    next(b for b in at.button if b.label == "Record the final diagnosis").click().run()
    at.switch_page("app_pages/validation.py").run()
    assert not at.exception, at.exception
    [model] = [h.value for h in at.subheader]
    chosen = at.session_state["chosen_model"]
    assert chosen not in model and ", version " in model  # the readable name, not the folder
    assert any(m.value.startswith("Rests on 1 confirmed case (1 malignant). Not counted: 0 cases") for m in at.markdown)
    recall = set(at.dataframe[0].value.iloc[:, 2].astype(str))
    assert "None" not in recall and "n/a" in recall  # diagnoses absent from the confirmed cases
    at.selectbox(key="language").set_value("vi").run()
    assert any("độ nhạy 1,00" in m.value for m in at.markdown)  # Vietnamese decimal comma
    assert any(m.value.startswith("Dựa trên 1 ca đã xác nhận") for m in at.markdown)


def test_every_audit_action_reads_as_words_in_both_languages():
    for action in AUDIT_ACTIONS:
        english, vietnamese = audit_action(action, "en"), audit_action(action, "vi")
        assert action not in (english, vietnamese) and english != vietnamese, action


def newest_actions(clinic, since: int) -> list[tuple]:
    """(user, action, case) of every audit entry after the first ``since``, oldest first."""
    entries = clinic.audit_log(UserInfo("chi", "admin"))
    return [(e["user"], e["action"], e["case"]) for e in reversed(entries[:entries.total - since])]


def test_each_history_action_is_one_audit_entry_and_a_note_keeps_its_versions(clinic):
    """Opening a case is one view; reruns, a saved note and a recorded diagnosis read the case again without
    logging a search or a view; a note edit is one entry, and the earlier text stays readable, as typed."""
    from test_cases import draft

    case_id = clinic.save_case(UserInfo("lan", "doctor"), draft("BN-0042", note="Bờ *đều*, [theo dõi](http://x)"))
    at = signed_in("lan")
    at.switch_page("app_pages/history.py").run()
    before = clinic.audit_log(UserInfo("chi", "admin")).total
    at.selectbox(key="open_case_id").set_value(case_id).run()
    assert not at.exception, at.exception
    at.run()
    at.run()
    assert newest_actions(clinic, before) == [("lan", "view", case_id)]

    before = clinic.audit_log(UserInfo("chi", "admin")).total
    at.text_area(key=f"case_note_{case_id}").set_value("Bờ không đều: sinh thiết.")
    next(b for b in at.button if b.label == "Save the note").click().run()
    assert not at.exception, at.exception
    assert any("Note saved" in s.value for s in at.success)
    assert newest_actions(clinic, before) == [("lan", "edit_note", case_id)]
    [earlier] = [e for e in at.expander if e.label == "Earlier versions of the note"]
    assert [text.value for text in earlier.text] == ["Bờ *đều*, [theo dõi](http://x)"]  # as typed, no link
    assert any(c.value.startswith("Version 1, written by lan on ") for c in earlier.caption)

    before = clinic.audit_log(UserInfo("chi", "admin")).total
    at.selectbox(key=f"final_diagnosis_{case_id}").set_value("mel")
    at.selectbox(key=f"final_source_{case_id}").set_value("histopathology")
    at.date_input(key=f"final_date_{case_id}").set_value(datetime.date.today()).run()
    next(b for b in at.button if b.label == "Record the final diagnosis").click().run()
    next(b for b in at.button if b.label == "Prepare the PDF report").click().run()
    at.get("download_button")[0].click().run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "↻").click().run()
    assert newest_actions(clinic, before) == [("lan", "confirm", case_id), ("lan", "download_pdf", case_id),
                                              ("lan", "search", None)]


def test_a_pdf_downloaded_after_an_analysis_is_audited(clinic):
    at = signed_in("lan")
    analyse_example(at)
    before = clinic.audit_log(UserInfo("chi", "admin")).total
    next(b for b in at.button if b.label == "Prepare the PDF report").click().run()
    at.get("download_button")[0].click().run()  # not saved yet: no case number
    next(b for b in at.button if b.label == "Save case").click().run()
    at.get("download_button")[0].click().run()
    assert not at.exception, at.exception
    assert newest_actions(clinic, before) == [("lan", "download_pdf", None), ("lan", "save", 1),
                                              ("lan", "download_pdf", 1)]


def test_the_audit_log_is_filtered_paged_and_shows_a_flood_of_failed_sign_ins_as_one_row(clinic):
    """520 failed sign-ins filled the old 500-row view: the admin sees them as one row with their count beside
    the doctor's work, finds that work by action or user, and pages back to the first entry."""
    from test_cases import draft, flood_of_failed_sign_ins

    clinic.save_case(UserInfo("lan", "doctor"), draft("BN-0042"))
    flood_of_failed_sign_ins(clinic, 520, datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    at = signed_in("chi")
    at.switch_page("app_pages/settings.py").run()
    assert not at.exception, at.exception

    def audit():
        return at.dataframe[-1].value

    def rows() -> str:
        return next(c.value for c in at.caption if c.value.startswith("Rows "))

    [run] = [detail for detail in audit()["Detail"] if detail.startswith("× 520, first ")]
    assert ", last " in run and run.endswith(" · from 203.0.113.9")
    assert list(audit()["Action"]) == ["signed in", "sign-in failed", "saved a case", "added a user", "added a user"]
    assert rows() == "Rows 1–5 of 5"

    at.toggle(key="audit_grouped").set_value(False).run()
    assert rows() == "Rows 1–100 of 524" and "saved a case" not in set(audit()["Action"])  # buried
    at.multiselect(key="audit_actions").set_value(["save"]).run()
    assert list(audit()["Action"]) == ["saved a case"] and rows() == "Rows 1–1 of 1"
    at.multiselect(key="audit_actions").set_value([]).run()
    at.text_input(key="audit_user").set_value("LAN").run()
    assert set(audit()["User name"]) == {"lan"} and rows() == "Rows 1–1 of 1"
    at.text_input(key="audit_user").set_value("").run()
    at.date_input(key="audit_from").set_value(datetime.date.today() + datetime.timedelta(days=1)).run()
    assert any(info.value == "No entry matches." for info in at.info)
    at.date_input(key="audit_from").set_value(None).run()

    pages = 1
    while not at.button(key="audit_next").disabled:
        at.button(key="audit_next").click().run()
        pages += 1
    assert pages == 6 and rows() == "Rows 501–524 of 524"
    assert (audit()["Action"].iloc[-1], audit()["Detail"].iloc[-1]) == ("added a user", "lan (doctor)")
    at.button(key="audit_previous").click().run()
    assert rows() == "Rows 401–500 of 524"
    at.selectbox(key="language").set_value("vi").run()
    assert next(c.value for c in at.caption if c.value.startswith("Dòng ")) == "Dòng 401–500 trong tổng số 524"


def test_an_admin_adopts_the_clinic_s_threshold_and_every_later_answer_names_it(clinic):
    from test_cases import confirmed_history

    default = bundles.open_bundle(bundles.default_bundle_name(REPO / "weights"))
    confirmed_history(clinic, n_malignant=40, n_benign=60, model=(default.name, default.release))
    doctor = signed_in("lan")
    doctor.switch_page("app_pages/validation.py").run()
    assert not doctor.exception, doctor.exception
    assert any("From 40 malignant and 60 benign cases" in m.value for m in doctor.markdown)
    assert not any(b.label == "Adopt this threshold for new analyses" for b in doctor.button)  # admins only
    admin = signed_in("chi")
    admin.switch_page("app_pages/validation.py").run()
    next(b for b in admin.button if b.label == "Adopt this threshold for new analyses").click().run()
    assert not admin.exception, admin.exception
    threshold = clinic.site_threshold(default.name, default.release)
    assert threshold is not None and any("Adopted" in s.value for s in admin.success)
    assert any("In force: this clinic's own threshold" in m.value for m in admin.markdown)

    doctor.switch_page("app_pages/diagnose.py").run()
    analyse_example(doctor, code="mel", patient="KH-77")
    result = doctor.session_state["diagnose"].result.prediction
    assert (result.malignancy_threshold, result.threshold_source) == (threshold, "clinic")
    assert any("this clinic's own" in c.value for c in doctor.caption)
    next(b for b in doctor.button if b.label == "Save case").click().run()
    assert not doctor.exception and any("Saved as case" in m.value for m in doctor.success)
    [saved] = clinic.find_cases(UserInfo("lan", "doctor"), patient_code="KH-77")
    assert (saved.threshold_source, saved.malignancy_threshold) == ("clinic", threshold)
    assert saved.model_version == default.release  # the exact weights, gate and settings, not only a date
    next(b for b in admin.button if b.label == "Go back to the model's own threshold").click().run()
    assert clinic.site_threshold(default.name, default.release) is None
    actions = [e["action"] for e in clinic.audit_log(UserInfo("chi", "admin"))]
    assert "adopt_threshold" in actions and "revert_threshold" in actions


def test_the_drift_monitor_marks_the_month_that_drifted_in_both_languages(clinic):
    import numpy as np

    from skin_core.cases.drift import reference_of
    from skin_core.cases.schema import Analysis

    default = bundles.open_bundle(bundles.default_bundle_name(REPO / "weights"))
    reference, rng = reference_of(default.report), np.random.default_rng(0)
    rows = []
    for month, refused in (("2026-10", 0.0), ("2026-11", 0.3)):  # November: a third of the photos refused
        for i in range(80):
            is_refused = rng.random() < refused
            rows.append(dict(at=datetime.datetime.fromisoformat(f"{month}-05T08:00:00+00:00") + datetime.timedelta(
                hours=i), model_name=default.name, model_version=default.release,
                gate_reason="poor_quality" if is_refused else "ok", gate_problem="too_dark" if is_refused else None,
                top_code=rng.choice(list(reference.top_mix), p=list(reference.top_mix.values())),
                top_probability=float(rng.beta(6, 2)), low_confidence=False,
                malignancy_alert=bool(rng.random() < reference.alert_rate)))
    with clinic.engine.begin() as connection:
        connection.execute(Analysis.__table__.insert(), rows)
    at = signed_in("lan")
    at.switch_page("app_pages/monitor.py").run()
    assert not at.exception, at.exception
    assert [w.value.split(":")[0] for w in at.warning] == ["2026-11"]
    assert "refusals at least doubled" in at.warning[0].value
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="language").set_value("vi").run()
    assert not at.exception, at.exception
    assert "số ảnh bị từ chối tăng gấp đôi" in at.warning[0].value and at.title[0].value == "Theo dõi thay đổi dữ liệu"
    at.selectbox(key="language").set_value("en").run()
    at.switch_page("app_pages/diagnose.py").run()
    analyse_example(at, code="nv", patient="KH-1")
    assert len(clinic.analyses(UserInfo("lan", "doctor"))) == len(rows) + 1  # every answer is counted


@pytest.mark.parametrize("language", ["en", "vi"])
def test_audit_details_read_as_words_in_the_page_s_language(language):
    from ui.i18n import audit_detail

    search = audit_detail("search", '{"patient_code": "BN-1", "from": "", "to": "", "diagnosis": "any", '
                                    '"alert": "any", "unconfirmed": false, "found": 1234}', language)
    assert "{" not in search and "BN-1" in search and ("1,234" if language == "en" else "1.234") in search
    confirm = audit_detail("confirm", "mel (histopathology, 2026-12-04)", language)
    assert confirm == {"en": "Melanoma (histopathology, 2026-12-04)",
                       "vi": "U hắc tố ác tính (mô bệnh học, 4/12/2026)"}[language]
    assert audit_detail("clinic_validation", "1 confirmed cases", language) == {
        "en": "1 confirmed case", "vi": "1 ca đã xác nhận"}[language]
    assert audit_detail("edit_note", "version 2, unchanged", language) == {
        "en": "note version 2 (unchanged)", "vi": "ghi chú phiên bản 2 (không đổi)"}[language]
    assert audit_detail("login", "127.0.0.1", language) == "127.0.0.1"  # a form not known: as stored


def test_the_same_photo_for_the_next_patient_is_a_case_of_its_own(clinic):
    """Saved as one patient's case, the same example with the same details for the next patient (or after the
    code was corrected) must be offered for saving again, never shown as that case."""
    at = signed_in("lan")
    analyse_example(at, code="mel", patient="BN-0042")
    next(b for b in at.button if b.label == "Save case").click().run()
    assert any("Saved as case #1" in s.value for s in at.success)
    next(b for b in at.button if b.label == "New patient").click().run()
    analyse_example(at, code="mel", patient="BN-0043")
    assert not any("Saved as case #1" in s.value for s in at.success)
    next(b for b in at.button if b.label == "Save case").click().run()
    assert any("Saved as case #2" in s.value for s in at.success)
    assert [c.patient_code for c in clinic.find_cases(UserInfo("lan", "doctor"))] == ["BN-0043", "BN-0042"]
