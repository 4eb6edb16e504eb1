"""The moderation gate: findings block publication, are decided, audited and burned in."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import PIL.Image
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.models import AuditLog, Role
from app.config import Settings
from app.db import session_scope
from app.findings import Finding, RedactedVersion
from app.models import Document
from bench.findings_set import PLANTED, write_planted_pdf
from ingest.storage import original_path
from tests.auth_helpers import (
    bearer,
    create_production_api,
    login,
    make_token,
    make_user,
    new_client,
    upload_api,
    wait_processed,
)
from tests.pdfs import layer_texts

VOLUNTEER = "vol@example.org"
MODERATOR = "mod@example.org"


def _compact(value: str) -> str:
    return "".join(value.split()).lower()


def _uploaded(web: TestClient, settings: Settings, tmp_path: Path) -> tuple[int, int, str]:
    make_user(settings, VOLUNTEER)
    make_user(settings, MODERATOR, Role.MODERATOR)
    token = make_token(settings, VOLUNTEER)
    production_id = create_production_api(web, token)
    upload_api(web, token, production_id, write_planted_pdf(tmp_path / "interview.pdf"))
    (document,) = wait_processed(web, token, production_id)["documents"]
    return production_id, document["id"], make_token(settings, MODERATOR)


def _findings(web: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    answer = web.get("/api/findings", params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["findings"]
    return found


def test_findings_block_publication_until_a_moderator_decides_each(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    production_id, document_id, moderator = _uploaded(web, migrated_settings, tmp_path)
    found = _findings(web, moderator, production_id=production_id)
    kinds = {f["kind"]: f for f in found}
    assert {"text_under_box", "ssn", "phone", "email", "a_number"} <= set(kinds)
    assert kinds["text_under_box"]["secret"] == PLANTED["hidden"]
    assert kinds["text_under_box"]["page_number"] == 1
    assert kinds["ssn"]["boxes"]
    assert kinds["ssn"]["high"]

    refused = web.post(
        f"/api/productions/{production_id}/publish", headers=bearer(moderator)
    )  # no such API route: publication goes through the moderation form
    assert refused.status_code in (404, 405)
    client = new_client(web)
    csrf = login(client, MODERATOR)
    answer = client.post(
        f"/moderation/productions/{production_id}/publish",
        data={"csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 409
    assert "cannot be published" in answer.text

    page = BeautifulSoup(client.get(f"/uploads/productions/{production_id}").text, "html.parser")
    assert page.select_one("#findings-notice") is not None

    high = [f["id"] for f in found if f["high"]]
    redact = [kinds["text_under_box"]["id"], kinds["ssn"]["id"]]
    keep = [i for i in high if i not in redact]
    decided = web.post(
        "/api/findings/decisions",
        json={"finding_ids": redact, "decision": "redact"},
        headers=bearer(moderator),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["redacted_versions"]
    kept = web.post(
        "/api/findings/decisions",
        json={"finding_ids": keep, "decision": "keep"},
        headers=bearer(moderator),
    )
    assert kept.status_code == 200, kept.text
    published = client.post(
        f"/moderation/productions/{production_id}/publish",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert published.status_code == 303

    with session_scope(migrated_settings) as session:
        actions = {
            (e.action, e.target_id)
            for e in session.scalars(select(AuditLog).where(AuditLog.target_type == "finding"))
        }
        assert {("finding.redact", i) for i in redact} <= actions
        assert {("finding.keep", i) for i in keep} <= actions
        details = " ".join(str(e.detail) for e in session.scalars(select(AuditLog)))
        assert PLANTED["ssn"] not in details
        assert PLANTED["hidden"] not in details
        document = session.get(Document, document_id)
        assert document is not None
        slug, sha256 = document.slug, document.sha256
        version = session.scalars(select(RedactedVersion)).one()

    visitor = new_client(web)
    base = f"/documents/{document_id}-{slug}"
    text = visitor.get(f"{base}.txt").text
    assert _compact(PLANTED["hidden"]) not in _compact(text)
    assert _compact(PLANTED["ssn"]) not in _compact(text)
    assert "okapi" in text  # the rest of the document is public as before
    assert PLANTED["email"] not in text or kinds["email"]["id"] in keep

    download = visitor.get(f"{base}/original")
    assert download.status_code == 200
    assert download.content != original_path(migrated_settings.files_dir, sha256).read_bytes()
    public_text = _compact("\n".join(layer_texts(download.content)))
    assert _compact(PLANTED["hidden"]) not in public_text
    assert _compact(PLANTED["ssn"]) not in public_text
    assert "okapi" in public_text  # the pages that were not burned keep their text layer
    assert version.sha256 != sha256
    # The agency's original is still stored and a moderator can download it.
    private = client.get(f"/uploads/documents/{document_id}/original")
    assert private.status_code == 200
    assert private.content == original_path(migrated_settings.files_dir, sha256).read_bytes()

    search = visitor.get("/search.json", params={"q": "Quintanilla"}).json()
    assert search["documents"] == []
    assert [
        d["id"] for d in visitor.get("/search.json", params={"q": "okapi"}).json()["documents"]
    ] == [document_id]
    image = PIL.Image.open(io.BytesIO(visitor.get(f"{base}/pages/1/image.webp").content))
    x0, y0, x1, y1 = kinds["text_under_box"]["boxes"][0]
    inside = image.convert("L").crop(
        (
            int(x0 * image.width) + 2,
            int(y0 * image.height) + 2,
            int(x1 * image.width) - 2,
            int(y1 * image.height) - 2,
        )
    )
    assert max(inside.getdata()) < 60  # burned black


def test_the_findings_view_lists_filters_and_decides_in_bulk(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    production_id, document_id, _ = _uploaded(web, migrated_settings, tmp_path)
    client = new_client(web)
    csrf = login(client, MODERATOR)
    url = f"/moderation/productions/{production_id}/findings"
    page = BeautifulSoup(client.get(url).text, "html.parser")
    rows = page.select("#findings tbody tr")
    assert len(rows) >= 5
    crop = client.get(str(rows[0].select_one("img.crop")["src"]))  # type: ignore[index]
    assert crop.status_code == 200
    assert crop.headers["content-type"] == "image/png"
    assert crop.headers["cache-control"] == "no-store"
    only = BeautifulSoup(client.get(url, params={"kind": "ssn"}).text, "html.parser")
    assert [r["data-kind"] for r in only.select("#findings tbody tr")] == ["ssn"]

    ids = [int(str(r["data-finding-id"])) for r in rows]
    answer = client.post(
        "/moderation/findings/decide",
        data={"csrf_token": csrf, "decision": "keep", "finding": ids, "next": url},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    left = BeautifulSoup(client.get(url).text, "html.parser")
    assert left.select_one("#no-findings") is not None
    with session_scope(migrated_settings) as session:
        assert {f.status.value for f in session.scalars(select(Finding))} == {"kept"}
        document = session.get(Document, document_id)
        assert document is not None
        # Kept findings are shown again: the page text is the text as read.
        assert PLANTED["ssn"] in document.pages[1].text

    visitor = new_client(web)
    assert visitor.get("/moderation/findings", follow_redirects=False).status_code in (303, 401)
    assert visitor.get("/api/findings").status_code == 401


def test_a_moderator_draws_a_box_and_it_is_burned_in(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    _, document_id, moderator = _uploaded(web, migrated_settings, tmp_path)
    # The clean page: "okapi" is at x 72..~400 pt, y 92 pt from the top (792 - 700).
    box = [0.05, (792 - 712) / 792, 0.9, (792 - 694) / 792]
    answer = web.post(
        f"/api/documents/{document_id}/redactions",
        json={"page": 3, "box": box},
        headers=bearer(moderator),
    )
    assert answer.status_code == 201, answer.text
    with session_scope(migrated_settings) as session:
        finding = session.get(Finding, answer.json()["finding_id"])
        assert finding is not None
        assert finding.kind.value == "manual"
        assert "okapi" in finding.secret
        version = session.scalars(select(RedactedVersion)).one()
        assert version.pages == [3]
        document = session.get(Document, document_id)
        assert document is not None
        assert "okapi" not in document.pages[2].text
    burned = original_path(migrated_settings.files_dir, version.sha256).read_bytes()
    assert "okapi" not in "\n".join(layer_texts(burned))


def test_personal_data_on_an_ocrd_page_is_found_boxed_and_masked(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    from tests.archive_helpers import ingest_pdf
    from tests.scans import scan_pdf

    path = scan_pdf(
        tmp_path / "scan.pdf", [["DETAINEE RECORD", "SSN: 536-22-8841", "Status: released"]]
    )
    document_id = ingest_pdf(migrated_settings, path)
    with session_scope(migrated_settings) as session:
        (finding,) = session.scalars(select(Finding).where(Finding.kind == "ssn")).all()
        assert finding.source == "ocr"
        assert finding.boxes  # from the OCR word boxes
        document = session.get(Document, document_id)
        assert document is not None
        (page,) = document.pages
        assert page.text_source.value == "ocr"
        assert "536-22-8841" not in page.text
        assert "released" in page.text.lower()
        words_file = migrated_settings.files_dir / str(page.words_path)
        assert "536-22-8841" not in words_file.read_text()  # highlights cannot find it either
