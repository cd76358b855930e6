"""Feed polling state in the database: moves, gone, backoff and recovery, Retry-After, restarts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from feedrelay.cli import main
from feedrelay.config import load_config
from feedrelay.items import utcnow
from feedrelay.pipeline import Relay
from store import models
from tests.support.server import Request, Response

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def feed_xml(*titles: str, ttl: int | None = None) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://news.example/{t.replace(' ', '-')}</link>"
                    f"<guid>https://news.example/{t.replace(' ', '-')}</guid>"
                    f"<description>{t} happened today, in some detail.</description></item>" for t in titles)
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
            f"<link>https://news.example/</link>{ttl_tag}{items}</channel></rss>").encode()


def write_config(tmp_path: Path, feeds: dict[str, str]) -> Path:
    lines = [f"database: sqlite:///{tmp_path / 'relay.db'}", "http:", "  allow_private_networks: true",
             "defaults:", "  interval: 30m", "  min_interval: 5m", "  max_interval: 1d", "feeds:"]
    lines += [f"  - name: {name}\n    url: {url}" for name, url in feeds.items()]
    lines += ["targets:", "  - name: out", "    type: feed", f"    dir: {tmp_path / 'out'}", "    formats: [atom]"]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def row(relay: Relay, name: str) -> models.Feed:
    with relay.sessions() as session:
        return session.scalars(select(models.Feed).where(models.Feed.name == name)).one()


def status_json(config_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["-c", str(config_path), "status", "--json"]) == 0
    return {f["name"]: f for f in json.loads(capsys.readouterr().out)["feeds"]}


def test_permanent_redirect_is_persisted_and_shown(tmp_path, server, capsys):
    server.route("/old.xml", Response(301, headers={"Location": "/new.xml"}))
    server.route("/new.xml", Response(200, feed_xml("First story"), RSS))
    server.route("/temp.xml", Response(302, headers={"Location": "/new.xml"}))
    path = write_config(tmp_path, {"moved": server.url("/old.xml"), "temporary": server.url("/temp.xml")})
    with Relay(load_config(path)) as relay:
        assert relay.poll("moved").new == 1
        relay.poll("temporary")
        moved, temporary = row(relay, "moved"), row(relay, "temporary")
        assert moved.url == server.url("/new.xml") and moved.moved_from == server.url("/old.xml")
        assert temporary.url == server.url("/temp.xml") and temporary.moved_from is None
        relay.poll("moved")
    assert server.hits("/old.xml") == 1 and server.hits("/new.xml") == 3  # later polls go straight there
    shown = status_json(path, capsys)
    assert shown["moved"]["url"] == server.url("/new.xml")
    assert shown["moved"]["moved_from"] == server.url("/old.xml")
    assert shown["temporary"]["moved_from"] is None


def test_gone_disables_the_feed_with_reason(tmp_path, server, capsys):
    server.route("/feed.xml", Response(410))
    path = write_config(tmp_path, {"old-blog": server.url("/feed.xml")})
    with Relay(load_config(path)) as relay:
        assert relay.poll("old-blog").outcome == "gone"
        gone = row(relay, "old-blog")
        assert not gone.enabled and gone.disabled_reason == "gone"
        assert relay.enabled_feeds() == []
    assert status_json(path, capsys)["old-blog"]["health"] == "gone"


def test_errors_back_off_then_recover(tmp_path, server):
    server.route("/feed.xml", Response(500))
    path = write_config(tmp_path, {"flaky": server.url("/feed.xml")})
    with Relay(load_config(path)) as relay:
        delays = []
        for _ in range(4):
            before = utcnow()
            outcome = relay.poll("flaky")
            assert outcome.error == "HTTP 500 Internal Server Error"
            delays.append((row(relay, "flaky").next_check_at - before).total_seconds())
        assert row(relay, "flaky").error_count == 4 and row(relay, "flaky").enabled
        for count, delay in enumerate(delays, start=1):  # 30 min doubling, jittered into [½, 1]
            assert 1800 * 2 ** (count - 1) / 2 - 1 <= delay <= 1800 * 2 ** (count - 1) + 1

        server.route("/feed.xml", Response(200, feed_xml("Back online"), RSS))
        before = utcnow()
        assert relay.poll("flaky").new == 1
        recovered = row(relay, "flaky")
        assert recovered.error_count == 0 and recovered.last_error is None
        assert timedelta(minutes=27) <= recovered.next_check_at - before <= timedelta(minutes=33, seconds=1)


def test_retry_after_delays_only_that_feed_and_is_not_an_error(tmp_path, server):
    server.route("/busy.xml", Response(429, headers={"Retry-After": "7200"}))
    server.route("/fine.xml", Response(200, feed_xml("Calm"), RSS))
    path = write_config(tmp_path, {"busy": server.url("/busy.xml"), "fine": server.url("/fine.xml")})
    with Relay(load_config(path)) as relay:
        before = utcnow()
        relay.poll("busy")
        relay.poll("fine")
        busy, fine = row(relay, "busy"), row(relay, "fine")
        assert busy.error_count == 0 and busy.last_outcome == "retry_later"
        assert timedelta(hours=2) <= busy.next_check_at - before <= timedelta(hours=2, minutes=1)
        assert fine.next_check_at - before <= timedelta(minutes=33)


def test_publisher_ttl_is_remembered_across_304s(tmp_path, server):
    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"1"':
            return Response(304)
        return Response(200, feed_xml("Hourly", ttl=120), {**RSS, "ETag": '"1"'})
    server.route("/feed.xml", answer)
    path = write_config(tmp_path, {"slow": server.url("/feed.xml")})
    with Relay(load_config(path)) as relay:
        for _ in range(2):
            before = utcnow()
            relay.poll("slow")
            assert timedelta(minutes=108) <= row(relay, "slow").next_check_at - before <= timedelta(minutes=132)
        assert row(relay, "slow").last_outcome == "not_modified"


def test_restart_keeps_next_check_and_validators(tmp_path, server):
    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(304)
        return Response(200, feed_xml("Story"), {**RSS, "ETag": '"v1"'})
    server.route("/feed.xml", answer)
    path = write_config(tmp_path, {"news": server.url("/feed.xml")})
    with Relay(load_config(path)) as relay:
        relay.poll("news")
        scheduled = row(relay, "news").next_check_at
    with Relay(load_config(path)) as restarted:
        assert row(restarted, "news").next_check_at == scheduled
        assert restarted.claim_due(10) == {}  # not due again: no refetch storm after a restart
        restarted.poll("news")
    assert server.requests[-1].headers.get("If-None-Match") == '"v1"'


def test_changed_filter_rules_fetch_the_feed_in_full_and_release_what_they_held_back(tmp_path, server):
    """A feed answering 304 after its `exclude` rule went still publishes the item the rule held
    back; a feed whose rules did not change keeps its validators."""
    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(304)
        where = request.path[1:-4]
        return Response(200, feed_xml(f"Sponsored deal at {where}", f"Council vote at {where}"),
                        {**RSS, "ETag": '"v1"'})
    server.route("/filtered.xml", answer)
    server.route("/plain.xml", answer)
    path = write_config(tmp_path, {"filtered": server.url("/filtered.xml"), "plain": server.url("/plain.xml")})
    text = path.read_text()
    path.write_text(text.replace("/filtered.xml\n", "/filtered.xml\n    clean:\n      exclude: [sponsored]\n"))
    with Relay(load_config(path)) as relay:
        first = {o.feed: o for o in relay.run_once().feeds}
        assert (first["filtered"].new, first["filtered"].filtered) == (1, 1)
    path.write_text(text)  # the rule is gone
    with Relay(load_config(path)) as relay:
        asked = len(server.requests)
        second = {o.feed: o for o in relay.run_once().feeds}
        conditional = {r.path: r.headers.get("If-None-Match") for r in server.requests[asked:]}
        assert conditional == {"/filtered.xml": None, "/plain.xml": '"v1"'}
        assert second["filtered"].outcome == "ok" and second["plain"].outcome == "not_modified"
        assert second["filtered"].new == 1  # "Sponsored deal" is published now
        assert row(relay, "filtered").etag == '"v1"'
    with Relay(load_config(path)) as relay:  # the same rules again: conditional, as before
        asked = len(server.requests)
        assert {o.outcome for o in relay.run_once().feeds} == {"not_modified"}
        assert all(r.headers.get("If-None-Match") == '"v1"' for r in server.requests[asked:])


@pytest.mark.parametrize("answer_again", [304, 200])
def test_a_poll_begun_under_replaced_rules_does_not_bring_their_validators_back(tmp_path, server, answer_again):
    """A reload clears a feed's validators while a poll claimed under the old rules is running:
    whether that poll gets a 304 or the document, the feed's next poll is still a full one."""
    served: list[int] = []

    def answer(request: Request) -> Response:
        served.append(1)
        if request.headers.get("If-None-Match") == '"v1"' and answer_again == 304:
            return Response(304, headers={"ETag": '"v1"'})
        if answer_again == 304:
            served.clear()
        later = ("Later story",) if len(served) > 1 else ()  # a changed document, stored
        return Response(200, feed_xml("Sponsored deal", "Council vote", *later), {**RSS, "ETag": '"v1"'})
    server.route("/f.xml", answer)
    path = write_config(tmp_path, {"f": server.url("/f.xml")})
    plain = path.read_text()
    path.write_text(plain.replace("/f.xml\n", "/f.xml\n    clean:\n      exclude: [sponsored]\n"))
    with Relay(load_config(path)) as old:
        assert old.poll("f").filtered == 1
        with old.sessions.begin() as session:
            session.execute(models.Feed.__table__.update().values(next_check_at=None))
        claimed = old.claim_due(5)["f"]  # the daemon's claim, then a reload while the poll runs
        path.write_text(plain)
        with Relay(load_config(path)) as new:
            assert row(new, "f").etag is None
            old.poll("f", stored=claimed)  # the poll on the old rules ends after the reload
            assert row(new, "f").etag is None
            assert new.poll("f").new == 1  # fetched in full: the item the rule held back is published
            assert row(new, "f").etag == '"v1"'


def test_full_pass_records_304s_in_batches(tmp_path, server):
    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(304)
        return Response(200, feed_xml(f"Story {request.path}"), {**RSS, "ETag": '"v1"'})
    for n in range(5):
        server.route(f"/f{n}.xml", answer)
    path = write_config(tmp_path, {f"f{n}": server.url(f"/f{n}.xml") for n in range(5)})
    with Relay(load_config(path)) as relay:
        assert {o.outcome for o in relay.run_once().feeds} == {"ok"}
        before = utcnow()
        assert {o.outcome for o in relay.run_once().feeds} == {"not_modified"}
        for n in range(5):  # written when the pass returns: schedule, status, lease released
            feed = row(relay, f"f{n}")
            assert feed.last_outcome == "not_modified" and feed.last_http_status == 304
            assert feed.last_checked_at >= before and feed.lease_owner is None and feed.etag == '"v1"'
            assert timedelta(minutes=27) <= feed.next_check_at - before <= timedelta(minutes=33, seconds=1)
