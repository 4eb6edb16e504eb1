"""The ``readingroom`` command: serve the site, ingest files, manage the index."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import sys
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import func, select

from app import migrate
from app.auth.cli import user as user_commands
from app.config import get_settings
from app.db import session_scope
from app.meili import open_search_engine
from app.models import Document
from app.page_versions import PageFingerprint
from ingest.process import ProcessOptions
from ingest.run import (
    FileOutcome,
    IngestTarget,
    ingest_paths,
    retry_documents,
    retryable_document_ids,
)

console = Console(stderr=True)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """readingroom: a searchable archive of records released under FOIA."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema."""
    migrate.upgrade(get_settings())
    click.echo("database schema is up to date")


@main.command()
@click.option("--host", default=None, help="Address to bind (default READINGROOM_HOST).")
@click.option("--port", default=None, type=int, help="Port (default READINGROOM_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the site (starting the managed Meilisearch when no URL is configured)."""
    import uvicorn

    from app.main import create_app

    settings = get_settings()
    migrate.upgrade(settings)
    # Uvicorn believes the same proxies as the app (app/client_address.py), never its own
    # default (127.0.0.1, or FORWARDED_ALLOW_IPS): with none set, no forwarded header counts.
    proxies = [str(network) for network in settings.trusted_proxies]
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2021-03-09") from exc


FINAL_STATES = frozenset({"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"})


def _print_outcomes(outcomes: list[FileOutcome], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(o) for o in outcomes], indent=2))
        return
    table = Table(title="ingest summary")
    for column in ("file", "document", "state", "pages", "reason"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        table.add_row(o.name, str(o.document_id), o.state, str(o.pages), o.reason or "")
    console.print(table)


def _print_findings_waiting(document_ids: list[int]) -> None:
    """The summary's line about the safety scan: what waits for a moderator (on stderr, so
    that ``--json`` output stays one JSON document)."""
    from app.services.findings import waiting_count

    with session_scope(get_settings()) as session:
        total, high = waiting_count(session, document_ids)
    if total:
        console.print(
            f"findings: {total} wait for review ({high} of high confidence); their text is "
            "masked from the public until a moderator keeps or redacts each one at "
            "/moderation/findings"
        )
    else:
        console.print("findings: none wait for review")


class _ProgressBar:
    """Files, pages read and OCR pages, each with an ETA, drawn on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.files = progress.add_task("files", total=None)
        self.pages = progress.add_task("pages read", total=None)
        self.ocr = progress.add_task("OCR pages", total=0)

    def __call__(self, event: str, n: int) -> None:
        if event == "files_total":
            self.progress.update(self.files, total=n)
        elif event == "file_done":
            self.progress.advance(self.files, n)
        elif event == "page_read":
            self.progress.advance(self.pages, n)
        elif event == "ocr_planned":
            task = self.progress.tasks[self.ocr]
            self.progress.update(self.ocr, total=(task.total or 0) + n)
        elif event == "ocr_done":
            self.progress.advance(self.ocr, n)


def _run_ingest(
    paths: list[Path], target: IngestTarget, options: ProcessOptions, as_json: bool
) -> list[FileOutcome]:
    settings = get_settings()
    migrate.upgrade(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=as_json or not console.is_terminal) as bar:
        return ingest_paths(settings, paths, target, options=options, progress=_ProgressBar(bar))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--agency", required=True, help="Agency abbreviation or name, e.g. ICE.")
@click.option("--production", required=True, help='Production title, e.g. "Interim Release 1".')
@click.option("--request", "request_number", default=None, help="FOIA request tracking number.")
@click.option("--release-date", default=None, callback=_parse_date, help="YYYY-MM-DD.")
@click.option("--lang", default=None, help="OCR languages, e.g. eng+spa (default eng).")
@click.option("--password", default=None, help="Password of an encrypted PDF.")
@click.option("--force-ocr", is_flag=True, help="OCR every page, even with a text layer.")
@click.option("--draft", is_flag=True, help="Keep the production unpublished.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def ingest(
    paths: tuple[Path, ...],
    agency: str,
    production: str,
    request_number: str | None,
    release_date: dt.date | None,
    lang: str | None,
    password: str | None,
    force_ocr: bool,
    draft: bool,
    as_json: bool,
) -> None:
    """Store, read and index files (PDF, TIFF, PNG, JPEG, ZIP, folders) into a production.

    Exits 0 when every file reached a final state (indexed, partial, duplicate, encrypted,
    unsupported or failed, each with its reason), 1 otherwise.
    """
    languages = lang or get_settings().ocr_languages
    if not re.fullmatch(r"[a-z_]{3,}(\+[a-z_]{3,})*", languages):
        raise click.BadParameter(f"{languages!r} is not like eng or eng+spa", param_hint="--lang")
    target = IngestTarget(
        agency=agency,
        production=production,
        request=request_number,
        release_date=release_date,
        languages=languages,
        published=not draft,
    )
    options = ProcessOptions(password=password, force_ocr=force_ocr, languages=lang)
    outcomes = _run_ingest(list(paths), target, options, as_json)
    _print_outcomes(outcomes, as_json)
    _print_findings_waiting([o.document_id for o in outcomes])
    sys.exit(0 if all(o.state in FINAL_STATES for o in outcomes) else 1)


@main.command()
@click.argument("document_ids", nargs=-1, type=int)
@click.option("--password", default=None, help="Password for encrypted documents.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def retry(document_ids: tuple[int, ...], password: str | None, as_json: bool) -> None:
    """Process again the documents a retry can help (all of them, or the ids given)."""
    settings = get_settings()
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        ids = retryable_document_ids(session, list(document_ids) or None)
    if not ids:
        click.echo("nothing to retry")
        return
    outcomes = retry_documents(settings, ids, ProcessOptions(password=password))
    _print_outcomes(outcomes, as_json)
    sys.exit(0 if all(o.state in FINAL_STATES for o in outcomes) else 1)


@main.command()
@click.option("--concurrency", default=1, show_default=True, help="Jobs run at once.")
def worker(concurrency: int) -> None:
    """Run queued jobs: a Celery worker with READINGROOM_BROKER_URL, else a local loop."""
    settings = get_settings()
    migrate.upgrade(settings)
    if not settings.broker_url:
        _local_worker(concurrency)
        return
    from ingest.celery_app import make_celery
    from ingest.dispatch import CeleryDispatcher, announce_waiting

    app = make_celery(settings)
    stop = threading.Event()
    dispatcher = CeleryDispatcher(settings)

    def sweeper() -> None:
        # Jobs of workers that died go back to the queue, and waiting jobs are announced
        # again, so a lost message never strands work.
        while not stop.wait(settings.job_lease_seconds / 2):
            try:
                announce_waiting(settings, dispatcher)
            except Exception:  # the broker or database may be restarting; try next round
                logging.getLogger(__name__).exception("sweeper round failed")

    threading.Thread(target=sweeper, daemon=True).start()
    announce_waiting(settings, dispatcher)
    # Solo pool: OCR fans out to its own processes, which a prefork child may not start.
    app.worker_main(
        [
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--queues",
            "readingroom",
            "--hostname",
            f"readingroom-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    stop.set()


def _local_worker(threads: int) -> None:
    from ingest.dispatch import LocalPool

    settings = get_settings()
    with open_search_engine(settings) as engine:
        pool = LocalPool(settings, engine.client, threads=threads)
        pool.start()
        console.print("worker running (no broker: reading the queue in the database); Ctrl+C stops")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            pool.stop()


@main.command()
@click.option("--pending", is_flag=True, help="Only pages waiting for the index.")
def reindex(pending: bool) -> None:
    """Rebuild the search index from the database (built aside, then swapped in)."""
    from ingest.index import index_documents, pending_document_ids, rebuild

    settings = get_settings()
    migrate.upgrade(settings)
    with session_scope(settings) as session, open_search_engine(settings) as engine:
        if pending:
            count = index_documents(engine.client, settings, session, pending_document_ids(session))
        else:
            count = rebuild(engine.client, settings, session)
    click.echo(f"{count} pages indexed")


@main.command("check")
@click.option("--repair", "do_repair", is_flag=True, help="Re-index, delete extras, then check.")
@click.option("--no-hash", is_flag=True, help="Check that originals exist, without hashing.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def check_command(do_repair: bool, no_hash: bool, as_json: bool) -> None:
    """Compare the database with the index and the originals; exit 1 if problems remain."""
    from ingest.check import check, repair

    settings = get_settings()
    migrate.upgrade(settings)
    payload: dict[str, object] = {}
    with session_scope(settings) as session, open_search_engine(settings) as engine:
        report = check(engine.client, settings, session, verify_hashes=not no_hash)
        if do_repair and report.index_error is None and not report.consistent:
            payload["before"] = report.to_dict()
            payload["repaired"] = repair(engine.client, settings, session, report).to_dict()
            report = check(engine.client, settings, session, verify_hashes=not no_hash)
    payload["result"] = report.to_dict()
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    else:
        if "repaired" in payload:
            click.echo(f"repaired: {json.dumps(payload['repaired'])}")
        pages, docs = report.pages, report.documents
        click.echo(
            f"pages: {pages.expected} expected, {pages.indexed} indexed, {len(pages.missing)} "
            f"missing, {len(pages.extra)} extra, {len(pages.stale)} stale; "
            f"{len(report.pending_index)} pending_index"
        )
        click.echo(
            f"documents: {docs.expected} expected, {docs.indexed} indexed, {len(docs.missing)} "
            f"missing, {len(docs.extra)} extra, {len(docs.stale)} stale"
        )
        click.echo(
            f"originals: {report.originals_checked} checked, {len(report.missing_originals)} "
            f"missing, {len(report.corrupt_originals)} not matching their sha256"
        )
        if report.index_error:
            click.echo(f"index unreachable: {report.index_error}")
        click.echo("consistent" if report.consistent else "problems remain")
    sys.exit(0 if report.consistent else 1)


@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
def backup(dest: Path) -> None:
    """Snapshot the database and the originals into DEST (a new folder) with a manifest."""
    from app.backup import BackupError, create_backup

    try:
        manifest = create_backup(get_settings(), dest)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = sum(manifest.rows.values())
    click.echo(f"backup written to {dest}: {rows} rows, {len(manifest.originals)} originals")


@main.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the data of a non-empty installation.")
def restore(src: Path, force: bool) -> None:
    """Restore a backup into this installation, then rebuild the search index from it."""
    from app.backup import BackupError, restore_backup

    try:
        result = restore_backup(get_settings(), src, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"restored {result.rows} rows and {result.originals} originals; "
        f"{result.pages_indexed} pages indexed"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(as_json: bool) -> None:
    """Count documents by state and list those that need attention."""
    settings = get_settings()
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        counts = session.execute(
            select(Document.state, func.count()).group_by(Document.state)
        ).all()
        troubled = session.scalars(
            select(Document).where(Document.state_reason.is_not(None)).order_by(Document.id)
        ).all()
        if as_json:
            payload = {
                "states": {state.value: count for state, count in counts},
                "attention": [
                    {
                        "id": d.id,
                        "file": d.original_filename,
                        "state": d.state.value,
                        "retryable": d.retryable,
                        "reason": d.state_reason,
                    }
                    for d in troubled
                ],
            }
            click.echo(json.dumps(payload, indent=2))
            return
        table = Table(title="documents by state")
        table.add_column("state")
        table.add_column("count", justify="right")
        for state, count in counts:
            table.add_row(state.value, str(count))
        console.print(table)
        if troubled:
            attention = Table(title="needing attention")
            for column in ("id", "file", "state", "retry helps", "reason"):
                attention.add_column(column)
            for doc in troubled:
                attention.add_row(
                    str(doc.id),
                    doc.original_filename,
                    doc.state.value,
                    "yes" if doc.retryable else "no",
                    doc.state_reason or "",
                )
            console.print(attention)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where to write.")
@click.option("--ingest/--no-ingest", "do_ingest", default=True, help="Also ingest it.")
def demo(out: Path | None, do_ingest: bool) -> None:
    """Generate the fictional demo production and ingest it."""
    from ingest.demo import DEMO, generate_demo_production

    settings = get_settings()
    out = out or settings.resolved_data_dir / "demo"
    paths = generate_demo_production(out)
    click.echo(f"demo production written to {out} ({len(paths)} files)")
    if not do_ingest:
        return
    migrate.upgrade(settings)
    outcomes = ingest_paths(
        settings,
        paths,
        IngestTarget(
            agency=DEMO.agency,
            production=DEMO.production,
            request=DEMO.request,
            release_date=DEMO.release_date,
            languages="eng+spa",
        ),
    )
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    click.echo("demo ingested: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))


if __name__ == "__main__":
    main()


main.add_command(user_commands)


@main.group()
def versions() -> None:
    """Releases compared: the versions of each page across productions (issue 11)."""


@versions.command("rebuild")
@click.option("--queue-only", is_flag=True, help="Queue the jobs for the workers, run none.")
def versions_rebuild(queue_only: bool) -> None:
    """Drop every fingerprint, match and group and compare the archive again, one
    ``versions`` job per document (run here, unless --queue-only leaves them to workers)."""
    from ingest.jobs import worker_name
    from ingest.tasks import WorkerContext, work_once
    from ingest.versions.job import rebuild

    settings = get_settings()
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        jobs = rebuild(session)
        only = {job.document_id for job in jobs}
    if queue_only:
        click.echo(f"{len(jobs)} versions jobs queued")
        return
    with open_search_engine(settings) as engine:
        ctx = WorkerContext(settings, engine.client, worker_name())
        while work_once(ctx, only=only):
            pass
    with session_scope(settings) as session:
        groups = session.scalar(
            select(func.count(func.distinct(PageFingerprint.group_id))).where(
                PageFingerprint.group_id.is_not(None)
            )
        )
    click.echo(f"{len(jobs)} documents compared; {groups} page-version groups")


@main.group()
def findings() -> None:
    """The safety scan: failed redactions and personal data."""


@findings.command("scan")
@click.argument("document_ids", nargs=-1, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def findings_scan(document_ids: tuple[int, ...], as_json: bool) -> None:
    """Scan published documents again (all of them, or the ids given): for material
    published before the scan existed. Findings are masked from the public at once."""
    from app.services.findings import scan_documents, waiting_count

    settings = get_settings()
    migrate.upgrade(settings)
    with session_scope(settings) as session, open_search_engine(settings) as engine:
        ids = list(document_ids) or list(
            session.scalars(
                select(Document.id)
                .where(Document.published.is_(True), Document.taken_down_at.is_(None))
                .order_by(Document.id)
            )
        )
        report = scan_documents(session, engine.client, settings, ids)
        total, high = waiting_count(session, ids)
    outcome = {
        "documents": report.documents,
        "pages": report.pages,
        "documents_changed": len(report.changed),
        "findings_waiting": total,
        "findings_waiting_high": high,
        "unreadable": report.unreadable,
    }
    if as_json:
        click.echo(json.dumps(outcome, indent=2))
    else:
        click.echo(
            f"{report.documents} documents ({report.pages} pages) scanned, "
            f"{len(report.changed)} changed; {total} findings wait for review "
            f"({high} of high confidence)"
        )
