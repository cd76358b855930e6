"""Fixtures shared by many test modules: a loopback HTTP server and a fetcher allowed to reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest.fetch import Fetcher, HttpSettings
from tests.support.server import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A programmable HTTP server on 127.0.0.1 (see tests/support/server.py)."""
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    """A Fetcher with the SSRF guard opened for loopback, where the test servers run."""
    guarded = Fetcher(HttpSettings(allow_private_networks=True))
    yield guarded
    guarded.close()
