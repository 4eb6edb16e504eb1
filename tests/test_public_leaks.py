"""Nothing of a finding reaches the public: every public route, the index, feeds, logs.

A production is ingested from the command line, published at once, with a failed redaction
and personal data planted in it. Before any moderator looks, every public GET route of the
app is walked (with the planted values as queries too), and the search index's records are
read back: no planted value may appear in any of them, nor in the logs. The moderators'
findings view shows them all.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from typing import Any

import PIL.Image
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.models import Role
from app.config import Settings
from app.db import session_scope
from app.findings import Finding
from app.meili import MeiliClient
from app.models import Document, Production
from bench.findings_set import PLANTED, write_planted_pdf
from tests.auth_helpers import app_routes, bearer, make_token, make_user, new_client
from tests.cli import run_cli

PRIVATE_PREFIXES = ("/moderation", "/uploads", "/accounts", "/api/productions", "/api/findings")


def _compact(value: str) -> str:
    return re.sub(r"\s+", "", value).lower()


SECRETS = {name: _compact(value) for name, value in PLANTED.items()}
# Also each word of the hidden name alone, and the SSN without its dashes.
SECRETS |= {"hidden surname": "quintanilla", "ssn digits": "536228841"}


def _leaks(body: str, query: str = "") -> list[str]:
    """The planted values in ``body``; those the visitor typed (``query``) are echoed back
    on purpose (the search box, links), so they count only if their match shows."""
    compact = _compact(body)
    typed = _compact(query)
    return [
        name
        for name, value in SECRETS.items()
        if value in compact and not (typed and (value in typed or typed in value))
    ]


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", lambda m: values[m.group(1)], path)


@pytest.fixture
def published(migrated_settings: Settings, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """The planted PDF ingested and published from the command line (no moderator yet)."""
    caplog.set_level(logging.DEBUG)
    migrated_settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = write_planted_pdf(migrated_settings.data_dir / "interview.pdf")
    result = run_cli(
        migrated_settings,
        "ingest",
        str(path),
        "--agency",
        "ICE",
        "--production",
        "Release 9",
        "--request",
        "2021-ICFO-21457",
    )
    assert result.exit_code == 0, result.output
    with session_scope(migrated_settings) as session:
        document = session.scalars(select(Document)).one()
        production = session.scalars(select(Production)).one()
        assert document.is_public
        return {
            "output": result.output,
            "ref": f"{document.id}-{document.slug}",
            "document_id": document.id,
            "production_id": production.id,
            "request_id": production.request_id,
            "agency": production.agency.slug,
        }


def test_the_command_line_summary_says_how_many_findings_wait(published: dict[str, Any]) -> None:
    assert re.search(
        r"findings: \d+ wait for review \(\d+ of high confidence\)", published["output"]
    )


def test_no_public_route_index_record_or_log_holds_a_findings_text(
    web: TestClient,
    migrated_settings: Settings,
    meili: MeiliClient,
    published: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    visitor = new_client(web)
    values = {
        "ref": published["ref"],
        "slug": published["agency"],
        "request_id": str(published["request_id"]),
        "production_id": str(published["production_id"]),
        "bates_number": "ICE-2021-000123",
        "part": "1",
        "size": "image",
        # The compare view of two versions of a page (issue 11): page 1 beside page 2.
        "left": f"{published['document_id']}-1",
        "right": f"{published['document_id']}-2",
    }
    queries = ["", *PLANTED.values(), "Quintanilla", "536228841"]
    walked = 0
    for method, path in app_routes(web.app):  # type: ignore[arg-type]
        if method != "GET" or path.startswith(PRIVATE_PREFIXES):
            continue
        for number in ("1", "2", "3") if "{number}" in path else ("1",):
            url = _fill(path, values | {"number": number})
            for q in queries if ("search" in path or "{ref}" in path) else [""]:
                params = {"q": q} if q else {}
                if path.startswith("/oembed"):
                    params = {"url": f"{migrated_settings.base_url}/documents/{published['ref']}"}
                answer = visitor.get(url, params=params)
                walked += 1
                body = answer.content.decode("latin-1")
                if answer.headers.get("content-type", "").startswith("application/zip"):
                    archive = zipfile.ZipFile(io.BytesIO(answer.content))
                    body = "".join(archive.read(n).decode("latin-1") for n in archive.namelist())
                assert _leaks(body, q) == [], (url, q, answer.status_code)
                if q and path == "/search.json":
                    assert answer.json()["documents"] == [], q  # nothing matches a secret
                if q and path == "/documents/{ref}/pages/{number}.json":
                    assert answer.json()["highlights"] == [], q
    assert walked > 60

    # The file itself is held until a moderator decides; its pages can be read.
    held = visitor.get(f"/documents/{published['ref']}/original")
    assert held.status_code == 404
    assert "held for review" in held.text
    page = visitor.get(f"/documents/{published['ref']}/pages/1.json").json()
    assert "released in full" in page["page"]["text"]
    assert "\u2588" in page["page"]["text"]  # the masked name

    # Page images show the findings painted out.
    with session_scope(migrated_settings) as session:
        ssn = session.scalars(select(Finding).where(Finding.kind == "ssn")).one()
        box = ssn.boxes[0]
    image = PIL.Image.open(
        io.BytesIO(visitor.get(f"/documents/{published['ref']}/pages/2/image.webp").content)
    ).convert("L")
    x0, y0, x1, y1 = (int(v * s) for v, s in zip(box, (*image.size, *image.size), strict=True))
    assert max(image.crop((x0 + 1, y0 + 1, x1 - 1, y1 - 1)).getdata()) < 60

    # The index's records.
    for uid in (migrated_settings.pages_index, migrated_settings.documents_index):
        records = meili.request("GET", f"/indexes/{uid}/documents?limit=1000")["results"]
        assert records
        assert _leaks(str(records)) == [], uid

    assert _leaks("\n".join(r.getMessage() for r in caplog.records)) == []

    # Moderators see every planted value, with its kind.
    make_user(migrated_settings, "mod@example.org", Role.MODERATOR)
    token = make_token(migrated_settings, "mod@example.org")
    listed = web.get("/api/findings", params={"public": "true"}, headers=bearer(token)).json()
    secrets = {f["secret"] for f in listed["findings"]}
    assert set(PLANTED.values()) <= secrets
    queue = web.get("/moderation.json", headers=bearer(token)).json()
    assert queue["public_findings"] == listed["total"]


def test_scanning_the_archive_masks_what_was_published_before_the_scan(
    web: TestClient, migrated_settings: Settings, published: dict[str, Any]
) -> None:
    # As if published before the scan existed: its findings and masks are gone.
    with session_scope(migrated_settings) as session:
        for finding in session.scalars(select(Finding)):
            session.delete(finding)
        from app.findings import ShieldedPage

        for shielded in session.scalars(select(ShieldedPage)):
            page = (
                session.scalars(select(Document).where(Document.id == shielded.document_id))
                .one()
                .pages[shielded.number - 1]
            )
            page.text, page.layer_text = shielded.text, shielded.layer_text
            session.delete(shielded)
        session.commit()
    visitor = new_client(web)
    before = visitor.get(f"/documents/{published['ref']}.txt").text
    assert "quintanilla" in _compact(before)  # what an archive before issue 12 served

    result = run_cli(migrated_settings, "findings", "scan", "--json")
    assert result.exit_code == 0, result.output
    assert '"documents_changed": 1' in result.output
    after = visitor.get(f"/documents/{published['ref']}.txt").text
    assert _leaks(after) == []
    assert visitor.get(f"/documents/{published['ref']}/original").status_code == 404
