"""The worker benchmark's quick mode: real Celery workers over the real Redis, the app, a real
upload, and every page found by search (about a minute on 2 idle cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from bench import workers
from tests.conftest import require

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.mark.slow
@pytest.mark.redis
def test_quick_benchmark_measures_complete_runs(tmp_path: Path) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
        trouble = None
    except redis.ConnectionError as exc:
        trouble = f"Redis is not answering at {REDIS_URL}: {exc}"
    finally:
        client.close()
    require(trouble is None, trouble or "")
    output = tmp_path / "workers.json"

    status = workers.main(["--quick", "--redis", REDIS_URL, "--output", str(output)])

    results = json.loads(output.read_text())
    assert "error" not in results, results.get("error")
    assert status == 0
    scaling, upload = results["scaling"], results["upload"]
    for run in (scaling["one_worker"], scaling["two_workers"]):
        assert run["state"] == "indexed"
        assert run["ocr_pages"] == run["with_common_word"] == workers.QUICK.scaling_pages
        assert run["pages_per_minute"] > 0
    assert scaling["complete"]
    assert scaling["scaling_ratio"] == pytest.approx(
        scaling["two_workers"]["pages_per_minute"] / scaling["one_worker"]["pages_per_minute"]
    )
    assert upload["complete"]
    assert upload["ocr_pages"] == upload["with_common_word"] == workers.QUICK.upload_pages
    assert upload["seconds_to_first_page_searchable"] > 0
    assert upload["seconds_to_first_page_searchable"] <= upload["seconds_to_all_pages_searchable"]
    assert upload["pages_found_by_their_own_code"] >= workers.QUICK.upload_pages - 1
