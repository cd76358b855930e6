"""The WordPress target against a real WordPress (scripts/wordpress-test-server.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from feedrelay.config import WordPressTargetConfig
from feedrelay.items import Item, utcnow
from ingest.fetch import Fetcher, HttpSettings
from publish.base import TargetError
from publish.wordpress import WordPressTarget
from store import models
from tests.support.entries import make_entry, revise
from tests.support.outbox import Store
from tests.support.server import LocalServer, Response
from tests.support.wordpress import (  # noqa: F401  (fixtures)
    WordPressSite,
    wordpress_pretty_site,
    wordpress_site,
)

ROOT = Path(__file__).resolve().parents[1]


def jpeg_bytes() -> bytes:
    """A real JPEG (WordPress checks uploads are images), drawn with PHP's GD."""
    script = "$i = imagecreatetruecolor(40, 30); imagefill($i, 0, 0, imagecolorallocate($i, 200, 60, 40)); imagejpeg($i);"
    return subprocess.run(["php", "-r", script], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def images(wordpress_site: WordPressSite) -> Iterator[LocalServer]:  # noqa: F811
    jpeg = jpeg_bytes()
    with LocalServer() as server:
        for name in ("lead.jpg", "inline.jpg", "other.jpg"):
            server.route(f"/{name}", Response(200, jpeg, {"Content-Type": "image/jpeg"}))
        yield server


@pytest.fixture
def password_env(wordpress_site: WordPressSite, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    name = f"FEEDRELAY_TEST_WP_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(name, wordpress_site.password)
    return name


def wp_config(site: WordPressSite, password_env: str, **overrides: object) -> WordPressTargetConfig:
    values: dict[str, object] = {"type": "wordpress", "name": f"wp-{uuid.uuid4().hex[:6]}", "url": site.url,
                                 "username": site.user, "password_env": password_env, "status": "publish"}
    values.update(overrides)
    return WordPressTargetConfig(**values)  # type: ignore[arg-type]


def story_id() -> int:
    return int(uuid.uuid4().int % 10**9)


def test_a_story_becomes_a_post_with_terms_image_and_source(
        wordpress_site: WordPressSite, password_env: str, images: LocalServer, fetcher: Fetcher) -> None:  # noqa: F811
    target = WordPressTarget(wp_config(wordpress_site, password_env), fetcher)
    entry = make_entry(story_id(), title="Café & crème: a <test>", categories=["News", "Local Events"],
                       tags=["python", "feeds"], image=images.url("/lead.jpg"))
    ref = target.deliver(entry, None)
    assert ref and ref.isdigit()

    post = wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")
    # a plain-text title is stored escaped: WordPress prints titles as HTML
    assert post["title"]["raw"] == "Café &amp; crème: a &lt;test&gt;"
    assert "<test>" not in post["title"]["rendered"] and "&lt;test&gt;" in post["title"]["rendered"]
    assert post["status"] == "publish"
    assert entry.item.content_html in post["content"]["raw"]
    assert "<script" not in post["content"]["raw"]
    assert 'href="https://origin.example/original-' in post["content"]["raw"]  # source link
    assert "https://origin.example/original-" in post["excerpt"]["raw"]
    categories = {c["id"]: c["name"] for c in wordpress_site.rest("GET", "/wp/v2/categories", per_page=100)}
    tags = {t["id"]: t["name"] for t in wordpress_site.rest("GET", "/wp/v2/tags", per_page=100)}
    assert sorted(categories[i] for i in post["categories"]) == ["Local Events", "News"]
    assert sorted(tags[i] for i in post["tags"]) == ["feeds", "python"]
    media = wordpress_site.rest("GET", f"/wp/v2/media/{post['featured_media']}")
    assert media["mime_type"] == "image/jpeg"
    assert images.hits("/lead.jpg") == 1


def test_a_revision_updates_the_same_post_and_redelivery_creates_nothing(
        wordpress_site: WordPressSite, password_env: str, images: LocalServer, fetcher: Fetcher) -> None:  # noqa: F811
    target = WordPressTarget(wp_config(wordpress_site, password_env), fetcher)
    entry = make_entry(story_id(), image=images.url("/other.jpg"))
    ref = target.deliver(entry, None)
    before = len(wordpress_site.posts())
    hits = images.hits("/other.jpg")

    assert target.deliver(entry, None) == ref  # found by its key: no second post
    assert target.deliver(entry, ref) == ref
    second = revise(entry, title="Updated title", content_html="<p>Second revision.</p>")
    assert target.deliver(second, ref) == ref
    assert len(wordpress_site.posts()) == before
    post = wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")
    assert post["title"]["raw"] == "Updated title"
    assert "<p>Second revision.</p>" in post["content"]["raw"]
    assert images.hits("/other.jpg") == hits  # the image is uploaded once

    fresh = WordPressTarget(target.config, fetcher)  # no in-memory caches
    assert fresh.deliver(second, None) == ref
    assert images.hits("/other.jpg") == hits


def test_all_images_mode_rehosts_inline_images(
        wordpress_site: WordPressSite, password_env: str, images: LocalServer, fetcher: Fetcher) -> None:  # noqa: F811
    target = WordPressTarget(wp_config(wordpress_site, password_env, featured_image="all"), fetcher)
    inline = images.url("/inline.jpg")
    entry = make_entry(story_id(), image=None,
                       content_html=f'<p>Look:</p><p><img src="{inline}" srcset="{inline} 2x" alt="x"></p>')
    ref = target.deliver(entry, None)
    post = wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")
    assert inline not in post["content"]["raw"]
    assert f"{wordpress_site.url}/wp-content/uploads/" in post["content"]["raw"]
    assert post["featured_media"]


def test_wrong_password_pauses_the_target(
        wordpress_site: WordPressSite, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("FEEDRELAY_TEST_WP_BAD", "aaaa bbbb cccc dddd eeee ffff")
    target = WordPressTarget(wp_config(wordpress_site, "FEEDRELAY_TEST_WP_BAD"), None)
    with pytest.raises(TargetError) as caught:
        target.deliver(make_entry(story_id()), None)
    assert caught.value.pause and not caught.value.retry
    assert "401" in str(caught.value) and "FEEDRELAY_TEST_WP_BAD" in str(caught.value)


def test_a_post_deleted_by_an_editor_is_not_recreated(
        wordpress_site: WordPressSite, password_env: str) -> None:  # noqa: F811
    target = WordPressTarget(wp_config(wordpress_site, password_env, featured_image="off"), None)
    entry = make_entry(story_id())
    ref = target.deliver(entry, None)
    wordpress_site.rest("DELETE", f"/wp/v2/posts/{ref}", force="true")
    with pytest.raises(TargetError) as caught:
        target.deliver(revise(entry), ref)
    assert caught.value.gone and not caught.value.retry

    trashed = target.deliver(make_entry(story_id()), None)
    wordpress_site.rest("DELETE", f"/wp/v2/posts/{trashed}")  # to the trash
    with pytest.raises(TargetError):
        target.deliver(make_entry(int(trashed)), trashed)

    recreating = WordPressTarget(replace_config(target.config, recreate_deleted=True), None)
    new_ref = recreating.deliver(revise(entry), ref)
    assert new_ref != ref
    assert wordpress_site.rest("GET", f"/wp/v2/posts/{new_ref}", context="edit")["status"] == "publish"
    # The new id was never recorded (a crash): redelivering with the old id finds the new post.
    assert recreating.deliver(revise(entry), ref) == new_ref


def replace_config(config: WordPressTargetConfig, **changes: object) -> WordPressTargetConfig:
    return config.model_copy(update=changes)


@pytest.mark.parametrize(("on_retract", "status"), [("draft", "draft"), ("trash", "trash"), ("keep", "publish")])
def test_a_retracted_story_is_taken_down(
        wordpress_site: WordPressSite, password_env: str, on_retract: str, status: str) -> None:  # noqa: F811
    target = WordPressTarget(wp_config(wordpress_site, password_env, featured_image="off",
                                       on_retract=on_retract), None)
    entry = make_entry(story_id())
    ref = target.deliver(entry, None)
    retracted = replace(revise(entry), retracted=True)
    assert target.deliver(retracted, ref) == ref
    assert wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")["status"] == status
    if on_retract in ("draft", "trash"):  # the story came back at its source: the post is published again
        assert target.deliver(replace(revise(retracted), retracted=False), ref) == ref
        assert wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")["status"] == "publish"


def test_a_draft_made_by_an_editor_stays_a_draft(wordpress_site: WordPressSite, password_env: str) -> None:  # noqa: F811
    target = WordPressTarget(wp_config(wordpress_site, password_env, featured_image="off"), None)
    entry = make_entry(story_id())
    ref = target.deliver(entry, None)
    wordpress_site.rest("POST", f"/wp/v2/posts/{ref}", json={"status": "draft"})
    assert target.deliver(revise(entry, title="Edited upstream"), ref) == ref
    post = wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")
    assert (post["status"], post["title"]["raw"]) == ("draft", "Edited upstream")


CRASHING_PUBLISHER = textwrap.dedent("""
    import os, sys
    from feedrelay.config import WordPressTargetConfig
    from feedrelay.publishing import publish_pending
    from publish.wordpress import WordPressTarget
    from store.db import open_database

    url, config_json = sys.argv[1], sys.argv[2]
    target = WordPressTarget(WordPressTargetConfig.model_validate_json(config_json), None)
    create = target._create

    def create_then_die(entry):
        post_id = create(entry)
        os._exit(17)  # killed after WordPress created the post, before the database commit

    target._create = create_then_die
    publish_pending(open_database(url)[1], {target.name: target}, "doomed-worker")
""")


def test_a_crash_between_create_and_commit_leaves_exactly_one_post(
        wordpress_site: WordPressSite, password_env: str, tmp_path: Path) -> None:  # noqa: F811
    config = wp_config(wordpress_site, password_env, featured_image="off")
    store = Store(tmp_path, [config.name])
    title = f"Crash test {uuid.uuid4().hex[:8]}"
    store.store([Item(feed="source-blog", guid="https://source.example/?p=1", link="https://source.example/a/",
                      title=title, content_html="<p>Crash-safe body.</p>", text="Crash-safe body.")])

    crashed = subprocess.run([sys.executable, "-c", CRASHING_PUBLISHER, store.url, config.model_dump_json()],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}, capture_output=True, text=True)
    assert crashed.returncode == 17, crashed.stderr
    assert [d.state for d in store.deliveries(config.name)] == ["pending"]
    assert len([p for p in wordpress_site.posts(search=title)]) == 1

    # The dead worker's lease runs out; a new run finds the post by its key.
    with store.sessions.begin() as session:
        session.execute(update(models.Delivery).values(lease_until=None))
    target = WordPressTarget(config, None)
    report = store.publish({config.name: target})
    assert report.delivered(config.name) == 1
    posts = wordpress_site.posts(search=title)
    assert len(posts) == 1
    assert [d.remote_ref for d in store.deliveries(config.name)] == [str(posts[0]["id"])]

    # Running the whole publish step again creates nothing new.
    store.publish({config.name: target})
    assert len(wordpress_site.posts(search=title)) == 1
    store.close()


def test_pipeline_delivers_stories_and_revisions_once(
        wordpress_site: WordPressSite, password_env: str, tmp_path: Path) -> None:  # noqa: F811
    config = wp_config(wordpress_site, password_env, featured_image="off")
    store = Store(tmp_path, [config.name])
    marker = uuid.uuid4().hex[:8]
    items = [Item(feed="source-blog", guid=f"https://source.example/?p={i}", link=f"https://source.example/{i}/",
                  title=f"Pipeline {marker} {i}", content_html=f"<p>Body {i} distinct words {marker} {i * 7919}.</p>",
                  text=f"Body {i} distinct words {marker} {i * 7919}.", categories=["Pipeline"])
             for i in range(3)]
    store.store(items)
    target = WordPressTarget(config, None)
    assert store.publish({config.name: target}).delivered() == 3
    assert store.publish({config.name: target}).delivered() == 0
    assert len(wordpress_site.posts(search=f"Pipeline {marker}")) == 3

    store.store([replace(items[0], title=f"Pipeline {marker} 0 revised")])
    assert store.publish({config.name: target}).delivered() == 1
    posts = wordpress_site.posts(search=f"Pipeline {marker}")
    assert len(posts) == 3
    assert f"Pipeline {marker} 0 revised" in {p["title"]["raw"] for p in posts}
    store.close()


def test_pretty_permalinks_use_wp_json_and_plain_ones_fall_back(
        wordpress_site: WordPressSite, wordpress_pretty_site: WordPressSite,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    for site, pretty in ((wordpress_pretty_site, True), (wordpress_site, False)):
        monkeypatch.setenv("FEEDRELAY_TEST_WP_PASS", site.password)
        target = WordPressTarget(wp_config(site, "FEEDRELAY_TEST_WP_PASS", featured_image="off"), None)
        ref = target.deliver(make_entry(story_id(), title=f"Permalinks {pretty}"), None)
        assert target._pretty is pretty
        assert site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")["title"]["raw"] == f"Permalinks {pretty}"


def test_images_blocked_by_the_ssrf_guard_are_skipped(
        wordpress_site: WordPressSite, password_env: str, images: LocalServer) -> None:  # noqa: F811
    guarded = Fetcher(HttpSettings())  # loopback is a private address: refused
    target = WordPressTarget(wp_config(wordpress_site, password_env), guarded)
    hits = images.hits("/lead.jpg")
    ref = target.deliver(make_entry(story_id(), image=images.url("/lead.jpg") + "?blocked"), None)
    guarded.close()
    assert wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")["featured_media"] == 0
    assert images.hits("/lead.jpg") == hits


@pytest.mark.parametrize(("status", "headers"), [(503, {}), (429, {"Retry-After": "120"}), (500, {})])
def test_overload_and_outages_are_retried_later(status: int, headers: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDRELAY_TEST_WP_ANY", "x")
    with LocalServer() as busy:
        busy.route("/", Response(status, b'{"code":"busy","message":"try later"}',
                                 {"Content-Type": "application/json", **headers}))
        config = WordPressTargetConfig(type="wordpress", name="busy", url=busy.url(""), username="u",
                                       password_env="FEEDRELAY_TEST_WP_ANY")
        with pytest.raises(TargetError) as caught:
            WordPressTarget(config, None).deliver(make_entry(1), None)
    # the whole target waits (as asked, else a minute) instead of trying every pending story
    assert caught.value.retry and caught.value.pause
    assert str(status) in str(caught.value)
    assert caught.value.retry_after == (120 if headers else 60)
    if headers:
        assert "Retry-After 120" in str(caught.value)


def test_an_overloaded_site_gets_one_request_per_pass_and_its_retry_after_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDRELAY_TEST_WP_ANY", "x")
    with LocalServer() as busy:
        busy.route("/", Response(429, b'{"code":"busy","message":"slow down"}',
                                 {"Content-Type": "application/json", "Retry-After": "3600"}))
        config = WordPressTargetConfig(type="wordpress", name="busy", url=busy.url(""), username="u",
                                       password_env="FEEDRELAY_TEST_WP_ANY")
        store = Store(tmp_path, [config.name])
        store.store([Item(feed="source-blog", guid=f"g{i}", link=f"https://source.example/{i}/", title=f"Busy {i}",
                          content_html=f"<p>Busy story {i} {i * 7877}.</p>", text=f"Busy story {i} {i * 7877}.")
                     for i in range(5)])
        report = store.publish({config.name: WordPressTarget(config, None)})
        requests_sent = len(busy.requests)
        rows = store.deliveries(config.name)
        store.close()
    assert config.name in report.paused and requests_sent <= 2  # the pretty-permalink probe, then one call
    assert all(r.next_attempt_at > utcnow() + timedelta(minutes=55) for r in rows)


def test_an_html_answer_instead_of_json_is_a_retried_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A disabled REST API or a login/challenge page answers 200 with HTML."""
    monkeypatch.setenv("FEEDRELAY_TEST_WP_ANY", "x")
    with LocalServer() as walled:
        walled.route("/", Response(200, b"<!DOCTYPE html><html><body>Please log in</body></html>",
                                   {"Content-Type": "text/html; charset=UTF-8"}))
        config = WordPressTargetConfig(type="wordpress", name="walled", url=walled.url(""), username="u",
                                       password_env="FEEDRELAY_TEST_WP_ANY")
        with pytest.raises(TargetError) as caught:
            WordPressTarget(config, None).deliver(make_entry(1), None)
    assert caught.value.retry and not caught.value.pause
    assert "no JSON (text/html; charset=UTF-8)" in str(caught.value) and "REST API disabled" in str(caught.value)


def test_bad_credentials_pause_the_target_without_a_retry_storm(
        wordpress_site: WordPressSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("FEEDRELAY_TEST_WP_WRONG", "wrong wrong wrong wrong")
    config = wp_config(wordpress_site, "FEEDRELAY_TEST_WP_WRONG", featured_image="off")
    store = Store(tmp_path, [config.name])
    store.store([Item(feed="source-blog", guid=f"https://source.example/?p={i}", link=f"https://source.example/{i}/",
                      title=f"Paused {i}", content_html=f"<p>Paused story {i} {i * 7877}.</p>",
                      text=f"Paused story {i} {i * 7877}.") for i in range(3)])
    target = WordPressTarget(config, None)
    report = store.publish({config.name: target})
    assert config.name in report.paused and report.delivered() == 0
    rows = store.deliveries(config.name)
    assert [r.attempts for r in rows] == [1, 0, 0]
    assert "refused user 'admin'" in rows[0].last_error and "FEEDRELAY_TEST_WP_WRONG" in rows[0].last_error
    assert all(r.next_attempt_at > utcnow() + timedelta(minutes=30) for r in rows)
    assert store.publish({config.name: target}).counts == {}  # nothing is due: no retry storm
    store.close()


def test_an_author_posts_with_the_existing_terms_and_without_the_rest(
        wordpress_site: WordPressSite, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """An Author may post but not create categories or tags: that is no bad password, and the post
    goes with the terms that exist (it paused the whole target)."""
    name = f"author{uuid.uuid4().hex[:6]}"
    user = wordpress_site.rest("POST", "/wp/v2/users", json={"username": name, "email": f"{name}@example.invalid",
                                                             "password": uuid.uuid4().hex, "roles": ["author"]})
    app = wordpress_site.rest("POST", f"/wp/v2/users/{user['id']}/application-passwords", json={"name": "feedrelay"})
    monkeypatch.setenv("FEEDRELAY_TEST_WP_AUTHOR", app["password"])
    existing = f"Existing {uuid.uuid4().hex[:6]}"
    category = wordpress_site.rest("POST", "/wp/v2/categories", json={"name": existing})
    config = wp_config(wordpress_site, "FEEDRELAY_TEST_WP_AUTHOR", username=name, featured_image="off")
    entry = make_entry(story_id(), categories=[existing.lower(), f"Brand new {uuid.uuid4().hex[:6]}"], tags=[])
    ref = WordPressTarget(config, None).deliver(entry, None)
    post = wordpress_site.rest("GET", f"/wp/v2/posts/{ref}", context="edit")
    assert post["categories"] == [category["id"]]  # the existing one found, the new one left off
