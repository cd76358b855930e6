"""Fetcher behaviour against a real loopback HTTP server."""

from __future__ import annotations

import base64
import gzip
import socket
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import brotli
import feedparser
import pytest

from ingest.fetch import Fetcher, FetchError, FetchState, HttpSettings, discover_feed_url
from ingest.netguard import AddressGuard, address_problem
from tests.support.server import Request, Response

FEED = (b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Demo</title>'
        b"<item><title>One</title><link>https://example.com/1</link></item></channel></rss>")
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def conditional(etag: str, last_modified: str, body: bytes = FEED):
    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(304, headers={"ETag": etag})
        return Response(200, body, {**RSS, "ETag": etag, "Last-Modified": last_modified})
    return answer


def test_conditional_get_304_path(server, fetcher):
    server.route("/feed.xml", conditional('"v1"', "Wed, 25 Nov 2026 10:00:00 GMT"))
    first = fetcher.fetch(FetchState(server.url("/feed.xml")))
    assert first.outcome == "ok" and first.http_status == 200
    assert first.body == FEED
    assert first.content_type == "application/rss+xml"
    assert first.etag == '"v1"' and first.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert first.body_hash

    second = fetcher.fetch(FetchState(first.url, first.etag, first.last_modified, first.body_hash))
    sent = server.requests[-1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert second.outcome == "not_modified" and second.http_status == 304
    assert second.body is None and second.etag == '"v1"' and second.body_hash == first.body_hash


def test_same_body_without_validators_is_unchanged(server, fetcher):
    server.route("/feed.xml", Response(200, FEED, RSS))
    first = fetcher.fetch(FetchState(server.url("/feed.xml")))
    again = fetcher.fetch(FetchState(first.url, body_hash=first.body_hash))
    assert again.outcome == "unchanged" and again.body is None and again.body_hash == first.body_hash
    server.route("/feed.xml", Response(200, FEED.replace(b"One", b"Two"), RSS))
    changed = fetcher.fetch(FetchState(first.url, body_hash=first.body_hash))
    assert changed.outcome == "ok" and changed.body_hash != first.body_hash


def test_request_headers_name_feedrelay_and_feed_types(server, fetcher):
    server.route("/feed.xml", Response(200, FEED, RSS))
    fetcher.fetch(FetchState(server.url("/feed.xml")))
    headers = server.requests[-1].headers
    assert headers["User-Agent"].startswith("feedrelay/")
    assert "application/rss+xml" in headers["Accept"] and "application/atom+xml" in headers["Accept"]
    assert {"gzip", "deflate", "br"} <= {e.strip() for e in headers["Accept-Encoding"].split(",")}


def test_sends_url_credentials_and_the_sites_cookies(server, fetcher):
    # What `Session.get` sent before the fetcher prepared its requests itself: Basic auth from
    # credentials in the feed's URL, and a cookie the site set, on the next poll of that site.
    server.route("/feed.xml", Response(200, FEED, {**RSS, "Set-Cookie": "visit=1; Path=/"}))
    url = server.url("/feed.xml").replace("http://", "http://reader:s%40cret@")
    fetcher.fetch(FetchState(url))
    fetcher.fetch(FetchState(url))
    first, second = server.requests[-2].headers, server.requests[-1].headers
    assert first["Authorization"] == "Basic " + base64.b64encode(b"reader:s@cret").decode()
    assert "Cookie" not in first and second["Cookie"] == "visit=1"


def test_keep_alive_connection_reused_across_fetches(server, fetcher):
    server.route("/feed.xml", conditional('"v1"', "Wed, 25 Nov 2026 10:00:00 GMT"))
    for _ in range(3):
        fetcher.fetch(FetchState(server.url("/feed.xml"), etag='"v1"'))
    assert len({r.client_port for r in server.requests}) == 1


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_moves_url(server, fetcher, status):
    server.route("/old", Response(status, headers={"Location": "/new"}))
    server.route("/new", Response(200, FEED, RSS))
    result = fetcher.fetch(FetchState(server.url("/old")))
    assert result.outcome == "ok"
    assert result.url == server.url("/new") and result.moved_from == server.url("/old")


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_keeps_url(server, fetcher, status):
    server.route("/feed", Response(status, headers={"Location": "/elsewhere"}))
    server.route("/elsewhere", Response(200, FEED, RSS))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "ok" and result.url == server.url("/feed") and result.moved_from is None


def test_permanent_then_temporary_stores_the_permanent_target(server, fetcher):
    server.route("/a", Response(301, headers={"Location": "/b"}))
    server.route("/b", Response(302, headers={"Location": "/c"}))
    server.route("/c", Response(301, headers={"Location": "/d"}))
    server.route("/d", Response(200, FEED, RSS))
    result = fetcher.fetch(FetchState(server.url("/a")))
    assert result.outcome == "ok" and result.url == server.url("/b")


def test_redirect_loop_is_an_error(server):
    server.route("/loop", Response(302, headers={"Location": "/loop"}))
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, max_redirects=3))
    result = fetcher.fetch(FetchState(server.url("/loop")))
    assert result.outcome == "error" and result.error == "too many redirects (more than 3)"
    assert server.hits("/loop") == 4


def test_redirect_to_other_scheme_refused(server, fetcher):
    server.route("/feed", Response(302, headers={"Location": "file:///etc/passwd"}))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "error" and "only http and https" in result.error


def test_gone(server, fetcher):
    server.route("/feed", Response(410, b"gone"))
    result = fetcher.fetch(FetchState(server.url("/feed"), etag='"x"'))
    assert result.outcome == "gone" and result.http_status == 410 and result.error == "HTTP 410 Gone"


@pytest.mark.parametrize("status,text", [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"),
                                         (503, "HTTP 503 Service Unavailable"), (403, "HTTP 403 Forbidden")])
def test_http_errors_keep_validators(server, fetcher, status, text):
    server.route("/feed", Response(status, b"nope"))
    result = fetcher.fetch(FetchState(server.url("/feed"), etag='"x"', last_modified="y", body_hash="h"))
    assert result.outcome == "error" and result.error == text and result.http_status == status
    assert (result.etag, result.last_modified, result.body_hash) == ('"x"', "y", "h")


def test_429_retry_after_seconds(server, fetcher):
    server.route("/feed", Response(429, headers={"Retry-After": "120"}))
    before = datetime.now(UTC)
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "retry_later" and result.error == "HTTP 429 Too Many Requests"
    assert before + timedelta(seconds=119) <= result.retry_after <= datetime.now(UTC) + timedelta(seconds=121)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_http_date(server, fetcher, status):
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    server.route("/feed", Response(status, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "retry_later" and result.retry_after == when


def test_cache_headers_give_max_age(server, fetcher):
    server.route("/a", Response(200, FEED, {**RSS, "Cache-Control": "public, max-age=900"}))
    server.route("/b", Response(200, FEED, {**RSS, "Cache-Control": "no-store"}))
    server.route("/c", Response(200, FEED, {**RSS, "Expires": "0"}))
    in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server.route("/d", Response(200, FEED, {**RSS, "Expires": in_an_hour}))
    server.route("/e", Response(200, FEED, RSS))
    ages = [fetcher.fetch(FetchState(server.url(p))).max_age for p in ("/a", "/b", "/c", "/d", "/e")]
    assert ages[:3] == [900, 0, 0] and 3500 < ages[3] <= 3600 and ages[4] is None


def test_read_timeout(server):
    def slow(request: Request) -> Response:
        threading.Event().wait(3)
        return Response(200, FEED)
    server.route("/feed", slow)
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, read_timeout=0.5))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "error" and result.error.startswith("read timeout after 0.5s")


def test_slow_trickle_is_cut_at_the_deadline(server):
    server.route("/feed", Response(200, (b"<" for _ in range(200)), RSS, delay=0.2))
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, deadline=1, read_timeout=5))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "error" and result.error == "timeout after 1s"
    assert result.elapsed < 10  # the trickle alone would take 40 s


def test_oversized_body_with_and_without_length(server):
    big = b"<rss>" + b"x" * 5000 + b"</rss>"
    server.route("/known", Response(200, big, RSS))
    server.route("/chunked", Response(200, [big[i:i + 500] for i in range(0, len(big), 500)], RSS))
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, max_body=1024))
    for path in ("/known", "/chunked"):
        result = fetcher.fetch(FetchState(server.url(path)))
        assert result.outcome == "error" and result.error == "body exceeds 1 KiB"


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
])
def test_compressed_bodies_are_decoded(server, fetcher, encoding, compress):
    server.route("/feed", Response(200, compress(FEED), {**RSS, "Content-Encoding": encoding}))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "ok" and result.body == FEED


@pytest.mark.parametrize("encoding,compress", [("gzip", gzip.compress), ("br", brotli.compress)])
def test_compression_bomb_stopped_at_the_cap(server, encoding, compress):
    bomb = compress(b"<rss>" + b" " * (64 << 20))
    assert len(bomb) < 1 << 20
    server.route("/feed", Response(200, bomb, {**RSS, "Content-Encoding": encoding}))
    fetcher = Fetcher(HttpSettings(allow_private_networks=True))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "error" and result.error == "body exceeds 15 MiB"


def test_html_page_names_the_alternate_feed(server, fetcher):
    page = (b'<!DOCTYPE html><html><head><title>Blog</title>'
            b'<link rel="alternate" type="application/rss+xml" href="/feed/"></head><body>hi</body></html>')
    server.route("/blog", Response(200, page, {"Content-Type": "text/html; charset=utf-8"}))
    result = fetcher.fetch(FetchState(server.url("/blog")))
    assert result.outcome == "error"
    assert result.error == f"HTML page, not a feed (alternate feed: {server.url('/feed/')})"


def test_feed_served_as_text_html_is_accepted(server, fetcher):
    server.route("/feed", Response(200, FEED, {"Content-Type": "text/html"}))
    assert fetcher.fetch(FetchState(server.url("/feed"))).outcome == "ok"


def test_discover_feed_url_prefers_rss_atom_and_honours_base():
    page = (b'<html><head><base href="https://blog.example/sub/">'
            b'<link rel="alternate" type="application/feed+json" href="feed.json">'
            b'<link rel="alternate" type="application/atom+xml" href="atom.xml"></head></html>')
    assert discover_feed_url(page, "https://other.example/") == "https://blog.example/sub/atom.xml"
    assert discover_feed_url(b"<html><head></head><body>no feed</body></html>", "https://x.example/") is None


def test_connection_refused_and_dns_failure_are_errors(fetcher):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetcher.fetch(FetchState(f"http://127.0.0.1:{port}/feed"))
    assert result.outcome == "error" and result.error == f"connection refused by 127.0.0.1:{port}"

    def no_dns(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    offline = Fetcher(HttpSettings(), resolver=no_dns)
    result = offline.fetch(FetchState("http://feeds.example.test/feed"))
    assert result.outcome == "error" and result.error == "DNS lookup failed for feeds.example.test"


# --- SSRF guard -------------------------------------------------------------------------------------


def test_loopback_refused_unless_private_networks_allowed(server):
    server.route("/feed", Response(200, FEED, RSS))
    result = Fetcher(HttpSettings()).fetch(FetchState(server.url("/feed")))
    assert result.outcome == "error" and result.error == "refused: 127.0.0.1 is a loopback address"
    assert server.requests == []


@pytest.mark.parametrize("address,problem", [
    ("2002:7f00:1::1", "a loopback address"),  # 6to4 around 127.0.0.1
    ("2002:a00:1::1", "a private address"),  # 6to4 around 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "a link-local address"),  # NAT64 around 169.254.169.254 (cloud metadata)
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a loopback address"),  # Teredo, client 127.0.0.1
    ("::127.0.0.1", "a loopback address"),  # IPv4-compatible
    ("fec0::1", "a private address"),  # site-local
    ("2002:808:808::1", None), ("64:ff9b::808:808", None), ("2001:4860:4860::8888", None),
])
def test_ipv6_wrappers_are_judged_by_the_ipv4_host_they_reach(address, problem):
    assert address_problem(address) == problem


def test_public_looking_host_resolving_to_loopback_refused(server):
    server.route("/feed", Response(200, FEED, RSS))
    fetcher = Fetcher(HttpSettings(), resolver=lambda host, port: ["127.0.0.1"])
    result = fetcher.fetch(FetchState(f"http://feeds.example.com:{server.port}/feed"))
    assert result.error == "refused: feeds.example.com (127.0.0.1) is a loopback address"
    assert server.requests == []


def test_resolved_address_is_the_one_connected_to(server):
    server.route("/feed", Response(200, FEED, RSS))
    fetcher = Fetcher(HttpSettings(allow_private_networks=True), resolver=lambda host, port: ["127.0.0.1"])
    result = fetcher.fetch(FetchState(f"http://feeds.example.com:{server.port}/feed"))
    assert result.outcome == "ok"
    assert server.requests[-1].headers["Host"] == f"feeds.example.com:{server.port}"


class LoopbackIsPublic(AddressGuard):
    """Treats the test server's 127.0.0.1 as "the internet", so later hops can be checked."""

    def problem(self, address: str) -> str | None:
        return None if address == "127.0.0.1" else address_problem(address)


@pytest.mark.parametrize("target,message", [
    ("http://10.0.0.1/feed", "refused: 10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a link-local address"),
    ("http://[::1]:8080/feed", "refused: ::1 is a loopback address"),
    ("http://intranet.example.com/feed", "refused: intranet.example.com (192.168.1.5) is a private address"),
])
def test_redirect_hop_to_private_address_refused(server, target, message):
    server.route("/feed", Response(302, headers={"Location": target}))
    names = {"intranet.example.com": ["192.168.1.5"]}
    guard = LoopbackIsPublic(False, lambda host, port: names[host])
    result = Fetcher(HttpSettings(), guard=guard).fetch(FetchState(server.url("/feed")))
    assert result.outcome == "error" and result.error == message
    assert server.hits("/feed") == 1


def test_get_bytes_is_guarded_and_capped(server):
    server.route("/img.png", Response(200, b"\x89PNG" + b"0" * 100, {"Content-Type": "image/png"}))
    server.route("/missing.png", Response(404))
    allowed = Fetcher(HttpSettings(allow_private_networks=True))
    body, kind = allowed.get_bytes(server.url("/img.png"), accept="image/*")
    assert body.startswith(b"\x89PNG") and kind == "image/png"
    assert server.requests[-1].headers["Accept"] == "image/*"
    with pytest.raises(FetchError, match="body exceeds 50 bytes"):
        allowed.get_bytes(server.url("/img.png"), max_bytes=50)
    with pytest.raises(FetchError, match="HTTP 404 Not Found"):
        allowed.get_bytes(server.url("/missing.png"))
    with pytest.raises(FetchError, match="refused: 127.0.0.1 is a loopback address"):
        Fetcher(HttpSettings()).get_bytes(server.url("/img.png"))


# --- concurrency ----------------------------------------------------------------------------------


def _fetch_all(fetcher: Fetcher, urls: list[str]) -> None:
    threads = [threading.Thread(target=fetcher.fetch, args=(FetchState(url),)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_per_host_cap(server):
    server.route("/feed", Response(200, FEED, RSS))
    server.hold = 0.2
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, per_host=2))
    _fetch_all(fetcher, [server.url(f"/feed?n={i}") for i in range(10)])
    assert server.hits("/feed") == 0 and len(server.requests) == 10
    assert server.max_concurrent == 2


def test_per_host_cap_is_per_host(server):
    server.route("/feed", Response(200, FEED, RSS))
    server.hold = 0.3
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, per_host=2),
                      resolver=lambda host, port: ["127.0.0.1"])
    urls = [f"http://{host}.example.com:{server.port}/feed?n={i}" for host in ("a", "b") for i in range(6)]
    _fetch_all(fetcher, urls)
    assert len(server.requests) == 12 and server.max_concurrent == 4


# --- local files and encodings -----------------------------------------------------------------------


def test_local_file_paths(tmp_path, fetcher):
    path = tmp_path / "sample.xml"
    path.write_bytes(FEED)
    first = fetcher.fetch(FetchState(str(path)))
    assert first.outcome == "ok" and first.body == FEED and first.url == str(path)
    assert fetcher.fetch(FetchState(path.as_uri(), body_hash=first.body_hash)).outcome == "unchanged"
    missing = fetcher.fetch(FetchState(str(tmp_path / "nope.xml")))
    assert missing.outcome == "error" and "cannot read" in missing.error


def test_declared_utf8_but_cp1251_bytes_recovered(server, fetcher):
    text = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Новости дня</title>' \
           "<item><title>Москва и область</title></item></channel></rss>"
    server.route("/feed", Response(200, text.encode("cp1251"), {"Content-Type": "text/xml; charset=utf-8"}))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "ok"
    assert any("cp1251" in w for w in result.warnings)
    parsed = feedparser.parse(result.body)
    assert not parsed.bozo and parsed.feed.title == "Новости дня"
    assert parsed.entries[0].title == "Москва и область"


def test_correctly_declared_legacy_charset_is_converted_silently(server, fetcher):
    text = '<?xml version="1.0" encoding="iso-8859-7"?><rss version="2.0"><channel><title>Ειδήσεις</title>' \
           "</channel></rss>"
    server.route("/feed", Response(200, text.encode("iso-8859-7"), {"Content-Type": "application/xml"}))
    result = fetcher.fetch(FetchState(server.url("/feed")))
    assert result.outcome == "ok" and result.warnings == []
    assert b'encoding="utf-8"' in result.body and feedparser.parse(result.body).feed.title == "Ειδήσεις"


def test_headers_trickled_byte_by_byte_are_cut_at_the_deadline():
    """Each byte arrives within the read timeout, so only the total deadline can stop this."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(150):  # 30 s of header unless the client hangs up
                if stop.wait(0.2):
                    return
                try:
                    connection.sendall(b"a")
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, deadline=1.5, read_timeout=1))
    try:
        result = fetcher.fetch(FetchState(f"http://127.0.0.1:{listener.getsockname()[1]}/feed"))
    finally:
        stop.set()
        listener.close()
        fetcher.close()
    assert result.outcome == "error" and result.error == "timeout after 1.5s"
    assert result.elapsed < 5  # the trickle alone would take 30 s


def test_slow_name_resolution_counts_against_the_deadline(server):
    """getaddrinfo cannot be interrupted: the request stops waiting for it at the deadline."""
    server.route("/feed", Response(200, FEED, RSS))

    def slow_dns(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["127.0.0.1"]

    fetcher = Fetcher(HttpSettings(allow_private_networks=True, deadline=1, connect_timeout=5), resolver=slow_dns)
    started = time.monotonic()
    result = fetcher.fetch(FetchState(f"http://feeds.test:{server.port}/feed"))
    fetcher.close()
    assert result.outcome == "error" and result.error == "timeout after 1s"
    assert time.monotonic() - started < 2


def test_a_socket_opened_after_the_deadline_fired_is_cut_at_once():
    """The deadline passed while the connection had no socket (the timer cut nothing): the socket
    that arrives later is shut down as soon as the connection has it."""
    from ingest.watchdog import ConnectionWatch

    class Connection:
        sock: socket.socket | None = None

    watch, connection = ConnectionWatch(), Connection()
    near, far = socket.socketpair()
    with watch.deadline(0.05) as watched:
        watch.taken(connection)
        time.sleep(0.3)
        assert watched.cut  # fired with nothing to shut down
        connection.sock = near
        watch.connected(connection)
        near.settimeout(2)
        assert near.recv(1) == b""  # shut down: a read ends at once instead of waiting for data
    near.close()
    far.close()
