"""Search and login rate limits: settings, token holders, and the client address behind proxies.

The client address is computed by one rule (``app.client_address``); these tests run it
through the app under TestClient, beside uvicorn's own ProxyHeadersMiddleware, and through a
real ``readingroom serve`` over HTTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.auth.models import ApiToken
from app.auth.tokens import revoke_token
from app.client_address import forwarded_client
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili.managed import Endpoint
from app.routes.accounts import LOGIN_BURST, LOGIN_LIMITER
from app.services.ratelimit import RateLimiter
from tests.auth_helpers import csrf_of, login, make_token, make_user
from tests.cli import cli_env

PROXY = "10.0.0.5"  # the TLS proxy in front of the app
INNER_PROXY = "10.0.0.9"  # a second hop of ours (a load balancer behind the proxy)
TRUSTED = "10.0.0.0/24"
ALICE, BOB, CAROL = "198.51.100.1", "198.51.100.2", "198.51.100.3"
FORGER = "203.0.113.66"  # connects directly, not through the proxy
SEARCH = {"q": "quokka"}
BURST = 3
# A token an hour: nothing refills while a test runs, however loaded the machine.
SLOW = 1 / 3600


def configured(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with ``changes``, validated as values from the environment would be."""
    return Settings.model_validate(settings.model_dump() | changes)


@pytest.fixture
def limited(migrated_settings: Settings) -> Iterator[FastAPI]:
    """An app behind a proxy at ``PROXY``: 3 searches per address, 5 per API token."""
    settings = configured(
        migrated_settings,
        trusted_proxies=TRUSTED,
        search_rate_burst=BURST,
        search_rate_per_second=SLOW,
        token_search_rate_burst=5,
        token_search_rate_per_second=SLOW,
    )
    app = create_app(settings)
    with TestClient(app):  # the lifespan (search engine) for every client below
        yield app


def peer(app: FastAPI, host: str) -> TestClient:
    """A client of ``app`` connecting from ``host``."""
    return TestClient(app, client=(host, 40000))


def search_statuses(
    client: httpx.Client, times: int, forwarded_for: str | None = None, token: str | None = None
) -> list[int]:
    """The statuses of ``times`` searches, with this ``X-Forwarded-For`` and API token."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return [
        client.get("/search.json", params=SEARCH, headers=headers).status_code for _ in range(times)
    ]


# --- the rule ---------------------------------------------------------------------------------

NETS = [ipaddress.ip_network(TRUSTED)]


@pytest.mark.parametrize(
    ("connecting", "forwarded_for", "client"),
    [
        (ALICE, [], ALICE),  # no proxy at all
        (ALICE, [BOB], ALICE),  # a header from someone who is not our proxy counts for nothing
        (PROXY, [], PROXY),  # the proxy asking for itself (a health check)
        (PROXY, [ALICE], ALICE),
        (PROXY, [f"{BOB}, {ALICE}"], ALICE),  # Bob is what Alice wrote; the proxy saw Alice
        (PROXY, [f"{BOB}, {ALICE}, {INNER_PROXY}"], ALICE),  # our own hops are skipped
        (PROXY, [BOB, ALICE], ALICE),  # several headers read as one list, in order
        (PROXY, [f"{ALICE}:51234"], ALICE),  # a port is not part of the address
        (PROXY, ["[2001:db8::7]:443"], "2001:db8::7"),
        (PROXY, [f"{INNER_PROXY}, {PROXY}"], INNER_PROXY),  # all ours: the leftmost hop
        (f"::ffff:{PROXY}", [ALICE], ALICE),  # a dual-stack socket's spelling of the proxy
        ("unknown", [ALICE], "unknown"),  # no peer address: nothing to trust
    ],
)
def test_the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy(
    connecting: str, forwarded_for: list[str], client: str
) -> None:
    assert forwarded_client(connecting, forwarded_for, NETS) == client


def _uvicorn_client(connecting: str, forwarded_for: list[str]) -> str:
    """The client uvicorn's ProxyHeadersMiddleware puts in the scope, given the same list."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=[TRUSTED])
    scope = {
        "type": "http",
        "client": (connecting, 40000),
        "headers": [(b"x-forwarded-for", value.encode("latin1")) for value in forwarded_for],
    }

    async def nothing(*_: Any) -> Any:
        return None

    asyncio.run(middleware(scope, nothing, nothing))  # type: ignore[arg-type]
    return seen[0]


ENTRIES = st.sampled_from(
    [
        ALICE,
        BOB,
        f"{ALICE}:8080",
        PROXY,
        INNER_PROXY,
        f"{PROXY}:443",
        "[2001:db8::7]:443",
        "2001:db8::8",
        "unknown",
        "",
        " ",
        "garbage:port",
        "[::1",
    ]
)


MAPPED_PROXY = f"::ffff:{PROXY}"


@given(
    connecting=st.sampled_from([PROXY, INNER_PROXY, ALICE, FORGER, MAPPED_PROXY]),
    headers=st.lists(st.lists(ENTRIES, min_size=1, max_size=4).map(", ".join), max_size=2),
)
def test_the_rule_agrees_with_uvicorn_and_applying_it_twice_changes_nothing(
    connecting: str, headers: list[str]
) -> None:
    # Under `readingroom serve` uvicorn rewrites the peer first, then the app applies its rule
    # to what uvicorn left: that must be what the app alone finds (TestClient, other servers).
    alone = forwarded_client(connecting, headers, NETS)
    after_uvicorn = _uvicorn_client(connecting, headers)
    assert forwarded_client(after_uvicorn, headers, NETS) == alone
    if connecting != MAPPED_PROXY:
        # Uvicorn finds the same client by itself; only the dual-stack spelling of a proxy is
        # not trusted by uvicorn, which then leaves the peer as it is for the app's rule.
        assert after_uvicorn == alone


# --- behind a trusted proxy -------------------------------------------------------------------


def test_two_clients_behind_a_trusted_proxy_get_separate_buckets(limited: FastAPI) -> None:
    proxy = peer(limited, PROXY)
    assert search_statuses(proxy, BURST + 1, ALICE) == [200] * BURST + [429]
    # Bob comes through the same proxy, and has his whole allowance.
    assert search_statuses(proxy, BURST, BOB) == [200] * BURST
    # Alice writing someone else's address in front of hers changes nothing: still Alice.
    assert search_statuses(proxy, 1, f"{CAROL}, {ALICE}") == [429]
    refused = proxy.get("/search.json", params=SEARCH, headers={"X-Forwarded-For": ALICE})
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


def test_a_forged_forwarded_for_from_an_untrusted_address_changes_nothing(
    limited: FastAPI,
) -> None:
    forger = peer(limited, FORGER)
    # A new address in the header each time: the forger is still limited as itself.
    statuses = [
        forger.get(
            "/search.json", params=SEARCH, headers={"X-Forwarded-For": f"192.0.2.{n}"}
        ).status_code
        for n in range(BURST + 2)
    ]
    assert statuses == [200] * BURST + [429, 429]
    # It named Alice too, and more than her burst, yet her bucket is untouched.
    search_statuses(forger, BURST + 1, ALICE)
    proxy = peer(limited, PROXY)
    assert search_statuses(proxy, BURST, ALICE) == [200] * BURST
    # Nor does the forged header count when it reaches us through the proxy, behind the
    # forger's real address.
    forged = f"{BOB}, {FORGER}"
    assert search_statuses(proxy, 1, forged) == [429]
    assert search_statuses(proxy, 1, BOB) == [200]


def test_without_trusted_proxies_forwarded_for_is_ignored(migrated_settings: Settings) -> None:
    app = create_app(
        configured(migrated_settings, search_rate_burst=BURST, search_rate_per_second=SLOW)
    )
    with TestClient(app, client=("127.0.0.1", 40000)) as local_proxy:
        for visitor in (ALICE, BOB, CAROL):
            search_statuses(local_proxy, 1, visitor)
        # Three visitors, one address: the whole public shares the proxy's bucket.
        assert search_statuses(local_proxy, 1, "192.0.2.1") == [429]


def test_the_search_feed_shares_the_search_bucket(limited: FastAPI) -> None:
    proxy = peer(limited, PROXY)
    assert search_statuses(proxy, BURST, ALICE) == [200] * BURST
    feed = proxy.get("/search.atom", params=SEARCH, headers={"X-Forwarded-For": ALICE})
    assert feed.status_code == 429
    assert proxy.get("/search.atom", params=SEARCH, headers={"X-Forwarded-For": BOB}).is_success


def test_logins_are_limited_per_client_behind_the_proxy(
    limited: FastAPI, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "vol@example.org")
    # The login limit (10 a minute), its clock stopped: hashing each guess takes long enough
    # for a token to come back during the test.
    setattr(limited.state, LOGIN_LIMITER, RateLimiter(LOGIN_BURST, 60.0, clock=lambda: 0.0))

    def attempts(visitor: str, times: int) -> list[int]:
        browser = peer(limited, PROXY)
        browser.headers["X-Forwarded-For"] = visitor
        csrf = csrf_of(browser.get("/accounts/login").text)
        form = {"email": "vol@example.org", "password": "a guess", "csrf_token": csrf}
        return [browser.post("/accounts/login", data=form).status_code for _ in range(times)]

    assert attempts(ALICE, LOGIN_BURST + 1) == [401] * LOGIN_BURST + [429]
    # Bob, behind the same proxy, still logs in (the helper asserts the redirect of success).
    browser = peer(limited, PROXY)
    browser.headers["X-Forwarded-For"] = BOB
    login(browser, "vol@example.org")


# --- token holders ----------------------------------------------------------------------------


def test_a_token_holder_has_its_own_higher_limit(
    limited: FastAPI, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "script@example.org")
    first = make_token(migrated_settings, "script@example.org", "first")
    second = make_token(migrated_settings, "script@example.org", "second")
    proxy = peer(limited, PROXY)
    # Alice uses up her address's allowance as a visitor…
    assert search_statuses(proxy, BURST + 1, ALICE) == [200] * BURST + [429]
    # …and her script, from the same address, has the token's five.
    assert search_statuses(proxy, 6, ALICE, first) == [200] * 5 + [429]
    refused = proxy.get(
        "/search.json",
        params=SEARCH,
        headers={"X-Forwarded-For": ALICE, "Authorization": f"Bearer {first}"},
    )
    assert refused.json()["error"]["message"].startswith("too many searches with this API token")
    # Another token is another bucket, whichever address it comes from.
    assert search_statuses(proxy, 5, BOB, second) == [200] * 5
    # The token's searches were not taken from Bob's address.
    assert search_statuses(proxy, BURST, BOB) == [200] * BURST


def test_a_revoked_token_is_refused_not_counted_as_a_visitor(
    limited: FastAPI, migrated_settings: Settings
) -> None:
    make_user(migrated_settings, "script@example.org")
    secret = make_token(migrated_settings, "script@example.org")
    with session_scope(migrated_settings) as session:
        revoke_token(session, session.scalars(select(ApiToken)).one())
    answer = peer(limited, PROXY).get(
        "/search.json",
        params=SEARCH,
        headers={"X-Forwarded-For": ALICE, "Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "authentication_required"


# --- settings ---------------------------------------------------------------------------------


def test_settings_from_the_environment_set_the_limits(
    migrated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cli_env(migrated_settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("READINGROOM_SEARCH_RATE_BURST", "4")
    monkeypatch.setenv("READINGROOM_SEARCH_RATE_PER_SECOND", str(SLOW))
    monkeypatch.setenv("READINGROOM_TRUSTED_PROXIES", f"127.0.0.1, {TRUSTED}")
    settings = Settings()
    assert settings.trusted_proxies == [
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network(TRUSTED),
    ]
    with TestClient(create_app(settings), client=(PROXY, 40000)) as proxy:
        assert search_statuses(proxy, 5, ALICE) == [200] * 4 + [429]


def test_the_defaults_keep_the_public_limit_and_trust_no_proxy() -> None:
    settings = Settings()
    assert (settings.search_rate_burst, settings.search_rate_per_second) == (30, 3.0)
    assert settings.token_search_rate_burst > settings.search_rate_burst
    assert settings.token_search_rate_per_second > settings.search_rate_per_second
    assert settings.trusted_proxies == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("search_rate_burst", 0, "greater than or equal to 1"),
        ("search_rate_per_second", 0, "greater than 0"),
        ("search_rate_per_second", -3, "greater than 0"),
        ("token_search_rate_burst", 0, "greater than or equal to 1"),
        ("token_search_rate_per_second", 0, "greater than 0"),
        ("trusted_proxies", "10.0.0.1/8", "'10.0.0.1/8' is not an IP address or network"),
        ("trusted_proxies", "127.0.0.1,proxy.internal", "'proxy.internal' is not an IP address"),
    ],
)
def test_invalid_limit_settings_are_refused_with_a_clear_message(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate({field: value})
    text = str(raised.value)
    assert field in text
    assert message in text


def test_compose_trusts_the_docker_networks_of_its_proxy() -> None:
    compose = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())
    value = compose["services"]["web"]["environment"]["READINGROOM_TRUSTED_PROXIES"]
    assert value.startswith("${READINGROOM_TRUSTED_PROXIES:-")  # an operator may name theirs
    default = value.removeprefix("${READINGROOM_TRUSTED_PROXIES:-").removesuffix("}")
    proxies = Settings(trusted_proxies=default).trusted_proxies
    gateway = "172.18.0.1"  # the gateway of a compose network, where a host proxy comes from
    assert forwarded_client(gateway, [ALICE], proxies) == ALICE
    assert forwarded_client(FORGER, [ALICE], proxies) == FORGER


# --- through `readingroom serve` --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def fresh_settings(tmp_path: Path, meili_endpoint: Endpoint, index_prefix: str) -> Settings:
    """A new installation on SQLite, for `readingroom serve` (which migrates it itself)."""
    return Settings(
        data_dir=tmp_path / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=index_prefix,
    )


@contextmanager
def serving(settings: Settings, log: Path, **env: str) -> Iterator[str]:
    """``readingroom serve`` in a process of its own for ``settings``; yields its URL."""
    port = _free_port()
    # Only what the test says configures it, not a variable of the shell that runs the tests.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("READINGROOM_") and name != "FORWARDED_ALLOW_IPS"
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            # Unbuffered: the access log must be in the file when the test reads it.
            env={**inherited, **cli_env(settings), "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts it slowly
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


ACCESS_LOG_SEARCH = re.compile(r'(?P<client>\S+):\d+ - "GET /search\.json')


def searchers_logged(log: Path) -> set[str]:
    """The client addresses uvicorn's access log shows for the searches."""
    return {match["client"] for match in ACCESS_LOG_SEARCH.finditer(log.read_text())}


def _from(local_address: str, url: str) -> httpx.Client:
    """An HTTP client whose connections come from ``local_address`` (any 127.x is loopback)."""
    return httpx.Client(
        base_url=url, transport=httpx.HTTPTransport(local_address=local_address), timeout=60
    )


@pytest.mark.slow
def test_serve_believes_only_the_trusted_proxy(fresh_settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    env = {
        "READINGROOM_TRUSTED_PROXIES": "127.0.0.1",
        "READINGROOM_SEARCH_RATE_BURST": "2",
        "READINGROOM_SEARCH_RATE_PER_SECOND": str(SLOW),
    }
    with (
        serving(fresh_settings, log, **env) as url,
        _from("127.0.0.1", url) as proxy,
        _from("127.0.0.2", url) as forger,
    ):
        assert search_statuses(proxy, 3, ALICE) == [200, 200, 429]
        assert search_statuses(proxy, 1, BOB) == [200]
        # 127.0.0.2 is not trusted: whatever it writes, it is limited as 127.0.0.2…
        assert [search_statuses(forger, 1, who)[0] for who in (CAROL, "192.0.2.1", BOB)] == [
            200,
            200,
            429,
        ]
        # …and Carol's bucket, which it named, is whole.
        assert search_statuses(proxy, 2, CAROL) == [200, 200]
    # Uvicorn was given the same list: its access log names the visitors, not the proxy, and
    # the forger by its own address.
    assert searchers_logged(log) == {ALICE, BOB, CAROL, "127.0.0.2"}


@pytest.mark.slow
def test_serve_without_trusted_proxies_believes_no_forwarded_header(
    fresh_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    env = {
        "READINGROOM_SEARCH_RATE_BURST": "2",
        "READINGROOM_SEARCH_RATE_PER_SECOND": str(SLOW),
        # Uvicorn's own variable would trust everyone; the app's (empty) setting decides.
        "FORWARDED_ALLOW_IPS": "*",
    }
    with serving(fresh_settings, log, **env) as url, _from("127.0.0.1", url) as local:
        assert [search_statuses(local, 1, who)[0] for who in (ALICE, BOB, CAROL)] == [200, 200, 429]
    assert searchers_logged(log) == {"127.0.0.1"}
