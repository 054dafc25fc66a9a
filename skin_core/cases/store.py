"""The case history: saved analyses, follow-up visits, confirmed diagnoses, users and the audit trail.

    store = CaseStore.open("cases/cases.db")   # a SQLite file, created and migrated on first start,
                                               # or a postgresql+psycopg://user:password@host/db URL
    user = store.authenticate("lan", password)
    case_id = store.save_case(user, CaseDraft.from_prediction(prediction, patient_code="BN-0042", ...))

Every change and every look at a patient's data goes into the audit table in the same transaction as the
change itself, so a save cut short leaves neither a half case nor an entry for it. Only admins export, delete
and manage users (NotAllowedError otherwise).
"""

import datetime
import hashlib
import io
import json
import os
import sqlite3
import tomllib
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from alembic import command
from alembic import util as alembic_util
from alembic.config import Config
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from PIL import Image
from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from skin_core import imaging, paths
from skin_core.cases.schema import (LESION_LABEL_MAX, NAME_MAX, NOTE_MAX, PATIENT_CODE_MAX, AuditEntry, Case,
                                    CaseImages, Setting, User)
from skin_core.classes import CLASS_CODES

DATABASE_ENV = "SKIN_CASES_DATABASE"
SECRETS_FILE = paths.REPO_DIR / ".streamlit" / "secrets.toml"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ROLES = ("doctor", "admin")
PHOTO_STORAGE = ("full", "thumbnail", "none")
FINAL_SOURCES = ("histopathology", "follow_up", "specialist")
FINAL_DIAGNOSES = (*CLASS_CODES, "other")  # "other": confirmed, but none of the seven classes
DEFAULT_SETTINGS = {"photo_storage": "thumbnail", "auto_save": "false"}
THUMBNAIL_SIDE = 256  # enough to recognise the lesion at the next visit; a few kB
ATTENTION_SIDE = 256
USERNAME_MAX = 64
PASSWORD_MIN = 8
SQLITE_BUSY_TIMEOUT_S = 30

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_UNKNOWN_USER_HASH = _hasher.hash("no user has this password")  # checked for an unknown name, to take as long
LOGIN_ATTEMPTS = 5
LOCKOUT = datetime.timedelta(minutes=15)


class CaseError(Exception):
    """Something the person at the keyboard can fix; the message says what."""


class InvalidCaseError(CaseError, ValueError):
    """A field that cannot be stored. ``field`` and ``problem`` ("required", "too_long", "too_short",
    "control_characters", "choice") let an application say it in another language; ``limit`` is the length limit for "too_long"."""

    def __init__(self, field_name: str, problem: str, limit: int | None = None, value=None):
        messages = {"required": f"{field_name} is required.",
                    "too_long": f"{field_name} is longer than {limit} characters.",
                    "too_short": f"{field_name} needs at least {limit} characters.",
                    "control_characters": f"{field_name} contains control characters (such as NUL), which "
                                          "cannot be stored.",
                    "choice": f"{field_name} cannot be {value!r}."}
        super().__init__(messages[problem])
        self.field, self.problem, self.limit = field_name, problem, limit


class NotAllowedError(CaseError, PermissionError):
    pass


class UserInactiveError(NotAllowedError):
    """The acting user was deactivated (or given another role) since signing in."""


class CaseNotFoundError(CaseError, LookupError):
    pass


class DatabaseUnavailableError(CaseError):
    pass


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


COMMAND_LINE = UserInfo("command line", "admin")  # who the audit names for python -m skin_core.cases


@dataclass
class CaseDraft:
    """One analysis as the diagnose page has it, ready to be saved."""

    patient_code: str
    model_name: str
    model_version: str
    probabilities: dict  # class code -> calibrated probability
    malignant_probability: float
    malignancy_threshold: float
    low_confidence: bool
    photo: bytes  # the uploaded file as it came
    photo_name: str = ""
    lesion_label: str = ""
    visit_date: datetime.date | None = None  # today when None
    age: float | None = None
    sex: str = "unknown"
    site: str = "unknown"
    clinic: str = ""
    clinician: str = ""
    note: str = ""
    gate_reason: str | None = None
    gate_problem: str | None = None
    gate_score: float | None = None
    attention: np.ndarray | None = None  # (H, W) in [0, 1]

    @classmethod
    def from_prediction(cls, prediction, **fields_) -> "CaseDraft":
        """From a skin_core.predictor.Prediction and the rest of the fields."""
        gate = prediction.gate
        return cls(probabilities={code: float(p) for code, p in prediction.ranked},
                   malignant_probability=float(prediction.malignant_probability),
                   malignancy_threshold=float(prediction.malignancy_threshold),
                   low_confidence=bool(prediction.low_confidence), attention=prediction.attention,
                   gate_reason=None if gate is None else gate.reason,
                   gate_problem=None if gate is None else gate.problem,
                   gate_score=None if gate is None else float(gate.score), **fields_)


@dataclass
class CaseRecord:
    """A saved case as a page shows it; ``photo`` and ``attention`` are filled by open_case only."""

    id: int
    patient_code: str
    lesion_label: str
    visit_date: datetime.date
    created_at: datetime.datetime
    created_by: str
    clinic: str
    clinician: str
    age: float | None
    sex: str
    site: str
    model_name: str
    model_version: str
    gate_reason: str | None
    gate_problem: str | None
    gate_score: float | None
    probabilities: dict
    top_code: str
    malignant_probability: float
    malignancy_threshold: float
    malignancy_alert: bool
    low_confidence: bool
    photo_name: str
    photo_sha256: str
    photo_storage: str
    note: str
    final_diagnosis: str | None
    final_source: str | None
    final_date: datetime.date | None
    confirmed_by: str | None
    photo: bytes | None = None
    photo_media_type: str | None = None
    attention: np.ndarray | None = field(default=None, repr=False)

    @property
    def ranked(self) -> list:
        return sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)

    @property
    def confirmed(self) -> bool:
        return self.final_diagnosis is not None


_CASE_COLUMNS = [f.name for f in fields(CaseRecord) if f.name not in ("photo", "photo_media_type", "attention")]


def configured_database() -> str | None:
    """The case-history database the clinic configured, or None (history off: the demo mode).
    ``SKIN_CASES_DATABASE`` wins over ``database`` in the ``[cases]`` table of .streamlit/secrets.toml; set
    empty, it turns history off whatever the file says."""
    value = os.environ.get(DATABASE_ENV)
    if value is None and SECRETS_FILE.is_file():
        try:
            value = tomllib.loads(SECRETS_FILE.read_text(encoding="utf-8")).get("cases", {}).get("database")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise DatabaseUnavailableError(f"{SECRETS_FILE} cannot be read: {error}") from error
    return value or None


def database_url(database: str | URL) -> URL:
    """A SQLAlchemy URL from a URL or a SQLite file path (relative paths start at the repository)."""
    if isinstance(database, URL):
        return database
    if "://" in database:
        try:
            return make_url(database)
        except ArgumentError as error:
            raise DatabaseUnavailableError(f"{database!r} is not a database URL: {error}") from error
    path = Path(database).expanduser()
    return URL.create("sqlite", database=str(path if path.is_absolute() else paths.REPO_DIR / path))


def _engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the driver's own BEGIN would be deferred; see below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection):
        # take the write lock at the start: a deferred transaction that reads, then writes, fails at once with
        # "database is locked" when another writer came first, whatever the busy timeout
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (Alembic); a new database is created, an older one migrated."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _text(name: str, value, limit: int, required: bool = False, multiline: bool = False) -> str:
    value = "" if value is None else str(value)
    if not multiline:
        value = value.strip()
    if required and not value:
        raise InvalidCaseError(name, "required")
    if len(value) > limit:
        raise InvalidCaseError(name, "too_long", limit)
    allowed = "\n\r\t" if multiline else ""
    if any(ord(c) < 32 and c not in allowed for c in value):
        raise InvalidCaseError(name, "control_characters")
    return value


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise InvalidCaseError(name, "choice", value=value)
    return value


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """Times are stored in UTC; SQLite hands them back without the zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _audit(session: Session, by: UserInfo, action: str, case_id: int | None = None, detail: str = "") -> None:
    session.add(AuditEntry(at=_now(), username=by.username, action=action, case_id=case_id, detail=detail))


def _stored_images(draft: CaseDraft, storage: str) -> CaseImages | None:
    if storage == "none":
        return None
    if storage == "full":
        with Image.open(io.BytesIO(draft.photo)) as pil:
            media_type = Image.MIME.get(pil.format, "application/octet-stream")
        photo = draft.photo
    else:
        photo, media_type = imaging.jpeg_bytes(draft.photo, THUMBNAIL_SIDE, quality=85), "image/jpeg"
    attention = None
    if draft.attention is not None:
        scaled = (np.clip(draft.attention, 0, 1) * 255).astype(np.uint8)
        shrink = ATTENTION_SIDE / max(scaled.shape)
        if shrink < 1:
            scaled = imaging.resize(scaled, (max(1, round(scaled.shape[0] * shrink)),
                                             max(1, round(scaled.shape[1] * shrink))))
        attention = cv2.imencode(".png", scaled)[1].tobytes()
    return CaseImages(photo=photo, photo_media_type=media_type, attention=attention)


def _record(case: Case, images: CaseImages | None = None) -> CaseRecord:
    record = CaseRecord(**{name: getattr(case, name) for name in _CASE_COLUMNS})
    record.created_at = _aware(record.created_at)
    if images is not None:
        record.photo, record.photo_media_type = images.photo, images.photo_media_type
        if images.attention is not None:
            decoded = cv2.imdecode(np.frombuffer(images.attention, np.uint8), cv2.IMREAD_GRAYSCALE)
            record.attention = decoded.astype(np.float32) / 255.0
    return record


class CaseStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, database: str | URL) -> "CaseStore":
        """Open (create, migrate) the database; DatabaseUnavailableError with the reason when it cannot."""
        url = database_url(database)
        try:
            engine = _engine(url)
            upgrade(engine)
        except (DatabaseError, OSError) as error:  # unreachable, read-only, not a database file
            raise DatabaseUnavailableError(
                f"The case-history database {url.render_as_string(hide_password=True)} cannot be opened: "
                f"{getattr(error, 'orig', None) or error}") from error
        except alembic_util.CommandError as error:  # a revision this code does not know
            raise DatabaseUnavailableError(
                f"The case-history database {url.render_as_string(hide_password=True)} was written by a newer "
                f"version of this app ({error}); update the app, or restore a backup made by this version.") from error
        except ModuleNotFoundError as error:
            raise DatabaseUnavailableError(f"The driver for {url.drivername} is not installed: {error}") from error
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.url.get_backend_name() == "sqlite"

    @contextmanager
    def _transaction(self, by: UserInfo | None = None):
        """One transaction: committed when the block ends, rolled back (nothing stored) when it raises. With
        ``by``, the user must still be active with the same role, checked inside this transaction, so that an
        action cannot slip in after an admin deactivated the account (the command line is always allowed)."""
        try:
            with self._session.begin() as session:
                if by is not None and by != COMMAND_LINE:
                    row = session.scalar(select(User).where(User.username == by.username))
                    if row is None or not row.active or row.role != by.role:
                        raise UserInactiveError(f"{by.username} is deactivated or has another role now; sign in "
                                                f"again. Nothing was changed.")
                yield session
        except OperationalError as error:  # server gone, disk full, locked for longer than the busy timeout
            raise DatabaseUnavailableError(
                f"The case-history database could not complete this ({error.orig}); nothing was changed.") from error

    # users ------------------------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, role: str = "doctor", by: UserInfo = COMMAND_LINE) -> None:
        _require_admin(by)
        username = _text("Username", username, USERNAME_MAX, required=True)
        _choice("Role", role, ROLES)
        _check_password(password)
        try:
            with self._transaction(by) as session:
                session.add(User(username=username, password_hash=_hasher.hash(password), role=role, active=True,
                                 created_at=_now()))
                _audit(session, by, "add_user", detail=f"{username} ({role})")
        except IntegrityError as error:
            raise InvalidCaseError("Username", "choice", value=username) from error

    def set_password(self, username: str, password: str, by: UserInfo = COMMAND_LINE) -> None:
        if by.username != username:
            _require_admin(by)
        _check_password(password)
        with self._transaction(by) as session:
            user = self._user(session, username)
            user.password_hash = _hasher.hash(password)
            _audit(session, by, "set_password", detail=username)

    def set_user(self, username: str, *, by: UserInfo, role: str | None = None, active: bool | None = None) -> None:
        _require_admin(by)
        with self._transaction(by) as session:
            user = self._user(session, username)
            if role is not None:
                user.role = _choice("Role", role, ROLES)
            if active is not None:
                user.active = active
            _audit(session, by, "change_user", detail=f"{username}: role {user.role}, active {user.active}")

    def users(self, by: UserInfo) -> list[dict]:
        _require_admin(by)
        with self._transaction(by) as session:
            rows = session.scalars(select(User).order_by(User.username)).all()
            return [{"username": u.username, "role": u.role, "active": u.active, "created_at": _aware(u.created_at)}
                    for u in rows]

    def has_users(self) -> bool:
        with self._transaction() as session:
            return session.scalar(select(func.count(User.id))) > 0

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user, or None for an unknown name, a wrong password or a deactivated account (all logged, and
        all as slow: a password is checked even for an unknown name). After LOGIN_ATTEMPTS failures within
        LOCKOUT, a name is refused for the rest of that time (NotAllowedError)."""
        username = (username or "").strip()[:USERNAME_MAX]
        with self._transaction() as session:
            who = UserInfo(username or "?", "")
            recent = session.scalar(select(func.count(AuditEntry.id)).where(
                AuditEntry.username == who.username, AuditEntry.action == "login_failed",
                AuditEntry.at >= _now() - LOCKOUT))
            locked = recent >= LOGIN_ATTEMPTS
            if locked:
                _audit(session, who, "login_refused", detail=f"{recent} failed sign-ins within {LOCKOUT}")
        if locked:  # raised once the refusal is logged
            raise NotAllowedError(f"Too many failed sign-ins for {who.username}; try again in "
                                  f"{LOCKOUT.seconds // 60} minutes.")
        with self._transaction() as session:
            user = session.scalar(select(User).where(User.username == username))
            try:
                verified = _hasher.verify(user.password_hash if user else _UNKNOWN_USER_HASH, password or "")
            except (VerificationError, InvalidHashError):
                verified = False
            verified = verified and user is not None and user.active
            _audit(session, who, "login" if verified else "login_failed")
            if not verified:
                return None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            return UserInfo(user.username, user.role)

    def is_active(self, user: UserInfo) -> bool:
        """Whether ``user`` may still work with the same role (an admin may have deactivated or changed it)."""
        with self._transaction() as session:
            row = session.scalar(select(User).where(User.username == user.username))
            return row is not None and row.active and row.role == user.role

    @staticmethod
    def _user(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise CaseNotFoundError(f"There is no user {username!r}.")
        return user

    # settings ---------------------------------------------------------------------------------------------

    def settings(self) -> dict:
        """{"photo_storage": "full" | "thumbnail" | "none", "auto_save": bool}."""
        with self._transaction() as session:
            stored = dict(session.execute(select(Setting.key, Setting.value)).tuples().all())
        values = {**DEFAULT_SETTINGS, **stored}
        return {"photo_storage": values["photo_storage"], "auto_save": values["auto_save"] == "true"}

    def change_settings(self, by: UserInfo, photo_storage: str | None = None, auto_save: bool | None = None) -> None:
        _require_admin(by)
        changes = {}
        if photo_storage is not None:
            changes["photo_storage"] = _choice("Photo storage", photo_storage, PHOTO_STORAGE)
        if auto_save is not None:
            changes["auto_save"] = "true" if auto_save else "false"
        with self._transaction(by) as session:
            for key, value in changes.items():
                session.merge(Setting(key=key, value=value))
            _audit(session, by, "change_settings", detail=json.dumps(changes))

    # cases ------------------------------------------------------------------------------------------------

    def save_case(self, by: UserInfo, draft: CaseDraft) -> int:
        """Store one analysis with the photo as the clinic's photo-storage setting says; returns the case id."""
        storage = self.settings()["photo_storage"]
        probabilities = {code: float(draft.probabilities[code]) for code in CLASS_CODES}
        case = Case(
            patient_code=_text("Patient code", draft.patient_code, PATIENT_CODE_MAX, required=True),
            lesion_label=_text("Lesion", draft.lesion_label, LESION_LABEL_MAX),
            visit_date=draft.visit_date or datetime.date.today(), created_at=_now(), created_by=by.username,
            clinic=_text("Clinic", draft.clinic, NAME_MAX), clinician=_text("Clinician", draft.clinician, NAME_MAX),
            age=None if draft.age is None else float(draft.age), sex=draft.sex, site=draft.site,
            model_name=draft.model_name, model_version=draft.model_version, gate_reason=draft.gate_reason,
            gate_problem=draft.gate_problem, gate_score=draft.gate_score, probabilities=probabilities,
            top_code=max(probabilities, key=probabilities.get),
            malignant_probability=draft.malignant_probability, malignancy_threshold=draft.malignancy_threshold,
            malignancy_alert=draft.malignant_probability >= draft.malignancy_threshold,
            low_confidence=draft.low_confidence, photo_name=_text("Photo name", draft.photo_name[:NAME_MAX], NAME_MAX),
            photo_sha256=hashlib.sha256(draft.photo).hexdigest(), photo_storage=storage,
            note=_text("Note", draft.note, NOTE_MAX, multiline=True))
        images = _stored_images(draft, storage)
        with self._transaction(by) as session:
            session.add(case)
            session.flush()  # the id, for the images and the audit
            if images is not None:
                images.case_id = case.id
                session.add(images)
            _audit(session, by, "save", case.id, f"patient {case.patient_code}")
        return case.id

    def find_cases(self, by: UserInfo, *, patient_code: str = "", date_from: datetime.date | None = None,
                   date_to: datetime.date | None = None, diagnosis: str | None = None, alert: bool | None = None,
                   unconfirmed: bool = False, limit: int = 500) -> list[CaseRecord]:
        """Cases matching every filter given, newest first (patient_code: a part of the code, any case)."""
        query = select(Case).order_by(Case.visit_date.desc(), Case.id.desc()).limit(limit)
        if patient_code.strip():
            pattern = patient_code.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Case.patient_code.ilike(f"%{pattern}%", escape="\\"))
        if date_from is not None:
            query = query.where(Case.visit_date >= date_from)
        if date_to is not None:
            query = query.where(Case.visit_date <= date_to)
        if diagnosis is not None:
            query = query.where(Case.final_diagnosis == _choice("Diagnosis", diagnosis, FINAL_DIAGNOSES))
        if alert is not None:
            query = query.where(Case.malignancy_alert == alert)
        if unconfirmed:
            query = query.where(Case.final_diagnosis.is_(None))
        with self._transaction(by) as session:
            cases = session.scalars(query).all()
            _audit(session, by, "search", detail=json.dumps(
                {"patient_code": patient_code, "from": str(date_from or ""), "to": str(date_to or ""),
                 "diagnosis": diagnosis, "alert": alert, "unconfirmed": unconfirmed, "found": len(cases)},
                ensure_ascii=False))
            return [_record(case) for case in cases]

    def open_case(self, by: UserInfo, case_id: int) -> CaseRecord:
        """One case with its photo and attention map (logged as a view)."""
        with self._transaction(by) as session:
            case = self._case(session, case_id)
            _audit(session, by, "view", case_id)
            return _record(case, case.images)

    def lesion_visits(self, by: UserInfo, case_id: int) -> list[CaseRecord]:
        """Every case of the same patient code and lesion label as ``case_id`` (itself included), oldest first."""
        with self._transaction(by) as session:
            case = self._case(session, case_id)
            visits = session.scalars(select(Case).where(
                Case.patient_code == case.patient_code, Case.lesion_label == case.lesion_label)
                .order_by(Case.visit_date, Case.id)).all()
            return [_record(visit) for visit in visits]

    def confirm(self, by: UserInfo, case_id: int, diagnosis: str, source: str, date: datetime.date) -> None:
        """Record the final diagnosis, where it comes from and when it was made."""
        _choice("Diagnosis", diagnosis, FINAL_DIAGNOSES)
        _choice("Source", source, FINAL_SOURCES)
        with self._transaction(by) as session:
            case = self._case(session, case_id)
            case.final_diagnosis, case.final_source, case.final_date = diagnosis, source, date
            case.confirmed_by = by.username
            _audit(session, by, "confirm", case_id, f"{diagnosis} ({source}, {date})")

    def edit_note(self, by: UserInfo, case_id: int, note: str) -> None:
        note = _text("Note", note, NOTE_MAX, multiline=True)
        with self._transaction(by) as session:
            self._case(session, case_id).note = note
            _audit(session, by, "edit_note", case_id)

    @staticmethod
    def _case(session: Session, case_id: int) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise CaseNotFoundError(f"There is no case {case_id}.")
        return case

    def confirmed_cases(self, by: UserInfo) -> list[CaseRecord]:
        with self._transaction(by) as session:
            cases = session.scalars(select(Case).where(Case.final_diagnosis.is_not(None)).order_by(Case.id)).all()
            _audit(session, by, "clinic_validation", detail=f"{len(cases)} confirmed cases")
            return [_record(case) for case in cases]

    def export(self, by: UserInfo, case_ids, photos: bool = False) -> bytes:
        """The cases as CSV (UTF-8 with a byte-order mark, which spreadsheet programs need for Vietnamese),
        or with ``photos`` a ZIP of that CSV and the stored photos."""
        _require_admin(by)
        case_ids = sorted({int(i) for i in case_ids})
        with self._transaction(by) as session:
            cases = session.scalars(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id)).all()
            rows = []
            for case in cases:
                row = {name: getattr(case, name) for name in _CASE_COLUMNS if name != "probabilities"}
                rows.append({**row, **{f"p_{code}": case.probabilities[code] for code in CLASS_CODES}})
            table = pd.DataFrame(rows).to_csv(index=False).encode("utf-8-sig")
            archive = None
            if photos:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
                    zipped.writestr("cases.csv", table)
                    for case in cases:
                        if case.images is not None:
                            extension = case.images.photo_media_type.split("/")[-1].replace("jpeg", "jpg")
                            zipped.writestr(f"photos/case-{case.id}.{extension}", case.images.photo)
                archive = buffer.getvalue()
            _audit(session, by, "export", detail=json.dumps({"cases": [c.id for c in cases], "photos": photos}))
        return archive if photos else table

    def delete_patient(self, by: UserInfo, patient_code: str) -> int:
        """Delete every case (and image) of one patient, on the patient's request; returns how many."""
        _require_admin(by)
        patient_code = _text("Patient code", patient_code, PATIENT_CODE_MAX, required=True)
        with self._transaction(by) as session:
            ids = session.scalars(select(Case.id).where(Case.patient_code == patient_code)).all()
            session.execute(delete(CaseImages).where(CaseImages.case_id.in_(ids)))
            session.execute(delete(Case).where(Case.id.in_(ids)))
            _audit(session, by, "delete_patient", detail=f"patient {patient_code}: {len(ids)} cases {sorted(ids)}")
        return len(ids)

    def audit_log(self, by: UserInfo, limit: int = 500) -> list[dict]:
        _require_admin(by)
        with self._transaction(by) as session:
            entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
            return [{"at": _aware(e.at), "user": e.username, "action": e.action, "case": e.case_id, "detail": e.detail}
                    for e in entries]

    def backup(self, destination: str | Path) -> Path:
        """A consistent copy of a SQLite database while it is in use (SQLite's online backup)."""
        if not self.is_sqlite:
            raise CaseError("Back up a PostgreSQL database with pg_dump (docs/case-history.md, Backups).")
        destination = Path(destination)
        if destination.exists():
            raise CaseError(f"{destination} exists already; choose a new file name for the backup.")
        destination.parent.mkdir(parents=True, exist_ok=True)
        source = self.engine.raw_connection()
        try:
            with sqlite3.connect(destination) as target:
                source.driver_connection.backup(target)
            target.close()
        finally:
            source.close()
        return destination


def _require_admin(by: UserInfo) -> None:
    if not by.is_admin:
        raise NotAllowedError(f"Only an admin can do this; {by.username} is a {by.role}.")


def _check_password(password: str) -> None:
    if len(password or "") < PASSWORD_MIN:
        raise InvalidCaseError("Password", "too_short", PASSWORD_MIN)
