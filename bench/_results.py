"""Where benchmark figures go: one summary row per figure, and a file per run to compare.

Every benchmark module ends with one call::

    from bench._results import Row, record

    record(
        "ingest",
        [
            Row("born-digital pages/s, 2 cores", 812.0, baseline=1144.0, target=">= 0.5x",
                met=True, unit="pages/s", baseline_name="pdftotext, one per core"),
            Row("peak memory of one file", 0.92, target="< 1.5", met=True, unit="GiB"),
        ],
        details,  # anything JSON can hold: per-file figures, sets, loads...
    )

A :class:`Row` is one figure: what it measures (with the set and its size), readingroom's
value, the baseline's value and name if there is one, their ratio (readingroom / baseline,
computed when not given), the target as a person reads it, and whether it was met (None
when there is no target). ``record`` writes ``bench/results/<bench>.json`` (or ``path``):
the details, with the summary beside them under ``bench``, ``when``, ``machine``,
``load_average`` and ``rows`` (so a module's own keys stay where its readers look for them,
e.g. ``scripts/reliability_report.py`` in ``load.json``), and returns that path. It also
keeps the record for ``python -m bench``, which, once its modules have run, calls
:func:`write_latest`:

- ``bench/results/latest.json``: for every benchmark, its latest rows (a run of one module
  replaces that module's entry only) and the facts of its run: cores, memory, CPU model,
  Python, git commit (and whether the tree had changes), UTC date, and the load average as
  it started and as it recorded (on a shared machine, the figure to distrust first);
- ``bench/results/latest.md``: the rows of every benchmark as one short Markdown table;
- ``bench/results/history/<UTC time>.json``: what this run recorded, details included.

``latest.json`` and ``latest.md`` are committed: README's figures point at them, and
``git log -p bench/results/latest.md`` compares runs over time, each with the commit it
measured. The history and the modules' own files stay local (git-ignored): most runs are on
a busy machine, and only the ones the README quotes are worth keeping.

:func:`table` formats rows for the terminal, so that what a module prints is what it records.

The shape is kept stable for the modules that use it: fields may be added, never renamed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_PROJECT_ROOT = RESULTS_DIR.parent.parent

# What this process recorded, by benchmark, for write_latest; and the load average when
# each benchmark started (python -m bench notes it; else the load when this was imported).
_recorded: dict[str, dict[str, Any]] = {}
_load_at_start: dict[str, float] = {}
_load_at_import = os.getloadavg()[0]


@dataclass(frozen=True)
class Row:
    """One figure of a benchmark, beside its baseline and target."""

    measure: str
    readingroom: float | None
    baseline: float | None = None
    ratio: float | None = None  # readingroom / baseline; computed when both are given
    target: str = ""
    met: bool | None = None  # None: no target
    unit: str = ""
    baseline_name: str = ""

    def resolved(self) -> Row:
        """This row with its ratio filled in (and NaN figures as None, which JSON can hold)."""
        ours, base = _finite(self.readingroom), _finite(self.baseline)
        ratio = _finite(self.ratio)
        if ratio is None and ours is not None and base:
            ratio = ours / base
        return Row(
            self.measure,
            ours,
            base,
            ratio,
            self.target,
            self.met,
            self.unit,
            self.baseline_name,
        )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def machine() -> dict[str, Any]:
    """Facts of this machine and checkout, to read a figure by."""
    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
    }
    facts.update(_git())
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=_PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def started(bench: str) -> None:
    """Note the load average as a benchmark starts (``python -m bench`` calls it)."""
    _load_at_start[bench] = os.getloadavg()[0]


def record(
    bench: str, rows: list[Row], details: dict[str, Any], *, path: Path | None = None
) -> Path:
    """Write a benchmark's details and rows to ``path`` (default ``bench/results/<bench>.json``),
    keep them for ``latest.json``; return the path written."""
    summary = {
        "bench": bench,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": {
            "before": _load_at_start.get(bench, _load_at_import),
            "after": os.getloadavg()[0],
        },
        "rows": [asdict(row.resolved()) for row in rows],
    }
    _recorded[bench] = summary | {"details": details}
    target = path or RESULTS_DIR / f"{bench}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(details | summary, indent=2, default=str) + "\n")
    return target


def recorded() -> dict[str, dict[str, Any]]:
    """What this process recorded, by benchmark."""
    return dict(_recorded)


def write_latest(
    records: dict[str, dict[str, Any]] | None = None, *, results_dir: Path = RESULTS_DIR
) -> Path | None:
    """Merge this run's records into ``latest.json``, write ``latest.md`` and a history copy.

    Returns the path of ``latest.json``, or None when nothing was recorded.
    """
    records = recorded() if records is None else records
    if not records:
        return None
    results_dir.mkdir(parents=True, exist_ok=True)
    latest_path = results_dir / "latest.json"
    latest: dict[str, Any] = {"benches": {}}
    with contextlib.suppress(OSError, ValueError):  # none yet, or unreadable: start anew
        latest = json.loads(latest_path.read_text())
    benches: dict[str, Any] = dict(latest.get("benches", {}))
    # Details stay in the history: latest.json is committed, and reads best as a diff.
    benches.update({name: _without_details(entry) for name, entry in records.items()})
    latest = {"benches": dict(sorted(benches.items()))}
    latest_path.write_text(json.dumps(latest, indent=2, default=str) + "\n")
    (results_dir / "latest.md").write_text(markdown(latest["benches"]))
    history = results_dir / "history"
    history.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (history / f"{stamp}.json").write_text(json.dumps(records, indent=2, default=str) + "\n")
    return latest_path


def _without_details(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "details"}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    """Rows as a plain table: measure, readingroom, baseline, ratio, target and verdict."""
    width = max([46, *(len(row.measure) for row in rows)])
    lines = [f"{'measure':<{width}} {'readingroom':>11} {'baseline':>10} {'ratio':>7}  target"]
    for row in (r.resolved() for r in rows):
        verdict = {True: "ok", False: "MISSED", None: ""}[row.met]
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        ours = "" if row.readingroom is None else f"{_number(row.readingroom)} {row.unit}".strip()
        target = f"{row.target} {verdict}".strip()
        if row.baseline_name:
            target = f"{target} (baseline: {row.baseline_name})".strip()
        lines.append(
            f"{row.measure:<{width}} {ours:>11} {_number(row.baseline):>10} {ratio:>7}  {target}"
        )
    return "\n".join(line.rstrip() for line in lines)


def markdown(benches: dict[str, dict[str, Any]]) -> str:
    """The rows of every benchmark as one Markdown table, with each run's commit and load."""
    lines = [
        "# Benchmark figures",
        "",
        "Written by `python -m bench` (`make bench`); see `bench/_results.py`.",
        "",
        "| bench | measure | readingroom | baseline | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in benches.items():
        for row in entry.get("rows", []):
            unit = f" {row['unit']}" if row.get("unit") and row["readingroom"] is not None else ""
            base = _number(row.get("baseline"))
            if base and row.get("baseline_name"):
                base = f"{base} ({row['baseline_name']})"
            ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[row.get("met")]
            lines.append(
                f"| {name} | {row['measure']} | {_number(row['readingroom'])}{unit} | {base} "
                f"| {ratio} | {row.get('target', '')} | {met} |"
            )
    lines += ["", "| bench | when (UTC) | commit | cores | load before → after |"]
    lines.append("| --- " * 5 + "|")
    for name, entry in benches.items():
        facts, load = entry.get("machine", {}), entry.get("load_average", {})
        commit = (facts.get("commit") or "?")[:10] + (" (changed)" if facts.get("dirty") else "")
        lines.append(
            f"| {name} | {entry.get('when', '')} | {commit} | {facts.get('cores', '')} "
            f"| {load.get('before', 0):.1f} → {load.get('after', 0):.1f} |"
        )
    return "\n".join(lines) + "\n"
