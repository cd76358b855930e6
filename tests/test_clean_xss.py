"""Hostile input comes out inert (see tests/support/inert.py for the exact definition).

Sources: our own vectors (tests/fixtures/xss_vectors.jsonl: script in all casings, event
handlers, javascript: with entities/whitespace/newlines, data:text/html, iframe srcdoc, meta
refresh, form action, base href, CSS expression()/url(javascript:), svg/math namespace
confusion, unclosed tags …) and the peer suites in ../shared/corpus/xss (DOMPurify, feedparser,
html5lib, OWASP). Each payload is cleaned as an item body; the output must be inert and a
fixed point of the cleaner.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ingest.clean import clean_html, clean_item
from ingest.parse import parse_feed
from tests.support.inert import problems

FIXTURES = Path(__file__).parent / "fixtures"
XSS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "xss"


def _records(name: str) -> list[dict]:
    path = XSS / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI=true)")
        pytest.skip(f"{path} not present (shared XSS corpus absent)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _assert_inert(payload: str, label: str, base_url: str | None = "https://blog.example/2024/05/post/") -> None:
    result = clean_html(payload, base_url=base_url)
    found = problems(result.html)
    assert not found, f"{label}: {found}\n in: {payload[:300]!r}\nout: {result.html[:300]!r}"
    again = clean_html(result.html, base_url=base_url).html
    assert again == result.html, f"{label}: not idempotent\n1: {result.html[:300]!r}\n2: {again[:300]!r}"


def _own_vectors() -> list[dict]:
    path = FIXTURES / "xss_vectors.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


@pytest.mark.parametrize("vector", _own_vectors(), ids=lambda v: v["name"])
def test_own_vectors_are_inert(vector: dict) -> None:
    _assert_inert(vector["payload"], vector["name"])


def test_raw_vectors_are_live_so_the_check_means_something() -> None:
    live = [v["name"] for v in _own_vectors() if problems(v["payload"])]
    assert len(live) >= 80, live


def test_text_of_hostile_markup_is_not_reinterpreted() -> None:
    result = clean_html("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")
    assert result.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert result.text == "<script>alert(1)</script>"


def test_javascript_base_url_does_not_leak_into_links() -> None:
    result = clean_html('<a href="/x">x</a><img src="y.png">', base_url="javascript:alert(1)//")
    assert not problems(result.html)
    assert "javascript" not in result.html


def test_dompurify_vectors() -> None:
    failures = []
    for record in _records("dompurify-vectors.jsonl"):
        try:
            _assert_inert(record["payload"], record["id"])
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures[:10])


def test_html5lib_sanitizer_vectors() -> None:
    failures = []
    for record in _records("html5lib-sanitizer.jsonl"):
        try:
            _assert_inert(record["payload"], record["id"])
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures[:10])


def test_owasp_vectors_as_written_and_repaired() -> None:
    failures = []
    for record in _records("owasp-xss-filter-evasion.jsonl"):
        for key in ("payload", "payload_nbsp_as_space"):
            if key in record:
                try:
                    _assert_inert(record[key], f"{record['id']}:{key}")
                except AssertionError as exc:
                    failures.append(str(exc))
    assert not failures, "\n\n".join(failures[:10])


def test_feedparser_payloads() -> None:
    failures = []
    records = [r for r in _records("feedparser-sanitize.jsonl") if "payload" in r]
    assert len(records) >= 740
    for record in records:
        try:
            _assert_inert(record["payload"], record["file"])
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures[:10])


def test_feedparser_fixtures_end_to_end() -> None:
    """Every feedparser sanitize fixture through feedrelay's own parser and cleaner."""
    records = _records("feedparser-sanitize.jsonl")
    failures = []
    for record in records:
        path = XSS / record["file"]
        parsed = parse_feed(path.read_bytes(), feed_name="xss", base_url="https://feed.example/")
        for item in parsed.items:
            cleaned = clean_item(item)
            found = problems(cleaned.content_html)
            if found:
                failures.append(f"{record['file']}: {found}: {cleaned.content_html[:200]!r}")
    assert not failures, "\n".join(failures[:10])
