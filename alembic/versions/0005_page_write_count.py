"""pages: write_count and written_at, the record of each page's committed writes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00

Page-range jobs now commit their pages as they go, and a job taken up again skips what was
committed. The count says how often a page's content was written (and is the version a
conditional write checks). Its default is 1, as a row that exists was written once at least:
existing rows take it without the table being rewritten (PostgreSQL 11+ and SQLite add such a
column in place), which an UPDATE of every page of a large archive would have done.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("write_count", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("written_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("written_at")
        batch_op.drop_column("write_count")
