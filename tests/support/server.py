"""A programmable HTTP server on loopback for tests: routes, request log, concurrency record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Response:
    """What a route answers. `body` may be an iterable of chunks (sent with `delay` between)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Callable[[Request], Response] | Response


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with a route table.

    `server.route("/feed.xml", Response(...))` or a callable taking the `Request`.
    Unknown paths get 404. `requests` logs every request; `max_concurrent` is the peak number of
    requests handled at once; `hold` (seconds) delays every answer, to observe concurrency.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.max_concurrent = 0
        self.hold = 0.0
        self._active = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, answer: Route) -> None:
        self.routes[path] = answer

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body,
                                  self.client_address[1])
                with server._lock:
                    server.requests.append(request)
                    server._active += 1
                    server.max_concurrent = max(server.max_concurrent, server._active)
                try:
                    if server.hold:
                        time.sleep(server.hold)
                    answer = server.routes.get(self.path.split("#")[0]) or server.routes.get(
                        self.path.split("?")[0])
                    if answer is None:
                        response = Response(404, b"not found")
                    else:
                        response = answer(request) if callable(answer) else answer
                    self._write(response)
                finally:
                    with server._lock:
                        server._active -= 1

            def _write(self, response: Response) -> None:
                self.send_response(response.status)
                headers = dict(response.headers)
                chunked = not isinstance(response.body, bytes | bytearray)
                if chunked:
                    headers.setdefault("Transfer-Encoding", "chunked")
                else:
                    headers.setdefault("Content-Length", str(len(response.body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    if not chunked:
                        self.wfile.write(response.body)
                        return
                    for chunk in response.body:
                        if response.delay:
                            time.sleep(response.delay)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        return Handler
