"""Worker benchmark: OCR throughput with one and two Celery workers, and upload to searchable.

Everything runs as it does in the distributed mode, on this machine: real ``readingroom
worker`` processes (Celery, solo pool) over the Redis at ``--redis`` (a database of its own,
picked empty and emptied afterwards), the database queue with its leases, one Meilisearch
(managed, started here) and the web app served by ``readingroom serve``. Each worker runs one
tesseract at a time (``READINGROOM_WORKERS=1``, ``--ocr-processes``) and has a temporary
folder of its own, like a one-core machine of its own, so the workers, not the OCR pool inside
one of them, are what is scaled.

1. **Scaling.** A generated scanned PDF (``--scaling-pages`` pages of typed prose, 200 DPI,
   no text layer) is taken in and queued as one document split into page ranges of
   ``--pages-per-job``; first one worker runs the queue, then two (another copy, so nothing is
   a duplicate). Timed from the job's announcement to the document's final state, which
   includes the plan step (open, split), OCR, commits and indexing. Printed: pages per minute
   for each, and the scaling ratio (two workers / one). On 2 idle cores the ideal is 2.0.
2. **Upload to searchable.** With the app and two workers running, a moderator publishes an
   empty production (through the browser form), then a 100-page scanned PDF is uploaded to
   it through the API with a token (``POST /api/productions/{id}/files``, checksum header),
   processed with the default page ranges, and ``/search.json`` is polled inside the document
   for a word printed on every page until every page is found. Printed: seconds from the
   start of the upload to the first and to the last page findable, and pages per minute. A
   word unique to each page is then looked up in the index to count pages OCR read right.

    python -m bench workers [--quick] [--postgres URL] [--redis redis://127.0.0.1:6379]

Figures go to stdout, to ``bench/results/workers.json`` (git-ignored) and to the results
record (``bench/_results.py``), with the load average before and after each measure: another
process busy on the same cores lowers both the throughput and the ratio, so on a shared
machine run it twice.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import os
import platform
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import create_engine, select, text

from app import migrate
from app.auth.accounts import create_user
from app.auth.models import Role
from app.auth.tokens import create_token
from app.config import PROJECT_ROOT, Settings
from app.db import engine_for, session_scope
from app.meili import MeiliClient
from app.meili.managed import ManagedMeilisearch
from app.models import Document, DocumentState, Page, TextSource
from app.services.catalog import get_or_create_agency, get_or_create_production
from bench._results import Row, record
from ingest.dispatch import CeleryDispatcher
from ingest.index import ensure_indexes
from ingest.intake import intake_file
from ingest.jobs import enqueue_document, failed_jobs

RESULTS = Path(__file__).resolve().parent / "results" / "workers.json"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# Printed on every page: the search for it finds a page as soon as that page is indexed.
COMMON_WORD = "heliotrope"
STARTUP_SECONDS = 120.0
POLL_SECONDS = 0.5
# The search route allows 30 searches per 10 s from one address; polling stays well below.
SEARCH_POLL_SECONDS = 0.5

_PROSE = (
    "the agency office request records release response review determination appeal exemption "
    "withheld redacted privacy enforcement investigation program contract vendor invoice "
    "payment order agreement meeting schedule briefing memorandum report summary attached "
    "draft final policy guidance procedure training equipment system database access account "
    "camera surveillance detention facility transfer custody case file date location district "
    "field headquarters regional federal county public information email telephone message "
    "subject regarding pursuant section provided received requested approved reviewed "
    "responsive documents pages material sensitive official internal partner operation "
    "analysis retention storage security handling coordination compliance oversight audit "
    "inspection findings recommendations budget fiscal quarter month morning discussed"
)
_SYLLABLES = ("ka", "lo", "mi", "ru", "te", "vo", "zan", "bel", "dor", "fin", "gus", "hal")


@dataclass(frozen=True)
class Sizes:
    scaling_pages: int
    scaling_pages_per_job: int
    upload_pages: int
    upload_pages_per_job: int | None  # None: the settings' default (50)


FULL = Sizes(scaling_pages=40, scaling_pages_per_job=5, upload_pages=100, upload_pages_per_job=None)
QUICK = Sizes(scaling_pages=6, scaling_pages_per_job=2, upload_pages=6, upload_pages_per_job=3)


# --- scanned pages ---------------------------------------------------------------------------


def page_code(seed: int, number: int) -> str:
    """A made-up word printed on one page only, to find that page and no other."""
    rng = random.Random(seed * 100_003 + number)
    return "".join(rng.choice(_SYLLABLES) for _ in range(4)) + "x"


def generate_scan(path: Path, pages: int, *, seed: int) -> list[str]:
    """An image-only PDF of ``pages`` typed pages (200 DPI, about 200 words each, grey).

    Every page carries ``COMMON_WORD`` and a code of its own; the codes are returned in page
    order.
    """
    rng = random.Random(seed)
    words = _PROSE.split()
    font = ImageFont.truetype(str(FONT), 34) if FONT.exists() else ImageFont.load_default(size=34)
    codes = [page_code(seed, n) for n in range(1, pages + 1)]
    images = []
    for number, code in enumerate(codes, start=1):
        image = Image.new("L", (1700, 2200), 255)
        draw = ImageDraw.Draw(image)
        lines = [f"Release {seed} page {number} {COMMON_WORD} record {code}", ""]
        lines += [" ".join(rng.choice(words) for _ in range(9)).capitalize() for _ in range(22)]
        for row, line in enumerate(lines):
            draw.text((150, 150 + row * 72), line, fill=0, font=font)
        images.append(image)
    images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return codes


# --- the cluster: database, Meilisearch, Redis, workers, app ---------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pick_redis_db(redis_url: str) -> str:
    """The URL of an empty database of the Redis at ``redis_url`` (tests use others)."""
    base = redis_url.rstrip("/")
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{db}", socket_connect_timeout=3)
        try:
            if client.dbsize() == 0:
                return f"{base}/{db}"
        finally:
            client.close()
    raise RuntimeError(f"no empty database among 1..15 on {redis_url}")


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at ``url``, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    scoped = f"{url}{separator}options=-csearch_path%3D{schema}"
    try:
        yield scoped
    finally:
        engine_for(scoped).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Cluster:
    """What the workers and the app share; starts and stops their processes."""

    settings: Settings
    meili: MeiliClient
    meili_url: str
    meili_key: str
    work: Path
    ocr_processes: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # by pid

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``readingroom`` command: this cluster's settings only."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("READINGROOM_")}
        values = {
            "READINGROOM_DATA_DIR": str(self.settings.data_dir),
            "READINGROOM_DATABASE_URL": self.settings.sqlalchemy_url,
            "READINGROOM_MEILI_URL": self.meili_url,
            "READINGROOM_MEILI_KEY": self.meili_key,
            "READINGROOM_INDEX_PREFIX": self.settings.index_prefix,
            "READINGROOM_BROKER_URL": self.settings.broker_url or "",
            "READINGROOM_WORKERS": str(self.ocr_processes),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        return base | values | extra

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}-{len(self.logs)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *args],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                # A group of its own: stopping it stops its OCR processes too.
                start_new_session=True,
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def start_workers(self, count: int, **extra: str) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` workers and wait until each is ready for messages."""
        started = []
        for _ in range(count):
            # A temporary folder of its own, as on a machine of its own: OCR limits that are
            # shared through the temporary folder (one machine's cores) are not shared here.
            tmp = self.work / f"tmp-{len(self.logs)}"
            tmp.mkdir()
            started.append(self._start("worker", ["worker"], self.env(**extra, TMPDIR=str(tmp))))
        deadline = time.monotonic() + STARTUP_SECONDS
        for process in started:
            log = self.logs[process.pid]
            while not re.search(rb"@\S+ ready\.", log.read_bytes()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{_tail(log)}")
                time.sleep(0.2)
        return started

    def start_app(self, **extra: str) -> str:
        """Serve the app on a free port; its URL once ``/healthz`` answers."""
        port = _free_port()
        process = self._start(
            "app", ["serve", "--host", "127.0.0.1", "--port", str(port)], self.env(**extra)
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return url
            time.sleep(0.2)
        raise RuntimeError(f"the app did not start:\n{_tail(self.logs[process.pid])}")

    def stop(self) -> None:
        """Stop every process started, warm first, then for good."""
        chosen = list(self.processes)
        for process in chosen:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in chosen:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            self.processes.remove(process)


def _tail(log: Path, size: int = 3000) -> str:
    return log.read_bytes()[-size:].decode(errors="replace") if log.exists() else "(no log)"


# --- measures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageCheck:
    """How a document's pages ended: read by OCR, with the expected words."""

    state: str
    pages: int
    ocr_pages: int
    with_common_word: int
    reason: str | None  # why the document is not indexed, if it is not
    job_errors: list[str]  # last errors of its jobs that failed for good


def check_document(settings: Settings, document_id: int) -> PageCheck:
    """The document's final state and how many of its pages OCR read with the common word."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        if document is None:
            raise LookupError(f"document {document_id} vanished")
        pages = list(session.scalars(select(Page).where(Page.document_id == document_id)))
        return PageCheck(
            document.state.value,
            len(pages),
            sum(p.text_source is TextSource.OCR for p in pages),
            sum(COMMON_WORD in (p.text or "").lower() for p in pages),
            document.state_reason,
            [j.last_error or "" for j in failed_jobs(session, document_id)],
        )


def _complete(run: dict[str, Any], pages: int) -> bool:
    """Whether a measured document ended indexed with every one of its pages read by OCR."""
    return bool(run["state"] == DocumentState.INDEXED.value and run["ocr_pages"] == pages)


def _document_state(settings: Settings, document_id: int) -> DocumentState:
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        if document is None:
            raise LookupError(f"document {document_id} vanished")
        return document.state


def _wait_final(settings: Settings, document_id: int, timeout: float) -> float:
    """Poll until the document is in a final state; the monotonic time it was seen there."""
    deadline = time.monotonic() + timeout
    while True:
        state = _document_state(settings, document_id)
        if state.is_final:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"document {document_id} still {state.value} after {timeout:.0f} s")
        time.sleep(POLL_SECONDS / 2)


def time_queue(cluster: Cluster, pdf: Path, production: str, timeout: float) -> dict[str, Any]:
    """Take ``pdf`` in, announce its job to the running workers, and time it to its end."""
    settings = cluster.settings
    with session_scope(settings) as session:
        agency = get_or_create_agency(session, "Benchmark Agency")
        target = get_or_create_production(session, agency, production, published=True)
        document = intake_file(session, settings, pdf, target).document
        job = enqueue_document(session, document)
        session.commit()
        document_id, job_id = document.id, job.id
    load = os.getloadavg()[0]
    start = time.monotonic()
    CeleryDispatcher(settings).submit([job_id])
    end = _wait_final(settings, document_id, timeout)
    check = check_document(settings, document_id)
    seconds = end - start
    return {
        "document_id": document_id,
        "seconds": seconds,
        # Only pages OCR read count: a run that lost pages must not look faster.
        "pages_per_minute": check.ocr_pages * 60 / seconds,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        **check.__dict__,
    }


def bench_scaling(cluster: Cluster, sizes: Sizes, timeout: float) -> dict[str, Any]:
    """The same queue run by one worker, then by two; pages per minute and their ratio."""
    runs: dict[str, Any] = {}
    extra = {"READINGROOM_PAGES_PER_JOB": str(sizes.scaling_pages_per_job)}
    # Two copies of the same kind of pages, so that the second run finds no duplicate.
    pdfs = [cluster.work / f"scaling-{seed}.pdf" for seed in (1, 2)]
    for seed, pdf in enumerate(pdfs, start=1):
        generate_scan(pdf, sizes.scaling_pages, seed=seed)
    try:
        for name, pdf in zip(("one_worker", "two_workers"), pdfs, strict=True):
            # The second run adds a worker beside the first one, already warm.
            cluster.start_workers(1, **extra)
            print(f"  {name.replace('_', ' ')}, {sizes.scaling_pages} pages ...", flush=True)
            runs[name] = time_queue(cluster, pdf, f"Scaling, {name.replace('_', ' ')}", timeout)
    finally:
        cluster.stop()
    return {
        "pages": sizes.scaling_pages,
        "pages_per_job": sizes.scaling_pages_per_job,
        "ocr_processes_per_worker": cluster.ocr_processes,
        **runs,
        "scaling_ratio": runs["two_workers"]["pages_per_minute"]
        / runs["one_worker"]["pages_per_minute"],
        "complete": all(_complete(run, sizes.scaling_pages) for run in runs.values()),
    }


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    if match is None:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def publish_empty_production(url: str, email: str, password: str, token: str, title: str) -> int:
    """Create a production through the API and publish it as a moderator in the browser."""
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{url}/api/productions",
        json={"agency": "Benchmark Agency", "title": title},
        headers=headers,
        timeout=30,
    )
    created.raise_for_status()
    production_id = int(created.json()["id"])
    with httpx.Client(base_url=url, timeout=30) as browser:
        login = browser.post(
            "/accounts/login",
            data={
                "email": email,
                "password": password,
                "csrf_token": _csrf(browser.get("/accounts/login").text),
            },
        )
        if login.status_code != 303:
            raise RuntimeError(f"login failed: {login.status_code} {login.text[:300]}")
        published = browser.post(
            f"/moderation/productions/{production_id}/publish",
            data={"csrf_token": _csrf(browser.get("/accounts").text)},
        )
        if published.status_code != 303:
            raise RuntimeError(f"publish failed: {published.status_code} {published.text[:300]}")
    return production_id


def _matching_pages(client: httpx.Client, document_id: int, word: str) -> int:
    """Pages of the document that the public search finds for ``word``."""
    while True:
        answer = client.get(
            "/search.json", params={"q": word, "document": str(document_id), "per_page": "1"}
        )
        if answer.status_code == 429:  # polled faster than the limit allows: wait as told
            time.sleep(float(answer.headers.get("retry-after", "1")))
            continue
        answer.raise_for_status()
        return int(answer.json()["total_matching_pages"] or 0)


def _codes_found(cluster: Cluster, document_id: int, codes: list[str]) -> int:
    """Pages whose own code finds them first, asked of the index directly (no rate limit)."""
    found = 0
    for number, code in enumerate(codes, start=1):
        answer = cluster.meili.search(
            cluster.settings.pages_index,
            {"q": code, "filter": [f"document_id = {document_id}"], "limit": 1},
        )
        hits = answer["hits"]
        found += bool(hits) and int(str(hits[0]["id"]).rsplit("-", 1)[1]) == number
    return found


def _poll_searchable(
    client: httpx.Client, document_id: int, pages: int, deadline: float
) -> tuple[float, float]:
    """Search until every page is found: the times the first and the last page were found."""
    first: float | None = None
    while True:
        found = _matching_pages(client, document_id, COMMON_WORD)
        now = time.monotonic()
        if found and first is None:
            first = now
        if found >= pages:
            return first or now, now
        if now > deadline:
            raise TimeoutError(f"only {found} of {pages} pages were searchable in time")
        time.sleep(SEARCH_POLL_SECONDS)


def bench_upload(cluster: Cluster, sizes: Sizes, timeout: float) -> dict[str, Any]:
    """Upload a scanned production through the API and time it until every page is found."""
    extra = (
        {"READINGROOM_PAGES_PER_JOB": str(sizes.upload_pages_per_job)}
        if sizes.upload_pages_per_job
        else {}
    )
    email, password = "moderator@bench.example.org", secrets.token_urlsafe(18)
    with session_scope(cluster.settings) as session:
        user = create_user(session, email, password, role=Role.MODERATOR)
        token = create_token(session, user, "benchmark").secret
        session.commit()
    pdf = cluster.work / "upload.pdf"
    codes = generate_scan(pdf, sizes.upload_pages, seed=3)
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    started = cluster.start_workers(2, **extra)
    try:
        url = cluster.start_app(**extra)
        production_id = publish_empty_production(url, email, password, token, "Scanned release")
        print(f"  uploading {sizes.upload_pages} scanned pages ...", flush=True)
        load = os.getloadavg()[0]
        with (
            httpx.Client(base_url=url, timeout=300) as client,
            pdf.open("rb") as body,
        ):
            start = time.monotonic()
            sent = client.post(
                f"/api/productions/{production_id}/files",
                files={"file": (pdf.name, body, "application/pdf")},
                headers={"Authorization": f"Bearer {token}", "X-Content-SHA256": digest},
            )
            uploaded = time.monotonic()
            if sent.status_code != 201:
                raise RuntimeError(f"upload refused: {sent.status_code} {sent.text[:500]}")
            document_id = int(sent.json()["files"][0]["document_id"])
            first, last = _poll_searchable(client, document_id, sizes.upload_pages, start + timeout)
        load_after = os.getloadavg()[0]
        final = _wait_final(cluster.settings, document_id, timeout)
        check = check_document(cluster.settings, document_id)
        codes_found = _codes_found(cluster, document_id, codes)
    finally:
        cluster.stop()
    seconds = last - start
    return {
        "pages": sizes.upload_pages,
        "pages_per_job": sizes.upload_pages_per_job or cluster.settings.pages_per_job,
        "workers": len(started),
        "ocr_processes_per_worker": cluster.ocr_processes,
        "bytes": pdf.stat().st_size,
        "upload_seconds": uploaded - start,
        "seconds_to_first_page_searchable": first - start,
        "seconds_to_all_pages_searchable": seconds,
        "seconds_to_final_state": final - start,
        "pages_per_minute": sizes.upload_pages * 60 / seconds,
        "pages_found_by_their_own_code": codes_found,
        "complete": _complete(check.__dict__, sizes.upload_pages),
        "load_before": load,
        "load_after": load_after,
        **check.__dict__,
    }


# --- report ----------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    """The figures as lines a person reads."""
    lines = []
    if scaling := results.get("scaling"):
        one, two = scaling["one_worker"], scaling["two_workers"]
        lines.append(
            f"OCR through the job queue, {scaling['pages']} scanned pages, ranges of "
            f"{scaling['pages_per_job']}, {scaling['ocr_processes_per_worker']} OCR process "
            "per worker:"
        )
        for name, run in (("one worker ", one), ("two workers", two)):
            lines.append(
                f"  {name}  {run['pages_per_minute']:6.1f} pages/min  ({run['seconds']:.1f} s; "
                f"{run['state']}, {run['ocr_pages']} OCR pages, {run['with_common_word']} read "
                f"right; load {run['load_before']:.1f}->{run['load_after']:.1f})"
            )
            lines += _trouble(run)
        verdict = "(ideal 2.0)" if scaling["complete"] else "NOT VALID: a run lost pages"
        lines.append(f"  scaling ratio (two / one): {scaling['scaling_ratio']:.2f}x {verdict}")
    if upload := results.get("upload"):
        lines.append(
            f"Upload to searchable, {upload['pages']} scanned pages "
            f"({upload['bytes'] / 1024**2:.1f} MiB), {upload['workers']} workers, ranges of "
            f"{upload['pages_per_job']}:"
        )
        lines.append(
            f"  upload {upload['upload_seconds']:.1f} s; first page findable after "
            f"{upload['seconds_to_first_page_searchable']:.1f} s; every page after "
            f"{upload['seconds_to_all_pages_searchable']:.1f} s "
            f"({upload['pages_per_minute']:.1f} pages/min)"
        )
        lines.append(
            f"  {upload['state']}; {upload['ocr_pages']} OCR pages; "
            f"{upload['pages_found_by_their_own_code']}/{upload['pages']} found by a word of "
            f"their own; load {upload['load_before']:.1f}->{upload['load_after']:.1f}"
        )
        lines += _trouble(upload)
    return "\n".join(lines)


def rows(results: dict[str, Any]) -> list[Row]:
    """The summary rows: pages per minute with one and two workers, and upload to search."""
    out: list[Row] = []
    if scaling := results.get("scaling"):
        one, two = scaling["one_worker"], scaling["two_workers"]
        out.append(
            Row(
                f"OCR pages/min through the queue, two workers ({scaling['pages']} p)",
                two["pages_per_minute"],
                baseline=one["pages_per_minute"],
                target="scaling ideal 2.0x; every page read",
                met=scaling["complete"],
                unit="pages/min",
                baseline_name="one worker",
            )
        )
    if upload := results.get("upload"):
        out.append(
            Row(
                f"upload to every page findable, s ({upload['pages']} scanned p, "
                f"{upload['workers']} workers)",
                upload["seconds_to_all_pages_searchable"],
                target=f"first page after {upload['seconds_to_first_page_searchable']:.1f} s",
                met=upload["complete"],
                unit="s",
            )
        )
    return out


def _trouble(run: dict[str, Any]) -> list[str]:
    """Why a run's document did not end indexed, as the pipeline recorded it."""
    if run["state"] == DocumentState.INDEXED.value and not run["job_errors"]:
        return []
    errors = [f"    failed job: {error[:300]}" for error in run["job_errors"]]
    return [f"    INCOMPLETE ({run['state']}): {run['reason'] or 'no reason recorded'}", *errors]


def _all_complete(results: dict[str, Any]) -> bool:
    """Whether every measure ran and every measured document ended complete."""
    measures = [results[name] for name in ("scaling", "upload") if name in results]
    return bool(measures) and all(measure["complete"] for measure in measures)


@contextlib.contextmanager
def open_cluster(
    work: Path, database: str | None, broker_url: str, ocr_processes: int
) -> Iterator[Cluster]:
    """A fresh installation in ``work``: database migrated, Meilisearch started, indexes set."""
    settings = Settings(
        data_dir=work / "data",
        database_url=database,
        meili_url=None,
        meili_key=None,
        broker_url=broker_url,
        index_prefix="bench_workers_",
        workers=ocr_processes,
    )
    migrate.upgrade(settings)
    managed = ManagedMeilisearch(settings)
    endpoint = managed.acquire()
    client = MeiliClient(endpoint.url, endpoint.key)
    cluster = Cluster(settings, client, endpoint.url, endpoint.key, work, ocr_processes)
    try:
        ensure_indexes(client, settings)
        yield cluster
    finally:
        cluster.stop()
        client.close()
        managed.release()
        engine_for(settings.sqlalchemy_url).dispose()
        broker = redis.Redis.from_url(broker_url)
        try:
            broker.flushdb()
        finally:
            broker.close()


def main(argv: list[str] | None = None) -> int:
    """Run the worker benchmark, print its figures and write ``bench/results/workers.json``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench workers", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--quick", action="store_true", help="a few pages only (smoke run)")
    parser.add_argument(
        "--only", default="scaling,upload", help="comma-separated: scaling, upload (default both)"
    )
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379", help="Redis server (an empty db is used)"
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="run on a fresh schema of this PostgreSQL (else SQLite)"
    )
    parser.add_argument(
        "--ocr-processes", type=int, default=1, help="tesseract processes per worker"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measure")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",")}
    if unknown := only - {"scaling", "upload"}:
        parser.error(f"unknown measure(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    try:
        broker_url = pick_redis_db(args.redis)
    except (redis.RedisError, RuntimeError) as exc:
        print(f"bench workers needs a Redis server (--redis {args.redis}): {exc}", file=sys.stderr)
        return 1

    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "quick": args.quick,
        "database": "postgresql" if args.postgres else "sqlite",
    }
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-workers-")))
        database = stack.enter_context(postgres_schema(args.postgres)) if args.postgres else None
        cluster = stack.enter_context(open_cluster(work, database, broker_url, args.ocr_processes))
        try:
            if "scaling" in only:
                print("scaling: one worker, then two ...", flush=True)
                results["scaling"] = bench_scaling(cluster, sizes, args.timeout)
            if "upload" in only:
                print("upload to searchable ...", flush=True)
                results["upload"] = bench_upload(cluster, sizes, args.timeout)
        except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            logs = "\n".join(f"--- {log.name}\n{_tail(log)}" for log in work.glob("*.log"))
            print(f"bench workers failed: {exc}\n{logs}", file=sys.stderr)
            results["error"] = str(exc)
    results["seconds"] = time.perf_counter() - started
    print()
    print(report(results))
    print(f"\n{results['seconds']:.0f} s in all")
    print(f"figures written to {record('workers', rows(results), results, path=args.output)}")
    return 0 if "error" not in results and _all_complete(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
