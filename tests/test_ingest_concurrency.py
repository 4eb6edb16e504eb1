"""Two first ingests into the same agency at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import event, func, select

from app.config import Settings
from app.db import engine_for, session_scope
from app.models import Agency, FoiaRequest, Production
from ingest.run import IngestTarget, resolve_production

TARGET = IngestTarget(
    agency="Office of Concurrent Releases", production="Release 1", request="2026-OCR-001"
)


def test_two_first_ingests_of_one_agency_share_its_rows(migrated_settings: Settings) -> None:
    # Both runs look for the agency and find nothing before either inserts it: each holds
    # its first agency INSERT at a barrier until the other has reached its own.
    engine = engine_for(migrated_settings.sqlalchemy_url)
    barrier = threading.Barrier(2, timeout=20)
    held = threading.local()

    def hold_first_insert(*args: Any) -> None:
        statement = str(args[2])
        if statement.startswith("INSERT INTO agencies") and not getattr(held, "done", False):
            held.done = True
            barrier.wait()

    def ingest_start(_: int) -> int:
        with session_scope(migrated_settings) as session:
            return resolve_production(session, TARGET).id

    event.listen(engine, "before_cursor_execute", hold_first_insert)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            ids = list(pool.map(ingest_start, range(2)))
    finally:
        event.remove(engine, "before_cursor_execute", hold_first_insert)

    assert ids[0] == ids[1]
    with session_scope(migrated_settings) as session:
        for model in (Agency, FoiaRequest, Production):
            assert session.scalar(select(func.count()).select_from(model)) == 1, model
        agency = session.scalars(select(Agency)).one()
        assert agency.name == TARGET.agency
