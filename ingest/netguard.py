"""SSRF guard: refuse private/loopback/reserved addresses at connect time, pinned to the checked IP.

The check lives inside urllib3's connection class: the host is resolved once, every address is
checked, and the socket connects to exactly the address that was checked. So there is no window
between "check" and "connect" for DNS rebinding, and every new connection (first request and each
redirect hop) goes through it. TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from ingest.watchdog import ConnectionWatch

Resolver = Callable[[str, int], list[str]]


class BlockedAddress(Exception):
    """A connection was refused because the host resolves to a non-public address."""


class ResolveTimeout(Exception):
    """Resolving a host name took longer than the request's deadline allowed."""


# Threads that wait on getaddrinfo for deadline-bound requests; a lookup the deadline gave up
# on keeps its thread until the system resolver answers (its own timeout, ~5 s per try).
_RESOLVERS = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="resolve")


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to (IPv4 and IPv6), in the system's preferred order."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address reaches through a translation or tunnel (IPv4-mapped,
    6to4, Teredo, NAT64, IPv4-compatible), or None: the guard must judge that host, not the
    wrapper, which Python's tables call global (`2002:7f00:1::` is 127.0.0.1 over 6to4)."""
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in network for network in _NAT64) or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def address_problem(address: str) -> str | None:
    """Why `address` must not be contacted ("a private address", …), or None if it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:  # fec0::/10, deprecated but still routed inside some networks
            return "a private address"
        if not (ip.is_unspecified or ip.is_loopback) and (inner := embedded_ipv4(ip)) is not None:
            ip = inner
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


class AddressGuard:
    """Resolves host names and decides which addresses connections may use."""

    def __init__(self, allow_private: bool, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or system_resolver

    def problem(self, address: str) -> str | None:
        """Why `address` is refused, or None if connections to it are allowed."""
        return None if self.allow_private else address_problem(address)

    def addresses(self, host: str, port: int, within: float | None = None) -> list[str]:
        """Checked addresses for `host`; raises BlockedAddress if any of them is not public, and
        ResolveTimeout if resolving takes more than `within` seconds."""
        try:
            ipaddress.ip_address(host)
            resolved = [host]
        except ValueError:
            resolved = self._resolve(host, port, within)
        for address in resolved:
            problem = self.problem(address)
            if problem:
                shown = address if address == host else f"{host} ({address})"
                raise BlockedAddress(f"refused: {shown} is {problem}")
        return resolved

    def _resolve(self, host: str, port: int, within: float | None) -> list[str]:
        # getaddrinfo cannot be interrupted: under a deadline it runs in a resolver thread, and
        # the request stops waiting for it when the deadline comes.
        if within is None:
            return self.resolver(host, port)
        if within <= 0:
            raise ResolveTimeout(host)
        try:
            return _RESOLVERS.submit(self.resolver, host, port).result(timeout=within)
        except concurrent.futures.TimeoutError:
            raise ResolveTimeout(host) from None

    def connect(self, conn: HTTPConnection, within: float | None = None) -> socket.socket:
        """Open the socket for urllib3 connection `conn` to a checked address, within `within`
        seconds for resolving and connecting (the request's deadline) if given."""
        try:
            addresses = self.addresses(conn.host, conn.port, within)
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        except ResolveTimeout as e:
            raise ConnectTimeoutError(conn, f"resolving {conn.host} outlasted the deadline") from e
        timeout = conn.timeout
        if within is not None and isinstance(timeout, int | float):
            timeout = min(timeout, max(within, 0.001))
        last_error: OSError | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, conn.port), timeout,
                    source_address=conn.source_address, socket_options=conn.socket_options,
                )
            except TimeoutError as e:
                raise ConnectTimeoutError(
                    conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})") from e
            except OSError as e:
                last_error = e
        raise NewConnectionError(conn, f"Failed to establish a new connection: {last_error}")


def _pool_classes(guard: AddressGuard, watch: ConnectionWatch) -> dict[str, type[HTTPConnectionPool]]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return guard.connect(self, watch.remaining())

        def connect(self) -> None:
            super().connect()
            watch.connected(self)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return guard.connect(self, watch.remaining())

        def connect(self) -> None:
            super().connect()
            watch.connected(self)

    class Watched(HTTPConnectionPool):
        def _get_conn(self, timeout: float | None = None) -> Any:
            connection = super()._get_conn(timeout)
            watch.taken(connection)
            return connection

    class GuardedHTTPPool(Watched):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(Watched, HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections go through an `AddressGuard` (no proxies) and tell a
    `ConnectionWatch` which connection each request uses (for its deadline)."""

    def __init__(self, guard: AddressGuard, watch: ConnectionWatch | None = None, **kwargs: Any) -> None:
        self.guard = guard
        self.watch = watch or ConnectionWatch()
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.guard, self.watch)
