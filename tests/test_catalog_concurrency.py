"""Two volunteers create the first productions of a new agency at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import event, func, select

from app.auth.models import User
from app.config import Settings
from app.db import engine_for, session_scope
from app.models import Agency, FoiaRequest, Production
from app.services.uploads import ProductionIn, create_production
from tests.auth_helpers import make_user


def test_concurrent_first_productions_of_an_agency_share_its_rows(
    migrated_settings: Settings,
) -> None:
    users = [make_user(migrated_settings, f"vol{n}@example.org") for n in range(2)]
    # Both look for the agency and find nothing before either inserts it: each holds its
    # first agency INSERT at a barrier until the other has reached its own.
    engine = engine_for(migrated_settings.sqlalchemy_url)
    barrier = threading.Barrier(2, timeout=20)
    held = threading.local()

    def hold_first_insert(*args: Any) -> None:
        if str(args[2]).startswith("INSERT INTO agencies") and not getattr(held, "done", 0):
            held.done = True
            barrier.wait()

    def create(n: int) -> int:
        data = ProductionIn(
            agency="Office of Simultaneous Uploads",
            title=f"Release {n}",
            request_number="2026-OSU-7",
        )
        with session_scope(migrated_settings) as session:
            user = session.get(User, users[n])
            assert user is not None
            return create_production(session, user, data).id

    event.listen(engine, "before_cursor_execute", hold_first_insert)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            ids = list(pool.map(create, range(2)))
    finally:
        event.remove(engine, "before_cursor_execute", hold_first_insert)

    assert len(set(ids)) == 2
    with session_scope(migrated_settings) as session:
        assert session.scalar(select(func.count()).select_from(Agency)) == 1
        assert session.scalar(select(func.count()).select_from(FoiaRequest)) == 1
        assert session.scalar(select(func.count()).select_from(Production)) == 2
