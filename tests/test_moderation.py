"""Moderation: private until published, metadata edits, duplicates, takedowns, the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.models import AuditLog, Role
from app.config import Settings
from app.db import session_scope
from app.models import Document
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
from tests.pdfs import make_text_pdf

VOLUNTEER = "vol@example.org"
MODERATOR = "mod@example.org"


def _search_ids(client: TestClient, q: str) -> list[int]:
    return [d["id"] for d in client.get("/search.json", params={"q": q}).json()["documents"]]


def _public_url(settings: Settings, document_id: int) -> str:
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        return f"/documents/{document.id}-{document.slug}"


def _uploaded(
    web: TestClient, settings: Settings, tmp_path: Path, *texts: str, title: str = "Release 1"
) -> tuple[int, list[dict[str, Any]], str]:
    """A volunteer's processed draft production: its id, documents and the volunteer's token."""
    token = make_token(settings, VOLUNTEER)
    production_id = create_production_api(web, token, title=title)
    paths = [make_text_pdf(tmp_path / f"{title}-{i}.pdf", [t]) for i, t in enumerate(texts)]
    upload_api(web, token, production_id, *paths)
    return production_id, wait_processed(web, token, production_id)["documents"], token


def test_uploads_stay_private_until_a_moderator_publishes(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    make_user(migrated_settings, MODERATOR, Role.MODERATOR)
    production_id, (document,), _ = _uploaded(web, migrated_settings, tmp_path, "okapi report")
    url = _public_url(migrated_settings, document["id"])
    visitor = new_client(web)
    assert visitor.get(url).status_code == 404
    assert visitor.get(f"/productions/{production_id}").status_code == 404
    assert _search_ids(visitor, "okapi") == []

    volunteer = new_client(web)
    csrf = login(volunteer, VOLUNTEER)
    page = BeautifulSoup(volunteer.get(f"/uploads/productions/{production_id}").text, "html.parser")
    assert page.select_one("#publish") is None  # not offered to an untrusted volunteer
    refused = volunteer.post(
        f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf}
    )
    assert refused.status_code == 403

    moderator = new_client(web)
    csrf = login(moderator, MODERATOR)
    queue = moderator.get("/moderation.json").json()
    assert [d["id"] for d in queue["drafts"]] == [production_id]
    page = BeautifulSoup(moderator.get(f"/uploads/productions/{production_id}").text, "html.parser")
    publish = page.select_one("#publish")
    assert publish is not None
    form = publish.find_parent("form")
    assert form is not None
    answer = moderator.post(
        str(form["action"]),
        data={"csrf_token": csrf, "next": f"/uploads/productions/{production_id}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert visitor.get(url).status_code == 200
    assert visitor.get(f"/productions/{production_id}").status_code == 200
    assert _search_ids(visitor, "okapi") == [document["id"]]
    assert moderator.get("/moderation.json").json()["drafts"] == []
    again = moderator.post(
        f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf}
    )
    assert again.status_code == 400


def test_a_trusted_volunteer_publishes_their_own_productions_only(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER, trusted=True)
    make_user(migrated_settings, "other@example.org", trusted=True)
    production_id, (document,), token = _uploaded(web, migrated_settings, tmp_path, "tapir")
    other = make_token(migrated_settings, "other@example.org")
    other_id = create_production_api(web, other, title="Someone else's")

    volunteer = new_client(web)
    csrf = login(volunteer, VOLUNTEER)
    refused = volunteer.post(
        f"/moderation/productions/{other_id}/publish", data={"csrf_token": csrf}
    )
    assert refused.status_code == 403
    answer = volunteer.post(
        f"/moderation/productions/{production_id}/publish",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert web.get(_public_url(migrated_settings, document["id"])).status_code == 200
    state = web.get(f"/api/productions/{production_id}", headers=bearer(token)).json()
    assert state["status"] == "published"
    assert state["documents"][0]["public_url"] == _public_url(migrated_settings, document["id"])


def test_new_files_for_a_published_production_need_someone_who_may_publish(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    make_user(migrated_settings, MODERATOR, Role.MODERATOR)
    production_id, _, token = _uploaded(web, migrated_settings, tmp_path, "first")
    moderator = new_client(web)
    csrf = login(moderator, MODERATOR)
    moderator.post(f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf})
    late = make_text_pdf(tmp_path / "late.pdf", ["late"])
    answer = web.post(
        f"/api/productions/{production_id}/files",
        files={"file": ("late.pdf", late.read_bytes(), "application/pdf")},
        headers=bearer(token),
    )
    assert answer.status_code == 403
    assert "already published" in answer.json()["error"]["message"]


def test_taking_a_document_down_answers_410_with_the_reason(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    make_user(migrated_settings, MODERATOR, Role.MODERATOR)
    production_id, (document,), _ = _uploaded(web, migrated_settings, tmp_path, "gazelle memo")
    moderator = new_client(web)
    csrf = login(moderator, MODERATOR)
    moderator.post(f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf})
    url = _public_url(migrated_settings, document["id"])
    assert _search_ids(web, "gazelle") == [document["id"]]

    too_short = moderator.post(
        f"/moderation/documents/{document['id']}/take-down",
        data={"csrf_token": csrf, "reason": "no"},
    )
    assert too_short.status_code == 400
    reason = "Contains a home address released by mistake"
    answer = moderator.post(
        f"/moderation/documents/{document['id']}/take-down",
        data={
            "csrf_token": csrf,
            "reason": reason,
            "next": f"/uploads/productions/{production_id}",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/uploads/productions/{production_id}"
    gone = web.get(url + ".json")
    assert gone.status_code == 410
    assert reason in gone.json()["error"]["message"]
    html = web.get(url)
    assert html.status_code == 410
    assert reason in BeautifulSoup(html.text, "html.parser").get_text()
    assert _search_ids(web, "gazelle") == []
    with session_scope(migrated_settings) as session:
        stored = session.get(Document, document["id"])
        assert stored is not None
        assert original_path(migrated_settings.files_dir, stored.sha256).exists()

    restored = moderator.post(
        f"/moderation/documents/{document['id']}/restore",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert restored.status_code == 303
    assert web.get(url).status_code == 200
    assert _search_ids(web, "gazelle") == [document["id"]]


def test_moderators_correct_metadata_and_the_index_follows(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    make_user(migrated_settings, MODERATOR, Role.MODERATOR)
    production_id, (document,), token = _uploaded(web, migrated_settings, tmp_path, "ibis")
    moderator = new_client(web)
    csrf = login(moderator, MODERATOR)
    moderator.post(f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf})
    old_url = _public_url(migrated_settings, document["id"])

    answer = moderator.post(
        f"/moderation/documents/{document['id']}/edit",
        data={
            "csrf_token": csrf,
            "title": "Memo on the Ibis Program",
            "document_date": "2019-03-09",
            "document_type": "memo",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    new_url = _public_url(migrated_settings, document["id"])
    assert new_url.endswith("-memo-on-the-ibis-program")
    assert web.get(old_url, follow_redirects=False).headers["location"] == new_url
    shown = web.get(new_url + ".json").json()
    assert shown["document"]["title"] == "Memo on the Ibis Program"
    assert shown["document"]["document_type"] == "memo"
    hits = web.get("/search.json", params={"q": "ibis"}).json()["documents"]
    assert hits[0]["title"] == "Memo on the Ibis Program"

    bad = moderator.post(
        f"/moderation/documents/{document['id']}/edit",
        data={"csrf_token": csrf, "document_type": "novel"},
    )
    assert bad.status_code == 400
    edited = moderator.post(
        f"/moderation/productions/{production_id}/edit",
        data={"csrf_token": csrf, "title": "Interim Release 9", "release_date": "2021-07-01"},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    state = web.get(f"/api/productions/{production_id}", headers=bearer(token)).json()
    assert (state["title"], state["release_date"]) == ("Interim Release 9", "2021-07-01")


def test_removing_a_duplicate_unlinks_it_from_the_production(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    make_user(migrated_settings, MODERATOR, Role.MODERATOR)
    production_id, documents, token = _uploaded(
        web, migrated_settings, tmp_path, "keep me", "a stray file"
    )
    stray = next(d for d in documents if d["filename"].endswith("-1.pdf"))
    moderator = new_client(web)
    csrf = login(moderator, MODERATOR)
    answer = moderator.post(
        f"/moderation/productions/{production_id}/documents/{stray['id']}/unlink",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    state = web.get(f"/api/productions/{production_id}", headers=bearer(token)).json()
    assert [d["id"] for d in state["documents"]] == [d["id"] for d in documents if d != stray]
    moderator.post(f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf})
    assert web.get(_public_url(migrated_settings, stray["id"])).status_code == 404
    assert _search_ids(web, "stray") == []
    with session_scope(migrated_settings) as session:
        assert session.get(Document, stray["id"]) is not None  # kept, just not in the release


def test_the_audit_log_records_who_did_what_for_moderators(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    make_user(migrated_settings, MODERATOR, Role.MODERATOR)
    production_id, (document,), _ = _uploaded(web, migrated_settings, tmp_path, "audit me")
    moderator = new_client(web)
    csrf = login(moderator, MODERATOR)
    moderator.post(f"/moderation/productions/{production_id}/publish", data={"csrf_token": csrf})
    moderator.post(
        f"/moderation/documents/{document['id']}/take-down",
        data={"csrf_token": csrf, "reason": "privacy of a witness"},
    )

    log = moderator.get("/moderation/audit.json").json()
    entries = [(e["actor"], e["action"], e["target_type"], e["target_id"]) for e in log["entries"]]
    assert entries == [
        (MODERATOR, "document.take_down", "document", document["id"]),
        (MODERATOR, "production.publish", "production", production_id),
        (VOLUNTEER, "production.upload", "production", production_id),
        (VOLUNTEER, "production.create", "production", production_id),
    ]
    assert log["entries"][0]["detail"] == {"reason": "privacy of a witness"}
    narrowed = moderator.get(
        "/moderation/audit.json",
        params={"target_type": "document", "target_id": document["id"]},
    ).json()
    assert [e["action"] for e in narrowed["entries"]] == ["document.take_down"]
    html = BeautifulSoup(moderator.get("/moderation/audit").text, "html.parser")
    rows = html.select("table.audit tbody tr")
    assert len(rows) == 4
    assert "document.take_down" in rows[0].get_text()

    volunteer = new_client(web)
    login(volunteer, VOLUNTEER)
    assert volunteer.get("/moderation/audit.json").status_code == 403
    assert volunteer.get("/moderation/audit").status_code == 403
    with session_scope(migrated_settings) as session:
        assert len(session.scalars(select(AuditLog)).all()) == 4
