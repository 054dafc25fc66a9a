"""Every version of a case's note, so that an edit never loses what the note said before; and indexes for the
audit log's filters by user and action.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _first_versions(bind) -> None:
    """Each note as it is now becomes its first version, written by whoever the audit names as its last editor
    (or, never edited, by whoever saved the case) at that time. Earlier texts were overwritten: they are gone."""
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("note", sa.Text),
                     sa.column("created_by", sa.String), sa.column("created_at", sa.DateTime(timezone=True)))
    audit = sa.table("audit", sa.column("id", sa.Integer), sa.column("at", sa.DateTime(timezone=True)),
                     sa.column("username", sa.String), sa.column("action", sa.String),
                     sa.column("case_id", sa.Integer))
    versions = sa.table("note_versions", sa.column("case_id", sa.Integer), sa.column("text", sa.Text),
                        sa.column("edited_by", sa.String), sa.column("edited_at", sa.DateTime(timezone=True)))
    for case_id, note, created_by, created_at in bind.execute(
            sa.select(cases.c.id, cases.c.note, cases.c.created_by, cases.c.created_at)
            .where(cases.c.note != "").order_by(cases.c.id)).all():
        last_edit = bind.execute(sa.select(audit.c.username, audit.c.at)
                                 .where(audit.c.action == "edit_note", audit.c.case_id == case_id)
                                 .order_by(audit.c.id.desc()).limit(1)).first()
        edited_by, edited_at = last_edit or (created_by, created_at)
        bind.execute(versions.insert().values(case_id=case_id, text=note, edited_by=edited_by, edited_at=edited_at))


def upgrade() -> None:
    op.create_table(
        "note_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("edited_by", sa.String(64), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_note_versions_case_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_versions")),
    )
    op.create_index(op.f("ix_note_versions_case_id"), "note_versions", ["case_id"])
    op.create_index(op.f("ix_audit_username"), "audit", ["username"])
    op.create_index(op.f("ix_audit_action"), "audit", ["action"])
    _first_versions(op.get_bind())


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_action"), "audit")
    op.drop_index(op.f("ix_audit_username"), "audit")
    op.drop_table("note_versions")
