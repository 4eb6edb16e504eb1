"""In CI nothing the suite needs may be missing: a test that cannot run fails instead of
skipping (``tests/conftest.py: require``). Proved on PostgreSQL, in a pytest of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT

NEEDS_POSTGRESQL = """
def test_on_postgresql(postgres_url):
    assert postgres_url
"""
# Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
DEAD_SERVER = "postgresql+psycopg://postgres@127.0.0.1:9/readingroom_test"


def _pytest(tmp_path: Path, ci: bool, postgres_url: str | None) -> subprocess.CompletedProcess[str]:
    """Run a one-test file that needs PostgreSQL, with the suite's fixtures."""
    test_file = tmp_path / "test_needs_postgresql.py"
    test_file.write_text(NEEDS_POSTGRESQL)
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "READINGROOM_TEST_POSTGRES_URL"}}
    if ci:
        env["CI"] = "true"
    if postgres_url:
        env["READINGROOM_TEST_POSTGRES_URL"] = postgres_url
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",  # the suite's fixtures, for a file outside the suite
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--rootdir",
            str(tmp_path),
            "-q",
            "-rA",
            str(test_file),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("postgres_url", "reason"),
    [
        (None, "READINGROOM_TEST_POSTGRES_URL is not set"),
        (DEAD_SERVER, "PostgreSQL at READINGROOM_TEST_POSTGRES_URL does not answer"),
    ],
    ids=["unset", "not-answering"],
)
def test_in_ci_a_missing_postgresql_fails_the_run_instead_of_skipping(
    tmp_path: Path, postgres_url: str | None, reason: str
) -> None:
    run = _pytest(tmp_path, ci=True, postgres_url=postgres_url)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "1 error" in output, output
    assert "skipped" not in output, output
    assert reason in output, output
    assert "CI is set" in output, output


def test_on_a_laptop_a_missing_postgresql_skips_with_its_reason(tmp_path: Path) -> None:
    run = _pytest(tmp_path, ci=False, postgres_url=None)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.OK, output
    assert "1 skipped" in output, output
    assert "READINGROOM_TEST_POSTGRES_URL is not set" in output, output
