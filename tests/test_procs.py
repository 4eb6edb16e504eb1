"""The forkserver's preload: workers start with the main module's imports done already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT
from ingest.procs import preload_modules

# A main module run with -m: it imports a dependency that writes the pid of every process
# that imports it, then starts a pool from the pipeline's forkserver.
_MAIN = """
import json, os, sys
from concurrent.futures import ProcessPoolExecutor
import rrprobe.dep

def pid() -> int:
    return os.getpid()

if __name__ == "__main__":
    from ingest.procs import forkserver_context
    with ProcessPoolExecutor(max_workers=2, mp_context=forkserver_context()) as pool:
        workers = sorted({f.result() for f in [pool.submit(pid) for _ in range(4)]})
    print(json.dumps({"parent": os.getpid(), "workers": workers}))
"""
_DEP = """
import os
with open(os.environ["RRPROBE_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")
"""


def test_pool_workers_do_not_import_the_main_modules_dependencies_again(tmp_path: Path) -> None:
    package = tmp_path / "rrprobe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text(textwrap.dedent(_MAIN))
    (package / "dep.py").write_text(textwrap.dedent(_DEP))
    log = tmp_path / "imports.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)]),
        "RRPROBE_LOG": str(log),
    }
    out = subprocess.run(
        [sys.executable, "-m", "rrprobe.main"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    importers = [int(line) for line in log.read_text().split()]
    assert result["workers"], "the pool ran no worker"
    # The parent imported it, and the forkserver once for all of its forks; no worker did.
    assert result["parent"] in importers
    assert not set(result["workers"]) & set(importers)
    assert len(importers) == 2
    assert "Warning" not in out.stderr  # runpy's note on the preloaded main module is silenced


@pytest.mark.parametrize(
    ("spec_name", "file_name", "expected"),
    [
        ("bench.ingest", "/x/bench/ingest.py", ["ingest.run", "bench.ingest"]),
        ("bench.__main__", "/x/bench/__main__.py", ["ingest.run"]),  # never run again
        (None, "/venv/bin/readingroom", ["ingest.run", "app.cli"]),
        (None, "/venv/bin/pytest", ["ingest.run"]),
    ],
)
def test_preload_follows_the_main_module(
    monkeypatch: pytest.MonkeyPatch, spec_name: str | None, file_name: str, expected: list[str]
) -> None:
    class Spec:
        name = spec_name

    class Main:
        __spec__ = Spec() if spec_name else None
        __file__ = file_name

    monkeypatch.setitem(sys.modules, "__main__", Main)
    assert preload_modules() == expected
