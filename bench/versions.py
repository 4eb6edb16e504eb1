"""Releases compared: how fast a new production is compared with archives of 10k and 100k pages.

    python -m bench versions                   # archives of 10,000 and 100,000 pages
    python -m bench versions --sizes 2000,20000 --new 500

For each size, an archive of generated record pages (bench/_releases.py: e-mails whose
senders share signature blocks and a long confidentiality notice, and I-213 style forms) is
written to a fresh SQLite database in the embedded mode, already fingerprinted and compared
(its rows are written directly: building them is not what is measured). Then one new
production of ``--new`` pages (a third of them re-releases of archive pages, with another
redaction set and OCR-like noise on half of those) goes through ``compare_document``, the
``versions`` job's work, document by document: fingerprints, band look-ups, alignments,
matches, groups. The figure is its pages per second; the scaling ratio is the 100k figure
over the 10k figure (1.0 means the cost does not depend on the archive's size at all; a
comparison of all pairs would give 0.1). Peak memory is the Python heap's peak during the
comparison (tracemalloc), and the re-released pages found show the comparison still works.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.models import Document, DocumentState, Page, PageState, TextSource
from app.page_versions import FingerprintStatus, PageBand, PageFingerprint, PageMatch
from bench._releases import Writer
from bench._results import Row, record, table
from ingest.versions import METHOD_VERSION
from ingest.versions.fingerprint import fingerprint, to_bytes
from ingest.versions.job import compare_document, text_hash

PAGES_PER_DOCUMENT = 100
BATCH = 5_000


def _archive(settings: Settings, size: int, writer: Writer, reused: set[int]) -> dict[int, Any]:
    """Write ``size`` fingerprinted pages; return the records of the ``reused`` indices."""
    kept: dict[int, Any] = {}
    page_rows: list[dict[str, Any]] = []
    with session_scope(settings) as session:
        next_page = 1
        for first in range(0, size, PAGES_PER_DOCUMENT):
            document = Document(
                title=f"Archive {first}",
                slug=f"archive-{first}",
                original_filename=f"archive-{first}.pdf",
                sha256=f"{first:064x}",
                bytes=1,
                page_count=min(PAGES_PER_DOCUMENT, size - first),
                state=DocumentState.INDEXED,
                published=True,
            )
            session.add(document)
            session.flush()
            for n in range(first, min(first + PAGES_PER_DOCUMENT, size)):
                made = writer.record(f"a{n}")
                if n in reused:
                    kept[n] = made
                text = made.text(writer.redaction_set(made, 0.5))
                page_rows.append(
                    {
                        "id": next_page,
                        "document_id": document.id,
                        "number": n - first + 1,
                        "text": text,
                        "text_source": TextSource.LAYER,
                        "state": PageState.INDEXED,
                        "exemptions": [],
                    }
                )
                next_page += 1
            if len(page_rows) >= BATCH:
                _write_pages(session, page_rows)
                page_rows = []
        _write_pages(session, page_rows)
    return kept


def _write_pages(session: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    session.execute(insert(Page), rows)
    prints: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    for row in rows:
        made = fingerprint(row["text"])
        prints.append(
            {
                "page_id": row["id"],
                "document_id": row["document_id"],
                "method_version": METHOD_VERSION,
                "text_hash": text_hash(row["text"]),
                "words": made.words,
                "status": FingerprintStatus.COMPARED
                if made.signature is not None
                else FingerprintStatus.SHORT,
                "signature": to_bytes(made.signature) if made.signature is not None else None,
                "compared": True,
                "exemptions": [],
                "withheld_pages": 0,
            }
        )
        bands.extend(
            {"page_id": row["id"], "band": b, "key": k, "document_id": row["document_id"]}
            for b, k in enumerate(made.bands)
        )
    session.execute(insert(PageFingerprint), prints)
    session.execute(insert(PageBand), bands)
    session.commit()


def _new_production(
    settings: Settings, writer: Writer, kept: dict[int, Any], new: int, seed: int
) -> tuple[list[int], int]:
    """The new production's documents (ids) and how many of its pages are re-releases."""
    rng = random.Random(seed)
    reused = sorted(kept)
    ids = []
    with session_scope(settings) as session:
        texts = []
        for n in range(new):
            if n < len(reused):
                made = kept[reused[n]]
                noise = random.Random(rng.random()) if n % 2 else None
                texts.append(made.text(writer.redaction_set(made, 0.5), noise))
            else:
                texts.append(writer.record(f"n{n}").text(set()))
        rng.shuffle(texts)
        for first in range(0, new, PAGES_PER_DOCUMENT):
            chunk = texts[first : first + PAGES_PER_DOCUMENT]
            document = Document(
                title=f"New {first}",
                slug=f"new-{first}",
                original_filename=f"new-{first}.pdf",
                sha256=f"{10**12 + first:064x}",
                bytes=1,
                page_count=len(chunk),
                state=DocumentState.INDEXED,
                published=True,
            )
            session.add(document)
            session.flush()
            session.add_all(
                Page(
                    document_id=document.id,
                    number=i + 1,
                    text=text,
                    text_source=TextSource.LAYER,
                    state=PageState.INDEXED,
                )
                for i, text in enumerate(chunk)
            )
            ids.append(document.id)
    return ids, len(reused)


def measure(size: int, new: int, seed: int = 3) -> dict[str, Any]:
    """Compare a production of ``new`` pages with an archive of ``size`` pages."""
    with tempfile.TemporaryDirectory(prefix="bench-versions-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "var")
        migrate.upgrade(settings)
        writer = Writer(seed)
        rng = random.Random(seed)
        reused = set(rng.sample(range(size), new // 3))
        started = time.perf_counter()
        kept = _archive(settings, size, writer, reused)
        built = time.perf_counter() - started
        documents, rereleased = _new_production(settings, writer, kept, new, seed)
        tracemalloc.start()
        started = time.perf_counter()
        totals = {"candidates": 0, "aligned": 0, "matches": 0}
        with session_scope(settings) as session:
            for document_id in documents:
                result = compare_document(session, document_id)
                for key in totals:
                    totals[key] += getattr(result, key)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        with session_scope(settings) as session:
            matches = session.query(PageMatch).count()
    return {
        "archive_pages": size,
        "new_pages": new,
        "rereleased_pages": rereleased,
        "matches": matches,
        "found_share": matches / rereleased if rereleased else 1.0,
        "seconds": elapsed,
        "pages_per_second": new / elapsed,
        "peak_mib": peak / 2**20,
        "archive_build_seconds": built,
        **totals,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the comparison at each archive size, print the table, record the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench versions", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="archive sizes, comma-separated")
    parser.add_argument("--new", type=int, default=2000, help="pages of the new production")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    for size in sizes:
        run = measure(size, args.new)
        print(
            f"archive {size:,} pages: {run['pages_per_second']:.0f} pages/s, "
            f"peak {run['peak_mib']:.0f} MiB, {run['matches']} of {run['rereleased_pages']} "
            f"re-releases found (archive built in {run['archive_build_seconds']:.0f} s)",
            flush=True,
        )
        runs.append(run)
    rows = [
        Row(
            f"comparison pages/s, {r['new_pages']:,} new vs {r['archive_pages']:,} archive pages",
            round(r["pages_per_second"], 1),
            unit="pages/s",
        )
        for r in runs
    ]
    small, large = runs[0], runs[-1]
    ratio = large["pages_per_second"] / small["pages_per_second"]
    rows.append(
        Row(
            f"scaling: pages/s at {large['archive_pages']:,} over {small['archive_pages']:,}",
            round(ratio, 2),
            target=">= 0.5 (all pairs would give "
            f"{small['archive_pages'] / large['archive_pages']:.2f})",
            met=ratio >= 0.5,
        )
    )
    peak = max(r["peak_mib"] for r in runs)
    rows.append(
        Row(
            "peak memory of the comparison (Python heap)",
            round(peak, 1),
            target="< 512",
            met=peak < 512,
            unit="MiB",
        )
    )
    found = min(r["found_share"] for r in runs)
    rows.append(
        Row("re-released pages found", round(found, 3), target=">= 0.95", met=found >= 0.95)
    )
    print(table(rows))
    record("versions", rows, {"runs": runs})
    return 0 if all(r.met is not False for r in rows) else 1
