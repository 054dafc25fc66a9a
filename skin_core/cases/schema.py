"""The case-history tables (SQLAlchemy 2 ORM). Alembic migrations in ``migrations/`` create and change them;
a change here needs a new revision there (``python -m skin_core.cases`` runs them on start)."""

import datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

PATIENT_CODE_MAX = 64
LESION_LABEL_MAX = 120
NOTE_MAX = 10_000
NAME_MAX = 120  # clinic, clinician, photo name


class Base(DeclarativeBase):
    # named constraints, so that a migration can refer to them on SQLite and PostgreSQL alike
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s"})


class User(Base):
    """``username`` is stored case-folded (store.canonical_username), so that LAN and lan are one user."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its own salt and parameters
    role: Mapped[str] = mapped_column(String(16))  # doctor or admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class Case(Base):
    """One analysis of one lesion at one visit, and later its confirmed diagnosis."""

    __tablename__ = "cases"
    __table_args__ = {"sqlite_autoincrement": True}  # a deleted case's number is never given again (rev. 0003)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # in canonical form (store.canonical_patient_code), so that one patient has one code whatever was typed
    patient_code: Mapped[str] = mapped_column(String(PATIENT_CODE_MAX), index=True)
    lesion_label: Mapped[str] = mapped_column(String(LESION_LABEL_MAX), default="")
    visit_date: Mapped[datetime.date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    clinic: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    clinician: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    sex: Mapped[str] = mapped_column(String(16))
    site: Mapped[str] = mapped_column(String(32))
    model_name: Mapped[str] = mapped_column(String(NAME_MAX))
    model_version: Mapped[str] = mapped_column(String(64))
    gate_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: the model has no gate
    gate_problem: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gate_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    probabilities: Mapped[dict] = mapped_column(JSON)  # class code -> calibrated probability
    top_code: Mapped[str] = mapped_column(String(8))
    malignant_probability: Mapped[float] = mapped_column(Float)
    malignancy_threshold: Mapped[float] = mapped_column(Float)
    malignancy_alert: Mapped[bool] = mapped_column(Boolean, index=True)
    low_confidence: Mapped[bool] = mapped_column(Boolean)
    photo_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    photo_sha256: Mapped[str] = mapped_column(String(64))
    photo_storage: Mapped[str] = mapped_column(String(16))  # full, thumbnail or none
    note: Mapped[str] = mapped_column(Text, default="")
    final_diagnosis: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    final_source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    final_date: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # whose malignancy threshold the analysis used: "model" (shipped with it) or "clinic" (revision 0005)
    threshold_source: Mapped[str] = mapped_column(String(16), server_default="model")

    images: Mapped["CaseImages | None"] = relationship(back_populates="case", cascade="all, delete-orphan",
                                                       passive_deletes=True)
    note_versions: Mapped[list["NoteVersion"]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                              order_by="NoteVersion.id")


class CaseImages(Base):
    """The photo (full or thumbnail) and the attention map a case was shown with, apart from the case row
    so that listing cases never reads them."""

    __tablename__ = "case_images"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    photo: Mapped[bytes] = mapped_column(LargeBinary)
    photo_media_type: Mapped[str] = mapped_column(String(32))
    attention: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # 8-bit PNG of the (H, W) map

    case: Mapped[Case] = relationship(back_populates="images")


class NoteVersion(Base):
    """Every text a case's note has had, oldest first, with who wrote it and when (the latest is the case's
    ``note``): an edit never loses what the note said before (added in revision 0004)."""

    __tablename__ = "note_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str] = mapped_column(String(64))
    edited_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who did what, when. ``case_id`` is no foreign key: the entry outlives a deleted case."""

    __tablename__ = "audit"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)  # indexes: the log's filters (revision 0004)
    action: Mapped[str] = mapped_column(String(32), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Setting(Base):
    """Clinic-wide settings an admin changes on the Settings page (added in revision 0002)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class SignInAttempt(Base):
    """A sign-in being checked, or failed, in the last store.LOCKOUT (older ones are removed; the audit keeps
    the record): what the limits on guessing per name and per client address count (added in revision 0003)."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), index=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: not known (local, proxy)
    outcome: Mapped[str] = mapped_column(String(8))  # checking, failed or ok


class SiteThreshold(Base):
    """Every adoption or revert of a clinic's own malignancy threshold for one model version, never changed
    afterwards: the newest row is in force, and a row without a threshold means the model's own again
    (added in revision 0005)."""

    __tablename__ = "site_thresholds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: back to the model's own
    n_malignant: Mapped[int] = mapped_column(Integer, default=0)
    n_benign: Mapped[int] = mapped_column(Integer, default=0)
    sensitivity_lower_bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    cv_sensitivity: Mapped[float | None] = mapped_column(Float, nullable=True)
    cv_specificity: Mapped[float | None] = mapped_column(Float, nullable=True)
    decided_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str] = mapped_column(String(64))


class Analysis(Base):
    """One analysis the app answered (or refused), without anything about the patient: what the drift monitor
    counts per month and model version (added in revision 0005)."""

    __tablename__ = "analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), index=True)
    model_name: Mapped[str] = mapped_column(String(NAME_MAX))
    model_version: Mapped[str] = mapped_column(String(64))
    gate_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: the model has no gate
    gate_problem: Mapped[str | None] = mapped_column(String(32), nullable=True)
    top_code: Mapped[str] = mapped_column(String(8))
    top_probability: Mapped[float] = mapped_column(Float)
    low_confidence: Mapped[bool] = mapped_column(Boolean)
    malignancy_alert: Mapped[bool] = mapped_column(Boolean)
