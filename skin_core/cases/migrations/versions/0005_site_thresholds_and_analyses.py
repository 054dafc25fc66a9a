"""A clinic's own malignancy threshold per model version, versioned; per case, whose threshold its analysis
used; and a log of analyses without patient data, for the drift monitor.

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
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(120), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("gate_reason", sa.String(32), nullable=True),
        sa.Column("gate_problem", sa.String(32), nullable=True),
        sa.Column("top_code", sa.String(8), nullable=False),
        sa.Column("top_probability", sa.Float(), nullable=False),
        sa.Column("low_confidence", sa.Boolean(), nullable=False),
        sa.Column("malignancy_alert", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    op.create_index(op.f("ix_analyses_at"), "analyses", ["at"])
    with op.batch_alter_table("cases") as batch:  # every case saved so far used the model's own threshold
        batch.add_column(sa.Column("threshold_source", sa.String(16), nullable=False, server_default="model"))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("threshold_source")
    op.drop_index(op.f("ix_analyses_at"), "analyses")
    op.drop_table("analyses")
    op.drop_index(op.f("ix_site_thresholds_model_name"), "site_thresholds")
    op.drop_table("site_thresholds")
