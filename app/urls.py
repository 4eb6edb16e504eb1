"""Permalinks. Documents resolve by id; the slug is cosmetic and redirects when it is wrong."""

from __future__ import annotations


def document_path(document_id: int, slug: str) -> str:
    return f"/documents/{document_id}-{slug}"


def page_path(document_id: int, slug: str, number: int) -> str:
    return f"{document_path(document_id, slug)}/pages/{number}"
