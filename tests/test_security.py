"""Attacks on the public site and the accounts: XSS, unclassified write routes, missing
security headers, leaked secrets, and a search flood.

Every check reads what a browser or a feed reader would read: HTML is parsed with
BeautifulSoup, Atom and sitemaps with ``xml.etree`` (and the HTML inside Atom ``content`` is
parsed again, since that is what a feed reader renders).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from app import migrate
from app.auth.models import Role
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.models import Document, FoiaRequest
from app.routes.search import RATE_LIMITER
from app.services.ratelimit import DEFAULT_BURST, RateLimiter
from tests.archive_helpers import document_url, ingest_pdf
from tests.auth_helpers import (
    PASSWORD,
    app_write_routes,
    bearer,
    create_production_api,
    csrf_of,
    login,
    make_token,
    make_user,
    new_client,
    route_url,
    wait_processed,
)
from tests.pdfs import make_text_pdf

pytestmark = pytest.mark.reliability

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
PAYLOADS = (SCRIPT, IMG, JS_URL)
ATOM = "{http://www.w3.org/2005/Atom}"


# --- hostile documents --------------------------------------------------------------------


def _hostile_pdf(path: Path, lines: list[str], *, title: str | None) -> Path:
    """A born-digital PDF whose text (and metadata title, author, subject) carry payloads."""
    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=True)
    if title is not None:
        pdf.setTitle(title)
        pdf.setAuthor(IMG)
        pdf.setSubject(JS_URL)
    pdf.setFont("Helvetica", 10)
    y = 720.0
    for line in lines:
        pdf.drawString(72, y, line)
        y -= 14
    pdf.showPage()
    pdf.save()
    return path


EMAIL_LINES = [
    f"From: Mallory {SCRIPT} <mallory@example.org>",
    "Sent: Monday, March 1, 2021 10:15 AM",
    f"To: Bob {IMG} <bob@example.org>",
    f"Subject: quokka plans {JS_URL}",
    "",
    f"The quokka memo {SCRIPT} says see {JS_URL} and {IMG} for details.",
]
TEXT_LINES = [
    f"Quokka sightings {SCRIPT} near the border {IMG} logged {JS_URL} today.",
]


@dataclass(frozen=True)
class Hostile:
    email_id: int  # title from the PDF metadata, email headers from its text
    named_id: int  # title from its file name
    production_id: int
    request_id: int
    agency_slug: str


@pytest.fixture
def hostile(web: TestClient, migrated_settings: Settings, tmp_path: Path) -> Hostile:
    """Two documents through the real pipeline, their production and request hostile too."""
    folder = tmp_path / "in"
    folder.mkdir()
    email_pdf = _hostile_pdf(folder / "mail.pdf", EMAIL_LINES, title=f"Quokka {SCRIPT} {IMG}")
    # A file name can carry markup but not "/" (so not "</script>").
    named_pdf = _hostile_pdf(folder / f"quokka {IMG} <script>.pdf", TEXT_LINES, title=None)
    agency, release = f"Agency {IMG}", f"Release {SCRIPT}"
    email_id = ingest_pdf(
        migrated_settings, email_pdf, agency=agency, production=release, request="2021-XSS-1"
    )
    named_id = ingest_pdf(
        migrated_settings, named_pdf, agency=agency, production=release, request="2021-XSS-1"
    )
    with session_scope(migrated_settings) as session:
        email = session.get(Document, email_id)
        named = session.get(Document, named_id)
        assert email is not None
        assert named is not None
        assert SCRIPT in email.title  # the pipeline took the metadata title
        assert SCRIPT in email.email_headers.get("from", "")
        assert IMG in email.email_headers.get("to", "")
        assert IMG in named.original_filename
        production = email.productions[0]
        production.description = f"About {SCRIPT} and {IMG}"
        production.source_url = JS_URL
        request = session.get(FoiaRequest, production.request_id)
        assert request is not None
        request.subject = f"Records on {SCRIPT}"
        request.requester = IMG
        return Hostile(email_id, named_id, production.id, request.id, production.agency.slug)


# --- what must not be there ---------------------------------------------------------------


def _dangerous_markup(html: str) -> list[str]:
    """Elements and attributes a payload would have created, if any escaping failed."""
    found: list[str] = []
    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(True):
        assert isinstance(element, Tag)
        if element.name == "script" and (element.get("src") is None or element.string):
            found.append(f"inline script: {element}")
        if element.name == "img" and element.get("src") == "x":
            found.append(f"injected image: {element}")
        for name, value in element.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on"):
                found.append(f"event handler {name}= on <{element.name}>")
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href") and (
                re.sub(r"[\s\x00-\x1f]", "", text).lower().startswith("javascript:")
            ):
                found.append(f"javascript: URL in {name}= of <{element.name}>")
    return found


def _visible_text(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text(" ")


def _check_html(answer: Response, *, expect: tuple[str, ...] = ()) -> None:
    assert answer.status_code == 200, (answer.url, answer.status_code)
    assert answer.headers["content-type"].startswith("text/html"), answer.url
    assert _dangerous_markup(answer.text) == [], answer.url
    text = _visible_text(answer.text)
    for payload in expect:
        # Shown as text: the escaped payload reads back as the payload itself.
        assert payload in text, (answer.url, payload)


def _check_json(answer: Response) -> None:
    assert answer.status_code == 200, (answer.url, answer.status_code)
    assert answer.headers["content-type"].startswith("application/json"), answer.url
    assert answer.headers["x-content-type-options"] == "nosniff"
    answer.json()


def _check_xml(answer: Response, *, expect: tuple[str, ...] = ()) -> ET.Element:
    assert answer.status_code == 200, (answer.url, answer.status_code)
    # Well-formed means every payload was escaped (our own output, so not an XML bomb).
    root = ET.fromstring(answer.content)  # noqa: S314
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        assert local not in ("script", "img"), (answer.url, element.tag)
        for name, value in element.attrib.items():
            assert not value.strip().lower().startswith("javascript:"), (answer.url, name)
        if local == "content" and element.get("type") == "html" and element.text:
            # A feed reader renders this HTML: it must be as harmless as our own pages.
            assert _dangerous_markup(element.text) == [], (answer.url, element.text)
    texts = " ".join("".join(e.itertext()) for e in root.iter())
    for payload in expect:
        assert payload in texts, (answer.url, payload)
    return root


def test_payloads_in_documents_and_metadata_never_become_markup(
    web: TestClient, hostile: Hostile, migrated_settings: Settings
) -> None:
    email_url = document_url(migrated_settings, hostile.email_id)
    named_url = document_url(migrated_settings, hostile.named_id)
    production = f"/productions/{hostile.production_id}"
    request = f"/requests/{hostile.request_id}"
    agency = f"/agencies/{hostile.agency_slug}"
    base = migrated_settings.base_url

    _check_html(web.get("/search", params={"q": "quokka"}), expect=(SCRIPT, IMG, JS_URL))
    _check_json(web.get("/search.json", params={"q": "quokka"}))
    for search in ("alert", "onerror", "javascript", "script"):
        _check_html(web.get("/search", params={"q": search}))
    _check_html(web.get("/search", params={"q": SCRIPT}), expect=(SCRIPT,))
    _check_html(web.get("/search", params={"q": IMG}), expect=(IMG,))
    _check_xml(web.get("/search.atom", params={"q": "quokka"}), expect=(SCRIPT,))

    _check_html(web.get(email_url), expect=(SCRIPT, IMG, JS_URL))  # title, headers, metadata
    _check_html(web.get(named_url), expect=(IMG,))  # file name
    _check_html(web.get(f"{email_url}/pages/1", params={"q": "quokka"}), expect=(SCRIPT, IMG))
    _check_html(web.get(f"{email_url}/pages/1/embed", params={"q": "memo"}), expect=(SCRIPT,))
    for path in (
        f"{email_url}.json",
        f"{email_url}/pages/1.json",
        f"{email_url}/pages/1/embed.json",
    ):
        _check_json(web.get(path))
    text = web.get(f"{email_url}.txt")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.headers["x-content-type-options"] == "nosniff"

    for path in ("/", "/agencies", agency, production, request):
        _check_html(web.get(path), expect=(IMG,))
    for path in ("/index.json", "/agencies.json", f"{production}.json", f"{request}.json"):
        _check_json(web.get(path))
    production_page = BeautifulSoup(web.get(production).text, "html.parser")
    assert JS_URL in production_page.get_text()  # the source URL is shown, not linked

    for feed in (
        "/feeds/productions.atom",
        f"/feeds/agencies/{hostile.agency_slug}.atom",
        f"/feeds/requests/{hostile.request_id}.atom",
    ):
        _check_xml(web.get(feed), expect=(SCRIPT,))
    for sitemap in ("/sitemap.xml", "/sitemaps/listings.xml", "/sitemaps/documents-1.xml"):
        _check_xml(web.get(sitemap))

    for url in (f"{base}{email_url}", f"{base}{named_url}/pages/1"):
        oembed = web.get("/oembed.json", params={"url": url})
        _check_json(oembed)
        assert _dangerous_markup(oembed.json()["html"]) == []
        frame = BeautifulSoup(oembed.json()["html"], "html.parser").iframe
        assert frame is not None
        assert str(frame["src"]).startswith(f"{base}/documents/")
    refused = web.get("/oembed.json", params={"url": JS_URL})
    assert refused.status_code == 400
    # The error page echoes nothing that runs either.
    missing = web.get(f"/documents/{quote(SCRIPT)}")
    assert missing.status_code == 404
    assert _dangerous_markup(missing.text) == []


def test_the_markup_check_finds_what_a_payload_would_inject() -> None:
    # The XSS test is only as good as this detector: raw payloads must be flagged.
    assert _dangerous_markup(f"<p>{SCRIPT}</p>")
    assert _dangerous_markup(f'<a title="{IMG}">x</a>')
    assert _dangerous_markup(f'<a href=" {JS_URL}">x</a>')
    assert _dangerous_markup('<script src="/static/reader.js"></script>') == []


# --- every write route, classified --------------------------------------------------------

PUBLIC, VOLUNTEER, MODERATOR = "public", "volunteer", "moderator"
# Who may use each write route. A new write route fails the inventory test until it is
# added here, so nobody ships a write route without deciding who may call it.
WRITE_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/accounts/login"): PUBLIC,
    ("POST", "/accounts/tokens"): VOLUNTEER,
    ("POST", "/accounts/tokens/{token_id}/revoke"): VOLUNTEER,
    ("POST", "/uploads/productions"): VOLUNTEER,
    ("POST", "/uploads/productions/{production_id:int}/files"): VOLUNTEER,
    ("POST", "/uploads/productions/{production_id:int}/documents/{document_id:int}/retry"): (
        VOLUNTEER
    ),
    ("POST", "/api/productions"): VOLUNTEER,
    ("POST", "/api/productions/{production_id}/files"): VOLUNTEER,
    ("POST", "/api/productions/{production_id}/documents/{document_id}/retry"): VOLUNTEER,
    ("POST", "/moderation/productions/{production_id}/publish"): MODERATOR,
    ("POST", "/moderation/productions/{production_id}/edit"): MODERATOR,
    ("POST", "/moderation/productions/{production_id}/documents/{document_id}/unlink"): (MODERATOR),
    ("POST", "/moderation/documents/{document_id}/edit"): MODERATOR,
    ("POST", "/moderation/documents/{document_id}/take-down"): MODERATOR,
    ("POST", "/moderation/documents/{document_id}/restore"): MODERATOR,
    ("POST", "/moderation/findings/decide"): MODERATOR,
    ("POST", "/moderation/findings/scan"): MODERATOR,
    ("POST", "/moderation/documents/{document_id}/pages/{number}/redactions"): MODERATOR,
    ("POST", "/api/findings/decisions"): MODERATOR,
    ("POST", "/api/findings/scan"): MODERATOR,
    ("POST", "/api/documents/{document_id}/redactions"): MODERATOR,
    # Last: it ends the session the other checks use.
    ("POST", "/accounts/logout"): VOLUNTEER,
}
CSRF_REFUSAL = "did not come from this site"


@dataclass
class Accounts:
    volunteer: TestClient
    volunteer_csrf: str
    volunteer_token: str
    moderator: TestClient
    moderator_csrf: str


@pytest.fixture
def accounts(web: TestClient, migrated_settings: Settings) -> Accounts:
    """A volunteer owning production 1 (document 1) and a moderator, both logged in."""
    make_user(migrated_settings, "vol@example.org")
    make_user(migrated_settings, "mod@example.org", Role.MODERATOR)
    # Token 1 is the one the revoke route (called as .../tokens/1/revoke) may revoke.
    make_token(migrated_settings, "vol@example.org", "to revoke")
    token = make_token(migrated_settings, "vol@example.org")
    assert create_production_api(web, token) == 1
    files = {"file": ("a.pdf", b"%PDF-1.4 not really a pdf", "application/pdf")}
    uploaded = web.post("/api/productions/1/files", files=files, headers=bearer(token))
    assert uploaded.json()["files"][0]["document_id"] == 1
    volunteer, moderator = new_client(web), new_client(web)
    volunteer_csrf = login(volunteer, "vol@example.org")
    moderator_csrf = login(moderator, "mod@example.org")
    return Accounts(volunteer, volunteer_csrf, token, moderator, moderator_csrf)


def _post(
    client: TestClient, path: str, *, csrf: str | None = None, token: str | None = None
) -> Response:
    """A write request as a form (pages) or JSON (the API), with an optional credential."""
    headers = bearer(token) if token else {}
    if csrf:
        # Both ways a page sends it: the form field, and the header of the upload script
        # (a streamed upload reads no urlencoded field).
        headers["X-CSRF-Token"] = csrf
    answer: Response
    if path.startswith("/api/"):
        answer = client.post(route_url(path), json={}, headers=headers, follow_redirects=False)
    else:
        data = {"csrf_token": csrf} if csrf else {"x": "y"}
        answer = client.post(route_url(path), data=data, headers=headers, follow_redirects=False)
    return answer


def _refused_anonymously(answer: Response) -> bool:
    if answer.status_code in (401, 403):
        return True
    location = answer.headers.get("location", "")
    return answer.status_code == 303 and location.startswith("/accounts/login")


def test_every_write_route_is_classified(web: TestClient) -> None:
    assert sorted(app_write_routes(web.app)) == sorted(WRITE_ROUTES)  # type: ignore[arg-type]


def test_write_routes_refuse_who_may_not_use_them(web: TestClient, accounts: Accounts) -> None:
    visitor = new_client(web)
    for (method, path), role in WRITE_ROUTES.items():
        assert method == "POST", "extend _post before classifying other methods"
        where = (path, role)
        anonymous = _post(visitor, path)
        assert not anonymous.is_success, where
        if role == PUBLIC:
            # Open to visitors by nature (logging in), but only from our own form.
            assert anonymous.status_code == 403, where
            assert CSRF_REFUSAL in anonymous.text, where
            continue
        assert _refused_anonymously(anonymous), (where, anonymous.status_code)
        # A logged-in person's form without the session's CSRF token (a forged cross-site
        # post) is refused before the role is even considered.
        for client in (accounts.moderator, accounts.volunteer):
            forged = _post(client, path)
            assert forged.status_code == 403, (where, forged.status_code)
            assert CSRF_REFUSAL in forged.text, where
            forged = _post(client, path, csrf="forged")
            assert forged.status_code == 403, where
        if role == MODERATOR:
            for answer in (
                _post(accounts.volunteer, path, csrf=accounts.volunteer_csrf),
                _post(visitor, path, token=accounts.volunteer_token),
            ):
                assert answer.status_code == 403, (where, answer.status_code)
                assert "moderator" in answer.text, where
            allowed = _post(accounts.moderator, path, csrf=accounts.moderator_csrf)
        elif path.startswith("/api/"):
            allowed = _post(visitor, path, token=accounts.volunteer_token)
        else:
            allowed = _post(accounts.volunteer, path, csrf=accounts.volunteer_csrf)
        # The classification is not stricter than the app: the right person gets past the
        # door (the empty form may still be refused as invalid input, never as forbidden).
        assert allowed.status_code not in (401, 403), (where, allowed.status_code, allowed.text)
        assert allowed.status_code < 500, (where, allowed.status_code)


# --- security headers ---------------------------------------------------------------------


def _policy(answer: Response) -> dict[str, str]:
    directives = answer.headers["content-security-policy"].split(";")
    pairs = (d.strip().split(None, 1) for d in directives if d.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}


def test_every_kind_of_response_carries_the_security_headers(
    web: TestClient, hostile: Hostile, migrated_settings: Settings
) -> None:
    url = document_url(migrated_settings, hostile.email_id)
    responses = {
        "html": web.get("/"),
        "json": web.get("/search.json", params={"q": "quokka"}),
        "static": web.get("/static/style.css"),
        "atom": web.get("/feeds/productions.atom"),
        "not found": web.get("/no/such/page"),
        "not found json": web.get("/documents/999999.json"),
        "invalid": web.get("/search.json", params={"page": "many"}),
        "login required": web.get("/accounts.json"),
        "redirect": web.get("/uploads", follow_redirects=False),
        "original": web.get(f"{url}/original"),
        "image": web.get(f"{url}/pages/1/thumb.webp"),
    }
    expected_status = {"not found": 404, "not found json": 404, "invalid": 400}
    expected_status |= {"login required": 401, "redirect": 303}
    for kind, answer in responses.items():
        assert answer.status_code == expected_status.get(kind, 200), kind
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", kind
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin", kind
        assert "camera=()" in headers["permissions-policy"], kind
        assert headers["x-frame-options"] == "DENY", kind
        policy = _policy(answer)
        assert policy["default-src"] == "'self'", kind
        assert policy["script-src"] == "'self'", kind  # no 'unsafe-inline', no nonce needed
        assert policy["img-src"] == "'self' data:", kind
        assert policy["frame-ancestors"] == "'none'", kind
        assert "strict-transport-security" not in headers, kind  # served over http here
    # Downloads keep their own sandbox (a PDF or HTML original cannot run script as us).
    assert "sandbox" in _policy(responses["original"])
    for path in (f"{url}/pages/1/embed", f"{url}/pages/1/embed.json"):
        embed = web.get(path)
        assert embed.status_code == 200
        assert _policy(embed)["frame-ancestors"] == "*", path
        assert _policy(embed)["script-src"] == "'self'", path
        assert "x-frame-options" not in embed.headers, path
    # The API's Swagger page alone may use FastAPI's CDN script and its inline start-up.
    docs = _policy(web.get("/api/docs"))
    assert "https://cdn.jsdelivr.net" in docs["script-src"]
    assert docs["frame-ancestors"] == "'none'"
    # Embeds' neighbours are not framable: the rule matches the embed views only.
    for path in (f"{url}/pages/1", f"{url}/pages/1/embedded", f"{url}/embed"):
        assert _policy(web.get(path))["frame-ancestors"] == "'none'", path


def test_pages_need_no_inline_script(web: TestClient, hostile: Hostile) -> None:
    # The policy forbids inline script; a template that relied on one would silently break.
    pages = ["/", "/search?q=quokka", "/agencies", "/accounts/login"]
    for path in pages:
        soup = BeautifulSoup(web.get(path).text, "html.parser")
        for script in soup.find_all("script"):
            assert isinstance(script, Tag)
            assert str(script.get("src", "")).startswith("/static/"), (path, script)
            assert not script.string, (path, script)
        for element in soup.find_all(True):
            assert isinstance(element, Tag)
            assert not [a for a in element.attrs if a.startswith("on")], (path, element.name)


def test_https_sites_ask_browsers_to_insist_on_https(migrated_settings: Settings) -> None:
    secure = migrated_settings.model_copy(update={"base_url": "https://foia.example.org"})
    with TestClient(create_app(secure)) as client:
        answer = client.get("/healthz")
    assert answer.headers["strict-transport-security"].startswith("max-age=")


# --- secrets ------------------------------------------------------------------------------


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """An installation with its own managed Meilisearch (not the shared test one), so its
    master key and log file are this installation's, as in the embedded mode, and a random
    session secret. Migrated here, in setup: alembic reconfigures logging, which would drop
    the log capture of the test itself."""
    settings = Settings(data_dir=tmp_path / "var", secret_key=SecretStr(secrets.token_urlsafe(32)))
    migrate.upgrade(settings)
    make_user(settings, "vol@example.org")
    return settings


def test_no_secret_reaches_a_response_or_a_log(
    embedded_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = embedded_settings
    secret_key = settings.secret_key.get_secret_value()
    caplog.set_level(logging.DEBUG)
    seen: list[tuple[str, str]] = []  # (what, text) of every response

    def keep(what: str, answer: Response) -> Response:
        headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.multi_items())
        seen.append((what, f"{headers}\n\n{answer.text}"))
        return answer

    pdf = make_text_pdf(tmp_path / "memo.pdf", ["the wombat memo", "page two"])
    with TestClient(create_app(settings)) as web:
        keep("login form", web.get("/accounts/login"))
        csrf = login(web, "vol@example.org")
        keep("account", web.get("/accounts"))
        created = web.post("/accounts/tokens", data={"name": "script", "csrf_token": csrf})
        assert created.status_code == 201
        token_element = BeautifulSoup(created.text, "html.parser").find(id="new-token")
        assert token_element is not None
        token = token_element.get_text(strip=True)
        assert token.startswith("rr_")
        keep("token list", web.get("/accounts/tokens"))
        keep("token list json", web.get("/accounts/tokens.json"))
        script = new_client(web)
        production = create_production_api(script, token)
        keep(
            "upload",
            script.post(
                f"/api/productions/{production}/files",
                files={"file": ("memo.pdf", pdf.read_bytes(), "application/pdf")},
                headers=bearer(token),
            ),
        )
        keep("production", script.get(f"/api/productions/{production}", headers=bearer(token)))
        wait_processed(script, token, production)
        for path in ("/uploads", f"/uploads/productions/{production}", "/uploads.json"):
            keep(path, web.get(path))
        for path in ("/search?q=wombat", "/search.json?q=wombat", "/healthz", "/api/docs"):
            keep(path, web.get(path))
        keep("openapi", web.get("/api/openapi.json"))
        keep("bad token", script.get("/api/productions", headers=bearer(token + "x")))
        keep("bad login", new_client(web).post("/accounts/login", data={"email": "x"}))
        keep("logout", web.post("/accounts/logout", data={"csrf_token": csrf}))
    master_key = (settings.meili_dir / "master.key").read_text().strip()
    meili_log = (settings.meili_dir / "meilisearch.log").read_text(errors="replace")
    secrets_ = {
        "meilisearch master key": master_key,
        "session secret": secret_key,
        "password": PASSWORD,
        "api token": token,
        "api token body": token.removeprefix("rr_"),
    }
    logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    assert len(logged) > 5  # the session did log: the check below is not vacuous
    for name, value in secrets_.items():
        assert len(value) >= 16, name
        for what, text in seen:
            assert value not in text, (name, what)
        assert value not in created.headers.get("set-cookie", ""), name
        for line in logged:
            assert value not in line, (name, line)
        assert value not in meili_log, name
    # The one place the token is shown: its creation page.
    assert token in created.text


# --- rate limits --------------------------------------------------------------------------


def test_a_search_flood_is_limited_per_client(web: TestClient, hostile: Hostile) -> None:
    limiter = RateLimiter(burst=20, period_seconds=60)
    setattr(web.app.state, RATE_LIMITER, limiter)  # type: ignore[attr-defined]
    statuses = [web.get("/search.json", params={"q": "quokka"}).status_code for _ in range(25)]
    assert statuses[:20] == [200] * 20
    assert set(statuses[20:]) == {429}
    refused = web.get("/search.json", params={"q": "quokka"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["x-content-type-options"] == "nosniff"  # refusals carry headers too
    assert web.get("/search.atom", params={"q": "quokka"}).status_code == 429  # same bucket
    other = TestClient(web.app, client=("203.0.113.7", 40000))
    assert other.get("/search.json", params={"q": "quokka"}).status_code == 200
    # The default limiter (no test override) holds too: its burst is finite.
    default_app = TestClient(web.app, client=("203.0.113.8", 40000))
    delattr(web.app.state, RATE_LIMITER)  # type: ignore[attr-defined]
    # Its bucket refills while the requests run (a few tokens a second), so the refusal is
    # looked for among the requests after the burst, not at exactly the next one.
    codes = [default_app.get("/search.json").status_code for _ in range(2 * DEFAULT_BURST)]
    assert codes[:DEFAULT_BURST] == [200] * DEFAULT_BURST
    assert 429 in codes[DEFAULT_BURST:]


def test_an_unexpected_error_answers_500_with_the_envelope_and_the_headers(
    migrated_settings: Settings,
) -> None:
    app = create_app(migrated_settings)

    @app.get("/broken")
    @app.get("/broken.json")
    def broken() -> None:
        raise RuntimeError("a bug")

    # As a server runs it: the exception is reported (logged by the server), not raised here.
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = {"html": client.get("/broken"), "json": client.get("/broken.json")}
    for kind, answer in answers.items():
        assert answer.status_code == 500, kind
        assert answer.headers["x-content-type-options"] == "nosniff", kind
        assert answer.headers["x-frame-options"] == "DENY", kind
        assert _policy(answer)["script-src"] == "'self'", kind
        assert "a bug" not in answer.text, kind  # the exception's text stays in the log
    assert answers["json"].json()["error"]["code"] == "internal_error"
    assert "text/html" in answers["html"].headers["content-type"]
    assert "Something went wrong" in answers["html"].text


def test_text_with_a_nul_character_is_refused_on_every_database(
    web: TestClient, migrated_settings: Settings
) -> None:
    """PostgreSQL cannot store NUL in text, SQLite would: a NUL typed into a JSON body, a form
    or a URL is refused as input to correct (400) on both, and nothing is written."""
    make_user(migrated_settings, "vol@example.org")
    token = make_token(migrated_settings, "vol@example.org")
    refused = web.post(
        "/api/productions", json={"agency": "ICE", "title": "Release\x00 1"}, headers=bearer(token)
    )
    assert refused.status_code == 400, refused.text
    assert "NUL character" in refused.json()["error"]["message"]
    assert web.get("/api/productions", headers=bearer(token)).json() == []

    browser = new_client(web)
    csrf = login(browser, "vol@example.org")
    named = browser.post("/accounts/tokens", data={"name": "nightly\x00", "csrf_token": csrf})
    assert named.status_code == 400, named.text
    assert len(browser.get("/accounts/tokens.json").json()["tokens"]) == 1  # make_token's
    # Lookups by a value sent: a login, a Bates number.
    login_form = new_client(web)
    form_csrf = csrf_of(login_form.get("/accounts/login").text)
    answer = login_form.post(
        "/accounts/login",
        data={"email": "vol\x00@example.org", "password": PASSWORD, "csrf_token": form_csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 400, answer.text
    assert web.get("/bates/ICE%00-1").status_code == 400
