"""A fast asyncio HTTP/1.1 server on loopback serving N numbered feeds, for the polling benchmark.

`/f/<n>.xml` answers with an ETag; a request carrying the current ETag gets 304. `POST /bump`
gives every tenth feed a new version (new items, new ETag), so the next cycle sees 90 % 304 and
10 % changed. `GET /stats` returns the count of feed requests (`/f/…`). Runs in its own process so its CPU time is
not charged to the client being measured.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Callable

from bench.textgen import TextGen

CHANGED_EVERY = 10


def feed_body(n: int, version: int) -> bytes:
    """Feed `n` at `version`: three items with distinct synthetic text (no accidental near-duplicates)."""
    text = TextGen(seed=n * 1000 + version)
    items = "".join(
        f"<item><title>{text.title()}</title><link>https://feed{n}.example/{version}/{k}</link>"
        f"<guid>https://feed{n}.example/{version}/{k}</guid><pubDate>Fri, 27 Nov 2026 1{k}:00:00 GMT</pubDate>"
        f"<description>{text.paragraph(4)}</description></item>"
        for k in range(3)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title>'
            f"<link>https://feed{n}.example/</link>{items}</channel></rss>").encode()


class FeedSite:
    """The state of the N feeds: their versions, and a request counter."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.versions = [0] * count
        self.requests = 0  # feed requests only (not /stats or /bump)
        self.bodies: dict[tuple[int, int], bytes] = {}

    def body(self, n: int) -> bytes:
        key = (n, self.versions[n])
        if key not in self.bodies:
            self.bodies[key] = feed_body(n, self.versions[n])
        return self.bodies[key]

    def bump(self) -> None:
        for n in range(0, self.count, CHANGED_EVERY):
            self.versions[n] += 1

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path == "/stats":
            return 200, {"Content-Type": "application/json"}, json.dumps({"requests": self.requests}).encode()
        if path == "/bump" and method == "POST":
            self.bump()
            return 200, {}, b"bumped"
        if path.startswith("/f/") and path.endswith(".xml"):
            n = int(path[3:-4])
            self.requests += 1
            if 0 <= n < self.count:
                etag = f'"{n}-{self.versions[n]}"'
                if headers.get("if-none-match") == etag:
                    return 304, {"ETag": etag}, b""
                return 200, {"ETag": etag, "Content-Type": "application/rss+xml"}, self.body(n)
        return 404, {}, b"not found"


REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found"}


def _handler(site: FeedSite) -> Callable:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                if int(headers.get("content-length") or 0):
                    await reader.readexactly(int(headers["content-length"]))
                status, extra, body = site.answer(method, path, headers)
                out = [f"HTTP/1.1 {status} {REASONS[status]}", f"Content-Length: {len(body)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
    return handle


def _serve(count: int, ready: multiprocessing.Queue) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_handler(FeedSite(count)), "127.0.0.1", 0, backlog=1024)
        ready.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def start_feed_server(count: int) -> tuple[multiprocessing.Process, int]:
    """Start the server process; returns (process, port)."""
    ready: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_serve, args=(count, ready), daemon=True)
    process.start()
    return process, ready.get(timeout=30)
