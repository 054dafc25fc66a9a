"""Case history: every analysis kept, followed up and checked against the final diagnosis (SQLAlchemy 2 on a
SQLite file or a PostgreSQL server, Alembic migrations, argon2 passwords, an audit of every view and change).

Command line (users, migrations, backups): ``python -m skin_core.cases --help``.
"""

from skin_core.cases.store import (AUDIT_ACTIONS, AUDITED_EVENTS, COMMAND_LINE, FINAL_DIAGNOSES, FINAL_SOURCES,
                                   PHOTO_STORAGE, ROLES, AuditPage, CaseDraft, CaseError, CaseNotFoundError, CaseRecord,
                                   CaseStore, DatabaseUnavailableError, InvalidCaseError, NotAllowedError,
                                   NoteVersionRecord, UserInactiveError, UserInfo, canonical_patient_code,
                                   canonical_username, configured_database)
from skin_core.cases.validation import MIN_CASES, MIN_MALIGNANT, ClinicReport, clinic_validation

__all__ = ["AUDIT_ACTIONS", "AUDITED_EVENTS", "COMMAND_LINE", "FINAL_DIAGNOSES", "FINAL_SOURCES", "MIN_CASES",
           "MIN_MALIGNANT", "PHOTO_STORAGE", "ROLES", "AuditPage", "CaseDraft", "CaseError", "CaseNotFoundError",
           "CaseRecord", "CaseStore", "ClinicReport", "DatabaseUnavailableError", "InvalidCaseError", "NotAllowedError",
           "NoteVersionRecord", "UserInactiveError", "UserInfo", "canonical_patient_code", "canonical_username",
           "clinic_validation", "configured_database"]
