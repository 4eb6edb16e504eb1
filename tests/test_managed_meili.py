"""The embedded-mode Meilisearch: started, shared, restarted and stopped by readingroom itself."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.config import Settings
from app.meili import MeiliClient
from app.meili.managed import ManagedMeilisearch, _pid_alive


def _pid(managed: ManagedMeilisearch) -> int:
    import json

    return int(json.loads((managed.dir / "instance.json").read_text())["pid"])


@pytest.fixture
def managed(tmp_path: Path) -> ManagedMeilisearch:
    return ManagedMeilisearch(Settings(data_dir=tmp_path / "var"))


def test_starts_healthy_with_a_private_key_file_and_stops_with_its_last_user(
    managed: ManagedMeilisearch,
) -> None:
    endpoint = managed.acquire()
    pid = _pid(managed)
    client = MeiliClient(endpoint.url, endpoint.key)
    try:
        assert client.is_healthy()
        # The master key is required: an anonymous call is refused.
        anonymous = MeiliClient(endpoint.url, None)
        with pytest.raises(Exception, match="401"):
            anonymous.list_indexes()
        anonymous.close()
    finally:
        client.close()
    key_file = managed.dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    managed.release()
    assert not _pid_alive(pid)
    assert not (managed.dir / "instance.json").exists()


def test_master_key_never_reaches_logs_or_argv(managed: ManagedMeilisearch) -> None:
    endpoint = managed.acquire()
    try:
        cmdline = Path(f"/proc/{_pid(managed)}/cmdline").read_bytes().decode()
        assert endpoint.key not in cmdline
        assert endpoint.key not in repr(endpoint)
        assert endpoint.key not in (managed.dir / "meilisearch.log").read_text()
    finally:
        managed.release()


def test_second_command_on_the_same_data_folder_shares_the_instance(
    managed: ManagedMeilisearch, tmp_path: Path
) -> None:
    endpoint = managed.acquire()
    pid = _pid(managed)
    other = textwrap.dedent(
        f"""
        from pathlib import Path
        from app.config import Settings
        from app.meili.managed import ManagedMeilisearch
        m = ManagedMeilisearch(Settings(data_dir=Path({str(tmp_path / "var")!r})))
        print(m.acquire().url)
        m.release()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", other], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == endpoint.url
    # The other command has left; this one still uses the instance, so it keeps running.
    assert _pid_alive(pid)
    assert MeiliClient(endpoint.url, endpoint.key).is_healthy()
    managed.release()
    assert not _pid_alive(pid)


def test_crashed_instance_is_restarted_on_the_same_url(managed: ManagedMeilisearch) -> None:
    endpoint = managed.acquire()
    try:
        os.kill(_pid(managed), signal.SIGKILL)
        deadline = time.monotonic() + 10
        client = MeiliClient(endpoint.url, endpoint.key, timeout=1)
        while client.is_healthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.is_healthy()
        restarted = managed.ensure_running()
        assert restarted.url == endpoint.url
        assert client.is_healthy()
        client.close()
    finally:
        managed.release()


def test_dead_users_leases_do_not_keep_it_running(
    managed: ManagedMeilisearch, tmp_path: Path
) -> None:
    # A command killed without releasing leaves its lease behind; it must not count.
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from app.config import Settings
        from app.meili.managed import ManagedMeilisearch
        ManagedMeilisearch(Settings(data_dir=Path({str(tmp_path / "var")!r}))).acquire()
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    pid = _pid(managed)
    assert _pid_alive(pid)
    managed.acquire()
    managed.release()
    assert not _pid_alive(pid)


def test_missing_binary_gives_an_actionable_message(tmp_path: Path) -> None:
    from app.meili.managed import ManagedMeiliError

    managed = ManagedMeilisearch(
        Settings(data_dir=tmp_path, meili_binary=tmp_path / "no-such-meilisearch")
    )
    with pytest.raises(ManagedMeiliError, match="READINGROOM_MEILI_URL"):
        managed.acquire()
