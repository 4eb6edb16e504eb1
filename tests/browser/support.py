"""What every browser test needs: Debian's chromium, a site served by uvicorn, screenshots."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from playwright.sync_api import Page
from pydantic import SecretStr

from app.config import PROJECT_ROOT, Settings
from app.main import create_app
from app.meili.managed import Endpoint
from tests.meili_helpers import drop_indexes

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"


@dataclass(frozen=True)
class Site:
    url: str
    settings: Settings


def site_settings(
    data_dir: Path, endpoint: Endpoint, prefix: str, database_url: str | None
) -> Settings:
    """Settings of a fresh installation on a free local port, with its own index prefix and
    database (``None``: SQLite in the data folder)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return Settings(
        data_dir=data_dir,
        meili_url=endpoint.url,
        meili_key=SecretStr(endpoint.key),
        index_prefix=f"{prefix}{uuid.uuid4().hex[:10]}_",
        base_url=f"http://127.0.0.1:{port}",
        database_url=database_url,
    )


@contextmanager
def served(settings: Settings, endpoint: Endpoint) -> Iterator[Site]:
    """Serve the app with uvicorn in a thread; stop it and drop its indexes afterwards."""
    port = int(settings.base_url.rsplit(":", 1)[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Site(settings.base_url, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        drop_indexes(endpoint, settings.index_prefix)


def shot(page: Page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
