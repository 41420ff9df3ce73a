"""Verified entries: each entry's state, uploaded programs, verification jobs, and the
hidden evaluation seed of every suite version (made here, never served).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

from leaderboard.suites import SUITES

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(
            sa.Column("state", sa.String(20), nullable=False, server_default="self-reported")
        )
        batch.add_column(sa.Column("state_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("public_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("hidden_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("score_gap", sa.Float(), nullable=True))
        batch.add_column(sa.Column("verified_json", sa.Text(), nullable=True))
        batch.create_index("ix_entries_state", ["state"])
    op.create_table(
        "programs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entries.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("family", sa.String(100), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("entry_id", "family", "seed", name="uq_program_run"),
    )
    op.create_index("ix_programs_entry_id", "programs", ["entry_id"])
    op.create_table(
        "verification_jobs",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entries.id"), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_verification_jobs_state", "verification_jobs", ["state"])
    table = op.create_table(
        "eval_secrets",
        sa.Column("suite_id", sa.String(100), primary_key=True),
        sa.Column("suite_version", sa.Integer(), primary_key=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
    )
    # one secret per suite version known now; a later version gets its own at first use
    rows = {(r.id, r.version) for r in SUITES.values()}
    op.bulk_insert(
        table,
        [{"suite_id": i, "suite_version": v, "seed": secrets.randbits(62)} for i, v in rows],
    )


def downgrade() -> None:
    op.drop_table("eval_secrets")
    op.drop_table("verification_jobs")
    op.drop_table("programs")
    with op.batch_alter_table("entries") as batch:
        batch.drop_index("ix_entries_state")
        for name in ("verified_json", "score_gap", "hidden_score", "public_score"):
            batch.drop_column(name)
        batch.drop_column("state_reason")
        batch.drop_column("state")
