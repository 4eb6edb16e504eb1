"""Schemathesis against the app's own OpenAPI document, in-process, on a seeded archive.

Every documented operation is called with generated requests (valid ones, and the boundary
values of Schemathesis' coverage phase); each response must not be a server error, and its
status, content type and body must be the ones the document promises. Write operations run
with a volunteer's API token, so they reach the code behind the door, not only the door.

The archive is the born-digital part of the demo production (``ingest/demo.py``): the scanned
files would only add minutes of OCR and no new response shapes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili.managed import Endpoint
from app.models import Agency, Page
from app.routes.search import RATE_LIMITER
from app.services.ratelimit import Unlimited
from ingest.demo import DEMO, generate_demo_production
from ingest.run import IngestTarget, ingest_paths
from tests.auth_helpers import make_token, make_user
from tests.meili_helpers import drop_indexes

pytestmark = pytest.mark.reliability

OPENAPI_PATH = "/api/openapi.json"
ApiCase = schemathesis.Case[Any]  # generic over the operation type, which is not needed here


@schemathesis.check
def no_undeclared_server_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: ApiCase
) -> bool | None:
    """No 5xx, except one the operation declares by its exact code (oEmbed's 501 for a format
    it does not speak is the specification's answer, not a failure)."""
    declared = case.operation.definition.raw.get("responses", {})
    if response.status_code >= 500 and str(response.status_code) in declared:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_undeclared_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Seeded:
    app: FastAPI
    token: str
    # Path parameters naming real records, by parameter name.
    real: dict[str, str]


@pytest.fixture(scope="module")
def seeded(
    meili_endpoint: Endpoint,
    tmp_path_factory: pytest.TempPathFactory,
    module_database_url: str | None,
) -> Iterator[Seeded]:
    """One archive for the whole module (on each database): the requests only add
    productions and uploads."""
    folder = tmp_path_factory.mktemp("fuzz")
    prefix = f"f{uuid.uuid4().hex[:12]}_"
    config = Settings(
        data_dir=folder / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=prefix,
        database_url=module_database_url,
    )
    migrate.upgrade(config)
    born_digital = {f.filename for f in DEMO.files if not f.scanned}
    paths = [p for p in generate_demo_production(folder / "demo") if p.name in born_digital]
    target = IngestTarget(
        agency=DEMO.agency,
        production=DEMO.production,
        request=DEMO.request,
        release_date=DEMO.release_date,
    )
    outcomes = ingest_paths(config, paths, target)
    assert {o.state for o in outcomes} == {"indexed"}
    make_user(config, "fuzz@example.org")
    app = create_app(config)
    # The fuzzer is one client asking far faster than a person: the limiter is tested in
    # test_security.py, here it would only turn every later search into a 429.
    setattr(app.state, RATE_LIMITER, Unlimited())
    with session_scope(config) as session:
        page = session.scalars(
            select(Page).where(Page.bates_number.is_not(None)).order_by(Page.id)
        ).first()
        assert page is not None
        document = page.document
        production = document.productions[0]
        assert production.request is not None
        real = {
            "ref": f"{document.id}-{document.slug}",
            "number": str(page.number),
            "size": "thumb",
            "bates_number": str(page.bates_number),
            "production_id": str(production.id),
            "request_id": str(production.request.id),
            "slug": production.agency.slug,
            "part": "1",
            "page_url": f"{config.base_url}/documents/{document.id}-{document.slug}/pages/1",
        }
    yield Seeded(app, make_token(config, "fuzz@example.org"), real)
    drop_indexes(meili_endpoint, prefix)


@pytest.fixture(scope="module")
def api_schema(seeded: Seeded) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi(OPENAPI_PATH, seeded.app)


schema = schemathesis.pytest.from_fixture("api_schema")


def _call(case: ApiCase, seeded: Seeded) -> schemathesis.Response:
    # Redirects are answers too (canonical slugs, Bates numbers): each must be documented, so
    # they are checked as they come instead of followed.
    return case.call_and_validate(
        headers={"Authorization": f"Bearer {seeded.token}"}, checks=CHECKS, allow_redirects=False
    )


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: ApiCase, seeded: Seeded) -> None:
    _call(case, seeded)


# Public operations whose parameters name records: generated values almost never hit one, so
# these run again with the path (or the one required query value) naming a real record.
REAL_RECORDS = [
    "/agencies/{slug}.json",
    "/requests/{request_id}.json",
    "/productions/{production_id}.json",
    "/documents/{ref}.txt",
    "/documents/{ref}.json",
    "/documents/{ref}/original",
    "/documents/{ref}/pages/{number}.json",
    "/documents/{ref}/pages/{number}/{size}.webp",
    "/documents/{ref}/pages/{number}/embed.json",
    "/bates/{bates_number}",
    "/feeds/agencies/{slug}.atom",
    "/feeds/requests/{request_id}.atom",
    "/sitemaps/documents-{part}.xml",
    "/oembed.json",
    "/search.json",
]


@pytest.mark.parametrize("path", REAL_RECORDS)
def test_real_records_answer_as_documented(
    api_schema: schemathesis.BaseSchema, seeded: Seeded, path: str
) -> None:
    operation = api_schema[path]["GET"]
    names = {p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"}
    fixed_query = {
        "/oembed.json": {"url": seeded.real["page_url"], "format": "json"},
        "/search.json": {"q": "facetrace"},
    }.get(path)
    strategy = operation.as_strategy(
        path_parameters={name: seeded.real[name] for name in names}, query=fixed_query
    )
    statuses: list[int] = []

    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: ApiCase) -> None:
        statuses.append(_call(case, seeded).status_code)

    call()
    # The record was really served at least once, so its body was checked against the schema
    # (a Bates number answers with the redirect to its page).
    assert {200, 302} & set(statuses), statuses


def test_the_document_describes_every_public_operation(seeded: Seeded) -> None:
    # The fuzzer only reaches what the document lists: the JSON API must all be there.
    document = seeded.app.openapi()
    paths = set(document["paths"])
    for path in ("/search.json", "/api/productions", "/api/productions/{production_id}/files"):
        assert path in paths
    assert len(paths) >= 25


def test_what_the_fuzzer_found_stays_fixed(web: TestClient, migrated_settings: Settings) -> None:
    make_user(migrated_settings, "vol@example.org")
    token = {"Authorization": f"Bearer {make_token(migrated_settings, 'vol@example.org')}"}
    # Agencies whose names share a derived abbreviation ("FB") or slug ("0") were a 500
    # (UNIQUE constraint); each is now its own agency.
    for agency in ("Foo Bar", "Fizz Buzz", "0", "0.", "!!"):
        answer = web.post("/api/productions", json={"agency": agency, "title": "T"}, headers=token)
        assert answer.status_code == 201, (agency, answer.text)
    with session_scope(migrated_settings) as session:
        agencies = {(a.slug, a.abbreviation) for a in session.scalars(select(Agency))}
    assert {("fb", "FB"), ("fb-2", "FB-2"), ("0", "0"), ("0-2", "0.")} <= agencies
    # Ids beyond the database's integers were a 500 (OverflowError); now invalid input.
    huge = 2**63
    for path in (f"/api/productions/{huge}", f"/feeds/requests/{huge}.atom"):
        assert web.get(path, headers=token).status_code == 400, path
