"""The embedded-mode Meilisearch: a child process that readingroom starts and stops itself.

Several commands on one data folder (``serve`` and ``ingest``, say) share one instance. They
meet through files under ``<data dir>/meilisearch/``:

- ``lock``: an ``flock`` held while the instance is inspected, started or stopped;
- ``instance.json``: pid, port and URL of the running instance;
- ``master.key``: the generated master key (mode 0600; never logged, never sent to a browser);
- ``users/<pid>-<token>``: one lease per user. The last user to release stops the process;
  leases of processes that died without releasing are pruned.

The process runs in its own session so that Ctrl+C on one command does not kill it under the
others; a crashed instance is restarted on the same port by the next ``acquire`` or by
``ensure_running`` (which ``serve`` calls from a watchdog thread).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.meili.client import MeiliClient

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


class ManagedMeiliError(Exception):
    """The managed Meilisearch could not be started."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    key: str

    def __repr__(self) -> str:  # the key must never end up in a log line or traceback
        return f"Endpoint(url={self.url!r}, key=<hidden>)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (dead child not yet reaped) still answers kill(0); it is not alive for us.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_meilisearch(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)
    return b"meilisearch" in cmdline


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ManagedMeilisearch:
    """Start, share and stop the Meilisearch of one data folder."""

    def __init__(self, settings: Settings) -> None:
        self._binary = settings.meili_binary_path()
        self.dir = settings.meili_dir
        self._lease: Path | None = None

    @property
    def _state_file(self) -> Path:
        return self.dir / "instance.json"

    @property
    def _key_file(self) -> Path:
        return self.dir / "master.key"

    @property
    def _users_dir(self) -> Path:
        return self.dir / "users"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def master_key(self) -> str:
        """The instance's master key, generated once and kept readable by the owner only."""
        if not self._key_file.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        self._key_file.chmod(0o600)
        return self._key_file.read_text().strip()

    def _read_state(self) -> dict[str, int | str] | None:
        try:
            state: dict[str, int | str] = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None
        return state

    def _healthy(self, url: str, key: str) -> bool:
        client = MeiliClient(url, key, timeout=2.0)
        try:
            return client.is_healthy()
        finally:
            client.close()

    def running_endpoint(self) -> Endpoint | None:
        """The endpoint of a live, healthy instance, or None."""
        state = self._read_state()
        if not state:
            return None
        pid, url = int(state["pid"]), str(state["url"])
        if not (_pid_alive(pid) and _is_meilisearch(pid)):
            return None
        key = self.master_key()
        return Endpoint(url, key) if self._healthy(url, key) else None

    def _start(self, key: str) -> Endpoint:
        if self._binary is None or not self._binary.exists():
            raise ManagedMeiliError(
                "no Meilisearch binary: run `make install` (it fetches the pinned 1.21 binary), "
                "put `meilisearch` on PATH, or set READINGROOM_MEILI_URL to an external server"
            )
        previous = self._read_state()
        port = int(previous["port"]) if previous else 0
        if not port or not _port_free(port):
            port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = self.dir / "meilisearch.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # The key goes through the environment, not argv, so `ps` never shows it.
            "MEILI_MASTER_KEY": key,
            "MEILI_NO_ANALYTICS": "true",
        }
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [
                    str(self._binary),
                    "--db-path",
                    str(self.dir / "data.ms"),
                    "--dump-dir",
                    str(self.dir / "dumps"),
                    "--snapshot-dir",
                    str(self.dir / "snapshots"),
                    "--http-addr",
                    f"127.0.0.1:{port}",
                    "--env",
                    "development",
                    "--log-level",
                    "WARN",
                    "--experimental-reduce-indexing-memory-usage",
                    # The embedded instance shares a small machine with OCR workers.
                    "--max-indexing-memory",
                    "512 MiB",
                ],
                stdout=log_file,
                stderr=log_file,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.dir,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise ManagedMeiliError(
                    f"Meilisearch exited with code {process.returncode} at start; log:\n{tail}"
                )
            if self._healthy(url, key):
                state = {"pid": process.pid, "port": port, "url": url}
                self._state_file.write_text(json.dumps(state))
                log.info("started managed Meilisearch pid %s at %s", process.pid, url)
                return Endpoint(url, key)
            time.sleep(0.05)
        self._kill(process.pid)
        raise ManagedMeiliError(f"Meilisearch did not become healthy in {START_TIMEOUT_SECONDS}s")

    def _kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _pid_alive(pid) and time.monotonic() < deadline:
            self._reap(pid)
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap(pid)

    @staticmethod
    def _reap(pid: int) -> None:
        # Only the process that started the child can reap it; others get ECHILD.
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)

    def _ensure_running_locked(self) -> Endpoint:
        endpoint = self.running_endpoint()
        if endpoint is not None:
            return endpoint
        state = self._read_state()
        if state and _pid_alive(int(state["pid"])) and _is_meilisearch(int(state["pid"])):
            # Alive but not answering: give a starting instance a moment, then replace it.
            key = self.master_key()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self._healthy(str(state["url"]), key):
                    return Endpoint(str(state["url"]), key)
                time.sleep(0.2)
            self._kill(int(state["pid"]))
        return self._start(self.master_key())

    def ensure_running(self) -> Endpoint:
        """Return the live instance, restarting it (same port when free) if it has died."""
        with self._locked():
            return self._ensure_running_locked()

    def acquire(self) -> Endpoint:
        """Start or join the shared instance and register this process as one of its users."""
        with self._locked():
            endpoint = self._ensure_running_locked()
            self._users_dir.mkdir(exist_ok=True)
            lease = self._users_dir / f"{os.getpid()}-{secrets.token_hex(4)}"
            lease.touch()
            self._lease = lease
            return endpoint

    def _live_leases(self) -> list[Path]:
        live = []
        for lease in self._users_dir.glob("*-*") if self._users_dir.exists() else []:
            pid = int(lease.name.split("-", 1)[0])
            if _pid_alive(pid):
                live.append(lease)
            else:
                lease.unlink(missing_ok=True)
        return live

    def release(self) -> None:
        """Drop this user's lease; the last user stops the process."""
        with self._locked():
            if self._lease is not None:
                self._lease.unlink(missing_ok=True)
                self._lease = None
            if self._live_leases():
                return
            state = self._read_state()
            if state and _pid_alive(int(state["pid"])) and _is_meilisearch(int(state["pid"])):
                self._kill(int(state["pid"]))
                log.info("stopped managed Meilisearch pid %s", state["pid"])
            self._state_file.unlink(missing_ok=True)
