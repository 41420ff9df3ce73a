"""Method-name owners, revoked tokens, hidden entries and the admin audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submitters") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.add_column(
            sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "method_owners",
        sa.Column("method_name", sa.String(100), primary_key=True),
        sa.Column("submitter_id", sa.Integer(), sa.ForeignKey("submitters.id"), nullable=False),
    )
    # a name already on the board belongs to whoever posted its oldest entry
    op.execute(
        "INSERT INTO method_owners (method_name, submitter_id) "
        "SELECT e.method_name, e.submitter_id FROM entries e WHERE e.id = "
        "(SELECT min(f.id) FROM entries f WHERE f.method_name = e.method_name)"
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("method_owners")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("hidden")
    with op.batch_alter_table("submitters") as batch:
        batch.drop_column("revoked_at")
