"""Run the benchmarks: ``python -m bench`` (what ``make bench`` runs).

    python -m bench               # every bench/*.py module that has a main()
    python -m bench search ARGS   # one of them, with its own arguments

A benchmark module is any ``bench/<name>.py`` (not starting with ``_``) with a ``main()``
that returns an exit status (or None); ``main(argv)`` receives the remaining arguments when it
takes a parameter. The exit status is the worst of the modules run.

Each module records its summary rows through ``bench._results.record``; once the modules have
run, ``bench/results/latest.json`` and ``latest.md`` are rewritten with them (a run of one
module replaces only that module's entry) and a copy goes to ``bench/results/history/``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import _results

PACKAGE_DIR = Path(__file__).resolve().parent


def discover() -> dict[str, Callable[..., Any]]:
    """Benchmark entry points by module name, in alphabetical order."""
    found: dict[str, Callable[..., Any]] = {}
    for module in sorted(pkgutil.iter_modules([str(PACKAGE_DIR)]), key=lambda m: m.name):
        if module.name.startswith("_") or module.ispkg:
            continue
        entry = getattr(importlib.import_module(f"bench.{module.name}"), "main", None)
        if callable(entry):
            found[module.name] = entry
    return found


def _run(name: str, entry: Callable[..., Any], argv: list[str]) -> int:
    print(f"=== bench {name}", flush=True)
    takes_argv = bool(inspect.signature(entry).parameters)
    if argv and not takes_argv:
        print(f"bench {name} takes no arguments", file=sys.stderr)
        return 2
    _results.started(name)
    status = entry(argv) if takes_argv else entry()
    return int(status or 0)


def _write_latest() -> None:
    path = _results.write_latest()
    if path is not None:
        print(f"summary written to {path} and {path.with_suffix('.md')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    benches = discover()
    if args and not args[0].startswith("-"):
        name, rest = args[0], args[1:]
        if name not in benches:
            print(f"no benchmark {name!r}; there are: {', '.join(benches)}", file=sys.stderr)
            return 2
        try:
            return _run(name, benches[name], rest)
        finally:
            _write_latest()
    if args:
        print("usage: python -m bench [NAME [ARGS...]]", file=sys.stderr)
        return 2
    try:
        return max((_run(name, entry, []) for name, entry in benches.items()), default=0)
    finally:
        _write_latest()


if __name__ == "__main__":
    raise SystemExit(main())
