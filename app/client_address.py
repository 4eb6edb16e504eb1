"""Who is on the other end of a request: the one rule every rate limit keys its buckets by.

Behind a reverse proxy every connection comes from the proxy. The proxy says whom it relays
for in ``X-Forwarded-For``, appending the address that connected to it to whatever the request
already carried. So only the right end of that header can be believed, and only when the
connection comes from a proxy of ours (``READINGROOM_TRUSTED_PROXIES``): walk the header from
the right, skip our own proxies, and the first address that is not one of them is the client.
Everything to its left was written by the client and may be anything.

``readingroom serve`` gives uvicorn the same list (``forwarded_allow_ips``), so that its access
log and ``request.client`` name the client too. Uvicorn's ProxyHeadersMiddleware applies this
same rule, and the rule gives the same answer when applied twice: once uvicorn has put the
client in place of the proxy, that client is untrusted and comes back unchanged (or, when every
hop was trusted, the walk ends on the same leftmost entry again). So the answer is the same
under ``readingroom serve``, under TestClient and under a server that ignores proxy headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request

from app.config import Settings

TrustedProxies = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]

UNKNOWN_CLIENT = "unknown"  # an ASGI server may not know the peer (a Unix socket)


def _host_of(entry: str) -> str:
    """The host of one ``X-Forwarded-For`` entry: ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``.

    Parsed as uvicorn parses it, so that both read the same header the same way.
    """
    entry = entry.strip()
    if entry.startswith("["):
        end = entry.find("]")
        rest = entry[end + 1 :]
        if end == -1 or (rest and not rest.startswith(":")):
            return entry
        return entry[1:end]
    if entry.count(":") == 1:
        host, port = entry.rsplit(":", 1)
        try:
            int(port)
        except ValueError:
            return entry
        return host
    return entry


def is_trusted(host: str, proxies: TrustedProxies) -> bool:
    """Whether ``host`` is one of our proxies; a name or garbage never is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: the same host as a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in proxies)


def forwarded_client(peer: str, forwarded_for: Sequence[str], proxies: TrustedProxies) -> str:
    """The client of a connection from ``peer`` carrying these ``X-Forwarded-For`` headers.

    The peer itself unless it is a trusted proxy; then the rightmost untrusted entry of the
    header (several headers read as one list, in order). When every entry is trusted the
    request started inside our own network, and its leftmost entry is taken, as uvicorn does.
    """
    if not forwarded_for or not is_trusted(peer, proxies):
        return peer
    hosts = [_host_of(entry) for entry in ",".join(forwarded_for).split(",")]
    for host in reversed(hosts):
        if not is_trusted(host, proxies):
            # An empty entry names nobody: uvicorn keeps the peer then, and so does this.
            return host or peer
    return hosts[0] or peer


def client_address(request: Request) -> str:
    """The address of the client of ``request``, for rate limits and nothing that grants trust."""
    peer = request.client.host if request.client else UNKNOWN_CLIENT
    settings: Settings = request.app.state.settings
    return forwarded_client(
        peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies
    )
