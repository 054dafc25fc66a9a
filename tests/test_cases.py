"""Case history storage, on a SQLite file and on a real PostgreSQL server (.ci/postgres starts one in CI)."""

import datetime
import io
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sklearn.metrics import balanced_accuracy_score
from sqlalchemy import create_engine, func, select, text

from skin_core.cases import (COMMAND_LINE, CaseDraft, CaseNotFoundError, CaseStore, DatabaseUnavailableError,
                             InvalidCaseError, NotAllowedError, UserInactiveError, UserInfo, clinic_validation)
from skin_core.cases import __main__ as cli
from skin_core.cases import store as store_module
from skin_core.cases.schema import AuditEntry, Base, Case, CaseImages
from skin_core.classes import CLASS_CODES, MALIGNANT_CODES

ADMIN = UserInfo("admin", "admin")
DOCTOR = UserInfo("lan", "doctor")
PASSWORD = "correct horse battery"
POSTGRES_ENV = "SKIN_TEST_POSTGRES_URL"


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = f"needs a PostgreSQL server: set {POSTGRES_ENV} (source .ci/postgres starts one)"
        if os.environ.get("SKIN_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


def empty_postgres() -> str:
    url = postgres_url()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    return str(tmp_path / "clinic" / "cases.db") if request.param == "sqlite" else empty_postgres()


def with_staff(store: CaseStore, *users: UserInfo) -> CaseStore:
    """The store with these users (default: ADMIN and DOCTOR) registered: every action checks that its user
    exists and is active."""
    known = {row["username"] for row in store.users(COMMAND_LINE)}
    for user in users or (ADMIN, DOCTOR):
        if user.username not in known:
            store.add_user(user.username, PASSWORD, user.role)
    return store


@pytest.fixture
def store(database):
    opened = with_staff(CaseStore.open(database))
    yield opened
    opened.close()


def photo_bytes(colour=(150, 90, 60), size=(300, 400), format="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size[::-1], colour).save(buffer, format=format)
    return buffer.getvalue()


def draft(patient="BN-001", top="nv", malignant=None, threshold=0.3, **fields) -> CaseDraft:
    """A case whose top class is ``top``; its malignant probability is the malignant classes' sum, as a
    Predictor's is, unless ``malignant`` sets it."""
    rest = (1.0 - 0.6) / (len(CLASS_CODES) - 1)
    probabilities = {code: (0.6 if code == top else rest) for code in CLASS_CODES}
    if malignant is None:
        malignant = sum(probabilities[code] for code in MALIGNANT_CODES)
    settings = dict(patient_code=patient, model_name="ensemble-x", model_version="1.0", probabilities=probabilities,
                    malignant_probability=malignant, malignancy_threshold=threshold, low_confidence=False,
                    photo=photo_bytes(), photo_name="lesion.png", lesion_label="left shoulder, lesion 1",
                    visit_date=datetime.date(2026, 11, 1), age=54, sex="female", site="back")
    return CaseDraft(**{**settings, **fields})


def count(store, table) -> int:
    with store.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(table))


def audit_actions(store) -> list[str]:
    return [entry["action"] for entry in reversed(store.audit_log(COMMAND_LINE))]


def test_schema_matches_the_migrations(store):
    """The ORM tables and what the Alembic revisions build agree (a change to one needs the other)."""
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


@pytest.mark.parametrize("storage", ["full", "thumbnail", "none"])
def test_saved_case_comes_back_as_saved(store, storage):
    store.change_settings(ADMIN, photo_storage=storage)
    attention = np.tile(np.linspace(0, 1, 400, dtype=np.float32), (300, 1))
    original = draft(malignant=0.45, threshold=0.3, attention=attention, gate_reason="ok", gate_score=0.02)
    case_id = store.save_case(DOCTOR, original)
    case = store.open_case(DOCTOR, case_id)
    assert case.probabilities == pytest.approx(original.probabilities)
    assert case.ranked[0] == ("nv", pytest.approx(0.6)) and case.top_code == "nv"
    assert case.malignancy_alert and case.malignant_probability == pytest.approx(0.45)
    assert (case.patient_code, case.lesion_label, case.visit_date, case.age, case.sex, case.site) == (
        "BN-001", "left shoulder, lesion 1", datetime.date(2026, 11, 1), 54, "female", "back")
    assert (case.gate_reason, case.gate_score, case.created_by, case.photo_storage) == ("ok", 0.02, "lan", storage)
    if storage == "none":
        assert case.photo is None and case.attention is None
        return
    if storage == "full":
        assert case.photo == original.photo and case.photo_media_type == "image/png"
    else:
        thumbnail = Image.open(io.BytesIO(case.photo))
        assert thumbnail.format == "JPEG" and max(thumbnail.size) == store_module.THUMBNAIL_SIDE
    assert case.attention.shape[1] == store_module.ATTENTION_SIDE
    reference = np.linspace(0, 1, case.attention.shape[1])
    assert np.abs(case.attention.mean(axis=0) - reference).max() < 0.02


def test_filters_find_what_a_doctor_asks_for(store):
    ids = {
        "a": store.save_case(DOCTOR, draft("BN-001", visit_date=datetime.date(2026, 9, 1))),
        "b": store.save_case(DOCTOR, draft("BN-001", top="mel", malignant=0.8, visit_date=datetime.date(2026, 11, 1))),
        "c": store.save_case(DOCTOR, draft("HN_7%", visit_date=datetime.date(2026, 10, 15))),
    }
    store.confirm(DOCTOR, ids["b"], "mel", "histopathology", datetime.date(2026, 11, 20))

    def found(**filters):
        return {case.id for case in store.find_cases(DOCTOR, **filters)}

    assert found() == set(ids.values())
    assert [c.id for c in store.find_cases(DOCTOR)] == [ids["b"], ids["c"], ids["a"]]  # newest visit first
    assert found(patient_code="bn-00") == {ids["a"], ids["b"]}
    assert found(patient_code="N_7%") == {ids["c"]} and found(patient_code="_") == {ids["c"]}
    assert found(date_from=datetime.date(2026, 10, 1), date_to=datetime.date(2026, 10, 31)) == {ids["c"]}
    assert found(diagnosis="mel") == {ids["b"]} and found(alert=True) == {ids["b"]}
    assert found(unconfirmed=True) == {ids["a"], ids["c"]}


def test_two_visits_of_one_lesion_are_paired(store):
    first = store.save_case(DOCTOR, draft(visit_date=datetime.date(2026, 5, 2)))
    store.save_case(DOCTOR, draft(lesion_label="back, lesion 2"))
    second = store.save_case(DOCTOR, draft(visit_date=datetime.date(2026, 11, 2), top="mel", malignant=0.7))
    assert [v.id for v in store.lesion_visits(DOCTOR, second)] == [first, second]


def test_clinic_validation_agrees_with_scikit_learn(store):
    rng = np.random.default_rng(3)
    truths = rng.choice(CLASS_CODES, 40)
    predicted = np.where(rng.random(40) < 0.6, truths, rng.choice(CLASS_CODES, 40))
    for truth, top in zip(truths, predicted):
        case_id = store.save_case(DOCTOR, draft(top=top, threshold=0.4))
        store.confirm(DOCTOR, case_id, truth, "histopathology", datetime.date(2026, 11, 20))
    other = store.save_case(DOCTOR, draft())
    store.confirm(DOCTOR, other, "other", "specialist", datetime.date(2026, 11, 21))
    store.save_case(DOCTOR, draft())  # unconfirmed: not counted

    [report] = clinic_validation(store.confirmed_cases(DOCTOR))
    assert (report.model_name, report.n, report.outside_classes) == ("ensemble-x", 40, 1)
    assert report.sources == {"histopathology": 40, "specialist": 1}
    assert report.report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truths, predicted), abs=1e-6)
    is_malignant = np.isin(truths, MALIGNANT_CODES)
    alert = np.isin(predicted, MALIGNANT_CODES)  # 0.6 + 2 x 0.067 >= 0.4; otherwise 3 x 0.067 < 0.4
    assert report.n_malignant == is_malignant.sum()
    assert report.report["malignant"]["sensitivity"] == pytest.approx(alert[is_malignant].mean())
    assert report.report["malignant"]["specificity"] == pytest.approx((~alert[~is_malignant]).mean())
    assert not report.enough_cases  # 40 < MIN_CASES: the page warns
    assert 0 < report.sensitivity_lower_bound < report.report["malignant"]["sensitivity"]


def test_only_an_admin_exports_deletes_and_manages(store):
    case_id = store.save_case(DOCTOR, draft())
    for action in (lambda by: store.export(by, [case_id]), lambda by: store.delete_patient(by, "BN-001"),
                   lambda by: store.users(by), lambda by: store.add_user("x-user", "long-password", by=by),
                   lambda by: store.change_settings(by, auto_save=True), lambda by: store.audit_log(by)):
        with pytest.raises(NotAllowedError):
            action(DOCTOR)
    assert count(store, Case) == 1


def test_every_view_edit_export_and_deletion_is_audited(store):
    case_id = store.save_case(DOCTOR, draft())
    store.find_cases(DOCTOR, patient_code="BN")
    store.open_case(DOCTOR, case_id)
    store.edit_note(DOCTOR, case_id, "seen again")
    store.confirm(DOCTOR, case_id, "nv", "follow_up", datetime.date(2026, 11, 25))
    store.export(ADMIN, [case_id])
    store.delete_patient(ADMIN, "BN-001")
    assert audit_actions(store)[2:] == ["save", "search", "view", "edit_note", "confirm", "export", "delete_patient"]
    entries = store.audit_log(ADMIN)
    assert entries[0]["user"] == "admin" and "BN-001" in entries[0]["detail"]
    assert {e["user"] for e in entries if e["action"] in ("save", "view", "confirm")} == {"lan"}


def test_export_as_csv_and_zip(store):
    store.change_settings(ADMIN, photo_storage="full")
    first = store.save_case(DOCTOR, draft(note="Tổn thương tăng kích thước; \"so sánh\" lần sau 🙂"))
    second = store.save_case(DOCTOR, draft("BN-002", photo=photo_bytes(format="JPEG")))
    table = store.export(ADMIN, [first, second])
    assert table.startswith(b"\xef\xbb\xbf")  # spreadsheet programs read it as UTF-8
    frame = pd.read_csv(io.BytesIO(table), encoding="utf-8-sig")
    assert list(frame["id"]) == [first, second]
    assert frame.loc[0, "note"] == "Tổn thương tăng kích thước; \"so sánh\" lần sau 🙂"
    assert frame[[f"p_{code}" for code in CLASS_CODES]].sum(axis=1).to_numpy() == pytest.approx([1, 1])
    with zipfile.ZipFile(io.BytesIO(store.export(ADMIN, [first, second], photos=True))) as archive:
        assert sorted(archive.namelist()) == ["cases.csv", f"photos/case-{first}.png", f"photos/case-{second}.jpg"]
        assert archive.read(f"photos/case-{first}.png") == photo_bytes()


def test_deleting_a_patient_removes_only_their_data(store):
    store.change_settings(ADMIN, photo_storage="thumbnail")
    for _ in range(2):
        store.save_case(DOCTOR, draft("BN-001"))
    kept = store.save_case(DOCTOR, draft("BN-002"))
    assert store.delete_patient(ADMIN, "BN-001") == 2
    assert [c.id for c in store.find_cases(DOCTOR)] == [kept]
    assert count(store, CaseImages) == 1
    assert store.delete_patient(ADMIN, "BN-001") == 0


ODD_TEXTS = ["O'Brien \"quoted\" `back`", "Robert'); DROP TABLE cases;--", "nốt ruồi ở vai trái, bờ không đều",
             "🙂🩺🔬 emoji", "% _ \\ wildcard characters", "x" * 10_000, "line one\nline two\ttab"]


@pytest.mark.parametrize("note", ODD_TEXTS, ids=range(len(ODD_TEXTS)))
def test_odd_notes_are_stored_verbatim(store, note):
    label = " ".join(note[:100].split())  # one line: a label with a line break is refused
    case_id = store.save_case(DOCTOR, draft(note=note, lesion_label=label))
    case = store.open_case(DOCTOR, case_id)
    assert case.note == note and case.lesion_label == label
    store.edit_note(DOCTOR, case_id, note[::-1])
    assert store.open_case(DOCTOR, case_id).note == note[::-1]
    assert count(store, Case) == 1


@pytest.mark.parametrize(("fields", "field", "problem"), ids=range(5), argvalues=[
    ({"note": "x" * 10_001}, "Note", "too_long"), ({"patient_code": "p" * 65}, "Patient code", "too_long"),
    ({"patient_code": "   "}, "Patient code", "required"), ({"note": "a\x00b"}, "Note", "control_characters"),
    ({"lesion_label": "l" * 121}, "Lesion", "too_long")])
def test_what_cannot_be_stored_is_refused_with_a_reason(store, fields, field, problem):
    with pytest.raises(InvalidCaseError) as refused:
        store.save_case(DOCTOR, draft(**fields))
    assert (refused.value.field, refused.value.problem) == (field, problem)
    assert field in str(refused.value)
    assert count(store, Case) == 0


def test_a_save_cut_short_leaves_no_half_case(store, monkeypatch):
    def fail(*args, **kwargs):
        raise ConnectionError("connection lost")

    store.change_settings(ADMIN, photo_storage="full")
    monkeypatch.setattr(store_module, "_audit", fail)  # the case row and its photo are written by then
    with pytest.raises(ConnectionError):
        store.save_case(DOCTOR, draft())
    assert count(store, Case) == 0 and count(store, CaseImages) == 0


KILLED_WRITER = """
import sys
from tests.test_cases import DOCTOR, draft, photo_bytes
from skin_core.cases import CaseStore
store = CaseStore.open(sys.argv[1])  # the test registered DOCTOR
for index in range(10_000):
    store.save_case(DOCTOR, draft(f"BN-{index}", photo=photo_bytes(size=(900, 1200), format="BMP")))
"""


def test_a_writer_killed_mid_save_leaves_only_whole_cases(tmp_path):
    """SIGKILL a process in the middle of saving cases with full-size photos: what it left is whole."""
    database = str(tmp_path / "cases.db")
    store = with_staff(CaseStore.open(database))
    store.change_settings(ADMIN, photo_storage="full")
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, database], cwd=Path(__file__).parent.parent)
    try:
        deadline = time.monotonic() + 120
        while count(store, Case) < 5 and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.poll() is None, "the writer stopped by itself"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    store.close()
    store = CaseStore.open(database)  # opening after a crash: SQLite rolls the torn transaction back
    saved = count(store, Case)
    assert saved >= 5 and count(store, CaseImages) == saved
    with store.engine.connect() as connection:
        audited = connection.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "save"))
    assert audited == saved
    store.save_case(DOCTOR, draft())  # and it takes new cases
    store.close()


def test_eight_doctors_save_and_read_at_once(database):
    saves_each = 6
    doctors = [UserInfo(f"doctor-{index}", "doctor") for index in range(8)]
    store = with_staff(CaseStore.open(database), ADMIN, *doctors)
    store.change_settings(ADMIN, photo_storage="thumbnail")
    errors, saved = [], []

    def doctor(index):
        user = UserInfo(f"doctor-{index}", "doctor")
        try:
            for visit in range(saves_each):
                case_id = store.save_case(user, draft(f"BN-{index}", note=f"visit {visit} by {index}"))
                saved.append(case_id)
                assert store.open_case(user, case_id).note == f"visit {visit} by {index}"
                store.find_cases(user, patient_code=f"BN-{index}")
                store.edit_note(user, case_id, f"checked {visit}")
        except Exception as error:  # noqa: BLE001 - every failure is reported below
            errors.append(error)

    threads = [threading.Thread(target=doctor, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(saved)) == 8 * saves_each == count(store, Case) == count(store, CaseImages)
    for index in range(8):
        notes = sorted(c.note for c in store.find_cases(ADMIN, patient_code=f"BN-{index}"))
        assert notes == sorted(f"checked {v}" for v in range(saves_each))
    assert count(store, AuditEntry) >= 8 * saves_each * 4
    store.close()


def test_a_database_from_the_first_version_is_migrated_on_start(database):
    engine = store_module._engine(store_module.database_url(database))
    store_module.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(Case.__table__.insert().values(
            patient_code="OLD-1", lesion_label="", visit_date=datetime.date(2026, 1, 5),
            created_at=datetime.datetime(2026, 1, 5, 9), created_by="lan", clinic="", clinician="", age=None,
            sex="male", site="face", model_name="mobilenetv2", model_version="1.0", gate_reason=None,
            gate_problem=None, gate_score=None, probabilities={code: 1 / 7 for code in CLASS_CODES},
            top_code="akiec", malignant_probability=0.43, malignancy_threshold=0.3, malignancy_alert=True,
            low_confidence=True, photo_name="", photo_sha256="0" * 64, photo_storage="none", note="from 0001"))
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0001"
    engine.dispose()
    store = with_staff(CaseStore.open(database))
    [old] = store.find_cases(DOCTOR)
    assert (old.patient_code, old.note) == ("OLD-1", "from 0001")
    store.change_settings(ADMIN, auto_save=True)  # the table revision 0002 added
    assert store.settings() == {"photo_storage": "thumbnail", "auto_save": True}
    store.close()


def test_passwords_are_argon2_hashes_and_logins_are_logged(store):
    with store.engine.connect() as connection:
        stored = connection.scalar(text("SELECT password_hash FROM users WHERE username = 'lan'"))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert store.authenticate("lan", "correct horse battery") == DOCTOR
    assert store.authenticate("lan", "wrong password") is None
    assert store.authenticate("nobody", "correct horse battery") is None
    assert store.is_active(DOCTOR) and not store.is_active(UserInfo("lan", "admin"))
    store.set_user("lan", by=ADMIN, active=False)
    assert not store.is_active(DOCTOR)
    assert store.authenticate("lan", "correct horse battery") is None
    assert audit_actions(store)[-5:] == ["login", "login_failed", "login_failed", "change_user", "login_failed"]
    with pytest.raises(InvalidCaseError, match="at least 8"):
        store.add_user("short", "1234567")
    with pytest.raises(InvalidCaseError):
        store.add_user("lan", "another password")  # taken
    with pytest.raises(CaseNotFoundError):
        store.open_case(ADMIN, 999)


def test_a_deactivated_user_can_do_nothing_more(store):
    """The account is checked inside each action's own transaction: nothing is saved, changed, shown or
    exported for a user deactivated (or given another role) since signing in."""
    case_id = store.save_case(DOCTOR, draft())
    other_admin = UserInfo("chi", "admin")
    with_staff(store, other_admin)
    store.set_user("lan", by=ADMIN, active=False)
    store.set_user("admin", by=other_admin, role="doctor")
    before = audit_actions(store)
    for user, action in ((DOCTOR, lambda by: store.save_case(by, draft())),
                         (DOCTOR, lambda by: store.edit_note(by, case_id, "changed")),
                         (DOCTOR, lambda by: store.confirm(by, case_id, "mel", "histopathology",
                                                           datetime.date(2026, 12, 1))),
                         (DOCTOR, lambda by: store.open_case(by, case_id)),
                         (DOCTOR, lambda by: store.find_cases(by)),
                         (ADMIN, lambda by: store.export(by, [case_id])),
                         (ADMIN, lambda by: store.delete_patient(by, "BN-001")),
                         (ADMIN, lambda by: store.set_user("chi", by=by, active=False))):
        with pytest.raises(UserInactiveError):
            action(user)
    assert audit_actions(store) == before
    case = store.open_case(other_admin, case_id)
    assert case.note == "" and case.final_diagnosis is None and count(store, Case) == 1


def test_command_line_adds_users_and_backs_up(tmp_path, monkeypatch, capsys):
    database = str(tmp_path / "cases.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert cli.main(["--database", database, "add-user", "chi", "--role", "admin", "--password-stdin"]) == 0
    store = CaseStore.open(database)
    assert store.authenticate("chi", "a long password") == UserInfo("chi", "admin")
    with_staff(store).save_case(DOCTOR, draft())
    assert cli.main(["--database", database, "backup", str(tmp_path / "backup" / "copy.db")]) == 0
    copy = CaseStore.open(str(tmp_path / "backup" / "copy.db"))
    assert [c.patient_code for c in copy.find_cases(ADMIN)] == ["BN-001"]
    assert cli.main(["--database", database, "backup", str(tmp_path / "backup" / "copy.db")]) == 2  # no overwrite
    assert "exists already" in capsys.readouterr().err
    monkeypatch.delenv(store_module.DATABASE_ENV, raising=False)
    monkeypatch.setattr(store_module, "SECRETS_FILE", tmp_path / "absent.toml")
    assert cli.main(["list-users"]) == 2 and "No case-history database" in capsys.readouterr().err
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[cases]\ndatabase = "{database}"\n', encoding="utf-8")
    monkeypatch.setattr(store_module, "SECRETS_FILE", secrets)
    assert cli.main(["list-users"]) == 0 and "chi\tadmin\tactive" in capsys.readouterr().out
    store.close()
    copy.close()


def test_postgresql_backup_points_to_pg_dump():
    store = CaseStore.open(empty_postgres())
    with pytest.raises(store_module.CaseError, match="pg_dump"):
        store.backup("/tmp/never.db")
    store.close()


def test_unreachable_database_gives_a_clear_message(tmp_path):
    with pytest.raises(DatabaseUnavailableError, match="cannot be opened"):
        CaseStore.open("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseUnavailableError):
        CaseStore.open(str(blocker / "cases.db"))  # its folder is a file


def test_five_failed_sign_ins_lock_the_name_for_a_while(store):
    for _ in range(store_module.LOGIN_ATTEMPTS):
        assert store.authenticate("lan", "guess") is None
    with pytest.raises(NotAllowedError, match="15 minutes"):
        store.authenticate("lan", "correct horse battery")
    assert store.authenticate("chi", "anything") is None  # other names are not locked
    assert audit_actions(store)[-2:] == ["login_refused", "login_failed"]
    entries = store.audit_log(ADMIN)
    assert all(entry["at"].tzinfo is not None for entry in entries)
    with store.engine.begin() as connection:  # a quarter of an hour later
        connection.execute(AuditEntry.__table__.update().values(
            at=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)))
    assert store.authenticate("lan", "correct horse battery") == DOCTOR
