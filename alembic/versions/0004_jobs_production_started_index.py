"""jobs: index on (production_id, started_at) for fair claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:30:00

A claim picks the production whose jobs started least recently. That was a GROUP BY over
every job ever run, per claim; with this index each production's latest start is one seek.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_production_started", ["production_id", "started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_production_started")
