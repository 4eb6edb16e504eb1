"""The forkserver that every worker process of the pipeline is forked from.

Helper processes (ingest.run) and OCR pool workers (ingest.ocr) are started from one
forkserver, never by a plain fork: the starting process may hold threads (a web server's, a
progress bar's) and a lock held by one of them would stay locked forever in the child.

A forked worker starts with whatever the forkserver imported, and nothing else. Python's own
preload of ``__main__`` does not work for a forkserver (the server is never told the main
module's path), so every worker ran the main module again as ``__mp_main__`` when it started:
``bench.ingest`` or the ``readingroom`` command, with their imports, 0.5 s of CPU per OCR
worker, on a core that should be reading a page. The modules named by :func:`preload_modules`
are imported once in the server instead, and a worker's re-run of the main module then finds
them imported already.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import sys
import warnings
from pathlib import Path

# What a worker runs: the pipeline (which imports ingest.ocr and its libraries).
_PIPELINE = "ingest.run"
# The `readingroom` command is a script that imports this module and calls it.
_COMMAND_NAME = "readingroom"
_COMMAND_MODULE = "app.cli"

# A worker still runs a `python -m` main module again (its body only, the imports are done),
# and runpy warns that the module is in sys.modules already: it was preloaded, on purpose.
# The warning is raised in the worker before any code of ours runs there; filters set here,
# at import, reach it through the forkserver, which imports this module with the pipeline.
warnings.filterwarnings(
    "ignore",
    message=r"'[\w.]+' found in sys\.modules after import of package",
    category=RuntimeWarning,
)


def preload_modules() -> list[str]:
    """The modules the forkserver imports before forking workers: the pipeline, and what
    this process's main module will import again in every worker."""
    modules = [_PIPELINE]
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name and not spec_name.endswith(".__main__"):
        # `python -m package.module`: a worker runs that module again by name.
        modules.append(spec_name)
    elif spec_name is None and Path(getattr(main, "__file__", "") or "").name == _COMMAND_NAME:
        modules.append(_COMMAND_MODULE)
    return modules


def forkserver_context() -> multiprocessing.context.ForkServerContext:
    """The forkserver context, its preload set (see the module docstring).

    The preload only takes effect if the server is not running yet; this process's first
    pool or helper starts it, and later calls change nothing.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload_modules())
    return context


def warm_forkserver() -> None:
    """Start the forkserver now, so that its imports run while this process does other work.

    Without effect if the server runs already.
    """
    forkserver_context()
    multiprocessing.forkserver.ensure_running()
