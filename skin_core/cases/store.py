"""The case history: saved analyses, follow-up visits, confirmed diagnoses, users and the audit trail.

    store = CaseStore.open("cases/cases.db")   # a SQLite file, created and migrated on first start,
                                               # or a postgresql+psycopg://user:password@host/db URL
    user = store.authenticate("lan", password)
    case_id = store.save_case(user, CaseDraft.from_prediction(prediction, patient_code="BN-0042", ...))

Every change and every look at a patient's data goes into the audit table in the same transaction as the
change itself, so a save cut short leaves neither a half case nor an entry for it. Only admins export, delete
and manage users (NotAllowedError otherwise).
"""

import csv
import datetime
import hashlib
import io
import ipaddress
import json
import os
import re
import sqlite3
import tomllib
import unicodedata
import zipfile
from collections.abc import Sequence
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
from sqlalchemy import and_, create_engine, delete, event, extract, func, literal, select, text
from sqlalchemy import case as case_when
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker
from zxcvbn import zxcvbn

from skin_core import imaging, paths
from skin_core.cases.deidentify import research_archive
from skin_core.cases.schema import (LESION_LABEL_MAX, NAME_MAX, NOTE_MAX, PATIENT_CODE_MAX, Analysis, AuditEntry,
                                    Case, CaseImages, NoteVersion, Setting, SignInAttempt, SiteThreshold, User)
from skin_core.cases.site_threshold import TARGET_SENSITIVITY, SiteOperatingPoint, site_operating_point
from skin_core.classes import CLASS_CODES
from skin_core.metadata import (AGE_RANGE, SEXES, SITES, InvalidMetadataError, clean_age, clean_sex, clean_site,
                                shown)

DATABASE_ENV = "SKIN_CASES_DATABASE"
SECRETS_FILE = paths.REPO_DIR / ".streamlit" / "secrets.toml"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ROLES = ("doctor", "admin")
PHOTO_STORAGE = ("full", "thumbnail", "none")
FINAL_SOURCES = ("histopathology", "follow_up", "specialist")
THRESHOLD_SOURCES = ("model", "clinic")  # whose malignancy threshold an analysis used
DRIFT_COLUMNS = ("at", "model_name", "model_version", "gate_reason", "gate_problem", "top_code", "top_probability",
                 "low_confidence", "malignancy_alert")
FINAL_DIAGNOSES = (*CLASS_CODES, "other")  # "other": confirmed, but none of the seven classes
DEFAULT_SETTINGS = {"photo_storage": "thumbnail", "auto_save": "false"}
THUMBNAIL_SIDE = 256  # enough to recognise the lesion at the next visit; a few kB
ATTENTION_SIDE = 256
USERNAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MIN_SCORE = 2  # zxcvbn: about a million guesses or more; a common password or a plain pattern is below
ADDRESS_MAX = 64
SQLITE_BUSY_TIMEOUT_S = 30
READ_ONLY = "skin_read_only"  # execution option: a SQLite transaction that only reads takes no write lock
AUDITED_EVENTS = ("download_pdf", "sign_out")  # what the app reports through CaseStore.audit_event
AUDIT_ACTIONS = ("login", "login_failed", "login_refused", "sign_out", "add_user", "set_password", "change_user",
                 "change_settings", "save", "search", "view", "edit_note", "confirm", "clinic_validation", "export",
                 "research_export", "delete_patient", "download_pdf", "adopt_threshold", "revert_threshold")
# (every action the audit names, for the log's filter)
REPEATED_ACTIONS = ("login_failed", "login_refused")  # a guessing run: hundreds of rows, shown as one
REPEAT_GAP = datetime.timedelta(minutes=1)  # one run while each try follows the one before within this
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet takes a cell starting so for a formula (OWASP)
_DELETION_REST = re.compile(r": \d+ cases \[[0-9, ]*\]")  # after "patient <code>" in a delete_patient entry

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_UNKNOWN_USER_HASH = _hasher.hash("no user has this password")  # checked for an unknown name, to take as long
LOGIN_ATTEMPTS = 5  # failed sign-ins of one name from one client address (or from unknown addresses)
ADDRESS_ATTEMPTS = 20  # failed sign-ins from one client address, whatever the names: guessing many names
NAME_ATTEMPTS = 50  # failed sign-ins of one name, whatever the addresses: guessing from many addresses
LOCKOUT = datetime.timedelta(minutes=15)


class CaseError(Exception):
    """Something the person at the keyboard can fix; the message says what."""


class InvalidCaseError(CaseError, ValueError):
    """A field that cannot be stored. ``field`` and ``problem`` ("required", "too_long", "too_short",
    "control_characters", "choice", "invalid", "weak", "exists") let an application say it in another language;
    ``limit`` is the length limit for "too_long"; ``reason`` says what is wrong with an "invalid" or "weak" one;
    "future" and "before_visit" are dates that cannot be."""

    def __init__(self, field_name: str, problem: str, limit: int | None = None, value=None, reason: str = ""):
        messages = {"required": f"{field_name} is required.",
                    "too_long": f"{field_name} is longer than {limit} characters.",
                    "too_short": f"{field_name} needs at least {limit} characters.",
                    "control_characters": f"{field_name} contains control characters (such as NUL), which "
                                          "cannot be stored.",
                    "choice": f"{field_name} cannot be {value!r}.",
                    "invalid": f"{field_name} cannot be {shown(value)}: {reason}",
                    "weak": f"{field_name} is too easy to guess ({reason}); choose a longer phrase of unrelated "
                            f"words.",
                    "exists": f"{field_name} {value!r} exists already.",
                    "future": f"{field_name} {value} lies in the future.",
                    "before_visit": f"{field_name} {value} is before the visit it confirms."}
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
    threshold_source: str = "model"  # "clinic": the clinic's own threshold (site_threshold) replaced the model's

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
                   gate_score=None if gate is None else float(gate.score),
                   threshold_source=prediction.threshold_source, **fields_)


@dataclass(frozen=True)
class NoteVersionRecord:
    """One text a case's note has had: its number (1 the first), the text, who wrote it and when."""

    number: int
    text: str
    edited_by: str
    edited_at: datetime.datetime


@dataclass
class CaseRecord:
    """A saved case as a page shows it; ``photo``, ``attention`` and ``note_versions`` (oldest first, the
    last being ``note``) are filled by open_case only."""

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
    threshold_source: str = "model"  # whose malignancy threshold the analysis used: "model" or "clinic"
    photo: bytes | None = None
    photo_media_type: str | None = None
    attention: np.ndarray | None = field(default=None, repr=False)
    note_versions: list[NoteVersionRecord] = field(default_factory=list, repr=False)

    @property
    def ranked(self) -> list:
        return sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)

    @property
    def confirmed(self) -> bool:
        return self.final_diagnosis is not None


@dataclass(frozen=True)
class AuditPage(Sequence):
    """A page of the audit log: its entries (dicts; it reads as their list) and how many rows match in all."""

    entries: list[dict]
    total: int
    offset: int = 0

    def __getitem__(self, index):
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.entries)


_CASE_COLUMNS = [f.name for f in fields(CaseRecord)
                 if f.name not in ("photo", "photo_media_type", "attention", "note_versions")]


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
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # patients' data: readable by the service's own user only (SQLite's -wal and
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # -shm files take the file's permissions)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the driver's own BEGIN would be deferred; see below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")  # a deleted patient's data is overwritten, not left in the file
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection):
        # a writing transaction takes the write lock at the start: a deferred transaction that reads, then
        # writes, fails at once with "database is locked" when another writer came first, whatever the busy
        # timeout. One that only reads takes none, so that it never waits for a writer (WAL).
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _sqlite_pragma(connection, pragma: str) -> list:
    """A PRAGMA outside any transaction (some, such as foreign_keys, do nothing inside one)."""
    return connection.connection.driver_connection.execute(f"PRAGMA {pragma}").fetchall()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (Alembic); a new database is created, an older one migrated. On
    SQLite, foreign keys are off meanwhile, as SQLite asks for a table rebuilt under others' references (0003),
    and checked before the migration commits."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all() if sqlite else []
                if broken:
                    raise DatabaseUnavailableError(f"The migration to {revision} would leave references to missing "
                                                   f"rows ({broken[:5]}); the database was left as it was.")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "foreign_keys=ON")


def canonical_patient_code(value) -> str:
    """The one form of a patient code, whatever was typed or pasted: Unicode NFKC (full-width letters and
    digits become ASCII), invisible format characters (zero-width space, byte-order mark, direction marks)
    removed, runs of white space made one space, surrounding white space stripped, upper case (after case
    folding, so that every spelling a caseless match would accept gives the same form)."""
    text_ = unicodedata.normalize("NFKC", "" if value is None else str(value))
    text_ = "".join(c for c in text_ if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", " ".join(text_.split()).casefold().upper())


def canonical_username(value) -> str:
    """User names ignore case, width and invisible characters: ``LAN``, ``lan`` and ``ｌａｎ`` are one user."""
    return canonical_patient_code(value).casefold()


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


def _patient_code(value) -> str:
    return _text("Patient code", canonical_patient_code(value), PATIENT_CODE_MAX, required=True)


def _username(value) -> str:
    return _text("Username", canonical_username(value), USERNAME_MAX, required=True)


def _age(value) -> float | None:
    """The age in years or None (unknown); a value that is no possible age is refused, never stored as
    unknown."""
    try:
        return clean_age(value)
    except (InvalidMetadataError, OverflowError, TypeError, ValueError) as error:
        raise InvalidCaseError("Age", "invalid", value=value, reason=f"give a number of years from "
                               f"{AGE_RANGE[0]:g} to {AGE_RANGE[1]:g}, or nothing if unknown") from error


def _metadata_word(name: str, value, clean, vocabulary) -> str:
    try:
        return clean(value)
    except InvalidMetadataError as error:
        raise InvalidCaseError(name, "invalid", value=value,
                               reason=f"expected one of {', '.join(vocabulary)}, or nothing if unknown") from error


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


def _record(case: Case, images: CaseImages | None = None, versions: list[NoteVersion] = ()) -> CaseRecord:
    record = CaseRecord(**{name: getattr(case, name) for name in _CASE_COLUMNS})
    record.created_at = _aware(record.created_at)
    record.note_versions = [NoteVersionRecord(number, v.text, v.edited_by, _aware(v.edited_at))
                            for number, v in enumerate(versions, 1)]
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
        self._read_session = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

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
        except (ModuleNotFoundError, NoSuchModuleError) as error:
            raise DatabaseUnavailableError(f"The driver for {url.drivername} is not installed: {error}") from error
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.url.get_backend_name() == "sqlite"

    @contextmanager
    def _transaction(self, by: UserInfo | None = None, *, write: bool = True):
        """One transaction: committed when the block ends, rolled back (nothing stored) when it raises. With
        ``by``, the user must still be active with the same role, checked inside this transaction, so that an
        action cannot slip in after an admin deactivated the account (the command line is always allowed).
        ``write=False`` for one that only reads: on SQLite it takes no write lock, and its reads, the check
        included, all see one snapshot."""
        try:
            with (self._session if write else self._read_session).begin() as session:
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
        """A new user; the name is kept case-folded (canonical_username). The password is hashed before the
        transaction: argon2 takes a while, and no one should wait for it."""
        _require_admin(by)
        username = _username(username)
        _choice("Role", role, ROLES)
        _check_password(password, username)
        password_hash = _hasher.hash(password)
        try:
            with self._transaction(by) as session:
                session.add(User(username=username, password_hash=password_hash, role=role, active=True,
                                 created_at=_now()))
                _audit(session, by, "add_user", detail=f"{username} ({role})")
        except IntegrityError as error:
            raise InvalidCaseError("Username", "exists", value=username) from error

    def user_exists(self, username: str) -> bool:
        """Whether the name is taken (in any case), e.g. to say so before asking for a password."""
        with self._transaction(write=False) as session:
            return session.scalar(select(User.id).where(User.username == canonical_username(username))) is not None

    def set_password(self, username: str, password: str, by: UserInfo = COMMAND_LINE) -> None:
        username = canonical_username(username)
        if by.username != username:
            _require_admin(by)
        _check_password(password, username)
        password_hash = _hasher.hash(password)
        with self._transaction(by) as session:
            user = self._user(session, username)
            user.password_hash = password_hash
            _audit(session, by, "set_password", detail=username)

    def set_user(self, username: str, *, by: UserInfo, role: str | None = None, active: bool | None = None) -> None:
        """Change a user's role, or deactivate (active=False) or reactivate (active=True) the account."""
        _require_admin(by)
        with self._transaction(by) as session:
            user = self._user(session, username)
            if role is not None:
                user.role = _choice("Role", role, ROLES)
            if active is not None:
                user.active = active
            _audit(session, by, "change_user", detail=f"{user.username}: role {user.role}, active {user.active}")

    def users(self, by: UserInfo) -> list[dict]:
        _require_admin(by)
        with self._transaction(by, write=False) as session:
            rows = session.scalars(select(User).order_by(User.username)).all()
            return [{"username": u.username, "role": u.role, "active": u.active, "created_at": _aware(u.created_at)}
                    for u in rows]

    def has_users(self) -> bool:
        with self._transaction(write=False) as session:
            return session.scalar(select(func.count(User.id))) > 0

    def authenticate(self, username: str, password: str, address: str | None = None) -> UserInfo | None:
        """The user, or None for an unknown name, a wrong password or a deactivated account (all logged, and
        all as slow: a password is checked even for an unknown name). ``address`` is the client's IP address
        (None, or anything that is not an IP address, when not known). Failed sign-ins are limited within
        LOCKOUT: LOGIN_ATTEMPTS for one name from one address (so that a stranger's guesses do not lock the
        admin out at the admin's own desk), ADDRESS_ATTEMPTS from one address and NAME_ATTEMPTS for one name;
        past a limit the sign-in is refused (NotAllowedError) without checking the password. The attempt is
        counted and recorded in one transaction, so concurrent tries cannot pass a limit, and the password is
        checked outside any transaction, so that a flood of sign-ins never holds the database for the doctors
        at work."""
        username = canonical_username(username)[:USERNAME_MAX]
        address = _client_address(address)
        who = UserInfo(username or "?", "")
        origin = f"from {address}" if address else ""
        with self._transaction() as session:
            refusal = self._sign_in_refusal(session, who.username, address)
            if refusal:
                _audit(session, who, "login_refused",
                       detail=f"too many failed sign-ins {refusal}" + (f" (this one {origin})" if origin else ""))
            else:
                attempt = SignInAttempt(at=_now(), username=who.username, address=address, outcome="checking")
                session.add(attempt)
        if refusal:  # raised once the refusal is logged
            raise NotAllowedError(f"Too many failed sign-ins {refusal}; try again in {LOCKOUT.seconds // 60} "
                                  f"minutes.")
        with self._transaction(write=False) as session:
            user = session.scalar(select(User).where(User.username == username))
            checked = (user.password_hash, user.active, user.role) if user else None
        try:
            verified = _hasher.verify(checked[0] if checked else _UNKNOWN_USER_HASH, password or "")
        except (VerificationError, InvalidHashError):
            verified = False
        verified = verified and checked is not None and checked[1]
        rehashed = _hasher.hash(password) if verified and _hasher.check_needs_rehash(checked[0]) else None
        with self._transaction() as session:
            user = session.scalar(select(User).where(User.username == username))
            # the account as it is now: deactivated, or its password changed, while the password was checked
            verified = verified and user is not None and (user.password_hash, user.active, user.role) == checked
            session.get(SignInAttempt, attempt.id).outcome = "ok" if verified else "failed"
            _audit(session, who, "login" if verified else "login_failed", detail=origin)
            if not verified:
                return None
            if rehashed:
                user.password_hash = rehashed
            return UserInfo(user.username, user.role)

    def _sign_in_refusal(self, session: Session, username: str, address: str | None) -> str:
        """Why a sign-in is refused now ("for lan from 10.0.0.7" …), or "" when it may be checked. Old attempts
        are removed here; on PostgreSQL the table is locked until the attempt is recorded, as SQLite's write
        lock does, so that concurrent sign-ins are counted one after another."""
        if not self.is_sqlite:
            session.execute(text("LOCK TABLE sign_in_attempts IN SHARE ROW EXCLUSIVE MODE"))
        since = _now() - LOCKOUT
        session.execute(delete(SignInAttempt).where(SignInAttempt.at < since))
        failed = select(func.count(SignInAttempt.id)).where(SignInAttempt.at >= since, SignInAttempt.outcome != "ok")
        same_address = SignInAttempt.address.is_(None) if address is None else SignInAttempt.address == address
        limits = [(f"for {username}" + (f" from {address}" if address else ""), LOGIN_ATTEMPTS,
                   failed.where(SignInAttempt.username == username, same_address)),
                  (f"for {username}", NAME_ATTEMPTS, failed.where(SignInAttempt.username == username))]
        if address is not None:
            limits.append((f"from {address}", ADDRESS_ATTEMPTS, failed.where(SignInAttempt.address == address)))
        return next((why for why, limit, query in limits if session.scalar(query) >= limit), "")

    def is_active(self, user: UserInfo) -> bool:
        """Whether ``user`` may still work with the same role (an admin may have deactivated or changed it)."""
        with self._transaction(write=False) as session:
            row = session.scalar(select(User).where(User.username == user.username))
            return row is not None and row.active and row.role == user.role

    def audit_event(self, by: UserInfo, action: str, case_id: int | None = None) -> None:
        """Log something the app did outside the store: ``download_pdf`` (a report was downloaded; the case id
        when the analysis is a saved case) or ``sign_out``. A sign-out is logged even for a user deactivated
        meanwhile: it is the end of that user's session either way."""
        _choice("Action", action, AUDITED_EVENTS)
        with self._transaction(None if action == "sign_out" else by) as session:
            _audit(session, by, action, case_id)

    @staticmethod
    def _user(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == canonical_username(username)))
        if user is None:
            raise CaseNotFoundError(f"There is no user {username!r}.")
        return user

    # settings ---------------------------------------------------------------------------------------------

    def settings(self) -> dict:
        """{"photo_storage": "full" | "thumbnail" | "none", "auto_save": bool}."""
        with self._transaction(write=False) as session:
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
            patient_code=_patient_code(draft.patient_code),
            lesion_label=_text("Lesion", draft.lesion_label, LESION_LABEL_MAX),
            visit_date=draft.visit_date or datetime.date.today(), created_at=_now(), created_by=by.username,
            clinic=_text("Clinic", draft.clinic, NAME_MAX), clinician=_text("Clinician", draft.clinician, NAME_MAX),
            age=_age(draft.age), sex=_metadata_word("Sex", draft.sex, clean_sex, SEXES),
            site=_metadata_word("Site", draft.site, clean_site, SITES),
            model_name=draft.model_name, model_version=draft.model_version, gate_reason=draft.gate_reason,
            gate_problem=draft.gate_problem, gate_score=draft.gate_score, probabilities=probabilities,
            top_code=max(probabilities, key=probabilities.get),
            malignant_probability=draft.malignant_probability, malignancy_threshold=draft.malignancy_threshold,
            malignancy_alert=draft.malignant_probability >= draft.malignancy_threshold,
            low_confidence=draft.low_confidence, threshold_source=_choice("Threshold", draft.threshold_source,
                                                                        THRESHOLD_SOURCES),
            photo_name=_text("Photo name", draft.photo_name[:NAME_MAX], NAME_MAX),
            photo_sha256=hashlib.sha256(draft.photo).hexdigest(), photo_storage=storage,
            note=_text("Note", draft.note, NOTE_MAX, multiline=True))
        images = _stored_images(draft, storage)
        with self._transaction(by) as session:
            session.add(case)
            session.flush()  # the id, for the images and the audit
            if images is not None:
                images.case_id = case.id
                session.add(images)
            if case.note:
                session.add(NoteVersion(case_id=case.id, text=case.note, edited_by=by.username,
                                        edited_at=case.created_at))
            _audit(session, by, "save", case.id, f"patient {case.patient_code}")
        return case.id

    def find_cases(self, by: UserInfo, *, patient_code: str = "", date_from: datetime.date | None = None,
                   date_to: datetime.date | None = None, diagnosis: str | None = None, alert: bool | None = None,
                   unconfirmed: bool = False, limit: int = 500, audit: bool = True) -> list[CaseRecord]:
        """Cases matching every filter given, newest first (patient_code: a part of the code, in any case or
        width: it is compared in canonical form, as codes are stored). ``audit=False`` reads again, after a
        change, the search this user made and was logged for: one user action, one audit entry."""
        query = select(Case).order_by(Case.visit_date.desc(), Case.id.desc()).limit(limit)
        patient_code = canonical_patient_code(patient_code)
        if patient_code:
            query = query.where(Case.patient_code.contains(patient_code, autoescape=True))
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
        with self._transaction(by, write=audit) as session:
            cases = session.scalars(query).all()
            if audit:
                _audit(session, by, "search", detail=json.dumps(
                    {"patient_code": patient_code, "from": str(date_from or ""), "to": str(date_to or ""),
                     "diagnosis": diagnosis, "alert": alert, "unconfirmed": unconfirmed, "found": len(cases)},
                    ensure_ascii=False))
            return [_record(case) for case in cases]

    def open_case(self, by: UserInfo, case_id: int, audit: bool = True) -> CaseRecord:
        """One case with its photo, attention map and every version of its note (logged as a view;
        ``audit=False`` reads again, after a change, a case this user opened and was logged for)."""
        with self._transaction(by, write=audit) as session:
            case = self._case(session, case_id)
            if audit:
                _audit(session, by, "view", case_id)
            return _record(case, case.images, case.note_versions)

    def lesion_visits(self, by: UserInfo, case_id: int) -> list[CaseRecord]:
        """Every case of the same patient code and lesion label as ``case_id`` (itself included), oldest first."""
        with self._transaction(by, write=False) as session:
            case = self._case(session, case_id)
            visits = session.scalars(select(Case).where(
                Case.patient_code == case.patient_code, Case.lesion_label == case.lesion_label)
                .order_by(Case.visit_date, Case.id)).all()
            return [_record(visit) for visit in visits]

    def confirm(self, by: UserInfo, case_id: int, diagnosis: str, source: str, date: datetime.date) -> None:
        """Record the final diagnosis, where it comes from and when it was made (neither in the future nor before
        the visit it confirms)."""
        _choice("Diagnosis", diagnosis, FINAL_DIAGNOSES)
        _choice("Source", source, FINAL_SOURCES)
        if date > datetime.date.today():
            raise InvalidCaseError("Final date", "future", value=date)
        with self._transaction(by) as session:
            case = self._case(session, case_id)
            if date < case.visit_date:
                raise InvalidCaseError("Final date", "before_visit", value=date)
            case.final_diagnosis, case.final_source, case.final_date = diagnosis, source, date
            case.confirmed_by = by.username
            _audit(session, by, "confirm", case_id, f"{diagnosis} ({source}, {date})")

    def edit_note(self, by: UserInfo, case_id: int, note: str) -> None:
        """Change the note, kept as its next version (the earlier ones stay); the audit names the version. The
        case is locked meanwhile, so that two edits at once get a number each. An unchanged note adds none."""
        note = _text("Note", note, NOTE_MAX, multiline=True)
        with self._transaction(by) as session:
            case = self._case(session, case_id, lock=True)
            number = session.scalar(select(func.count(NoteVersion.id)).where(NoteVersion.case_id == case_id))
            changed = note != case.note
            if changed:
                case.note = note
                session.add(NoteVersion(case_id=case_id, text=note, edited_by=by.username, edited_at=_now()))
                number += 1
            _audit(session, by, "edit_note", case_id, f"version {number}" + ("" if changed else ", unchanged"))

    @staticmethod
    def _case(session: Session, case_id: int, lock: bool = False) -> Case:
        case = session.get(Case, case_id, with_for_update=lock)
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
                if row.get("age") is not None and float(row["age"]).is_integer():
                    row["age"] = int(row["age"])  # 47, as typed: a column with empty ages would read 47.0
                rows.append({**row, **{f"p_{code}": case.probabilities[code] for code in CLASS_CODES}})
            table = pd.DataFrame(rows).map(_spreadsheet_text).to_csv(
                index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8-sig")
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

    # what the app answered, for the drift monitor -------------------------------------------------------------

    def log_analysis(self, model_name: str, model_version: str, prediction) -> None:
        """Count one analysis (a skin_core Prediction): model, input-check finding, top diagnosis and its
        probability, low confidence, alert. Nothing about the patient or the photo is kept."""
        gate = prediction.gate
        with self._transaction() as session:
            session.add(Analysis(at=_now(), model_name=model_name, model_version=model_version,
                                 gate_reason=None if gate is None else gate.reason,
                                 gate_problem=None if gate is None else gate.problem, top_code=prediction.top[0],
                                 top_probability=float(prediction.top[1]),
                                 low_confidence=bool(prediction.low_confidence),
                                 malignancy_alert=bool(prediction.malignancy_alert)))

    def analyses(self, by: UserInfo, since: datetime.datetime | None = None) -> pd.DataFrame:
        """The analysis log (since ``since``), one row per analysis, for skin_core.cases.drift."""
        with self._transaction(by, write=False) as session:
            query = select(Analysis).order_by(Analysis.id)
            if since is not None:
                query = query.where(Analysis.at >= since)
            rows = session.scalars(query).all()
            return pd.DataFrame([{"at": _aware(r.at), "model_name": r.model_name, "model_version": r.model_version,
                                  "gate_reason": r.gate_reason, "gate_problem": r.gate_problem,
                                  "top_code": r.top_code, "top_probability": r.top_probability,
                                  "low_confidence": r.low_confidence, "malignancy_alert": r.malignancy_alert}
                                 for r in rows], columns=list(DRIFT_COLUMNS))

    # the clinic's own threshold ------------------------------------------------------------------------------

    def site_threshold(self, model_name: str, model_version: str) -> float | None:
        """The clinic's malignancy threshold in force for this model version (None: the model's own)."""
        with self._transaction(write=False) as session:
            return session.scalar(select(SiteThreshold.threshold).where(
                SiteThreshold.model_name == model_name, SiteThreshold.model_version == model_version)
                .order_by(SiteThreshold.id.desc()).limit(1))

    def site_threshold_history(self, by: UserInfo, model_name: str, model_version: str) -> list[dict]:
        """Every adoption and revert for this model version, newest first."""
        with self._transaction(by, write=False) as session:
            rows = session.scalars(select(SiteThreshold).where(
                SiteThreshold.model_name == model_name, SiteThreshold.model_version == model_version)
                .order_by(SiteThreshold.id.desc())).all()
            return [{"threshold": r.threshold, "n_malignant": r.n_malignant, "n_benign": r.n_benign,
                     "sensitivity_lower_bound": r.sensitivity_lower_bound, "cv_sensitivity": r.cv_sensitivity,
                     "cv_specificity": r.cv_specificity, "at": _aware(r.decided_at), "by": r.decided_by}
                    for r in rows]

    def adopt_site_threshold(self, by: UserInfo, model_name: str, model_version: str,
                             target_sensitivity: float = TARGET_SENSITIVITY) -> SiteOperatingPoint:
        """Put the clinic's threshold in force, as the confirmed cases stored now give it (never one computed
        elsewhere); InvalidCaseError when they offer none."""
        _require_admin(by)
        with self._transaction(by) as session:
            cases = session.scalars(select(Case).where(Case.final_diagnosis.is_not(None))).all()
            point = site_operating_point([_record(c) for c in cases], model_name, model_version, target_sensitivity)
            if not point.offered:
                raise InvalidCaseError("Threshold", "invalid", reason=point.reason)
            session.add(SiteThreshold(
                model_name=model_name, model_version=model_version, threshold=point.threshold,
                n_malignant=point.n_malignant, n_benign=point.n_benign,
                sensitivity_lower_bound=point.sensitivity_lower_bound, cv_sensitivity=point.cv_sensitivity,
                cv_specificity=point.cv_specificity, decided_at=_now(), decided_by=by.username))
            _audit(session, by, "adopt_threshold", detail=json.dumps(
                {"model": model_name, "version": model_version, "threshold": round(point.threshold, 6),
                 "malignant": point.n_malignant, "benign": point.n_benign}))
        return point

    def revert_site_threshold(self, by: UserInfo, model_name: str, model_version: str) -> None:
        """The model's own threshold in force again for this model version (the adoption stays on record)."""
        _require_admin(by)
        with self._transaction(by) as session:
            session.add(SiteThreshold(model_name=model_name, model_version=model_version, threshold=None,
                                      decided_at=_now(), decided_by=by.username))
            _audit(session, by, "revert_threshold", detail=json.dumps({"model": model_name,
                                                                        "version": model_version}))

    def research_export(self, by: UserInfo) -> bytes:
        """Every confirmed case, de-identified, as a ZIP that ``skin_core.research.evaluate`` reads as a labelled folder
        (skin_core.cases.deidentify); audited with what it holds, never with a patient code."""
        _require_admin(by)
        with self._transaction(by) as session:
            cases = session.scalars(select(Case).where(Case.final_diagnosis.is_not(None)).order_by(Case.id)).all()
            archive, summary = research_archive([_record(case, case.images) for case in cases])
            _audit(session, by, "research_export", detail=json.dumps(summary))
        return archive

    def delete_patient(self, by: UserInfo, patient_code: str) -> int:
        """Delete every case of one patient, with its images and note versions, on the patient's request;
        returns how many. The code is compared in canonical form, so every spelling of it goes. The audit keeps
        what was done, but the entries that named the code (saves, searches for it, this deletion) name "deleted
        patient <n>" instead, n being this deletion's own audit entry. On SQLite the freed space is overwritten
        (secure_delete) and the write-ahead log emptied, so that nothing of the patient stays in the files
        either."""
        _require_admin(by)
        patient_code = _patient_code(patient_code)
        with self._transaction(by) as session:
            ids = sorted(session.scalars(select(Case.id).where(Case.patient_code == patient_code)).all())
            session.execute(delete(CaseImages).where(CaseImages.case_id.in_(ids)))
            session.execute(delete(NoteVersion).where(NoteVersion.case_id.in_(ids)))
            session.execute(delete(Case).where(Case.id.in_(ids)))
            entry = AuditEntry(at=_now(), username=by.username, action="delete_patient", detail="")
            session.add(entry)
            session.flush()  # its id names the patient from now on
            alias = f"deleted patient {entry.id}"
            _pseudonymise(session, patient_code, alias)
            entry.detail = f"patient {alias}: {len(ids)} cases {ids}"
        if self.is_sqlite:
            with self.engine.connect() as connection:
                _sqlite_pragma(connection, "wal_checkpoint(TRUNCATE)")
        return len(ids)

    def audit_log(self, by: UserInfo, limit: int = 500, *, offset: int = 0, user: str = "", actions=(),
                  since: datetime.datetime | None = None, before: datetime.datetime | None = None,
                  grouped: bool = False) -> "AuditPage":
        """The entries matching every filter given (``user``: one name, in any case; ``actions``: any of these;
        ``since`` and ``before``: aware times), newest first, ``limit`` of them from ``offset``, and how many
        match in all: so that a flood of failed sign-ins cannot hide the rest. ``grouped``: each run of
        REPEATED_ACTIONS of one name and action, every try within REPEAT_GAP of the one before, is one row
        ("times", and "first": when it began), counted as one. Filtered, grouped and paged in SQL."""
        _require_admin(by)
        conditions = [AuditEntry.action.in_(actions)] if actions else []
        if user:
            conditions.append(AuditEntry.username == canonical_username(user))
        if since is not None:
            conditions.append(AuditEntry.at >= since.astimezone(datetime.timezone.utc))
        if before is not None:
            conditions.append(AuditEntry.at < before.astimezone(datetime.timezone.utc))
        rows = self._audit_runs(conditions) if grouped else select(
            AuditEntry.id.label("first_id"), AuditEntry.id.label("last_id"), literal(1).label("times")
        ).where(*conditions).subquery()
        first, last = aliased(AuditEntry), aliased(AuditEntry)
        page = (select(rows.c.times, first.at, last).join(first, first.id == rows.c.first_id)
                .join(last, last.id == rows.c.last_id).order_by(rows.c.last_id.desc()).offset(offset).limit(limit))
        with self._transaction(by, write=False) as session:
            total = session.scalar(select(func.count()).select_from(rows))
            entries = [{"at": _aware(e.at), "user": e.username, "action": e.action, "case": e.case_id,
                        "detail": e.detail, "times": times, "first": _aware(began)}
                       for times, began, e in session.execute(page).tuples()]
        return AuditPage(entries, total, offset)

    def _audit_runs(self, conditions: list):
        """The matching entries as runs (first_id, last_id, times): a run of REPEATED_ACTIONS is the tries of
        one name and action each within REPEAT_GAP of the one before; every other entry is a run of one.
        Gaps and islands: a try starts a run unless it follows its predecessor closely enough, and the running
        count of starts numbers the runs."""
        seconds = func.julianday(AuditEntry.at) * 86400 if self.is_sqlite else extract("epoch", AuditEntry.at)
        stream = (AuditEntry.username, AuditEntry.action)
        gap = seconds - func.lag(seconds).over(partition_by=stream, order_by=AuditEntry.id)
        follows = and_(AuditEntry.action.in_(REPEATED_ACTIONS), gap <= REPEAT_GAP.total_seconds())
        starts = select(AuditEntry.id, *stream, case_when((follows, 0), else_=1).label("starts")).where(
            *conditions).subquery()
        numbered = select(starts.c.id, starts.c.username, starts.c.action, func.sum(starts.c.starts).over(
            partition_by=(starts.c.username, starts.c.action), order_by=starts.c.id).label("run")).subquery()
        return select(func.min(numbered.c.id).label("first_id"), func.max(numbered.c.id).label("last_id"),
                      func.count().label("times")).group_by(numbered.c.username, numbered.c.action,
                                                            numbered.c.run).subquery()

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


def _client_address(value) -> str | None:
    """The client's IP address in its standard spelling, None for anything that is not one (no address)."""
    try:
        return str(ipaddress.ip_address(str(value)))[:ADDRESS_MAX] if value else None
    except ValueError:
        return None


def _pseudonymise(session: Session, code: str, alias: str) -> None:
    """Name a deleted patient ``alias`` in the audit entries that named the code: "patient <code>" of a save
    and of an earlier deletion, and a search for exactly that code. Only those: a short code such as "7"
    may appear in other entries as a number, which must stay as it is."""
    named = f"patient {code}"
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.action.in_(("save", "delete_patient")),
                                                          AuditEntry.detail.startswith(named, autoescape=True))):
        rest = entry.detail[len(named):]  # startswith again: SQLite's LIKE ignores case
        if entry.detail.startswith(named) and (rest == "" or _DELETION_REST.fullmatch(rest)):
            entry.detail = f"patient {alias}{rest}"
    quoted = json.dumps(code, ensure_ascii=False)
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == "search",
                                                          AuditEntry.detail.contains(quoted, autoescape=True))):
        search = json.loads(entry.detail)
        if search.get("patient_code") == code:
            entry.detail = json.dumps({**search, "patient_code": alias}, ensure_ascii=False)


def _spreadsheet_text(value):
    """OWASP's rule against CSV (formula) injection: a text that a spreadsheet would run as a formula
    (=HYPERLINK(...) in a note, a patient code starting with @ or -) gets a leading single quote, which makes
    it plain text; and every text is quoted (the export's QUOTE_NONNUMERIC), so that a comma or quote inside it
    cannot start a cell of its own."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _require_admin(by: UserInfo) -> None:
    if not by.is_admin:
        raise NotAllowedError(f"Only an admin can do this; {by.username} is a {by.role}.")


def _check_password(password: str, username: str) -> None:
    """At least PASSWORD_MIN characters, not only spaces, and not easy to guess by zxcvbn's measure (common
    passwords, words, names, keyboard patterns, repeats, dates, the user's own name): length alone lets
    "12345678" through. zxcvbn reads the first 72 characters, which decide for any longer passphrase too."""
    password = password or ""
    if not password.strip():
        raise InvalidCaseError("Password", "required")
    if len(password) < PASSWORD_MIN:
        raise InvalidCaseError("Password", "too_short", PASSWORD_MIN)
    strength = zxcvbn(password[:72], user_inputs=[username])
    if strength["score"] < PASSWORD_MIN_SCORE:
        reason = strength["feedback"]["warning"] or "a common word, name or pattern"
        raise InvalidCaseError("Password", "weak", reason=reason.rstrip(".").lower())
