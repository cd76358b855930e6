"""The webhook target: signed JSON POSTs, delivered once and in order across a receiver outage."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from feedrelay.config import WebhookTargetConfig
from feedrelay.items import Item, utcnow
from publish.base import TargetError
from publish.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, WebhookTarget, sign, verify
from store import models
from store.outbox import claim_deliveries
from tests.support.entries import make_entry
from tests.support.outbox import Store
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer, Request, Response

SECRET = "s3cret-for-tests"


class Receiver:
    """A webhook receiver on loopback that checks signatures; `down` answers 503."""

    def __init__(self) -> None:
        self.server = LocalServer()
        self.server.route("/hook", self.handle)
        self.received: list[dict] = []
        self.delivery_ids: list[str] = []
        self.down = False
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        if self.down:
            return Response(503, b"maintenance")
        if not verify(SECRET, request.body, request.headers.get(SIGNATURE_HEADER)):
            return Response(401, b"bad signature")
        with self.lock:
            self.received.append(json.loads(request.body))
            self.delivery_ids.append(request.headers[DELIVERY_HEADER])
        return Response(204)


@pytest.fixture
def receiver() -> Receiver:
    hook = Receiver()
    hook.server.start()
    yield hook
    hook.server.stop()


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FEEDRELAY_TEST_HOOK_SECRET", SECRET)
    return "FEEDRELAY_TEST_HOOK_SECRET"


def hook_target(url: str, secret_env: str) -> WebhookTarget:
    return WebhookTarget(WebhookTargetConfig(type="webhook", name="hook", url=url, secret_env=secret_env))


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def story_items(first: int, count: int) -> list[Item]:
    return [Item(feed="source-blog", guid=f"https://source.example/?p={i}", link=f"https://source.example/{i}/",
                 title=f"Hook story {i}", content_html=f"<p>Distinct body {i} {i * 104729}.</p>",
                 text=f"Distinct body {i} {i * 104729}.")
            for i in range(first, first + count)]


def test_the_body_is_a_signed_json_feed_item(receiver: Receiver, secret_env: str) -> None:
    target = hook_target(receiver.server.url("/hook"), secret_env)
    entry = make_entry(7)
    ref = target.deliver(entry, None)
    assert ref == receiver.delivery_ids[0] == target.delivery_id(entry)
    body = receiver.received[0]
    assert body["id"] == entry.entry_id
    assert body["title"] == "Story 7" and "content_html" in body and body["url"] == entry.item.link
    assert (body["story_id"], body["revision"], body["retracted"]) == (7, 1, False)
    assert body["source"] == {"title": "Source Blog", "url": "https://source.example/",
                              "link": "https://origin.example/original-7/"}
    request = receiver.server.requests[0]
    assert request.headers["X-Feedrelay-Event"] == "published"
    assert request.headers["Content-Type"].startswith("application/json")


def test_the_first_revision_a_target_gets_is_published_the_next_revised(receiver: Receiver, secret_env: str) -> None:
    """A target may first get a story at revision 3 (added later, or brought the story by a copy
    its filters accept): that is "published" to it; what follows is "revised"."""
    target = hook_target(receiver.server.url("/hook"), secret_env)
    entry = replace(make_entry(9), revision=3)
    ref = target.deliver(entry, None)
    target.deliver(replace(entry, revision=4), ref)
    assert [r.headers["X-Feedrelay-Event"] for r in receiver.server.requests] == ["published", "revised"]


def test_a_wrong_secret_is_refused_and_pauses_the_target(receiver: Receiver,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDRELAY_TEST_HOOK_WRONG", "not-the-secret")
    with pytest.raises(TargetError) as caught:
        hook_target(receiver.server.url("/hook"), "FEEDRELAY_TEST_HOOK_WRONG").deliver(make_entry(1), None)
    assert caught.value.pause
    assert receiver.received == []


def make_due(store: Store) -> None:
    """Time passes: every backed-off delivery becomes due."""
    with store.sessions.begin() as session:
        session.execute(update(models.Delivery).where(models.Delivery.state == "pending")
                        .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_exactly_once_and_in_order_across_a_receiver_outage(
        receiver: Receiver, secret_env: str, tmp_path: Path) -> None:
    store = Store(tmp_path, ["hook"])
    store.store(story_items(1, 3))

    # Receiver unreachable: the first delivery fails and holds the others back.
    report = store.publish({"hook": hook_target(closed_port_url(), secret_env)})
    assert report.counts[("hook", "retry")] == 1 and report.delivered() == 0
    rows = store.deliveries("hook")
    assert [r.attempts for r in rows] == [1, 0, 0]
    assert rows[0].next_attempt_at > utcnow() and "unreachable" in rows[0].last_error

    # Receiver up but answering 503; more stories arrive meanwhile.
    target = hook_target(receiver.server.url("/hook"), secret_env)
    receiver.down = True
    store.store(story_items(4, 2))
    make_due(store)
    assert store.publish({"hook": target}).delivered() == 0
    assert len(receiver.server.requests) == 1  # only the head of the queue was tried
    assert store.publish({"hook": target}).delivered() == 0  # backing off: nothing due
    assert len(receiver.server.requests) == 1

    # Receiver back: everything arrives, in order, once.
    receiver.down = False
    make_due(store)
    assert store.publish({"hook": target}).delivered() == 5
    assert [b["title"] for b in receiver.received] == [f"Hook story {i}" for i in range(1, 6)]
    assert len(set(receiver.delivery_ids)) == 5
    assert store.publish({"hook": target}).delivered() == 0
    assert len(receiver.received) == 5
    assert {r.state for r in store.deliveries("hook")} == {"done"}

    # A revision is a new delivery (new id), the earlier one is not resent.
    store.store([replace(story_items(2, 1)[0], title="Hook story 2, revised")])
    assert store.publish({"hook": target}).delivered() == 1
    assert receiver.received[-1]["title"] == "Hook story 2, revised"
    assert receiver.received[-1]["revision"] == 2
    assert receiver.server.requests[-1].headers["X-Feedrelay-Event"] == "revised"
    assert len(set(receiver.delivery_ids)) == 6
    store.close()


def test_ordered_claims_start_at_the_oldest_pending_row_on_postgresql(tmp_path: Path) -> None:
    with fresh_database() as url:
        store = Store(tmp_path, ["hook", "files"], url=url)
        store.store(story_items(1, 4))
        ids = [d.id for d in store.deliveries("hook")]
        first, second = store.sessions(), store.sessions()
        try:
            now = utcnow()
            claimed = claim_deliveries(first, "hook", "worker-a", now, limit=2, ordered=True)
            assert claimed == ids[:2]  # locked, not yet committed
            assert claim_deliveries(second, "hook", "worker-b", now, limit=2, ordered=True) == []
            unordered = claim_deliveries(second, "files", "worker-b", now, limit=2)
            assert len(unordered) == 2  # other targets are not held back
            second.rollback()
            first.commit()
            assert claim_deliveries(second, "hook", "worker-b", now, limit=2, ordered=True) == []
        finally:
            first.close()
            second.close()
            store.close()


@pytest.mark.parametrize(("status", "headers", "outcome"), [
    (429, {"Retry-After": "3600"}, "waits as asked"), (503, {"Retry-After": "7200"}, "waits as asked"),
    (400, {}, "given up, the queue moves on"), (404, {}, "given up, the queue moves on"),
    (410, {}, "target paused"), (301, {"Location": "https://new.example/hook?token=SECRET"}, "target paused"),
])
def test_receiver_answers_are_followed(tmp_path: Path, secret_env: str, status: int, headers: dict[str, str],
                                       outcome: str) -> None:
    """Retry-After is kept, a refusal does not block the ordered queue for ever, and a receiver
    that is gone or moved holds the target instead of receiving every story in turn."""
    with LocalServer() as odd:
        odd.route("/hook", Response(status, b"no", headers))
        store = Store(tmp_path, ["hook"])
        store.store(story_items(1, 3))
        report = store.publish({"hook": hook_target(odd.url("/hook") + "?token=SECRET", secret_env)})
        sent = len(odd.requests)
        rows = store.deliveries("hook")
        store.close()
    if outcome == "waits as asked":
        assert sent == 1 and rows[0].state == "pending" and "paused" not in str(report.paused)
        assert rows[0].next_attempt_at >= utcnow() + timedelta(seconds=int(headers["Retry-After"]) - 60)
    elif outcome == "given up, the queue moves on":
        assert sent == 3 and [r.state for r in rows] == ["failed"] * 3
    else:
        assert sent == 1 and "hook" in report.paused and [r.state for r in rows] == ["pending"] * 3
        assert all(r.next_attempt_at > utcnow() + timedelta(minutes=55) for r in rows)
    assert all("SECRET" not in (r.last_error or "") for r in rows)  # the URL's token is not stored


def test_verify_says_false_to_any_forged_signature() -> None:
    body = b'{"id": 1}'
    assert verify(SECRET, body, sign(SECRET, body))
    for forged in (None, "", "sha256=00", "sha256=é" * 10, "\udcff"):
        assert verify(SECRET, body, forged) is False
