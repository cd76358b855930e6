"""Read an HTTP response body under a size cap and a wall-clock deadline, decompressing it ourselves.

The raw (still compressed) bytes are read with `read1`, which returns as soon as any data
arrived, so the deadline is checked after every network read and a server that trickles bytes
cannot hold the caller. The socket timeout is lowered to the time left before each read. Both the
compressed and the decompressed size are capped; decompression is bounded per chunk, so a gzip
bomb never expands past the cap in memory.
"""

from __future__ import annotations

import time
import zlib
from typing import Protocol

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is a declared dependency
    brotli = None

CHUNK = 64 * 1024
SUPPORTED_ENCODINGS = ("gzip", "deflate", "br") if brotli else ("gzip", "deflate")
DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error, brotli.error) if brotli else (zlib.error,)


class BodyError(Exception):
    """The body could not be read: too large, too slow, corrupt or unsupported encoding."""


class Deadline:
    """A total time budget, measured on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def message(self) -> str:
        return f"timeout after {self.seconds:g}s"


def size_text(limit: int) -> str:
    """`15 MiB`, `512 KiB` or `100 bytes`."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


class _Decoder(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes: ...
    def finish(self, limit: int) -> bytes: ...


class _Identity:
    def feed(self, data: bytes, limit: int) -> bytes:
        return data

    def finish(self, limit: int) -> bytes:
        return b""


class _Zlib:
    """gzip (auto-detected gzip/zlib header) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, encoding: str) -> None:
        self.raw_fallback = encoding == "deflate"
        self.obj = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding == "gzip" else zlib.MAX_WBITS)
        self.started = False

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self.obj.decompress(data, limit + 1)
        except zlib.error:
            if self.started or not self.raw_fallback:
                raise
            self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self.obj.decompress(data, limit + 1)
        self.started = True
        return out

    def finish(self, limit: int) -> bytes:
        return self.obj.decompress(self.obj.unconsumed_tail, limit + 1) if self.obj.unconsumed_tail else b""


class _Brotli:
    def __init__(self) -> None:
        self.obj = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        return self.obj.process(data, output_buffer_limit=limit + 1)

    def finish(self, limit: int) -> bytes:
        return b"" if self.obj.is_finished() else self.obj.process(b"", output_buffer_limit=limit + 1)


def _decoder(content_encoding: str | None) -> _Decoder:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Zlib("deflate" if encoding == "deflate" else "gzip")
    if encoding == "br" and brotli:
        return _Brotli()
    raise BodyError(f"unsupported Content-Encoding: {content_encoding}")


def _lower_socket_timeout(response: requests.Response, seconds: float) -> None:
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.01))


def read_body(response: requests.Response, *, max_bytes: int, deadline: Deadline, read_timeout: float) -> bytes:
    """The decoded body of a streamed `response`; raises BodyError (caller closes the response)."""
    too_large = f"body exceeds {size_text(max_bytes)}"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(too_large)
    decoder = _decoder(response.headers.get("Content-Encoding"))
    parts: list[bytes] = []
    received = decoded = 0
    try:
        while True:
            if deadline.expired():
                raise BodyError(deadline.message())
            _lower_socket_timeout(response, min(read_timeout, deadline.remaining()))
            chunk = response.raw.read1(CHUNK, decode_content=False)
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise BodyError(too_large)
            out = decoder.feed(chunk, max_bytes - decoded)
            decoded += len(out)
            if decoded > max_bytes:
                raise BodyError(too_large)
            parts.append(out)
        out = decoder.finish(max_bytes - decoded)
    except DECODE_ERRORS as e:
        raise BodyError(f"corrupt {response.headers.get('Content-Encoding')} body: {e}") from e
    except ReadTimeoutError as e:
        slow = deadline.message() if deadline.remaining() < 0.05 else f"read timeout after {read_timeout:g}s"
        raise BodyError(slow) from e
    except (ProtocolError, OSError) as e:
        raise BodyError(f"connection broken while reading the body: {e}") from e
    if decoded + len(out) > max_bytes:
        raise BodyError(too_large)
    parts.append(out)
    return b"".join(parts)
