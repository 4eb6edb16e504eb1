"""Run the benchmarks: ``python -m bench`` (what ``make bench`` runs).

    python -m bench               # every bench/*.py module that has a main()
    python -m bench search ARGS   # one of them, with its own arguments

A benchmark module is any ``bench/<name>.py`` (not starting with ``_``) with a ``main()``
that returns an exit status (or None); ``main(argv)`` receives the remaining arguments when it
takes a parameter. The exit status is the worst of the modules run.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    status = entry(argv) if takes_argv else entry()
    return int(status or 0)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    benches = discover()
    if args and not args[0].startswith("-"):
        name, rest = args[0], args[1:]
        if name not in benches:
            print(f"no benchmark {name!r}; there are: {', '.join(benches)}", file=sys.stderr)
            return 2
        return _run(name, benches[name], rest)
    if args:
        print("usage: python -m bench [NAME [ARGS...]]", file=sys.stderr)
        return 2
    return max((_run(name, entry, []) for name, entry in benches.items()), default=0)


if __name__ == "__main__":
    raise SystemExit(main())
