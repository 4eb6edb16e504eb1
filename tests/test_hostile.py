"""Hostile input through both front doors: the upload API and ``readingroom ingest``.

Every generated hostile file (tests/hostile.py) and the real corpus (every file under
``make reliability``, a sample of every kind under ``make test``) must end in a
final state with a reason a person can read, within a time and memory bound, with its original
kept and nothing written outside the data folder, while /search.json keeps answering 200 from
another thread. The CLI runs as a real subprocess so its process tree's memory can be measured
(``os.wait4``'s peak RSS, and the sum over the tree sampled from /proc).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.models import Document
from app.routes.search import RATE_LIMITER
from app.services.ratelimit import Unlimited
from ingest.storage import original_path
from tests.auth_helpers import bearer, create_production_api, make_token, make_user
from tests.cli import cli_env
from tests.conftest import CORPUS, corpus_file
from tests.hostile import FINAL_STATES, HostileFile, HostileSet, make_hostile_set, many_pages_pdf

pytestmark = pytest.mark.reliability

VOLUNTEER = "hostile@example.org"
# Any one hostile file, from its upload (or the start of its processing) to its final state.
PER_FILE_SECONDS = 120.0
# The 10,000-page PDF: about 100 s of CPU on this machine (see docs/reliability.md).
BIG_PDF_SECONDS = 540.0
# The whole CLI run over the hostile set, and the API run until every document is final.
RUN_SECONDS = 300.0
# Peak resident memory: of the largest single process, and of a whole process tree.
MEMORY_KIB = int(1.5 * 1024 * 1024)
# The search thread's pace, and how slow one answer may be while ingest loads the machine.
SEARCH_EVERY = 0.1
SEARCH_SLOWEST = 20.0
# Settings for hostile runs: a scan's OCR may not take the default two minutes a page.
OCR_SECONDS = 10.0


def _site(settings: Settings) -> TestClient:
    """The app for ``settings``, its search rate limit off: the search thread measures that
    searches are served, and would otherwise only measure the limit."""
    app = create_app(settings)
    setattr(app.state, RATE_LIMITER, Unlimited())
    return TestClient(app)


# --- instruments ---------------------------------------------------------------------------------


class SearchProbe:
    """Sends /search.json from a thread of its own until stopped; keeps status and latency."""

    def __init__(self, client: TestClient) -> None:
        self._client = client
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="search-probe", daemon=True)
        self.statuses: list[int] = []
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def _run(self) -> None:
        queries = ["hostile", "record released", "act", "zebra", "page"]
        n = 0
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                answer = self._client.get("/search.json", params={"q": queries[n % len(queries)]})
                self.statuses.append(answer.status_code)
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code}: {answer.text[:200]}")
            except Exception as exc:  # every failure is recorded and fails the test
                self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            self.latencies.append(time.monotonic() - began)
            n += 1
            self._stop.wait(SEARCH_EVERY)

    def __enter__(self) -> SearchProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def check(self) -> dict[str, float]:
        """Every search answered 200 in bounded time; return the figures."""
        assert self.statuses, "the search thread sent nothing"
        assert not self.failures, self.failures[:5]
        ordered = sorted(self.latencies)
        assert ordered[-1] < SEARCH_SLOWEST, f"a search took {ordered[-1]:.1f} s"
        return {
            "searches": len(ordered),
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
        }


def _tree_rss_kib(root: int) -> tuple[int, int]:
    """Resident memory of ``root`` and its descendants (Meilisearch excluded): (sum, largest)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the fields follow the last ")".
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    total = largest = 0
    for pid in tree:
        try:
            if b"meilisearch" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # the search engine is shared by every test, not ingest's memory
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_kib
        except (OSError, IndexError, ValueError):
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


class MemorySampler:
    """Samples a process tree's resident memory every 0.2 s; keeps the peaks."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_tree_kib = 0
        self.peak_process_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total, largest = _tree_rss_kib(self.root)
            self.peak_tree_kib = max(self.peak_tree_kib, total)
            self.peak_process_kib = max(self.peak_process_kib, largest)
            self._stop.wait(0.2)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _snapshot(folder: Path, skip: Path | None = None) -> dict[str, tuple[int, float]]:
    """Every file under ``folder`` (except below ``skip``) with its size and mtime."""
    found: dict[str, tuple[int, float]] = {}
    for path in folder.rglob("*"):
        if skip is not None and (path == skip or path.is_relative_to(skip)):
            continue
        if path.is_file() or path.is_symlink():
            info = path.lstat()
            found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime)
    return found


# --- what every document must show ---------------------------------------------------------------


@dataclass
class Verdict:
    """What became of one hostile file: its documents' states and reasons, and its time."""

    item: HostileFile
    states: list[str] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    document_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _check_verdicts(settings: Settings, verdicts: list[Verdict]) -> None:
    """Check every file, then fail once naming all that went wrong (not just the first)."""
    problems = []
    for verdict in verdicts:
        try:
            _check_verdict(verdict)
            _check_stored(settings, verdict.document_ids)
        except AssertionError as exc:
            problems.append(f"{verdict.item.label}: {exc}"[:600])
    assert not problems, "\n".join(problems)


def _check_verdict(verdict: Verdict) -> None:
    item = verdict.item
    assert len(verdict.states) == item.documents, (item.label, verdict.states)
    for state, reason in zip(verdict.states, verdict.reasons, strict=True):
        assert state in FINAL_STATES, (item.label, state)
        assert state in item.expected, (item.label, state, reason)
        if state in {"indexed", "duplicate"}:
            continue
        assert reason, f"{item.label} ended {state} without a reason"
        # Written for a person: a sentence, not a stack trace or a repr.
        assert 20 <= len(reason) <= 1000, (item.label, reason)
        assert "Traceback" not in reason, (item.label, reason)
        assert 'File "' not in reason, (item.label, reason)
        if item.reason_contains:
            assert item.reason_contains in reason.lower(), (item.label, reason)
    bound = BIG_PDF_SECONDS if item.slow else PER_FILE_SECONDS
    assert verdict.seconds < bound, (item.label, verdict.seconds)


def _check_stored(settings: Settings, document_ids: list[int]) -> None:
    """Every document's original is in the store, byte for byte what its sha256 names; no
    name carries a control character or a bidirectional override."""
    with session_scope(settings) as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            assert document is not None
            stored = original_path(settings.files_dir, document.sha256)
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == document.sha256
            name = document.original_filename
            assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name), name
            assert "\u202e" not in name, name
            assert len(name) <= 500, name


def _check_no_escape(items: list[HostileFile], sandbox: Path, before: dict[str, Any]) -> None:
    for item in items:
        for target in item.forbidden:
            assert not target.exists(), f"{item.label} wrote {target}"
    assert _outside_data(sandbox) == before


def _outside_data(sandbox: Path) -> dict[str, tuple[int, float]]:
    """The sandbox around the data folder ``var`` (which holds the SQLite database)."""
    return _snapshot(sandbox, skip=sandbox / "var")


# --- the upload API ------------------------------------------------------------------------------


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A one-file multipart body whose filename is sent as raw as a browser could send it.

    HTTPX percent-encodes control characters in file names; this keeps NUL, ESC and the rest
    raw, escaping only what would end the header (quote, CR, LF) as browsers do.
    """
    boundary = uuid.uuid4().hex
    quoted = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _wait_final(
    client: TestClient, token: str, production_id: int, ids: set[int], timeout: float
) -> dict[int, dict[str, Any]]:
    """Poll until every document in ``ids`` is in a final state; return them by id."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/api/productions/{production_id}", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        documents = {d["id"]: d for d in answer.json()["documents"]}
        waiting = {i: documents.get(i, {}).get("state") for i in ids}
        waiting = {i: state for i, state in waiting.items() if state not in FINAL_STATES}
        if not waiting:
            return documents
        if time.monotonic() > deadline:
            raise AssertionError(f"not final after {timeout:.0f} s: {waiting}")
        time.sleep(0.25)


def _api_run(
    settings: Settings, items: list[HostileFile], timeout: float = RUN_SECONDS
) -> tuple[list[Verdict], dict[str, float], MemorySampler]:
    """Upload each file in a request of its own while searches run; wait for final states."""
    make_user(settings, VOLUNTEER)
    token = make_token(settings, VOLUNTEER)
    verdicts = {item.label: Verdict(item) for item in items}
    sent: dict[int, tuple[str, float]] = {}  # document id: file, seconds its request took
    with (
        _site(settings) as client,
        SearchProbe(TestClient(client.app)) as probe,
        MemorySampler(os.getpid()) as memory,
    ):
        production_id = create_production_api(client, token, "Hostile via API")
        for item in items:
            body, content_type = _multipart(item.upload_name, item.path.read_bytes())
            began = time.monotonic()
            answer = client.post(
                f"/api/productions/{production_id}/files",
                content=body,
                headers={**bearer(token), "Content-Type": content_type},
            )
            assert answer.status_code == 201, (item.label, answer.status_code, answer.text)
            took = time.monotonic() - began
            for uploaded in answer.json()["files"]:
                sent[uploaded["document_id"]] = (item.label, took)
                # What was uploaded (for a ZIP: the archive) is kept, whatever becomes of it.
                assert original_path(settings.files_dir, uploaded["sha256"]).exists(), item.label
        documents = _wait_final(client, token, production_id, set(sent), timeout)
    for document_id, (label, took) in sent.items():
        verdict = verdicts[label]
        verdict.document_ids.append(document_id)
        verdict.states.append(documents[document_id]["state"])
        verdict.reasons.append(documents[document_id]["reason"])
        # The request (a ZIP is unpacked in it), then the document's own processing: one
        # worker takes the files in turn, so the wait in the queue is not the file's doing.
        spent = max(took, _processing_seconds(settings, document_id))
        verdict.seconds = max(verdict.seconds, spent)
    return list(verdicts.values()), probe.check(), memory


def _processing_seconds(settings: Settings, document_id: int) -> float:
    """From the start of a document's processing to its last write (0 if it never started:
    a file refused at intake)."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        if document.processing_started_at is None:
            return 0.0
        return (document.updated_at - document.processing_started_at).total_seconds()


@pytest.fixture(scope="module")
def hostile_set(tmp_path_factory: pytest.TempPathFactory) -> HostileSet:
    return make_hostile_set(tmp_path_factory.mktemp("hostile"), big_pdf_pages=None)


def _hostile_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ocr_timeout_seconds": OCR_SECONDS})


def test_hostile_files_through_the_upload_api_end_in_final_states(
    migrated_settings: Settings, hostile_set: HostileSet, tmp_path: Path
) -> None:
    settings = _hostile_settings(migrated_settings)
    inputs_before = _snapshot(hostile_set.folder)
    before = _outside_data(tmp_path)

    verdicts, searches, memory = _api_run(settings, hostile_set.files)

    _check_verdicts(settings, verdicts)
    for verdict in verdicts:
        # Every upload is kept as it was sent, ZIPs included (the upload store holds them).
        data = verdict.item.path.read_bytes()
        kept = original_path(settings.files_dir, hashlib.sha256(data).hexdigest())
        assert kept.read_bytes() == data, verdict.item.label
    _check_no_escape(hostile_set.files, tmp_path, before)
    assert _snapshot(hostile_set.folder) == inputs_before
    assert memory.peak_process_kib < MEMORY_KIB
    _report(settings, "api", verdicts, searches, memory.peak_tree_kib, memory.peak_process_kib)


# --- the CLI -------------------------------------------------------------------------------------


@dataclass
class CliRun:
    outcomes: list[dict[str, Any]]
    seconds: float
    peak_process_kib: int
    peak_tree_kib: int
    stderr: str


def _readingroom() -> list[str]:
    script = Path(sys.executable).with_name("readingroom")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def _run_cli(settings: Settings, *args: str, timeout: float) -> CliRun:
    """``readingroom ARGS`` as a subprocess; its peak memory from wait4 and from /proc."""
    env = {**os.environ, **cli_env(settings)}
    env["READINGROOM_OCR_TIMEOUT_SECONDS"] = str(settings.ocr_timeout_seconds)
    began = time.monotonic()
    process = subprocess.Popen(
        [*_readingroom(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    output: dict[str, bytes] = {}

    def drain(name: str, stream: Any) -> None:
        output[name] = stream.read()

    readers = [
        threading.Thread(target=drain, args=(name, stream), daemon=True)
        for name, stream in (("out", process.stdout), ("err", process.stderr))
    ]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    with MemorySampler(process.pid) as memory:
        # wait4, not wait: its rusage is this child's and its waited-for descendants' peak.
        _, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=30)
    seconds = time.monotonic() - began
    stderr = output.get("err", b"").decode("utf-8", "replace")
    assert process.returncode == 0, stderr[-3000:]
    return CliRun(
        json.loads(output["out"]),
        seconds,
        max(usage.ru_maxrss, memory.peak_process_kib),
        memory.peak_tree_kib,
        stderr,
    )


@pytest.fixture
def web_only(migrated_settings: Settings) -> Iterator[TestClient]:
    """The site over the same installation, without its in-process worker: a broker URL
    makes the app hand jobs to Celery (no message is sent: nothing is uploaded through it),
    so all processing is done by the CLI subprocess whose memory is measured."""
    settings = migrated_settings.model_copy(update={"broker_url": "redis://127.0.0.1:6379/15"})
    with _site(settings) as client:
        yield client


def _cli_verdicts(
    settings: Settings, items: list[HostileFile], outcomes: list[dict[str, Any]]
) -> list[Verdict]:
    by_file = {item.path.name: Verdict(item) for item in items}
    for outcome in outcomes:
        top = outcome["name"].split("/", 1)[0]
        verdict = by_file[top]
        verdict.document_ids.append(outcome["document_id"])
        verdict.states.append(outcome["state"])
        verdict.reasons.append(outcome["reason"])
    for verdict in by_file.values():
        for document_id in verdict.document_ids:
            # The CLI reads files one after another: each one's own time is its processing.
            verdict.seconds = max(verdict.seconds, _processing_seconds(settings, document_id))
    return list(by_file.values())


def test_hostile_files_through_the_cli_end_in_final_states(
    migrated_settings: Settings, web_only: TestClient, hostile_set: HostileSet, tmp_path: Path
) -> None:
    settings = _hostile_settings(migrated_settings)
    inputs_before = _snapshot(hostile_set.folder)
    before = _outside_data(tmp_path)

    with SearchProbe(web_only) as probe:
        run = _run_cli(
            settings,
            "ingest",
            "--agency",
            "FBI",
            "--production",
            "Hostile via CLI",
            "--json",
            str(hostile_set.folder),
            timeout=RUN_SECONDS,
        )
    searches = probe.check()

    verdicts = _cli_verdicts(settings, hostile_set.files, run.outcomes)
    _check_verdicts(settings, verdicts)
    _check_no_escape(hostile_set.files, tmp_path, before)
    assert _snapshot(hostile_set.folder) == inputs_before  # the user's files are untouched
    assert run.seconds < RUN_SECONDS
    assert run.peak_process_kib < MEMORY_KIB
    assert run.peak_tree_kib < MEMORY_KIB * 2
    _report(settings, "cli", verdicts, searches, run.peak_tree_kib, run.peak_process_kib)


# --- 10,000 pages --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(BIG_PDF_SECONDS + 120)
def test_ten_thousand_page_pdf_is_indexed_in_bounded_time_and_memory(
    migrated_settings: Settings, web_only: TestClient, tmp_path: Path
) -> None:
    """The CLI reads all 10,000 pages while the site serves searches; the same bytes sent
    through the upload API afterwards are recognised as the same document at once."""
    folder = tmp_path / "big"
    folder.mkdir()
    began = time.monotonic()
    pdf = folder / "ten-thousand-pages.pdf"
    pdf.write_bytes(many_pages_pdf(10_000, "big"))
    assert time.monotonic() - began < 10

    with SearchProbe(web_only) as probe:
        run = _run_cli(
            migrated_settings,
            "ingest",
            "--agency",
            "FBI",
            "--production",
            "Big",
            "--json",
            str(pdf),
            timeout=BIG_PDF_SECONDS,
        )
    searches = probe.check()
    (outcome,) = run.outcomes
    assert (outcome["state"], outcome["pages"]) == ("indexed", 10_000), outcome
    assert run.seconds < BIG_PDF_SECONDS
    assert run.peak_process_kib < MEMORY_KIB
    found = web_only.get("/search.json", params={"q": "hostile big"}).json()
    assert found["documents"], "the 10,000-page document is not searchable"

    make_user(migrated_settings, VOLUNTEER)
    token = make_token(migrated_settings, VOLUNTEER)
    production_id = create_production_api(web_only, token, "Big again")
    body, content_type = _multipart(pdf.name, pdf.read_bytes())
    answer = web_only.post(
        f"/api/productions/{production_id}/files",
        content=body,
        headers={**bearer(token), "Content-Type": content_type},
    )
    assert answer.status_code == 201, answer.text
    (uploaded,) = answer.json()["files"]
    assert (uploaded["outcome"], uploaded["document_id"]) == ("duplicate", outcome["document_id"])
    _write_figures(
        migrated_settings,
        "big-pdf",
        {
            "pages": 10_000,
            "seconds": round(run.seconds, 1),
            "pages_per_second": round(10_000 / run.seconds, 1),
            "peak_process_mib": run.peak_process_kib // 1024,
            "peak_tree_mib": run.peak_tree_kib // 1024,
            "searches": searches,
        },
    )


# --- the real corpus through the upload API ------------------------------------------------------


def _manifest() -> dict[str, dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}


# The whole corpus through the API takes 3-4 minutes on 2 cores, and tests/test_corpus.py
# already sends every file through the CLI path. `make test` sends every hostile kind (broken,
# encrypted, other, synthetic) and the smallest government PDFs and scans; `make reliability`
# (READINGROOM_RELIABILITY_FULL=1) sends every file.
SAMPLE_PER_COMMON_KIND = 4
COMMON_KINDS = {"government", "scan"}


def _corpus_sample(manifest: dict[str, dict[str, str]]) -> list[str]:
    if os.environ.get("READINGROOM_RELIABILITY_FULL") == "1":
        return sorted(manifest)
    chosen = [name for name, row in manifest.items() if row["kind"] not in COMMON_KINDS]
    for kind in sorted(COMMON_KINDS):
        rows = [(int(row["bytes"]), name) for name, row in manifest.items() if row["kind"] == kind]
        chosen += [name for _, name in sorted(rows)[:SAMPLE_PER_COMMON_KIND]]
    return sorted(chosen)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_corpus_through_the_upload_api_ends_in_final_states(
    migrated_settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    """tests/test_corpus.py sends the corpus through the CLI path; this sends it through the
    upload API, with the same half-second OCR budget and the same expectations."""
    from tests.test_corpus import UNKNOWN_PASSWORD

    manifest = _manifest()
    settings = migrated_settings.model_copy(update={"ocr_timeout_seconds": 0.5})
    items = [
        HostileFile(
            name,
            f"corpus: {manifest[name]['kind']}",
            corpus_file(name),
            name,
            FINAL_STATES,
            # Real productions run to hundreds of scanned pages: the long per-file bound.
            slow=True,
        )
        for name in _corpus_sample(manifest)
    ]
    before = _outside_data(tmp_path)
    verdicts, searches, memory = _api_run(settings, items, timeout=720)
    _check_verdicts(settings, verdicts)
    for verdict in verdicts:
        (state,) = verdict.states
        row = manifest[verdict.item.label]
        if verdict.item.label in UNKNOWN_PASSWORD:
            assert state == "encrypted", verdict.item.label
        elif row["kind"] == "government" and row["pages"].isdigit():
            assert state in {"indexed", "partial"}, (verdict.item.label, verdict.reasons)
    assert _outside_data(tmp_path) == before
    assert memory.peak_process_kib < MEMORY_KIB
    _report(
        settings, "corpus-api", verdicts, searches, memory.peak_tree_kib, memory.peak_process_kib
    )


# --- figures for docs/reliability.md -------------------------------------------------------------

FIGURES_DIR = Path(__file__).resolve().parents[1] / "bench" / "results"


def _write_figures(settings: Settings, name: str, figures: dict[str, Any]) -> None:
    """Keep a run's figures for scripts/reliability_report.py (only when asked to, by
    READINGROOM_RELIABILITY_FIGURES=1, so that a plain test run writes nothing). The report
    gives the embedded mode's: those of the SQLite run."""
    if os.environ.get("READINGROOM_RELIABILITY_FIGURES") != "1" or settings.database_url:
        return
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"hostile-{name}.json").write_text(json.dumps(figures, indent=2))


def _report(
    settings: Settings,
    path: str,
    verdicts: list[Verdict],
    searches: dict[str, float],
    peak_tree_kib: int,
    peak_process_kib: int,
) -> None:
    rows = [
        {
            "label": v.item.label,
            "kind": v.item.kind,
            "states": v.states,
            "reasons": v.reasons,
            "seconds": round(v.seconds, 2),
        }
        for v in verdicts
    ]
    slowest = max(verdicts, key=lambda v: v.seconds)
    print(
        f"{path}: {len(verdicts)} files, {sum(len(v.states) for v in verdicts)} documents; "
        f"slowest {slowest.item.label} {slowest.seconds:.1f} s; peak RSS "
        f"{peak_process_kib // 1024} MiB (one process), {peak_tree_kib // 1024} MiB (tree); "
        f"searches {searches}"
    )
    _write_figures(
        settings,
        path,
        {
            "files": rows,
            "searches": searches,
            "peak_process_mib": peak_process_kib // 1024,
            "peak_tree_mib": peak_tree_kib // 1024,
        },
    )
