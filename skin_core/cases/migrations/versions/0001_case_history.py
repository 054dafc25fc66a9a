"""Case history: users, cases with their images, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_code", sa.String(64), nullable=False),
        sa.Column("lesion_label", sa.String(120), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("clinic", sa.String(120), nullable=False),
        sa.Column("clinician", sa.String(120), nullable=False),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("model_name", sa.String(120), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("gate_reason", sa.String(32), nullable=True),
        sa.Column("gate_problem", sa.String(32), nullable=True),
        sa.Column("gate_score", sa.Float(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("top_code", sa.String(8), nullable=False),
        sa.Column("malignant_probability", sa.Float(), nullable=False),
        sa.Column("malignancy_threshold", sa.Float(), nullable=False),
        sa.Column("malignancy_alert", sa.Boolean(), nullable=False),
        sa.Column("low_confidence", sa.Boolean(), nullable=False),
        sa.Column("photo_name", sa.String(120), nullable=False),
        sa.Column("photo_sha256", sa.String(64), nullable=False),
        sa.Column("photo_storage", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("final_diagnosis", sa.String(16), nullable=True),
        sa.Column("final_source", sa.String(32), nullable=True),
        sa.Column("final_date", sa.Date(), nullable=True),
        sa.Column("confirmed_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    for column in ("patient_code", "visit_date", "malignancy_alert", "final_diagnosis"):
        op.create_index(op.f(f"ix_cases_{column}"), "cases", [column])
    op.create_table(
        "case_images",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=False),
        sa.Column("photo_media_type", sa.String(32), nullable=False),
        sa.Column("attention", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_images_case_id_cases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_images")),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_at"), "audit", ["at"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("case_images")
    op.drop_table("cases")
    op.drop_table("users")
