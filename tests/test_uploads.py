"""Uploading productions through the browser form and the API, streamed, checked, processed."""

from __future__ import annotations

import asyncio
import hashlib
import io
import tracemalloc
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pikepdf
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.auth.models import AuditLog, Upload
from app.config import Settings
from app.db import session_scope
from app.errors import InvalidInputError
from app.main import create_app
from app.models import Document, Job, JobKind, Production
from app.upload_stream import FileTooLargeError, clean_filename, receive_upload
from ingest.storage import original_path
from tests.auth_helpers import (
    bearer,
    create_production_api,
    csrf_of,
    login,
    make_token,
    make_user,
    new_client,
    upload_api,
    wait_processed,
)
from tests.pdfs import make_text_pdf

VOLUNTEER = "vol@example.org"


@pytest.fixture
def volunteer_token(migrated_settings: Settings) -> str:
    make_user(migrated_settings, VOLUNTEER)
    return make_token(migrated_settings, VOLUNTEER)


def _count(settings: Settings, model: type[Document] | type[Upload]) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_browser_form_creates_a_production_and_uploads_without_javascript(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    csrf = login(web, VOLUNTEER)
    created = web.post(
        "/uploads/productions",
        data={
            "csrf_token": csrf,
            "agency": "ICE",
            "title": "Interim Release 2",
            "request_number": "2021-ICFO-21457",
            "release_date": "2021-06-01",
            "description": "Detention standards.",
            "source_url": "https://example.org/release-2",
            "ocr_languages": "eng+spa",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    page_url = created.headers["location"]
    page = BeautifulSoup(web.get(page_url).text, "html.parser")
    form = page.select_one("form#upload-form")
    assert form is not None
    assert form["enctype"] == "multipart/form-data"
    fields = [str(i.get("name")) for i in form.find_all("input")]
    # The token precedes the files: the server checks it before storing a byte.
    assert fields.index("csrf_token") < fields.index("file")

    pdf = make_text_pdf(tmp_path / "memo.pdf", ["quetzal memo page one", "page two"])
    sent = web.post(
        str(form["action"]),
        data={"csrf_token": csrf_of(str(page))},
        files={"file": ("memo.pdf", pdf.read_bytes(), "application/pdf")},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == page_url

    production_id = int(page_url.rsplit("/", 1)[1])
    token = make_token(migrated_settings, VOLUNTEER)
    done = wait_processed(web, token, production_id)
    assert done["status"] == "draft"
    assert done["request_number"] == "2021-ICFO-21457"
    assert done["ocr_languages"] == "eng+spa"
    (document,) = done["documents"]
    assert (document["state"], document["pages_done"], document["page_count"]) == ("indexed", 2, 2)
    assert document["uploaded_by"] == VOLUNTEER
    assert document["public_url"] is None  # private until a moderator publishes it

    html = BeautifulSoup(web.get(page_url).text, "html.parser")
    row = html.select_one(f"tr#document-{document['id']}")
    assert row is not None
    assert row.select_one("[data-field=state]").get_text(strip=True) == "indexed"  # type: ignore[union-attr]
    assert "2 / 2" in row.select_one("[data-field=pages]").get_text()  # type: ignore[union-attr]
    assert web.get(page_url + ".json").json()["documents"][0]["id"] == document["id"]
    original = web.get(f"/uploads/documents/{document['id']}/original")
    assert original.content == pdf.read_bytes()
    with session_scope(migrated_settings) as session:
        doc = session.get(Document, document["id"])
        assert doc is not None
        public = web.get(f"/documents/{doc.id}-{doc.slug}.json")
    assert public.status_code == 404
    assert web.get("/search.json", params={"q": "quetzal"}).json()["documents"] == []


def test_api_uploads_many_files_with_checksums(
    web: TestClient, migrated_settings: Settings, volunteer_token: str, tmp_path: Path
) -> None:
    api = new_client(web)
    production_id = create_production_api(api, volunteer_token, release_date="2021-06-01")
    first = make_text_pdf(tmp_path / "one.pdf", ["first heron"])
    second = make_text_pdf(tmp_path / "two.pdf", ["second heron", "more"])
    multipart = [
        ("sha256", (None, hashlib.sha256(first.read_bytes()).hexdigest())),
        ("file", ("one.pdf", first.read_bytes(), "application/pdf")),
        ("sha256", (None, hashlib.sha256(second.read_bytes()).hexdigest())),
        ("file", ("two.pdf", second.read_bytes(), "application/pdf")),
    ]
    answer = api.post(
        f"/api/productions/{production_id}/files", files=multipart, headers=bearer(volunteer_token)
    )
    assert answer.status_code == 201, answer.text
    files = answer.json()["files"]
    assert [(f["filename"], f["outcome"], f["checksum_verified"]) for f in files] == [
        ("one.pdf", "new", True),
        ("two.pdf", "new", True),
    ]
    done = wait_processed(api, volunteer_token, production_id)
    assert sorted((d["filename"], d["page_count"]) for d in done["documents"]) == [
        ("one.pdf", 1),
        ("two.pdf", 2),
    ]
    listed = api.get("/api/productions", headers=bearer(volunteer_token)).json()
    assert [p["id"] for p in listed] == [production_id]
    assert listed[0]["states"] == {"indexed": 2}


def test_a_zip_becomes_one_document_per_member(
    web: TestClient, volunteer_token: str, tmp_path: Path
) -> None:
    production_id = create_production_api(web, volunteer_token)
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(make_text_pdf(tmp_path / "a.pdf", ["alpha"]), "folder/a.pdf")
        z.write(make_text_pdf(tmp_path / "b.pdf", ["bravo"]), "b.pdf")
    result = upload_api(web, volunteer_token, production_id, archive)
    assert sorted(f["filename"] for f in result["files"]) == [
        "release.zip/b.pdf",
        "release.zip/folder/a.pdf",
    ]
    zip_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert {f["sha256"] for f in result["files"]} == {zip_sha}
    done = wait_processed(web, volunteer_token, production_id)
    assert [d["state"] for d in done["documents"]] == ["indexed", "indexed"]


def test_a_checksum_mismatch_keeps_nothing(
    web: TestClient, migrated_settings: Settings, volunteer_token: str, tmp_path: Path
) -> None:
    production_id = create_production_api(web, volunteer_token)
    pdf = make_text_pdf(tmp_path / "x.pdf", ["damaged on the way"])
    answer = web.post(
        f"/api/productions/{production_id}/files",
        files={"file": ("x.pdf", pdf.read_bytes(), "application/pdf")},
        headers={**bearer(volunteer_token), "X-Content-SHA256": "0" * 64},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "checksum_mismatch"
    assert _count(migrated_settings, Document) == 0
    assert _count(migrated_settings, Upload) == 0
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert not original_path(migrated_settings.files_dir, digest).exists()
    assert list((migrated_settings.files_dir / "tmp").iterdir()) == []

    # A sha256 field that no file follows is refused too, as is one that is not a sha256.
    dangling = web.post(
        f"/api/productions/{production_id}/files",
        files=[
            ("file", ("x.pdf", pdf.read_bytes(), "application/pdf")),
            ("sha256", (None, digest)),
        ],
        headers=bearer(volunteer_token),
    )
    assert dangling.status_code == 400
    malformed = web.post(
        f"/api/productions/{production_id}/files",
        files={"file": ("x.pdf", pdf.read_bytes(), "application/pdf")},
        headers={**bearer(volunteer_token), "X-Content-SHA256": "abc"},
    )
    assert malformed.status_code == 400
    assert _count(migrated_settings, Document) == 0


def test_a_file_over_the_limit_is_refused_with_413(
    migrated_settings: Settings, volunteer_token: str, tmp_path: Path
) -> None:
    small = migrated_settings.model_copy(update={"max_upload_bytes": 4096})
    with TestClient(create_app(small)) as client:
        production_id = create_production_api(client, volunteer_token)
        answer = client.post(
            f"/api/productions/{production_id}/files",
            files={"file": ("big.pdf", b"%PDF-1.4\n" + b"x" * 10_000, "application/pdf")},
            headers=bearer(volunteer_token),
        )
    assert answer.status_code == 413
    assert "larger than the limit of 4 KiB" in answer.json()["error"]["message"]
    assert _count(migrated_settings, Document) == 0
    assert list((migrated_settings.files_dir / "tmp").iterdir()) == []


async def _chunks(total: int, boundary: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"'
    yield b"\r\nContent-Type: application/octet-stream\r\n\r\n"
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < total:
        yield block
        sent += len(block)
    yield b"\r\n--" + boundary + b"--\r\n"


def test_large_uploads_stream_to_disk_in_bounded_memory(tmp_path: Path) -> None:
    total = 48 * 1024 * 1024
    boundary = b"testboundary123"

    async def receive() -> int:
        tracemalloc.start()
        try:
            result = await receive_upload(
                _chunks(total, boundary),
                f"multipart/form-data; boundary={boundary.decode()}",
                tmp_path / "files",
                max_file_bytes=total,
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        (received,) = result.files
        assert received.stored.size == total
        assert received.stored.path.stat().st_size == total
        return peak

    peak = asyncio.run(receive())
    # The pipe holds at most a few MiB between the request and the disk.
    assert peak < 12 * 1024 * 1024, f"peak memory {peak} bytes"

    async def too_big() -> None:
        await receive_upload(
            _chunks(total, boundary),
            f"multipart/form-data; boundary={boundary.decode()}",
            tmp_path / "files",
            max_file_bytes=1024 * 1024,
        )

    with pytest.raises(FileTooLargeError):
        asyncio.run(too_big())
    assert list((tmp_path / "files" / "tmp").iterdir()) == []


def test_a_truncated_upload_keeps_nothing(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.pdf"\r\n\r\n'
        yield b"%PDF-1.4 and then the connection dropped"

    async def receive() -> None:
        await receive_upload(
            body(), "multipart/form-data; boundary=b", tmp_path / "files", max_file_bytes=10**6
        )

    with pytest.raises(InvalidInputError):
        asyncio.run(receive())
    assert list((tmp_path / "files" / "tmp").iterdir()) == []
    assert not (tmp_path / "files" / "originals").exists()


def test_sent_file_names_are_cleaned() -> None:
    assert clean_filename("C:\\Users\\me\\memo.pdf") == "memo.pdf"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("a\x00b\nc.pdf") == "abc.pdf"
    assert clean_filename("..") == "upload"
    long = clean_filename("x" * 400 + ".pdf")
    assert len(long) == 255
    assert long.endswith(".pdf")


def test_the_same_file_again_is_linked_not_processed_twice(
    web: TestClient, migrated_settings: Settings, volunteer_token: str, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "same.pdf", ["twice released"])
    first = create_production_api(web, volunteer_token, title="Release A")
    upload_api(web, volunteer_token, first, pdf)
    wait_processed(web, volunteer_token, first)
    second = create_production_api(web, volunteer_token, title="Release B")
    result = upload_api(web, volunteer_token, second, pdf)
    assert result["files"][0]["outcome"] == "duplicate"
    assert _count(migrated_settings, Document) == 1
    with session_scope(migrated_settings) as session:
        # One document read once, and compared with the archive once (issue 11).
        kinds = session.scalars(select(Job.kind).order_by(Job.id)).all()
        assert kinds == [JobKind.PLAN, JobKind.VERSIONS]
        production = session.get(Production, second)
        assert production is not None
        assert [d.original_filename for d in production.documents] == ["same.pdf"]


def test_a_title_already_used_by_the_agency_is_a_conflict(
    web: TestClient, volunteer_token: str
) -> None:
    create_production_api(web, volunteer_token, title="Release 1")
    again = web.post(
        "/api/productions",
        json={"agency": "ice", "title": "Release 1"},
        headers=bearer(volunteer_token),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    bad = web.post(
        "/api/productions",
        json={"agency": "ICE", "title": "Other", "ocr_languages": "fra"},
        headers=bearer(volunteer_token),
    )
    assert bad.status_code == 400


def test_a_volunteer_sees_only_their_own_productions(
    web: TestClient, migrated_settings: Settings, volunteer_token: str, tmp_path: Path
) -> None:
    production_id = create_production_api(web, volunteer_token)
    make_user(migrated_settings, "other@example.org")
    other = make_token(migrated_settings, "other@example.org")
    assert web.get(f"/api/productions/{production_id}", headers=bearer(other)).status_code == 403
    assert web.get("/api/productions", headers=bearer(other)).json() == []
    pdf = make_text_pdf(tmp_path / "x.pdf", ["x"])
    refused = web.post(
        f"/api/productions/{production_id}/files",
        files={"file": ("x.pdf", pdf.read_bytes(), "application/pdf")},
        headers=bearer(other),
    )
    assert refused.status_code == 403
    assert _count(migrated_settings, Document) == 0


def _encrypted_pdf(path: Path, source: Path) -> Path:
    with pikepdf.open(source) as pdf:
        pdf.save(path, encryption=pikepdf.Encryption(owner="owner-pw", user="user-pw"))
    return path


def test_a_retry_queues_a_failed_document_again(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    make_user(migrated_settings, VOLUNTEER)
    token = make_token(migrated_settings, VOLUNTEER)
    csrf = login(web, VOLUNTEER)
    production_id = create_production_api(web, token)
    locked = _encrypted_pdf(tmp_path / "locked.pdf", make_text_pdf(tmp_path / "l.pdf", ["x"]))
    upload_api(web, token, production_id, locked)
    (document,) = wait_processed(web, token, production_id)["documents"]
    assert document["state"] == "encrypted"
    assert document["reason"]
    assert document["can_retry"]

    page = BeautifulSoup(web.get(f"/uploads/productions/{production_id}").text, "html.parser")
    retry_form = page.select_one(f"tr#document-{document['id']} form[action$='/retry']")
    assert retry_form is not None
    answer = web.post(str(retry_form["action"]), data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    with session_scope(migrated_settings) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2
        assert "document.retry" in session.scalars(select(AuditLog.action)).all()
    wait_processed(web, token, production_id)

    nothing_to_do = make_text_pdf(tmp_path / "fine.pdf", ["fine"])
    fine_id = upload_api(web, token, production_id, nothing_to_do)["files"][0]["document_id"]
    wait_processed(web, token, production_id)
    refused = web.post(
        f"/api/productions/{production_id}/documents/{fine_id}/retry", headers=bearer(token)
    )
    assert refused.status_code == 400


def test_the_upload_api_is_described_in_openapi(web: TestClient) -> None:
    spec = web.get("/api/openapi.json").json()
    paths = spec["paths"]
    assert {"post", "get"} <= set(paths["/api/productions"])
    assert "get" in paths["/api/productions/{production_id}"]
    upload = paths["/api/productions/{production_id}/files"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"413", "400", "201"} <= set(upload["responses"])
    assert upload["security"] == [{"ApiToken": []}]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ApiToken"]["description"],
    }
    detail = spec["components"]["schemas"]["ProductionDetail"]["properties"]
    assert {"documents", "states", "status"} <= set(detail)


def test_the_upload_stream_reads_only_multipart(web: TestClient, volunteer_token: str) -> None:
    production_id = create_production_api(web, volunteer_token)
    answer = web.post(
        f"/api/productions/{production_id}/files",
        content=io.BytesIO(b"%PDF-1.4").read(),
        headers={**bearer(volunteer_token), "Content-Type": "application/pdf"},
    )
    assert answer.status_code == 400
    empty = web.post(
        f"/api/productions/{production_id}/files",
        files=[("note", (None, "no files here"))],
        headers=bearer(volunteer_token),
    )
    assert empty.status_code == 400
    assert "at least one file" in empty.json()["error"]["message"]
