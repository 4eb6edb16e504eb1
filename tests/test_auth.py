"""Accounts: argon2 passwords, the session cookie, CSRF on the login form, API tokens, CLI."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.accounts import get_user_by_email
from app.auth.models import ApiToken, AuditLog, Role, User
from app.auth.passwords import hash_password, verify_password
from app.auth.sessions import SESSION_COOKIE
from app.cli import main
from app.config import Environment, Settings, get_settings
from app.db import session_scope
from app.main import create_app
from tests.auth_helpers import PASSWORD, bearer, csrf_of, login, make_token, make_user, new_client
from tests.cli import cli_env


def test_passwords_are_hashed_with_argon2id() -> None:
    stored = hash_password("a long enough password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passworD")
    assert not verify_password(None, "a long enough password")
    assert not verify_password("not a hash", "whatever")


def test_login_sets_a_protected_cookie_and_logout_clears_it(
    web: TestClient, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "vol@example.org")
    token = csrf_of(web.get("/accounts/login").text)
    answer = web.post(
        "/accounts/login",
        data={"email": "Vol@Example.org ", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/uploads"
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE)
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http in local development
    account = web.get("/accounts.json").json()
    assert account["user"]["email"] == "vol@example.org"
    assert web.get("/accounts").headers["cache-control"] == "no-store"

    csrf = csrf_of(web.get("/accounts").text)
    out = web.post("/accounts/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert web.get("/accounts.json").status_code == 401


def test_cookie_is_secure_outside_development(migrated_settings: Settings) -> None:
    # model_copy skips validation: the production guard (PostgreSQL, keys) is not under test.
    production = migrated_settings.model_copy(update={"environment": Environment.PRODUCTION})
    with TestClient(create_app(production), base_url="https://testserver") as client:
        answer = client.get("/accounts/login")
    assert "secure" in answer.headers["set-cookie"].lower()


def test_wrong_password_and_unknown_account_look_the_same(
    web: TestClient, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "vol@example.org")
    answers = []
    for email, password in (("vol@example.org", "wrong password!"), ("nobody@x.org", PASSWORD)):
        token = csrf_of(web.get("/accounts/login").text)
        answer = web.post(
            "/accounts/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert answer.status_code == 401
        alert = BeautifulSoup(answer.text, "html.parser").select_one(".form-error")
        assert alert is not None
        answers.append(alert.text.strip())
    assert answers[0] == answers[1]
    assert web.get("/accounts.json").status_code == 401


def test_login_form_needs_its_csrf_token(web: TestClient, migrated_settings: Settings) -> None:
    make_user(migrated_settings, "vol@example.org")
    web.get("/accounts/login")
    answer = web.post("/accounts/login", data={"email": "vol@example.org", "password": PASSWORD})
    assert answer.status_code == 403
    assert web.get("/accounts.json").status_code == 401


def test_login_goes_back_only_to_this_site(web: TestClient, migrated_settings: Settings) -> None:
    make_user(migrated_settings, "vol@example.org")
    for target, expected in (
        ("/uploads/productions/new", "/uploads/productions/new"),
        ("https://evil.example/", "/uploads"),
        ("//evil.example/x", "/uploads"),
    ):
        fresh = new_client(web)
        token = csrf_of(fresh.get("/accounts/login").text)
        answer = fresh.post(
            "/accounts/login",
            data={
                "email": "vol@example.org",
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == expected


def test_private_page_sends_a_visitor_to_log_in_and_back(web: TestClient) -> None:
    answer = web.get("/uploads/productions/new", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/accounts/login?next=%2Fuploads%2Fproductions%2Fnew"
    assert web.get("/uploads.json").json()["error"]["code"] == "authentication_required"
    api = web.get("/api/productions")
    assert api.status_code == 401
    assert api.headers["www-authenticate"].startswith("Bearer")


def test_a_new_password_ends_older_sessions(web: TestClient, migrated_settings: Settings) -> None:
    make_user(migrated_settings, "vol@example.org")
    login(web, "vol@example.org")
    assert web.get("/accounts.json").status_code == 200
    with session_scope(migrated_settings) as session:
        get_user_by_email(session, "vol@example.org").password_hash = hash_password("new one 12345")
    assert web.get("/accounts.json").status_code == 401


def test_disabled_accounts_can_neither_log_in_nor_use_tokens(
    web: TestClient, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "vol@example.org")
    token = make_token(migrated_settings, "vol@example.org")
    login(web, "vol@example.org")
    with session_scope(migrated_settings) as session:
        get_user_by_email(session, "vol@example.org").disabled = True
    assert web.get("/accounts.json").status_code == 401
    assert web.get("/api/productions", headers=bearer(token)).status_code == 401
    csrf = csrf_of(web.get("/accounts/login").text)
    answer = web.post(
        "/accounts/login",
        data={"email": "vol@example.org", "password": PASSWORD, "csrf_token": csrf},
    )
    assert answer.status_code == 401


def test_api_token_is_shown_once_stored_hashed_and_revocable(
    web: TestClient, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "vol@example.org")
    csrf = login(web, "vol@example.org")
    made = web.post("/accounts/tokens", data={"name": "laptop", "csrf_token": csrf})
    assert made.status_code == 201
    shown = BeautifulSoup(made.text, "html.parser").select_one("#new-token")
    assert shown is not None
    secret = shown.text.strip()
    assert secret.startswith("rr_")

    with session_scope(migrated_settings) as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in {stored.token_hash, stored.prefix}
        token_id = stored.id
    listing = web.get("/accounts/tokens")
    assert secret not in listing.text
    assert web.get("/accounts/tokens.json").json()["tokens"][0]["name"] == "laptop"

    api = new_client(web)  # a script: no cookie, only the token
    assert api.get("/api/productions", headers=bearer(secret)).status_code == 200
    revoked = web.post(
        f"/accounts/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303
    refused = api.get("/api/productions", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_required"
    with session_scope(migrated_settings) as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["token.create", "token.revoke"]


def test_one_cannot_revoke_someone_elses_token(
    web: TestClient, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "a@example.org")
    make_user(migrated_settings, "b@example.org")
    secret = make_token(migrated_settings, "a@example.org")
    csrf = login(web, "b@example.org")
    with session_scope(migrated_settings) as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    answer = web.post(f"/accounts/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert answer.status_code == 404
    assert web.get("/api/productions", headers=bearer(secret)).status_code == 200


def test_logins_are_rate_limited(web: TestClient, migrated_settings: Settings) -> None:
    make_user(migrated_settings, "vol@example.org")
    csrf = csrf_of(web.get("/accounts/login").text)
    statuses = [
        web.post(
            "/accounts/login",
            data={"email": "vol@example.org", "password": "guess number x", "csrf_token": csrf},
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[-1] == 429


@pytest.fixture
def cli(migrated_settings: Settings) -> Iterator[CliRunner]:
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_creates_accounts_and_prints_a_token_once(
    cli: CliRunner, migrated_settings: Settings, web: TestClient
) -> None:
    env = cli_env(migrated_settings)
    created = cli.invoke(
        main,
        ["user", "create", "Mod@Example.org", "--role", "moderator", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    weak = cli.invoke(
        main, ["user", "create", "x@example.org", "--password-stdin"], input="short\n", env=env
    )
    assert weak.exit_code != 0
    assert "at least" in weak.output
    trusted = cli.invoke(main, ["user", "set", "mod@example.org", "--trusted"], env=env)
    assert trusted.exit_code == 0, trusted.output

    made = cli.invoke(main, ["user", "token", "mod@example.org", "ci upload"], env=env)
    assert made.exit_code == 0, made.output
    secret = made.output.strip()
    with session_scope(migrated_settings) as session:
        user = session.scalars(select(User)).one()
        assert (user.email, user.role, user.trusted) == ("mod@example.org", Role.MODERATOR, True)
    assert web.get("/api/productions", headers=bearer(secret)).status_code == 200
    login(web, "mod@example.org")
    assert web.get("/moderation.json").status_code == 200
