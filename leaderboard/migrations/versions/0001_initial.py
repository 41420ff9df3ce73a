"""Initial schema: submitters, entries, figures.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submitters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("suite_id", sa.String(100), nullable=False),
        sa.Column("suite_version", sa.Integer(), nullable=False),
        sa.Column("board", sa.String(20), nullable=False),
        sa.Column("method_name", sa.String(100), nullable=False),
        sa.Column("method_version", sa.String(50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("code_url", sa.String(500), nullable=False),
        sa.Column("submitter_id", sa.Integer(), sa.ForeignKey("submitters.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("score_iqm", sa.Float(), nullable=True),
        sa.Column("score_low", sa.Float(), nullable=True),
        sa.Column("score_high", sa.Float(), nullable=True),
        sa.Column("reachability", sa.Float(), nullable=True),
        sa.Column("algorithmic_range", sa.Integer(), nullable=True),
        sa.Column("objective_robustness", sa.Float(), nullable=True),
        sa.Column("scoring_version", sa.String(40), nullable=False),
        sa.Column("metrics_json", sa.Text(), nullable=False),
        sa.Column("results_zlib", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint(
            "suite_id", "suite_version", "method_name", "method_version", name="uq_entry_version"
        ),
    )
    for column in ("suite_id", "board", "method_name", "created_at", "score_iqm"):
        op.create_index(f"ix_entries_{column}", "entries", [column])
    op.create_table(
        "figures",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entries.id"), primary_key=True),
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("family", sa.String(100), primary_key=True),
        sa.Column("scoring_version", sa.String(40), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("figures")
    op.drop_table("entries")
    op.drop_table("submitters")
