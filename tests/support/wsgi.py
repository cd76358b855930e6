"""A WSGI app served by waitress on a loopback port, in a thread, for tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import waitress


@contextmanager
def serving(app: Callable[..., Any]) -> Iterator[int]:
    """Serve `app` on 127.0.0.1; yields the port. The server is closed by its own loop thread
    (closing it from here would leave that thread in select() on a closed socket)."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        try:
            server.trigger.pull_trigger(server.close)
        except OSError:
            # Seen about once in ten full runs: the trigger's pipe was already closed (EBADF),
            # after the test's requests had all been answered; the cause is not known. The
            # loop can't be woken then: close the server from here.
            server.close()
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
