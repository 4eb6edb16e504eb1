"""Search at rising concurrency until it breaks, then held while uploads are processed.

    python -m bench load [--pages 10000] [--seconds 8] [--max-clients 256] [--hold-seconds 30]

1. Builds a fresh index of generated pages in ``var/bench-load`` (the generator and the
   builder of ``bench/search.py``) and serves the app with uvicorn in a subprocess, search rate
   limit off, in its embedded mode: uploads are processed by the app's own worker thread,
   the way a small installation runs.
2. Ramps ``/search.json`` through 1, 2, 4, 8, 16... concurrent clients (one thread and one
   HTTPX client each, the mixed queries of ``bench/search.py``). The answer is the highest
   level with no error and p99 under 500 ms; the ramp goes on past it until errors appear
   (or p99 reaches 10 s, a search nobody waits for), up to ``--max-clients``, to show where
   and how the service breaks.
3. Holds that level for ``--hold-seconds`` while another client uploads multi-page PDFs
   through ``POST /api/productions/{id}/files`` in a loop, then waits for every upload to reach
   a final state. Reports search p50/p99 and errors during the uploads, and upload success.

Figures go to stdout and ``bench/results/load.json`` (read by ``make reliability``), and are
recorded (``bench/_results.py``). The exit status is 1 when searches
failed during the uploads or an upload did not end ``indexed``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from app import migrate
from app.auth.accounts import create_user
from app.auth.tokens import create_token
from app.config import PROJECT_ROOT, Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.meili.managed import ManagedMeilisearch
from bench._results import Row, record, table
from bench.search import (
    INDEX_PREFIX,
    RESULTS_DIR,
    Measure,
    app_caller,
    build_index,
    measure,
    start_app,
    workload,
)

P99_LIMIT_MS = 500.0
# Past the answer, the ramp goes on until errors or this p99: beyond it the service is down
# for its users whether or not the requests eventually succeed.
P99_BROKEN_MS = 10_000.0
UPLOAD_PAGES = 12
FINAL_STATES = frozenset({"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"})
UPLOADER = "load-bench@example.org"


@dataclass
class Uploads:
    """What the uploading client did while the searches were held."""

    sent: int = 0
    accepted: int = 0
    indexed: int = 0
    other_states: dict[str, int] = field(default_factory=dict)
    p50_upload_ms: float | None = None
    max_upload_ms: float | None = None
    seconds_to_all_final: float | None = None
    first_error: str | None = None


@dataclass
class LoadRun:
    pages: int
    seconds_per_level: float
    p99_limit_ms: float
    ramp: list[Measure] = field(default_factory=list)
    max_clients_ok: int | None = None
    first_clients_with_errors: int | None = None
    held: Measure | None = None
    uploads: Uploads = field(default_factory=Uploads)
    cpu_count: int | None = None
    load_average: list[float] = field(default_factory=list)
    """The machine's 1/5/15-minute load average at the end: other work skews the figures."""
    finished_at: str = ""


def _ok(m: Measure) -> bool:
    return m.errors == 0 and m.p99_ms < P99_LIMIT_MS


def ramp(url: str, seconds: float, max_clients: int, run: LoadRun) -> None:
    """Double the clients until errors appear (or p99 is hopeless); record every level and
    the highest good one (every level below it good too)."""
    queries = workload()
    clients = 1
    still_good = True
    while clients <= max_clients:
        result = measure("app", clients, seconds, app_caller(url), queries)
        run.ramp.append(result)
        still_good = still_good and _ok(result)
        if still_good:
            run.max_clients_ok = clients
        verdict = "ok" if _ok(result) else ("ERRORS" if result.errors else "slow")
        print(
            f"  x{clients:<4} p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
            f"{result.throughput:7.1f} req/s  errors {result.errors}  {verdict}",
            flush=True,
        )
        if result.errors:
            run.first_clients_with_errors = clients
            print(f"        first error: {result.first_error}")
            return
        if result.p99_ms >= P99_BROKEN_MS:
            return
        clients *= 2


def _pdf(serial: int) -> bytes:
    """A born-digital PDF of ``UPLOAD_PAGES`` pages, different for every upload (no
    duplicates: each one is read and indexed)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    for page in range(1, UPLOAD_PAGES + 1):
        pdf.setFont("Helvetica", 11)
        y = 720.0
        for line in (
            f"LOAD TEST RELEASE {serial:05} page {page} of {UPLOAD_PAGES}",
            "From: records officer  To: requester  Subject: interim release under FOIA",
            f"Bates LOAD-{serial:05}-{page:04}  (b)(6) withheld in part",
            "The agency conducted a search reasonably calculated to uncover all records.",
        ):
            pdf.drawString(72, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _token(settings: Settings) -> str:
    with session_scope(settings) as session:
        user = create_user(session, UPLOADER, "load bench correct horse battery")
        secret = create_token(session, user, "load bench").secret
        session.commit()
        return secret


class Uploader:
    """Uploads one new PDF after another until stopped; then waits for their final states."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}
        )
        self.uploads = Uploads()
        self.document_ids: list[int] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
        answer = self.client.post("/api/productions", json={"agency": "ICE", "title": "Load"})
        answer.raise_for_status()
        self.production_id: int = answer.json()["id"]

    def _run(self) -> None:
        serial = 0
        while not self._stop.is_set():
            serial += 1
            body = _pdf(serial)
            began = time.perf_counter()
            self.uploads.sent += 1
            try:
                answer = self.client.post(
                    f"/api/productions/{self.production_id}/files",
                    files=[("file", (f"load-{serial:05}.pdf", body, "application/pdf"))],
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"{answer.status_code} {answer.text[:200]}")
            except Exception as exc:  # counted and reported; the load goes on
                self.uploads.first_error = self.uploads.first_error or f"{exc}"[:300]
                continue
            self.latencies.append(time.perf_counter() - began)
            self.uploads.accepted += 1
            self.document_ids.extend(f["document_id"] for f in answer.json()["files"])
            self._stop.wait(0.5)  # a volunteer's pace, not a flood

    def start(self) -> None:
        self._thread.start()

    def stop_and_wait(self, timeout: float) -> Uploads:
        """Stop uploading; wait up to ``timeout`` s for every uploaded document to be final."""
        self._stop.set()
        self._thread.join(timeout=120)
        began = time.perf_counter()
        states: dict[int, str] = {}
        while time.perf_counter() - began < timeout:
            answer = self.client.get(f"/api/productions/{self.production_id}")
            answer.raise_for_status()
            states = {d["id"]: d["state"] for d in answer.json()["documents"]}
            if all(states.get(i) in FINAL_STATES for i in self.document_ids):
                self.uploads.seconds_to_all_final = round(time.perf_counter() - began, 1)
                break
            time.sleep(1)
        for document_id in self.document_ids:
            state = states.get(document_id, "missing")
            if state == "indexed":
                self.uploads.indexed += 1
            else:
                self.uploads.other_states[state] = self.uploads.other_states.get(state, 0) + 1
        if self.latencies:
            ordered = sorted(self.latencies)
            self.uploads.p50_upload_ms = round(ordered[len(ordered) // 2] * 1000, 1)
            self.uploads.max_upload_ms = round(ordered[-1] * 1000, 1)
        self.client.close()
        return self.uploads


def rows(run: LoadRun) -> list[Row]:
    """The summary rows: the highest level served, and search during the uploads."""
    out = [
        Row(
            f"concurrent clients served, no error and p99 < {run.p99_limit_ms:.0f} ms "
            f"({run.pages:,} pages)",
            run.max_clients_ok,
            target=f"first errors at {run.first_clients_with_errors or 'none'}",
            unit="clients",
        )
    ]
    held, uploads = run.held, run.uploads
    if held is not None:
        out.append(
            Row(
                f"  search p99 ms at {held.clients} clients during uploads",
                held.p99_ms,
                target="no errors",
                met=held.errors == 0,
                unit="ms",
            )
        )
    out.append(
        Row(
            f"  uploads indexed ({UPLOAD_PAGES} pages each)",
            uploads.indexed,
            target=f"all {uploads.sent} sent",
            met=uploads.accepted == uploads.sent > 0 and uploads.indexed == uploads.accepted,
        )
    )
    return out


def report(run: LoadRun) -> bool:
    """Print the summary; True when the held level served every search during the uploads
    and every upload was indexed."""
    print()
    broke = run.first_clients_with_errors
    highest = run.ramp[-1].clients if run.ramp else 0
    print(
        f"load: {run.pages:,} pages; highest concurrency with no error and p99 < "
        f"{run.p99_limit_ms:.0f} ms: {run.max_clients_ok or 'none'} clients; first errors: "
        + (f"at {broke} clients" if broke else f"none up to {highest} clients")
    )
    held, uploads = run.held, run.uploads
    if held is not None:
        print(
            f"held x{held.clients} for {held.seconds:.0f} s during uploads: p50 "
            f"{held.p50_ms:.1f} ms, p99 {held.p99_ms:.1f} ms, {held.throughput:.1f} req/s, "
            f"{held.errors} errors of {held.requests}"
        )
    print(
        f"uploads: {uploads.sent} sent, {uploads.accepted} accepted, {uploads.indexed} indexed "
        f"({UPLOAD_PAGES} pages each), other states {uploads.other_states or 'none'}, "
        f"all final {uploads.seconds_to_all_final} s after the last upload"
    )
    if uploads.first_error:
        print(f"first upload error: {uploads.first_error}")
    return (
        held is not None
        and held.errors == 0
        and uploads.accepted == uploads.sent > 0
        and uploads.indexed == uploads.accepted
    )


def main(argv: list[str] | None = None) -> int:
    """Build the index, ramp, hold during uploads, print and save; 1 when something failed."""
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__)
    parser.add_argument("--pages", type=int, default=10_000, help="pages in the index")
    parser.add_argument("--seconds", type=float, default=8.0, help="per concurrency level")
    parser.add_argument("--max-clients", type=int, default=256, help="highest level tried")
    parser.add_argument("--hold-seconds", type=float, default=30.0, help="search + uploads")
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "var" / "bench-load")
    args = parser.parse_args(argv)

    # A fresh installation every run: the uploads of the last run would change the index.
    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)
    settings = Settings(data_dir=args.data_dir, index_prefix=INDEX_PREFIX)
    managed = ManagedMeilisearch(settings)
    endpoint = managed.acquire()
    app_process: subprocess.Popen[bytes] | None = None
    run = LoadRun(args.pages, args.seconds, P99_LIMIT_MS)
    try:
        client = MeiliClient(endpoint.url, endpoint.key, timeout=600)
        build_index(client, args.pages, rebuild=True)
        client.close()
        app_settings = settings.model_copy(update={"meili_url": endpoint.url})
        migrate.upgrade(app_settings)
        token = _token(app_settings)
        app_process, url = start_app(app_settings, endpoint.url, endpoint.key)

        print(
            f"ramp: {args.seconds:g} s per level until errors appear or p99 reaches "
            f"{P99_BROKEN_MS / 1000:g} s; ok = no error and p99 < {P99_LIMIT_MS:g} ms"
        )
        ramp(url, args.seconds, args.max_clients, run)
        level = run.max_clients_ok or 1
        print(f"hold: x{level} for {args.hold_seconds:g} s while uploading")
        uploader = Uploader(url, token)
        uploader.start()
        run.held = measure("held", level, args.hold_seconds, app_caller(url), workload())
        run.uploads = uploader.stop_and_wait(timeout=300)
        ok = report(run)
        print()
        print(table(rows(run)))

        run.cpu_count = os.cpu_count()
        run.load_average = [round(x, 2) for x in os.getloadavg()]
        run.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        path = record("load", rows(run), asdict(run), path=RESULTS_DIR / "load.json")
        print(f"\nfigures written to {path.relative_to(PROJECT_ROOT)}")
        return 0 if ok else 1
    finally:
        if app_process is not None:
            app_process.terminate()
            app_process.wait(timeout=30)
        managed.release()


if __name__ == "__main__":
    raise SystemExit(main())
