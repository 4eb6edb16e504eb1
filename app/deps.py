"""Request-scoped dependencies: settings, a database session, the search client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.meili import MeiliClient, SearchEngine


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


def get_search_client(request: Request) -> MeiliClient:
    engine: SearchEngine = request.app.state.search_engine
    return engine.client


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
SearchDep = Annotated[MeiliClient, Depends(get_search_client)]
