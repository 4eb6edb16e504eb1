"""Search latency and throughput through the app, against the same queries sent straight to
Meilisearch.

    python -m bench search [--pages 100000] [--seconds 12] [--rebuild]

1. Builds (or reuses) an index of generated pages: FOIA-like text (email headers, memo
   language, exemption markings, Bates numbers, a long tail of names) across agencies,
   requests, productions, years, document types and exemptions. Records are made by the same
   functions the pipeline uses (``ingest.index``), from unsaved model objects, and sent with
   ``add_documents`` in large batches without waiting for each task (FIELD.md: waiting halves
   throughput).
2. Serves the app with uvicorn in a subprocess (so that the load generator and the app do not
   share one interpreter lock), rate limit off, on a free port, against that Meilisearch.
3. For 1, 8 and 32 concurrent clients (one thread and one HTTPX client each), sends a mix of
   searches to ``/search.json`` and, separately, the same two Meilisearch calls that
   ``app.services.search`` makes for each of them (grouped documents with facet counts, then
   the multi-search for their pages) straight to Meilisearch.
   At each level the two run in mirrored order, as the OCR measure of ``bench/ingest.py``
   does: direct, app, app, direct, each for half of ``--seconds``, the latencies of both
   halves pooled, so that a load that drifts meanwhile weighs on both alike.
4. Prints p50/p95/p99 latency, throughput and errors, and the ratios app/direct; the targets
   are the app's p50 at most 1.5x direct and p99 at most 2x, with no errors. The figures are
   also written to ``bench/results/search-<time>.json`` and recorded
   (``bench/_results.py``: ``bench/results/search.json``, and ``latest.json`` through
   ``python -m bench``).

The index lives in ``var/bench-search`` (``--data-dir``) under a managed Meilisearch, and is
reused while its page count and settings match, so a second run skips the build.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app import migrate
from app.config import PROJECT_ROOT, Settings
from app.meili import MeiliClient
from app.meili.managed import ManagedMeilisearch
from app.models import Agency, Document, FoiaRequest, Page, Production, ProductionStatus
from app.services.search import (
    SearchQuery,
    grouped_requests,
    pages_request,
    parse_search_query,
)
from bench._results import Row, record, table
from ingest.index import (
    PAGES_SETTINGS,
    _document_fields,  # the exact record fields the pipeline writes
    apply_index_settings,
    page_record,
)

INDEX_PREFIX = "bench_"
BATCH_PAGES = 2_000
CONCURRENCY = (1, 8, 32)
TARGET_P50 = 1.5
TARGET_P99 = 2.0
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"

# --- generated archive -------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_COMMON = _words("""
the of and to a in that is for on it with as was be by this are or at from have an not which
but they all were when we there can been has more if will one would their what so about out
up them into do time only other may could than then these new some two its any our should
first also after such must under over between each those through during without within per
""")
_OFFICIAL = _words("""
request records release production agency office field division program pilot contract
vendor analytics facial recognition biometric surveillance database search detainee detention
removal enforcement investigation investigative lead subject officer agent supervisor deputy
director assistant special operations intelligence report memo memorandum email attachment
meeting briefing policy guidance procedure approval approve approved review reviewed pending
case file number immigration customs border protection homeland security justice bureau
federal state local county police department sheriff task force partner partnership access
data information system systems license licence purchase order invoice payment amount total
price pricing quote evaluation trial demonstration camera image images photo probe gallery
match matches matched candidate score threshold accuracy audit compliance privacy impact
assessment civil rights liberties counsel legal litigation court subpoena warrant exemption
withheld redacted released pages page document documents production interim final response
date week month year quarter fiscal budget funds funding award grant training users account
accounts login queries query results result hit hits location locations address phone
license plate reader vehicle travel traveler passenger flight airport port entry crossing
""")
_SPANISH = _words("el la de que y en los se del las por un para con una su al lo como más")
_NAMES = _words("""
Garcia Smith Johnson Martinez Brown Rodriguez Lopez Wilson Anderson Thomas Taylor Moore
Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker
Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera
""")

_AGENCIES = [
    ("ICE", "U.S. Immigration and Customs Enforcement"),
    ("CBP", "U.S. Customs and Border Protection"),
    ("USCIS", "U.S. Citizenship and Immigration Services"),
    ("TSA", "Transportation Security Administration"),
    ("FBI", "Federal Bureau of Investigation"),
    ("DEA", "Drug Enforcement Administration"),
    ("USMS", "U.S. Marshals Service"),
    ("LAPD", "Los Angeles Police Department"),
]
_TYPES = ["email", "memo", "letter", "form", "contract", "report", "spreadsheet", "other"]
_EXEMPTIONS = ["b4", "b5", "b6", "b7A", "b7C", "b7E", "b7F", "b3", "b1"]


def _tail_words(rng: random.Random, count: int) -> list[str]:
    """Made-up names and terms: the long tail of rare words that real releases are full of."""
    syllables = ["ka", "ro", "ten", "mi", "sol", "var", "den", "lu", "pra", "zo", "quin", "bel"]
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


@dataclass
class Vocabulary:
    words: list[str]
    cumulative: list[float]

    @classmethod
    def build(cls, rng: random.Random) -> Vocabulary:
        words = _COMMON + _OFFICIAL + _SPANISH + _NAMES + _tail_words(rng, 20_000)
        # Zipf-like: a word's weight falls with its rank, as in real text.
        weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(words))]
        cumulative: list[float] = []
        total = 0.0
        for weight in weights:
            total += weight
            cumulative.append(total)
        return cls(words, cumulative)

    def sentence(self, rng: random.Random, length: int) -> str:
        words = rng.choices(self.words, cum_weights=self.cumulative, k=length)
        words[0] = words[0].capitalize()
        return " ".join(words) + "."


@dataclass
class Catalog:
    agencies: list[Agency]
    productions: list[Production]


def _catalog(rng: random.Random) -> Catalog:
    agencies = [
        Agency(id=n, slug=abbr.lower(), name=name, abbreviation=abbr)
        for n, (abbr, name) in enumerate(_AGENCIES, start=1)
    ]
    productions = []
    requests: list[FoiaRequest] = []
    for n in range(1, 41):
        agency = agencies[(n - 1) % len(agencies)]
        if len(requests) < 16 and n % 3 != 0:
            requests.append(
                FoiaRequest(
                    id=len(requests) + 1,
                    tracking_number=f"20{rng.randint(15, 23)}-{agency.abbreviation}-{n:05d}",
                    agency=agency,
                )
            )
        release = dt.date(2016, 1, 1) + dt.timedelta(days=rng.randint(0, 2900))
        productions.append(
            Production(
                id=n,
                agency=agency,
                request=requests[-1] if requests and n % 4 else None,
                title=f"Interim release {n}",
                release_date=release,
                status=ProductionStatus.PUBLISHED,
                published_at=dt.datetime.combine(release, dt.time(12), dt.UTC),
            )
        )
    return Catalog(agencies, productions)


def _page_text(rng: random.Random, vocab: Vocabulary, kind: str, bates: str) -> str:
    lines = []
    if kind == "email" and rng.random() < 0.7:
        first, last = rng.choice(_NAMES), rng.choice(_NAMES)
        lines += [
            f"From: {first} {last} <{first.lower()}.{last.lower()}@agency.example>",
            f"Sent: {rng.choice(['Monday', 'Tuesday', 'Friday'])}, March {rng.randint(1, 28)}, "
            f"20{rng.randint(10, 23)}",
            f"Subject: {vocab.sentence(rng, rng.randint(3, 8))}",
            "",
        ]
    target_words = rng.randint(180, 420)  # letter pages run 250 to 500 words, forms fewer
    words = 0
    while words < target_words:
        length = rng.randint(6, 24)
        sentence = vocab.sentence(rng, length)
        if rng.random() < 0.12:
            sentence += f" {rng.choice(['(b)(6)', '(b)(7)(C)', '(b)(5)', '(b)(7)(E)', 'b6'])}"
        lines.append(sentence)
        words += length
    lines.append(bates)
    return "\n".join(lines)


def generate_records(pages: int, seed: int = 2021) -> Iterator[list[dict[str, Any]]]:
    """Batches of page records, ``pages`` in all, with the pipeline's exact fields."""
    rng = random.Random(seed)
    vocab = Vocabulary.build(rng)
    catalog = _catalog(rng)
    made = 0
    document_id = 0
    batch: list[dict[str, Any]] = []
    while made < pages:
        document_id += 1
        count = min(pages - made, max(1, int(rng.paretovariate(1.3))))  # many short, a few long
        production = rng.choice(catalog.productions)
        kind = rng.choice(_TYPES)
        written = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randint(0, 6800))
        title = vocab.sentence(rng, rng.randint(3, 9)).rstrip(".")
        document = Document(
            id=document_id,
            title=title,
            slug=f"document-{document_id}",
            original_filename=f"{production.agency.abbreviation}-{document_id:06d}.pdf",
            page_count=count,
            document_date=written if rng.random() < 0.85 else None,
            document_type=kind,
            published=True,
        )
        document.productions.append(production)
        for number in range(1, count + 1):
            bates = f"{production.agency.abbreviation}-2021-{made + number:06d}"
            redacted = rng.random() < 0.3
            document.pages.append(
                Page(
                    number=number,
                    text=_page_text(rng, vocab, kind, bates),
                    bates_number=bates,
                    exemptions=sorted(rng.sample(_EXEMPTIONS, rng.randint(1, 3)))
                    if redacted
                    else [],
                    redaction_count=rng.randint(1, 6) if redacted else 0,
                )
            )
        base = _document_fields(document)
        for page in document.pages:
            batch.append(page_record(document, page, base))
            if len(batch) >= BATCH_PAGES:
                yield batch
                batch = []
        made += count
    if batch:
        yield batch


def build_index(client: MeiliClient, pages: int, *, rebuild: bool) -> float | None:
    """Fill the bench index with ``pages`` pages; return pages/s, or None when reused."""
    uid = f"{INDEX_PREFIX}pages"
    existing = client.get_index(uid)
    if existing is not None and not rebuild:
        current = client.get_settings(uid)
        same_settings = all(current.get(k) == v for k, v in PAGES_SETTINGS.items())
        if same_settings and client.count_documents(uid) == pages:
            print(f"reusing the index of {pages:,} pages in {uid}")
            return None
    if existing is not None:
        client.wait(client.delete_index(uid))
    apply_index_settings(client, uid, f"{INDEX_PREFIX}documents")
    started = time.perf_counter()
    tasks = []
    sent = 0
    for batch in generate_records(pages):
        tasks.append(client.add_documents(uid, batch))
        sent += len(batch)
        print(f"\rsent {sent:,}/{pages:,} pages", end="", flush=True)
    print()
    for task in tasks:
        client.wait(task, timeout=3_600)
    elapsed = time.perf_counter() - started
    rate = pages / elapsed
    print(f"indexed {pages:,} pages in {elapsed:.0f} s ({rate:.0f} pages/s)")
    return rate


# --- the workload --------------------------------------------------------------------------------

_QUERY_WORDS = [
    "surveillance",
    "facial recognition",
    "contract",
    "detainee",
    "license plate reader",
    "biometric",
    "pilot program",
    "invoice",
    "camera",
    "subpoena",
    "gallery",
    "airport",
    "training",
    "vendor",
    "audit",
    "privacy impact",
]


def workload(count: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    """Search parameters as readers send them: words, phrases, exclusions, typos, facets,
    date ranges, sorts, later result pages."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(count):
        words = rng.choice(_QUERY_WORDS)
        shape = n % 8
        params: dict[str, Any] = {"q": words}
        if shape == 1:
            params["q"] = f'"{words}"'
        elif shape == 2:
            params["q"] = f"{words} -draft"
        elif shape == 3:
            params["q"] = words.replace("e", "a", 1)  # a typo
            params["agency"] = rng.sample([a.lower() for a, _ in _AGENCIES], 2)
        elif shape == 4:
            params["exemption"] = rng.choice(_EXEMPTIONS)
            params["type"] = rng.choice(_TYPES)
        elif shape == 5:
            params["date_from"] = f"{rng.randint(2005, 2015)}-01-01"
            params["date_to"] = f"{rng.randint(2016, 2023)}-12-31"
            params["sort"] = "date_desc"
        elif shape == 6:
            params["page"] = rng.randint(2, 5)
            params["sort"] = "released_desc"
        elif shape == 7:
            params["year"] = [str(rng.randint(2005, 2023)) for _ in range(2)]
            params["redacted"] = "true"
        out.append(params)
    return out


def _parsed(params: dict[str, Any]) -> SearchQuery:
    def values(name: str) -> list[str]:
        value = params.get(name, [])
        return [value] if isinstance(value, str) else list(value)

    return parse_search_query(
        q=params.get("q", ""),
        page=int(params.get("page", 1)),
        sort=params.get("sort", ""),
        filters={
            name: values(name)
            for name in ("agency", "request", "production", "year", "type", "exemption", "redacted")
        },
        date_from=params.get("date_from"),
        date_to=params.get("date_to"),
    )


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Measure:
    target: str
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput: float
    first_error: str | None = None


@dataclass
class Run:
    pages: int
    index_pages_per_second: float | None
    measures: list[Measure] = field(default_factory=list)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class _Timings:
    """What one or more timed stretches of one target at one level saw."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0  # measured time, warm-up left out
    elapsed: float = 0.0  # wall time with the warm-up

    def add(self, other: _Timings) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds
        self.elapsed += other.elapsed

    def summary(self, name: str, clients: int) -> Measure:
        ordered = sorted(self.latencies)
        return Measure(
            target=name,
            clients=clients,
            requests=len(ordered),
            errors=len(self.errors),
            seconds=round(self.elapsed, 2),
            p50_ms=round(statistics.median(ordered) * 1000, 2),
            p95_ms=round(_percentile(ordered, 0.95) * 1000, 2),
            p99_ms=round(_percentile(ordered, 0.99) * 1000, 2),
            throughput=round(len(ordered) / self.seconds, 1),
            first_error=self.errors[0] if self.errors else None,
        )


def measure(
    name: str,
    clients: int,
    seconds: float,
    make_call: Callable[[], Callable[[dict[str, Any]], None]],
    queries: list[dict[str, Any]],
) -> Measure:
    """Run ``clients`` threads for ``seconds``, each with its own client from ``make_call``."""
    return _time_clients(clients, seconds, make_call, queries).summary(name, clients)


def measure_mirrored(
    clients: int,
    seconds: float,
    callers: dict[str, Callable[[], Callable[[dict[str, Any]], None]]],
    queries: list[dict[str, Any]],
) -> list[Measure]:
    """Each caller for ``seconds`` in all, in two halves run in mirrored order (A B B A)."""
    timings = {name: _Timings() for name in callers}
    for name in [*callers, *reversed(callers)]:
        timings[name].add(_time_clients(clients, seconds / 2, callers[name], queries))
    return [timings[name].summary(name, clients) for name in callers]


def _time_clients(
    clients: int,
    seconds: float,
    make_call: Callable[[], Callable[[dict[str, Any]], None]],
    queries: list[dict[str, Any]],
) -> _Timings:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients)

    def worker(offset: int) -> None:
        call = make_call()
        mine: list[float] = []
        failed: list[str] = []
        for params in queries[offset : offset + 3]:  # warm the connection and the caches
            call(params)
        start_gate.wait()
        deadline = time.perf_counter() + seconds
        n = offset
        while time.perf_counter() < deadline:
            params = queries[n % len(queries)]
            n += 1
            began = time.perf_counter()
            try:
                call(params)
            except Exception as exc:  # every failure is counted; none stops the run
                failed.append(f"{type(exc).__name__}: {exc}"[:300])
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, [i * 31 % len(queries) for i in range(clients)]))
    return _Timings(latencies, errors, seconds, time.perf_counter() - began)


def app_caller(base_url: str) -> Callable[[], Callable[[dict[str, Any]], None]]:
    def make() -> Callable[[dict[str, Any]], None]:
        client = httpx.Client(base_url=base_url, timeout=30)

        def call(params: dict[str, Any]) -> None:
            answer = client.get("/search.json", params=params)
            if answer.status_code != 200:
                raise RuntimeError(f"{answer.status_code} {answer.text[:200]}")

        return call

    return make


def direct_caller(
    meili_url: str, key: str, settings: Settings
) -> Callable[[], Callable[[dict[str, Any]], None]]:
    # Queries are parsed once, outside the timing: the app's own parsing is app overhead.
    def make() -> Callable[[dict[str, Any]], None]:
        client = httpx.Client(
            base_url=meili_url,
            timeout=30,
            # As MeiliClient does: gzip answers stall ~40 ms on kept-alive connections.
            headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"},
        )
        parsed: dict[str, SearchQuery] = {}

        def call(params: dict[str, Any]) -> None:
            marker = json.dumps(params, sort_keys=True)
            query = parsed.get(marker)
            if query is None:
                query = parsed[marker] = _parsed(params)
            first = client.post(
                "/multi-search", json={"queries": grouped_requests(settings, query)}
            )
            first.raise_for_status()
            hits = first.json()["results"][0]["hits"]
            if hits:
                second = client.post(
                    "/multi-search",
                    json={
                        "queries": [pages_request(settings, query, h["document_id"]) for h in hits]
                    },
                )
                second.raise_for_status()

        return call

    return make


# --- the app in a subprocess ---------------------------------------------------------------------


def bench_app() -> FastAPI:
    """The app as ``readingroom serve`` builds it, with the search rate limit off."""
    from app.main import create_app
    from app.routes.search import RATE_LIMITER
    from app.services.ratelimit import Unlimited

    app = create_app()
    setattr(app.state, RATE_LIMITER, Unlimited())
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_app(settings: Settings, meili_url: str, key: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "READINGROOM_DATA_DIR": str(settings.data_dir),
        "READINGROOM_MEILI_URL": meili_url,
        "READINGROOM_MEILI_KEY": key,
        "READINGROOM_INDEX_PREFIX": INDEX_PREFIX,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.search:bench_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=PROJECT_ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the app did not answer /healthz within 60 s")


# --- report --------------------------------------------------------------------------------------


def rows(run: Run) -> list[Row]:
    """The summary rows: at each level, the app's p50 and p99 against direct calls."""
    out: list[Row] = []
    if run.index_pages_per_second is not None:
        out.append(
            Row(f"index build, {run.pages:,} pages", run.index_pages_per_second, unit="pages/s")
        )
    for clients in CONCURRENCY:
        direct = next(m for m in run.measures if m.target == "direct" and m.clients == clients)
        app = next(m for m in run.measures if m.target == "app" and m.clients == clients)
        clean = app.errors == direct.errors == 0
        for name, ours, base, target in (
            ("p50", app.p50_ms, direct.p50_ms, TARGET_P50),
            ("p99", app.p99_ms, direct.p99_ms, TARGET_P99),
        ):
            out.append(
                Row(
                    f"search {name} ms, {clients} clients, {run.pages:,} pages",
                    ours,
                    baseline=base,
                    target=f"<= {target}x, no errors",
                    met=ours / base <= target and clean,
                    unit="ms",
                    baseline_name="the same Meilisearch calls, direct",
                )
            )
        out.append(
            Row(
                f"  requests/s, {clients} clients",
                app.throughput,
                baseline=direct.throughput,
                target=f"errors {app.errors}/{direct.errors}",
                unit="req/s",
            )
        )
    return out


def report(run: Run) -> bool:
    """Print the table and the ratios; True when every target is met."""
    print()
    print(f"search benchmark: {run.pages:,} pages, mixed queries (see bench/search.py workload)")
    header = (
        f"{'target':<7} {'clients':>7} {'requests':>9} {'errors':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}"
    )
    print(header)
    print("-" * len(header))
    for m in run.measures:
        print(
            f"{m.target:<7} {m.clients:>7} {m.requests:>9} {m.errors:>6} "
            f"{m.p50_ms:>8.1f} {m.p95_ms:>8.1f} {m.p99_ms:>8.1f} {m.throughput:>8.1f}"
        )
    print()
    ok = True
    for clients in CONCURRENCY:
        direct = next(m for m in run.measures if m.target == "direct" and m.clients == clients)
        app = next(m for m in run.measures if m.target == "app" and m.clients == clients)
        p50 = app.p50_ms / direct.p50_ms
        p99 = app.p99_ms / direct.p99_ms
        met = p50 <= TARGET_P50 and p99 <= TARGET_P99 and app.errors == direct.errors == 0
        ok = ok and met
        print(
            f"{clients:>2} clients: app/direct p50 {p50:.2f}x (target <= {TARGET_P50}), "
            f"p99 {p99:.2f}x (target <= {TARGET_P99}), errors {app.errors}/{direct.errors}, "
            f"throughput {app.throughput / direct.throughput:.2f}x  "
            f"{'ok' if met else 'MISSED'}"
        )
        for m in (app, direct):
            if m.first_error:
                print(f"   first {m.target} error: {m.first_error}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the index, measure, print; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__)
    parser.add_argument("--pages", type=int, default=100_000, help="pages in the index")
    parser.add_argument("--seconds", type=float, default=12.0, help="per level and target")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if reusable")
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "var" / "bench-search")
    args = parser.parse_args(argv)

    settings = Settings(data_dir=args.data_dir, index_prefix=INDEX_PREFIX)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    managed = ManagedMeilisearch(settings)
    endpoint = managed.acquire()
    app_process: subprocess.Popen[bytes] | None = None
    try:
        client = MeiliClient(endpoint.url, endpoint.key, timeout=600)
        rate = build_index(client, args.pages, rebuild=args.rebuild)
        app_settings = settings.model_copy(update={"meili_url": endpoint.url})
        migrate.upgrade(app_settings)
        app_process, app_url = start_app(app_settings, endpoint.url, endpoint.key)
        queries = workload()
        run = Run(args.pages, round(rate, 1) if rate else None)
        callers = {
            "direct": direct_caller(endpoint.url, endpoint.key, app_settings),
            "app": app_caller(app_url),
        }
        for clients in CONCURRENCY:
            for result in measure_mirrored(clients, args.seconds, callers, queries):
                print(
                    f"{result.target:>6} x{clients:<2}: p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, {result.throughput:.0f} req/s"
                )
                run.measures.append(result)
        ok = report(run)
        print()
        print(table(rows(run)))
        record("search", rows(run), asdict(run))
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"search-{stamp}.json"
        path.write_text(json.dumps(asdict(run), indent=2))
        print(f"\nfigures written to {path.relative_to(PROJECT_ROOT)}")
        client.close()
        return 0 if ok else 1
    finally:
        if app_process is not None:
            app_process.terminate()
            app_process.wait(timeout=30)
        managed.release()


if __name__ == "__main__":
    raise SystemExit(main())
