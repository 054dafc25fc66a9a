"""Identities that hold: case numbers never given twice (SQLite AUTOINCREMENT; on both databases the next
number above any the audit names), one canonical form per patient code and per user name (so that deleting a
patient finds every spelling, and LAN and lan are one user), and the table that limits sign-in guessing per
name and per client address.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import json
import re

import sqlalchemy as sa
from alembic import op

from skin_core.cases.store import CaseError, canonical_patient_code, canonical_username

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# the audit details that name a patient code, as revisions 0001 and 0002 wrote them
_SAVE = re.compile(r"patient (?P<code>.*)", re.DOTALL)
_DELETE = re.compile(r"patient (?P<code>.*)(?P<rest>: \d+ cases \[[0-9, ]*\])", re.DOTALL)


def _canonical_users(bind) -> None:
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String))
    rows = bind.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)).all()
    seen: dict[str, str] = {}
    for _, name in rows:
        key = canonical_username(name)
        if key in seen:
            sql_name = name.replace("'", "''")
            raise CaseError(
                f"User names no longer differ by case, and users {seen[key]!r} and {name!r} would become one; "
                f"the database was left as it was. Rename one of them in the database (UPDATE users SET username "
                f"= '<new name>' WHERE username = '{sql_name}'), then start again.")
        seen[key] = name
    for user_id, name in rows:
        if canonical_username(name) != name:
            bind.execute(users.update().where(users.c.id == user_id).values(username=canonical_username(name)))


def _canonical_patient_codes(bind) -> None:
    cases = sa.table("cases", sa.column("patient_code", sa.String))
    for (code,) in bind.execute(sa.select(cases.c.patient_code).distinct()).all():
        if canonical_patient_code(code) != code:
            bind.execute(cases.update().where(cases.c.patient_code == code)
                         .values(patient_code=canonical_patient_code(code)))
    audit = sa.table("audit", sa.column("id", sa.Integer), sa.column("action", sa.String),
                     sa.column("detail", sa.Text))
    rows = bind.execute(sa.select(audit.c.id, audit.c.action, audit.c.detail)
                        .where(audit.c.action.in_(("save", "search", "delete_patient")))).all()
    for entry_id, action, detail in rows:
        changed = _canonical_detail(action, detail)
        if changed != detail:
            bind.execute(audit.update().where(audit.c.id == entry_id).values(detail=changed))


def _canonical_detail(action: str, detail: str) -> str:
    """The detail with its patient code in canonical form, so that deleting the patient finds it."""
    if action == "search":
        try:
            values = json.loads(detail)
        except ValueError:
            return detail
        values["patient_code"] = canonical_patient_code(values.get("patient_code", ""))
        return json.dumps(values, ensure_ascii=False)
    pattern = _SAVE if action == "save" else _DELETE
    match = pattern.fullmatch(detail)
    if match is None:
        return detail
    return f"patient {canonical_patient_code(match['code'])}{match.groupdict().get('rest') or ''}"


def _never_reused_ids(bind) -> None:
    """SQLite gives a deleted row's id again unless the table is AUTOINCREMENT, which only a rebuild adds
    (store.upgrade turns foreign keys off for it, or dropping the old cases table would delete every photo)."""
    for table in ("cases", "audit"):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def _next_case_number_above_the_audit(bind) -> None:
    """The next case number is above every one the audit names, even that of a case deleted before this
    revision (on SQLite the highest left would come next), and never lower than it was."""
    highest = max(bind.execute(sa.text("SELECT coalesce(max(id), 0) FROM cases")).scalar(),
                  bind.execute(sa.text("SELECT coalesce(max(case_id), 0) FROM audit")).scalar())
    if bind.dialect.name == "sqlite":
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'cases'"))
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('cases', :seq)"), {"seq": highest})
        return
    sequence = "pg_get_serial_sequence('cases', 'id')::regclass"
    used = bind.execute(sa.text(f"SELECT coalesce(pg_sequence_last_value({sequence}), 0)")).scalar()
    if max(highest, used) > 0:
        bind.execute(sa.text(f"SELECT setval({sequence}, :seq)"), {"seq": max(highest, used)})


def upgrade() -> None:
    bind = op.get_bind()
    _canonical_users(bind)
    _canonical_patient_codes(bind)
    if bind.dialect.name == "sqlite":  # PostgreSQL's sequences never give a number twice
        _never_reused_ids(bind)
    _next_case_number_above_the_audit(bind)
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(op.f("ix_sign_in_attempts_at"), "sign_in_attempts", ["at"])


def downgrade() -> None:
    # canonical codes and names, and AUTOINCREMENT, are valid for revision 0002 as they are
    op.drop_table("sign_in_attempts")
