"""Faults injected into real components during real work, and what is left afterwards.

- Meilisearch is killed (SIGKILL) in the middle of an ingest: pages read after the kill wait
  as ``pending_index``; ``readingroom check --repair`` restarts the managed instance and
  leaves nothing missing.
- PostgreSQL terminates the ingest's sessions (``pg_terminate_backend``) while its jobs run:
  the failed jobs are retried and every page ends indexed. The same between two jobs, while
  the next one is claimed: the ingest waits for the database and goes on.
- A private PostgreSQL server (Debian's binaries, run as ``postgres`` on a free port) is
  stopped and started during an ingest: the cut job runs again and every page ends indexed.
- The disk fills up during an upload: a 507 with a readable reason, no row, no original, no
  temporary file left behind.

Each test prints its figures (pages, seconds to recover); ``pytest -s`` shows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from app import migrate
from app.auth.models import Upload
from app.config import Settings
from app.db import engine_for, session_scope
from app.main import create_app
from app.meili import MeiliClient, MeiliError
from app.meili.managed import ManagedMeilisearch
from app.models import Document, Job, Page
from ingest.run import FileOutcome, IngestTarget, ingest_paths
from tests.auth_helpers import bearer, create_production_api, make_token, make_user
from tests.cli import run_cli
from tests.conftest import POSTGRES_URL, on_postgresql, require
from tests.pdfs import make_text_pdf
from tests.test_check import page_text

pytestmark = pytest.mark.reliability

# One word of its own per document, so a search can tell them apart.
WORDS = ("alder", "birch", "cedar", "dogwood", "elm", "fir", "ginkgo", "hazel")
DOCUMENTS = len(WORDS)
PAGES_PER_DOCUMENT = 3
TARGET = IngestTarget(agency="ICE", production="Release under fire")


def _production(tmp_path: Path) -> list[Path]:
    """Born-digital documents (no OCR: the faults, not tesseract, should take the time)."""
    folder = tmp_path / "release"
    folder.mkdir()
    return [
        make_text_pdf(
            folder / f"doc{n:02d}.pdf",
            [page_text(word, p) for p in range(1, PAGES_PER_DOCUMENT + 1)],
        )
        for n, word in enumerate(WORDS)
    ]


class _AtPage:
    """A progress callback that runs ``action`` once when the n-th page has been read."""

    def __init__(self, *actions: tuple[int, Any]) -> None:
        self.read = 0
        self.actions = dict(actions)
        self.fired: list[tuple[int, float]] = []

    def __call__(self, event: str, n: int) -> None:
        if event != "page_read":
            return
        self.read += n
        action = self.actions.pop(self.read, None)
        if action is not None:
            action()
            self.fired.append((self.read, time.monotonic()))


def _page_states(settings: Settings) -> dict[str, int]:
    with session_scope(settings) as session:
        rows = session.execute(select(Page.state, func.count()).group_by(Page.state)).all()
        return {state.value: count for state, count in rows}


def _check_json(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(settings, "check", "--json", *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


# --- Meilisearch killed -------------------------------------------------------------------------


@pytest.fixture
def managed_settings(
    tmp_path: Path, database_url: str | None
) -> Iterator[tuple[Settings, ManagedMeilisearch]]:
    """An installation with its own managed Meilisearch (the shared one must not be killed),
    on each database.

    The test holds a lease on the instance for its whole length, as a running ``serve``
    would, so a crashed instance is restarted rather than started afresh.
    """
    settings = Settings(
        data_dir=tmp_path / "var",
        index_prefix=f"t{uuid.uuid4().hex[:8]}_",
        workers=1,
        database_url=database_url,
    )
    migrate.upgrade(settings)
    managed = ManagedMeilisearch(settings)
    managed.acquire()
    try:
        yield settings, managed
    finally:
        managed.release()


def _meili_pid(settings: Settings) -> int:
    state = json.loads((settings.meili_dir / "instance.json").read_text())
    return int(state["pid"])


def test_meilisearch_killed_during_ingest_loses_no_page(
    managed_settings: tuple[Settings, ManagedMeilisearch], tmp_path: Path
) -> None:
    settings, managed = managed_settings
    total = DOCUMENTS * PAGES_PER_DOCUMENT
    killed_pid = _meili_pid(settings)

    running = managed.running_endpoint()
    assert running is not None
    url, key = running.url, running.key
    indexed_before_kill: list[int] = []

    def kill() -> None:
        # The index is fed as documents finish (maybe by another thread): wait until some
        # pages are in, so that the kill lands between indexed and not yet indexed work.
        client = MeiliClient(url, key)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(MeiliError):
                    if client.count_documents(settings.pages_index):
                        break
                time.sleep(0.05)
            indexed_before_kill.append(client.count_documents(settings.pages_index))
        finally:
            client.close()
        os.kill(killed_pid, signal.SIGKILL)

    # Killed once a third of the pages have been read: the rest are read while it is gone.
    at_page = _AtPage((total // 3, kill))
    outcomes = ingest_paths(settings, _production(tmp_path), TARGET, progress=at_page)
    assert at_page.fired, "the kill did not happen during the ingest"
    assert managed.running_endpoint() is None  # it stayed down until someone restarted it

    # Every document reached its final state, and no page was lost: what could not be
    # indexed waits as pending_index.
    assert [o.state for o in outcomes] == ["indexed"] * DOCUMENTS
    states = _page_states(settings)
    assert sum(states.values()) == total
    assert set(states) <= {"indexed", "pending_index"}
    pending = states.get("pending_index", 0)
    assert indexed_before_kill[0] > 0
    # Pessimistic: a document whose indexing was cut off is pending even if Meilisearch had
    # already taken some of its records.
    assert pending > 0, states

    code, found = _check_json(settings)  # this restarts the managed instance (acquire)
    assert code == 1
    assert found["result"]["pending_index"] == pending
    pages = found["result"]["pages"]
    assert pages["missing"] > 0
    assert pages["missing"] + pages["indexed"] == total

    started = time.monotonic()
    code, repaired = _check_json(settings, "--repair")
    recovered_in = time.monotonic() - started
    assert code == 0, repaired
    assert repaired["repaired"]["pages_indexed"] >= pending
    assert repaired["result"]["pages"]["indexed"] == total
    code, final = _check_json(settings)
    assert code == 0, final
    assert _page_states(settings) == {"indexed": total}

    endpoint = managed.running_endpoint()
    assert endpoint is not None
    assert _meili_pid(settings) != killed_pid
    client = MeiliClient(endpoint.url, endpoint.key)
    try:
        assert client.count_documents(settings.pages_index) == total
        # A page read after the kill is found by its words.
        hits = client.search(settings.pages_index, {"q": WORDS[-1], "filter": "published = true"})
        assert len(hits["hits"]) == PAGES_PER_DOCUMENT
    finally:
        client.close()
    print(
        f"\nmeili-kill: {total} pages, {indexed_before_kill[0]} indexed before the kill, "
        f"{pending} pending_index after it, "
        f"check --repair (restart included) {recovered_in:.2f}s, 0 missing after"
    )


# --- PostgreSQL sessions terminated -------------------------------------------------------------


def _terminate(admin_url: str, application_name: str) -> int:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": application_name},
            ).scalar()
            return int(killed or 0)
    finally:
        admin.dispose()


def _named_sessions(settings: Settings) -> tuple[Settings, str, str]:
    """Settings whose database sessions carry a name of their own, so that only they are
    terminated (the server is shared with other tests); migrated. Also the URL and name."""
    assert settings.database_url is not None
    name = f"rr_fault_{uuid.uuid4().hex[:8]}"
    url = (
        make_url(settings.database_url)
        .update_query_dict({"application_name": name})
        .render_as_string(hide_password=False)
    )
    configured = settings.model_copy(update={"database_url": url, "workers": 1})
    migrate.upgrade(configured)
    return configured, url, name


@on_postgresql
def test_postgres_sessions_terminated_during_ingest_are_retried(
    settings: Settings, tmp_path: Path
) -> None:
    configured, url, name = _named_sessions(settings)
    total = DOCUMENTS * PAGES_PER_DOCUMENT
    terminated: list[int] = []

    def terminate() -> None:
        terminated.append(_terminate(POSTGRES_URL or "", name))

    # Twice: in the middle of the second document and of the sixth.
    at_page = _AtPage((4, terminate), (16, terminate))
    started = time.monotonic()
    try:
        outcomes: list[FileOutcome] = ingest_paths(
            configured, _production(tmp_path), TARGET, progress=at_page
        )
        elapsed = time.monotonic() - started
        assert len(at_page.fired) == 2
        assert all(n >= 1 for n in terminated), terminated
        assert [o.state for o in outcomes] == ["indexed"] * DOCUMENTS
        assert _page_states(configured) == {"indexed": total}
        with session_scope(configured) as session:
            retried = session.scalars(select(Job).where(Job.attempts > 1)).all()
            assert len(retried) >= 2
            assert all(j.state.value == "done" for j in retried)
            reasons = " ".join(j.last_error or "" for j in retried).lower()
            assert "terminat" in reasons or "closed" in reasons, reasons
            documents = session.scalar(select(func.count()).select_from(Document))
            assert documents == DOCUMENTS
        code, found = _check_json(configured, "--no-hash")
        assert code == 0, found
        assert found["result"]["pages"]["indexed"] == total
    finally:
        engine_for(url).dispose()
    print(
        f"\npg-terminate: {total} pages, sessions terminated {terminated}, "
        f"{len(retried)} jobs retried, ingest finished in {elapsed:.1f}s, all indexed"
    )


@on_postgresql
def test_postgres_session_terminated_while_claiming_a_job_is_survived(
    settings: Settings, tmp_path: Path
) -> None:
    configured, url, name = _named_sessions(settings)
    claims: list[int] = []

    def before_execute(*args: Any) -> None:
        statement = str(args[2])
        # The fair-claim query; the third claim comes between two jobs, inside none.
        if "max(jobs.started_at)" in statement:
            claims.append(1)
            if len(claims) == 3:
                _terminate(POSTGRES_URL or "", name)

    engine = engine_for(url)
    event.listen(engine, "before_cursor_execute", before_execute)
    try:
        outcomes = ingest_paths(configured, _production(tmp_path)[:4], TARGET)
        assert len(claims) >= 3, "the claim query was not seen: the fault was not injected"
        assert [o.state for o in outcomes] == ["indexed"] * 4
        assert _page_states(configured) == {"indexed": 4 * PAGES_PER_DOCUMENT}
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        engine.dispose()


# --- a private PostgreSQL server restarted ----------------------------------------------------


def _pg_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class _PrivateServer:
    """A PostgreSQL server of this test alone, run as the ``postgres`` user on a free port."""

    def __init__(self, binaries: Path, root: Path, port: int) -> None:
        self.binaries, self.data, self.port = binaries, root / "data", port
        self.socket_dir = root / "socket"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}")

    def init(self) -> None:
        self._run(
            str(self.binaries / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data / "server.log")
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            log,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def private_postgres() -> Iterator[_PrivateServer]:
    binaries = _pg_binaries()
    require(
        binaries is not None,
        "no PostgreSQL server binaries under /usr/lib/postgresql (postgresql package)",
    )
    assert binaries is not None
    require(os.geteuid() == 0, "running a private PostgreSQL server needs root to switch users")
    require(shutil.which("runuser") is not None, "no runuser (util-linux) to run as `postgres`")
    # Not under pytest's temporary folder: that one is private to root, and the server runs
    # as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="readingroom-pg-"))
    (root / "socket").mkdir()
    subprocess.run(["chown", "-R", "postgres", str(root)], check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = _PrivateServer(binaries, root, port)
    try:
        server.init()
        server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        require(False, f"cannot run a private PostgreSQL server here: {exc}")
    try:
        yield server
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_private_postgres_restarted_during_ingest_jobs_resume(
    sqlite_settings: Settings, private_postgres: _PrivateServer, tmp_path: Path
) -> None:
    configured = sqlite_settings.model_copy(
        update={"database_url": private_postgres.url, "workers": 1}
    )
    migrate.upgrade(configured)
    total = DOCUMENTS * PAGES_PER_DOCUMENT
    restarts: list[float] = []

    def restart() -> None:
        began = time.monotonic()
        private_postgres.stop()  # every session of the ingest is cut
        private_postgres.start()
        restarts.append(time.monotonic() - began)

    started = time.monotonic()
    try:
        outcomes = ingest_paths(
            configured, _production(tmp_path), TARGET, progress=_AtPage((7, restart))
        )
        elapsed = time.monotonic() - started
        assert restarts, "the server was not restarted during the ingest"
        assert [o.state for o in outcomes] == ["indexed"] * DOCUMENTS
        assert _page_states(configured) == {"indexed": total}
        with session_scope(configured) as session:
            retried = session.scalars(select(Job).where(Job.attempts > 1)).all()
            assert retried  # the job whose session was cut ran again
            assert all(j.state.value == "done" for j in retried)
    finally:
        engine_for(private_postgres.url).dispose()
    print(
        f"\npg-restart: {total} pages, server down and up in {restarts[0]:.1f}s, "
        f"{len(retried)} job(s) retried, ingest finished in {elapsed:.1f}s, all indexed"
    )


# --- the disk fills up during an upload ---------------------------------------------------------


@pytest.fixture
def small_disk(migrated_settings: Settings) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs) mounted as the installation's files folder."""
    files = migrated_settings.files_dir
    files.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(files)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(
        mounted.returncode == 0,
        f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}",
    )
    try:
        yield files
    finally:
        subprocess.run(["umount", str(files)], check=False)
        if os.path.ismount(files):
            subprocess.run(["umount", "-l", str(files)], check=False)


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_disk_full_during_upload_registers_nothing(
    migrated_settings: Settings, small_disk: Path, tmp_path: Path
) -> None:
    make_user(migrated_settings, "vol@example.org")
    token = make_token(migrated_settings, "vol@example.org")
    big = os.urandom(5 * 1024 * 1024)  # random: no filesystem can squeeze it into 2 MiB
    with TestClient(create_app(migrated_settings)) as web:
        production_id = create_production_api(web, token)
        answer = web.post(
            f"/api/productions/{production_id}/files",
            files={"file": ("big.pdf", b"%PDF-1.4\n" + big, "application/pdf")},
            headers=bearer(token),
        )
        assert answer.status_code == 507, answer.text
        message = answer.json()["error"]["message"]
        assert "no room" in message
        assert "nothing was kept" in message
        with session_scope(migrated_settings) as session:
            assert session.scalar(select(func.count()).select_from(Document)) == 0
            assert session.scalar(select(func.count()).select_from(Upload)) == 0
        assert _files_under(small_disk / "originals") == []
        assert _files_under(small_disk / "tmp") == []
        # The space came back: the store takes the next file that fits.
        free = os.statvfs(small_disk)
        assert free.f_bavail * free.f_frsize > 1.9 * 1024 * 1024
        small = make_text_pdf(tmp_path / "small.pdf", [page_text("afterwards", 1)])
        accepted = web.post(
            f"/api/productions/{production_id}/files",
            files={"file": ("small.pdf", small.read_bytes(), "application/pdf")},
            headers=bearer(token),
        )
        assert accepted.status_code == 201, accepted.text
    assert len(_files_under(small_disk / "originals")) == 1
