"""page versions: fingerprints, LSH bands, matches, document versions, and the group lock

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00

Issue 11: the versions of each page across releases (ingest/versions/). Everything here is
derived from the pages and can be dropped and rebuilt (``readingroom versions rebuild``).
The single row of ``versions_lock`` serialises the group step of the ``versions`` jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINGERPRINT_STATUSES = ("compared", "short", "withheld", "boilerplate")
DOCUMENT_RELATIONS = ("same", "a_in_b", "b_in_a", "shares")


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "page_fingerprints",
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("method_version", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("words", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*FINGERPRINT_STATUSES, name="fingerprint_status", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("compared", sa.Boolean(), nullable=False),
        sa.Column("exemptions", sa.JSON(), nullable=False),
        sa.Column("withheld_pages", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        _fk("page_fingerprints", "document_id", "documents"),
        _fk("page_fingerprints", "page_id", "pages"),
        sa.PrimaryKeyConstraint("page_id", name=op.f("pk_page_fingerprints")),
    )
    with op.batch_alter_table("page_fingerprints", schema=None) as batch_op:
        batch_op.create_index("ix_page_fingerprints_document", ["document_id"])
        batch_op.create_index("ix_page_fingerprints_group", ["group_id"])

    op.create_table(
        "page_bands",
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        _fk("page_bands", "page_id", "pages"),
        sa.PrimaryKeyConstraint("page_id", "band", name=op.f("pk_page_bands")),
    )
    with op.batch_alter_table("page_bands", schema=None) as batch_op:
        batch_op.create_index("ix_page_bands_key", ["key"])

    op.create_table(
        "page_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_a_id", sa.Integer(), nullable=False),
        sa.Column("page_b_id", sa.Integer(), nullable=False),
        sa.Column("document_a_id", sa.Integer(), nullable=False),
        sa.Column("document_b_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("only_a", sa.Integer(), nullable=False),
        sa.Column("only_b", sa.Integer(), nullable=False),
        sa.Column("ocr_words", sa.Integer(), nullable=False),
        sa.Column("method_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("page_matches", "document_a_id", "documents"),
        _fk("page_matches", "document_b_id", "documents"),
        _fk("page_matches", "page_a_id", "pages"),
        _fk("page_matches", "page_b_id", "pages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_matches")),
        sa.UniqueConstraint("page_a_id", "page_b_id", name="uq_page_matches_pages"),
    )
    with op.batch_alter_table("page_matches", schema=None) as batch_op:
        batch_op.create_index("ix_page_matches_page_b", ["page_b_id"])
        batch_op.create_index("ix_page_matches_documents", ["document_a_id", "document_b_id"])
        batch_op.create_index("ix_page_matches_document_b", ["document_b_id"])

    op.create_table(
        "document_versions",
        sa.Column("document_a_id", sa.Integer(), nullable=False),
        sa.Column("document_b_id", sa.Integer(), nullable=False),
        sa.Column(
            "relation",
            sa.Enum(*DOCUMENT_RELATIONS, name="document_relation", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("shared_pages", sa.Integer(), nullable=False),
        sa.Column("ordered_pages", sa.Integer(), nullable=False),
        sa.Column("pages_a", sa.Integer(), nullable=False),
        sa.Column("pages_b", sa.Integer(), nullable=False),
        sa.Column("method_version", sa.Integer(), nullable=False),
        _fk("document_versions", "document_a_id", "documents"),
        _fk("document_versions", "document_b_id", "documents"),
        sa.PrimaryKeyConstraint(
            "document_a_id", "document_b_id", name=op.f("pk_document_versions")
        ),
    )
    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.create_index("ix_document_versions_document_b", ["document_b_id"])

    lock = op.create_table(
        "versions_lock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_versions_lock")),
    )
    op.bulk_insert(lock, [{"id": 1, "runs": 0}])


def downgrade() -> None:
    op.drop_table("versions_lock")
    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_document_versions_document_b")
    op.drop_table("document_versions")
    with op.batch_alter_table("page_matches", schema=None) as batch_op:
        batch_op.drop_index("ix_page_matches_document_b")
        batch_op.drop_index("ix_page_matches_documents")
        batch_op.drop_index("ix_page_matches_page_b")
    op.drop_table("page_matches")
    with op.batch_alter_table("page_bands", schema=None) as batch_op:
        batch_op.drop_index("ix_page_bands_key")
    op.drop_table("page_bands")
    with op.batch_alter_table("page_fingerprints", schema=None) as batch_op:
        batch_op.drop_index("ix_page_fingerprints_group")
        batch_op.drop_index("ix_page_fingerprints_document")
    op.drop_table("page_fingerprints")
