"""A clinic's own malignancy threshold per model version, versioned; and, per case, whose threshold its analysis
used.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(120), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("n_malignant", sa.Integer(), nullable=False),
        sa.Column("n_benign", sa.Integer(), nullable=False),
        sa.Column("sensitivity_lower_bound", sa.Float(), nullable=True),
        sa.Column("cv_sensitivity", sa.Float(), nullable=True),
        sa.Column("cv_specificity", sa.Float(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_thresholds")),
    )
    op.create_index(op.f("ix_site_thresholds_model_name"), "site_thresholds", ["model_name"])
    with op.batch_alter_table("cases") as batch:  # every case saved so far used the model's own threshold
        batch.add_column(sa.Column("threshold_source", sa.String(16), nullable=False, server_default="model"))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("threshold_source")
    op.drop_index(op.f("ix_site_thresholds_model_name"), "site_thresholds")
    op.drop_table("site_thresholds")
