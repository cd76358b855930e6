"""Stories across feeds: copies merge, hard negatives stay apart, revisions, deletions, retention.

Each test stores items through `store.stories.store_items` on a fresh database — SQLite, and
PostgreSQL (skipped when the local server is unreachable, required under CI) — with the
near-duplicate finder on, then looks at stories, merges and outbox rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bench.textgen import TextGen
from feedrelay.items import Item
from ingest.parse import parse_feed
from store import models
from store.db import open_database
from store.neardup import (
    FULL_BANDS,
    MAX_BAND_LOCKS,
    NearDuplicates,
    band_params,
    band_query,
    fingerprint,
    lock_bands,
)
from store.retention import prune
from store.stories import StorePolicy, StoreReport, store_items
from tests.support.postgres import fresh_database
from tests.support.statements import statements_run, writes

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Store:
    """A fresh database with helpers to add feeds, store batches and read results."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.policy = StorePolicy(targets={"site": lambda item, feed: True}, near_duplicate=NearDuplicates())
        self.feeds: dict[str, models.Feed] = {}

    def feed(self, name: str, priority: int = 0, complete: bool = False) -> str:
        row = models.Feed(name=name, url=f"https://{name}.example/feed", config_url=f"https://{name}.example/feed",
                          enabled=True, last_new_items=0, error_count=0, guid_mode="guid")
        self.session.add(row)
        self.session.flush()
        self.feeds[name] = row
        self.policy.priorities[row.id] = priority
        if complete:
            self.policy.complete_feeds.add(row.id)
        return name

    def put(self, name: str, *items: Item, deleted: tuple[str, ...] = (), now: datetime | None = None
            ) -> StoreReport:
        report = store_items(self.session, self.feeds[name], list(items), self.policy, deleted=deleted, now=now)
        self.session.flush()
        return report

    def story_of(self, name: str, guid: str) -> int | None:
        return self.session.scalar(select(models.Item.story_id).where(
            models.Item.feed_id == self.feeds[name].id, models.Item.guid == guid))

    def stories(self) -> int:
        return self.session.scalar(select(func.count()).select_from(models.Story))

    def deliveries(self) -> list[tuple[int, int]]:
        rows = self.session.execute(select(models.Delivery.story_id, models.Delivery.revision)
                                    .order_by(models.Delivery.id))
        return [(story, revision) for story, revision in rows]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dedup.db'}"
        return
    with fresh_database("feedrelay_dedup") as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine, sessions = open_database(database_url)
    with sessions.begin() as session:
        yield Store(session)
    engine.dispose()


def article(seed: int, paragraphs: int = 5, language: str = "en") -> tuple[str, str]:
    gen = TextGen(seed, language)
    return gen.title(), "\n\n".join(gen.paragraphs(paragraphs))


def post(feed: str, guid: str, title: str, text: str, link: str | None = None, **extra: object) -> Item:
    return Item(feed=feed, guid=guid, link=link or f"https://{feed}.example/{guid}/", title=title,
                text=text, content_html=f"<p>{text}</p>", **extra)  # type: ignore[arg-type]


# ---- the same article arriving again must not become a second story ----

def test_guid_change_with_same_link_is_the_same_story(store: Store) -> None:
    store.feed("origin")
    title, text = article(1)
    store.put("origin", post("origin", "p1", title, text, link="https://origin.example/a/"))
    report = store.put("origin", post("origin", "p1-reissued", title, text, link="https://origin.example/a/"))
    assert report.new == 0 and report.duplicates == 1
    assert store.stories() == 1 and len(store.deliveries()) == 1


def test_tracking_parameter_change_is_the_same_story(store: Store) -> None:
    store.feed("origin")
    store.feed("other")
    title, text = article(2)
    store.put("origin", post("origin", "p1", title, text, link="https://origin.example/a/?utm_source=rss"))
    store.put("other", post("other", "x9", title, f"Different intro. {text[:200]}",
                            link="https://origin.example/a/?utm_source=twitter&utm_medium=social"))
    assert store.story_of("origin", "p1") == store.story_of("other", "x9")
    assert len(store.deliveries()) == 1


def test_http_and_https_links_are_the_same_story(store: Store) -> None:
    store.feed("origin")
    store.feed("copy")
    title, text = article(3)
    store.put("origin", post("origin", "p1", title, text, link="https://www.origin.example/a"))
    report = store.put("copy", post("copy", "c1", title, "Too short to compare.",
                                    link="https://copy.example/c1", source_link="http://origin.example/a/"))
    assert report.merges[0][2] == "source-link"
    assert store.stories() == 1


def test_repeated_guids_in_one_document_are_separate_items(store: Store) -> None:
    store.feed("origin")
    items = [post("origin", "same", *article(10 + n), link=f"https://origin.example/{n}") for n in range(10)]
    report = store.put("origin", *items)
    assert report.new == 10 and store.stories() == 10
    again = store.put("origin", *items)
    assert again.new == 0 and again.unchanged == 10


def test_guids_changing_on_every_fetch_switch_the_feed_to_link_identity(store: Store) -> None:
    store.feed("unstable")
    posts = [article(20 + n) for n in range(3)]

    def fetch(version: int) -> list[Item]:
        return [post("unstable", f"{n}-v{version}", t, x, link=f"https://unstable.example/{n}/")
                for n, (t, x) in enumerate(posts)]

    store.put("unstable", *fetch(1))
    report = store.put("unstable", *fetch(2))
    assert store.feeds["unstable"].guid_mode == "link"
    assert report.warnings and "GUIDs change on every fetch" in store.feeds["unstable"].warnings[0]
    assert report.new == 0 and report.unchanged == 3
    third = store.put("unstable", *fetch(3))
    assert third.unchanged == 3 and third.new == 0 and third.duplicates == 0
    assert store.stories() == 3 and len(store.deliveries()) == 3


def test_excerpt_copy_joins_its_full_original_in_either_order(store: Store) -> None:
    store.feed("origin")
    store.feed("digest")
    for n, excerpt_first in enumerate((False, True)):
        title, text = article(30 + n, paragraphs=8)
        excerpt = " ".join(text.split()[:55]) + " […]"
        full = post("origin", f"p{n}", title, text)
        short = post("digest", f"d{n}", f"[Origin] {title}", excerpt)
        for feed, value in ((("digest", short), ("origin", full)) if excerpt_first
                            else (("origin", full), ("digest", short))):
            store.put(feed, value)
        assert store.story_of("origin", f"p{n}") == store.story_of("digest", f"d{n}")
    reasons = [r for r in store.session.scalars(select(models.Merge.reason))]
    assert all(r.startswith("excerpt:") for r in reasons) and len(reasons) == 2
    assert len(store.deliveries()) == 2


def test_copy_with_litter_and_changed_title_merges_and_records_why(store: Store) -> None:
    store.feed("origin")
    store.feed("aggregator")
    title, text = article(40, paragraphs=6)
    store.put("origin", post("origin", "p1", title, text))
    copy = post("aggregator", "?p=99", f"{title} &#8211; Origin",
                f"Share this: Facebook Twitter\n{text}\nPowered by WPeMatico")
    report = store.put("aggregator", copy)
    (item_id, story_id, reason, score) = report.merges[0]
    assert reason.startswith("near-duplicate:") and score >= 0.9
    merge = store.session.scalars(select(models.Merge)).one()
    assert (merge.item_id, merge.story_id, merge.score) == (item_id, story_id, score)


def test_priority_makes_the_origin_the_representative_with_one_item_downstream(store: Store) -> None:
    store.policy.representative = "priority"
    store.feed("aggregator", priority=0)
    store.feed("origin", priority=10)
    title, text = article(41)
    store.put("aggregator", post("aggregator", "c1", title, text))
    store.put("origin", post("origin", "p1", title, text))
    story = store.session.scalars(select(models.Story)).one()
    origin_item = store.session.scalar(select(models.Item.id).where(models.Item.guid == "p1"))
    assert story.representative_item_id == origin_item
    assert store.deliveries() == [(story.id, 1), (story.id, 2)]  # an update, not a second item


# ---- hard negatives stay apart ----

def test_recurring_template_posts_stay_apart(store: Store) -> None:
    store.feed("briefing")
    store.feed("mirror")
    gen = TextGen(50)
    intro, outro = gen.paragraph(3), " ".join(gen.paragraphs(3))
    for day in range(20, 28):
        text = f"{intro} {day} November.\n\n{gen.sentence()} {gen.sentence()}\n\n{outro}"
        store.put("briefing", post("briefing", f"b{day}", f"Daily briefing for {day} November", text))
        # A mirror republishes excerpts (55 words, mostly template): each joins its own day only.
        if day > 24:
            store.put("mirror", post("mirror", f"m{day}", f"Daily briefing for {day} November",
                                     " ".join(text.split()[:55])))
    assert store.stories() == 8
    assert {store.story_of("mirror", f"m{d}") for d in (25, 26, 27)} == {
        store.story_of("briefing", f"b{d}") for d in (25, 26, 27)}


def test_template_posts_without_numbers_stay_apart(store: Store) -> None:
    store.feed("weekly")
    gen = TextGen(51)
    template = " ".join(gen.paragraphs(5))
    for week in range(4):
        text = f"{template}\n\n{gen.paragraph(4)}"
        store.put("weekly", post("weekly", f"w{week}", "Weekly update", text))
    assert store.stories() == 4


def test_different_stories_with_the_same_title_stay_apart(store: Store) -> None:
    for n, name in enumerate(("one", "two", "three")):
        store.feed(name)
        _, text = article(60 + n, language="ru" if n == 2 else "en")
        store.put(name, post(name, "p", "Hello world!", text))
    assert store.stories() == 3


def test_posts_sharing_a_long_disclaimer_stay_apart(store: Store) -> None:
    store.feed("lawfirm")
    store.feed("broker")
    disclaimer = " ".join(TextGen(70).paragraphs(4))
    for n in range(6):
        gen = TextGen(71 + n)
        feed = ("lawfirm", "broker")[n % 2]
        store.put(feed, post(feed, f"p{n}", gen.title(), f"{gen.paragraph(2)}\n\n{disclaimer}"))
    assert store.stories() == 6


def test_title_alone_never_merges(store: Store) -> None:
    store.feed("a")
    store.feed("b")
    store.put("a", post("a", "1", "Breaking: market crash", "Short."))
    store.put("b", post("b", "1", "Breaking: market crash", "Short."))
    assert store.stories() == 2


# ---- revisions ----

def test_unchanged_refetch_writes_nothing(store: Store) -> None:
    store.feed("origin")
    items = [post("origin", f"p{n}", *article(80 + n)) for n in range(3)]
    store.put("origin", *items)
    with statements_run(store.session.get_bind()) as statements:
        report = store.put("origin", *items)
    assert report.unchanged == 3 and statements and writes(statements) == []


def test_changed_content_is_a_new_revision_with_one_item_downstream(store: Store) -> None:
    store.feed("origin")
    store.feed("copy")
    title, text = article(90)
    store.put("origin", post("origin", "p1", title, text))
    store.put("copy", post("copy", "c1", title, text))
    report = store.put("origin", post("origin", "p1", title, text + "\n\nUpdate: a correction was added."))
    assert report.updated == 1 and report.new == 0
    story = store.session.scalars(select(models.Story)).one()
    assert story.revision == 2
    assert store.deliveries() == [(story.id, 1), (story.id, 2)]


# ---- deletions and retention ----

def test_atom_tombstone_retracts_and_reappearance_is_not_new(store: Store) -> None:
    store.feed("atom")
    title, text = article(100)
    store.put("atom", post("atom", "urn:uuid:1", title, text))
    document = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
                b'xmlns:at="http://purl.org/atompub/tombstones/1.0"><title>t</title><id>urn:f</id>'
                b'<updated>2026-11-27T00:00:00Z</updated>'
                b'<at:deleted-entry ref="urn:uuid:1" when="2026-11-27T09:00:00Z"/></feed>')
    parsed = parse_feed(document, feed_name="atom")
    assert parsed.deleted == ["urn:uuid:1"] and parsed.items == []
    report = store.put("atom", deleted=tuple(parsed.deleted))
    story = store.session.scalars(select(models.Story)).one()
    assert report.retracted == 1 and story.retracted and story.revision == 2
    back = store.put("atom", post("atom", "urn:uuid:1", title, text))
    assert back.new == 0 and store.stories() == 1
    assert [rev for _, rev in store.deliveries()] == [1, 2, 3]  # published, retracted, restored


def test_item_vanishing_from_a_complete_feed_is_retracted(store: Store) -> None:
    store.feed("full", complete=True)
    store.feed("partial")
    posts = [post("full", f"p{n}", *article(110 + n)) for n in range(3)]
    store.put("full", *posts)
    report = store.put("full", posts[0], posts[2])
    assert report.retracted == 1
    retracted = store.session.scalars(select(models.Story).where(models.Story.retracted)).all()
    assert len(retracted) == 1 and retracted[0].id == store.story_of("full", "p1")
    store.put("partial", post("partial", "x", *article(120)))
    assert store.put("partial", post("partial", "y", *article(121))).retracted == 0


def test_a_copy_leaving_hands_the_story_to_a_live_copy(store: Store) -> None:
    """An aggregator rotating out the copy that came first does not take down the article its
    origin still carries: the origin's copy becomes the representative (a revision, not a retraction)."""
    store.feed("agg", complete=True)
    store.feed("origin")
    title, text = article(160)
    copy = post("agg", "a1", title, text, source_link="https://origin.example/p1/")
    store.put("agg", copy, post("agg", "a2", *article(161)))
    store.put("origin", post("origin", "p1", title, text, link="https://origin.example/p1/"))
    story = store.story_of("agg", "a1")
    assert store.story_of("origin", "p1") == story
    report = store.put("agg", post("agg", "a2", *article(161)))  # a1 gone from the complete feed
    assert report.retracted == 1
    row = store.session.get(models.Story, story)
    assert not row.retracted and row.revision == 2
    assert store.session.get(models.Item, row.representative_item_id).feed_id == store.feeds["origin"].id


def test_the_origin_deleting_its_article_retracts_it_under_priority(store: Store) -> None:
    """A copy from a lower-priority feed does not keep alive what the trusted origin took down;
    a later live copy from a feed of at least its priority brings the story back."""
    store.policy = replace(store.policy, representative="priority")
    store.feed("origin", priority=10, complete=True)
    store.feed("agg")
    title, text = article(170)
    store.put("origin", post("origin", "p1", title, text, link="https://origin.example/p1/"),
              post("origin", "p2", *article(171)))
    store.put("agg", post("agg", "a1", title, text, source_link="https://origin.example/p1/"))
    story = store.story_of("origin", "p1")
    store.put("origin", post("origin", "p2", *article(171)))  # p1 deleted at the origin
    assert store.session.get(models.Story, story).retracted
    store.feed("mirror", priority=10)
    store.put("mirror", post("mirror", "m1", title, text, source_link="https://origin.example/p1/"))
    assert store.story_of("mirror", "m1") == story and not store.session.get(models.Story, story).retracted


SHOW_NOTES = ("The Morning Signal is a daily podcast about technology, science and the people who build the "
              "future. New episodes every weekday. Subscribe wherever you get your podcasts and leave us a "
              "review, it really helps other listeners find the show.")
PAYWALL = ("This article is available to subscribers only. Subscribe today to get unlimited access to all our "
           "reporting, newsletters and the daily digital edition, and support independent local journalism.")


def test_boilerplate_under_other_titles_is_not_one_article(store: Store) -> None:
    """The same short text under unrelated or differently numbered titles (show notes on every
    episode, one paywall stub for every article) is boilerplate: each post stays its own story."""
    store.feed("podcast")
    store.feed("paper")
    store.put("podcast", *[post("podcast", f"ep{n}", f"Episode {n}: {topic}", SHOW_NOTES)
                           for n, topic in ((41, "Chips and tariffs"), (42, "The battery breakthrough"))])
    store.put("paper", post("paper", "p1", "Mayor resigns after budget row", PAYWALL),
              post("paper", "p2", "New hospital wing opens", PAYWALL))
    assert store.stories() == 4


def test_a_number_the_copy_adds_to_the_title_is_no_conflict(store: Store) -> None:
    """"3 villages evacuated …" and "3 villages evacuated … | News 24" are one article."""
    store.feed("origin")
    store.feed("agg")
    title, text = article(180)
    store.put("origin", post("origin", "p1", f"3 villages {title}", text))
    store.put("agg", post("agg", "a1", f"3 villages {title} | News 24", text + " Read more at News 24."))
    assert store.stories() == 1


def test_a_new_permalink_is_a_revision_and_tracking_parameters_are_not(store: Store) -> None:
    store.feed("origin")
    title, text = article(190)
    store.put("origin", post("origin", "p1", title, text, link="https://origin.example/2026/old-slug/"))
    assert store.put("origin", post("origin", "p1", title, text,
                                    link="https://origin.example/2026/old-slug/?utm_source=rss")).updated == 0
    assert store.put("origin", post("origin", "p1", title, text, link="https://origin.example/2026/new-slug/")).updated == 1
    assert [revision for _, revision in store.deliveries()] == [1, 2]
    assert store.session.scalars(select(models.Item.link)).one() == "https://origin.example/2026/new-slug/"


def test_a_guid_reused_for_another_article_stores_a_new_one(store: Store) -> None:
    """A site numbering its GUIDs gave a deleted post's number to a new post: new permalink, new
    title, other text. The new post is a story of its own; the old one is not overwritten."""
    store.feed("origin")
    old_text, new_text = article(210)[1], article(211)[1]
    store.put("origin", post("origin", "?p=7", "Council passes the river budget", old_text,
                             link="https://origin.example/2026/budget/"))
    report = store.put("origin", post("origin", "?p=7", "Storm closes mountain roads", new_text,
                                      link="https://origin.example/2026/storm/"))
    assert (report.new, report.updated) == (1, 0) and "now names another article" in report.warnings[0]
    assert store.stories() == 2 and [revision for _, revision in store.deliveries()] == [1, 1]
    rows = store.session.execute(select(models.Item.title, models.Item.key, models.Item.revision)
                                 .order_by(models.Item.id)).all()
    assert [(title, revision) for title, _, revision in rows] == [
        ("Council passes the river budget", 1), ("Storm closes mountain roads", 1)]
    assert rows[0].key == f"{rows[1].key}~1"  # the old article keeps its row under a retired key
    again = store.put("origin", post("origin", "?p=7", "Storm closes mountain roads", new_text,
                                     link="https://origin.example/2026/storm/"))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
    # an edited article under a new permalink (title and text mostly kept) is still a revision
    edited = store.put("origin", post("origin", "?p=7", "Storm closes all mountain roads",
                                      new_text[: len(new_text) // 2] + " Updated: the pass reopened.",
                                      link="https://origin.example/2026/storm-update/"))
    assert (edited.new, edited.updated) == (0, 1) and store.stories() == 2
    # the same months later, once retention pruned the stored text: the permalink and title decide
    store.session.execute(update(models.Item).values(status="pruned", data=None))
    late = store.put("origin", post("origin", "?p=7", "Harvest festival opens", article(212)[1],
                                    link="https://origin.example/2027/harvest/"))
    assert late.new == 1 and store.stories() == 3


def test_an_item_no_filter_holds_back_any_more_is_published(store: Store) -> None:
    """It was filtered ("Sponsored:"); the source dropped the label (or the rule went): it becomes
    a story like a new item (it stayed filtered for ever)."""
    store.feed("origin")
    title, text = article(200)
    sponsored = post("origin", "p1", f"Sponsored: {title}", text)
    report = store_items(store.session, store.feeds["origin"], [sponsored], store.policy, ["exclude: 'sponsored'"])
    assert report.filtered == 1 and store.stories() == 0
    report = store.put("origin", post("origin", "p1", title, text))
    assert report.new == 1 and store.stories() == 1 and len(store.deliveries()) == 1
    row = store.session.scalars(select(models.Item)).one()
    assert (row.status, row.filter_reason, row.title) == ("active", None, title)


def test_a_recurring_post_linking_one_page_is_a_new_story_each_time(store: Store) -> None:
    """"Daily briefing for 5 November" and "… 6 November", both linking the same "today" page under
    new GUIDs, share their template: the numbers in the titles keep them apart."""
    store.feed("paper")
    intro = ("Good morning. Here is your daily briefing with the stories that matter today, compiled by our "
             "newsroom before seven o'clock. ")
    outro = (" That is all for today. Reply to this email to tell us what you think, and forward it to a friend "
             "who might enjoy it. See you tomorrow.")
    today = "https://paper.example/briefing/today/"
    store.put("paper", post("paper", "b5", "Daily briefing for 5 November",
                            intro + "The central bank kept interest rates unchanged at four percent." + outro, link=today))
    store.put("paper", post("paper", "b6", "Daily briefing for 6 November",
                            intro + "Parliament passed the new housing law after a late session." + outro, link=today))
    assert store.stories() == 2


def test_pruned_item_keeps_its_identity(store: Store) -> None:
    store.feed("origin")
    store.feed("late")
    title, text = article(130)
    old = post("origin", "p1", title, text, link="https://origin.example/old/")
    store.put("origin", old, now=T0)
    assert prune(store.session, timedelta(days=180), now=T0 + timedelta(days=181)) == 0  # still to deliver
    store.session.execute(update(models.Delivery).values(state="done"))
    assert prune(store.session, timedelta(days=180), now=T0 + timedelta(days=181)) == 1
    row = store.session.scalars(select(models.Item)).one()
    assert row.status == "pruned" and row.data is None
    assert store.session.scalar(select(func.count()).select_from(models.NearDupBand)) == 0
    again = store.put("origin", old, now=T0 + timedelta(days=182))
    copy = store.put("late", post("late", "c", f"[Origin] {title}", text + " Powered by WPeMatico",
                                  source_link="https://origin.example/old/"), now=T0 + timedelta(days=182))
    assert again.new == 0 and copy.new == 0 and store.stories() == 1
    assert len(store.deliveries()) == 1


def test_prune_keeps_recent_items(store: Store) -> None:
    store.feed("origin")
    store.put("origin", post("origin", "p1", *article(140)), now=T0)
    assert prune(store.session, timedelta(days=180), now=T0 + timedelta(days=10)) == 0


def test_candidate_lookup_probes_the_band_index_without_scanning(store: Store) -> None:
    if store.session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite query plan")
    bands = fingerprint(article(150)[1])
    query = band_query(len(bands))
    plan = store.session.execute(text("EXPLAIN QUERY PLAN " + query.text), band_params(bands)).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "SCAN" not in details
    assert details.count("SEARCH neardup_bands USING PRIMARY KEY (band=? AND value=?)") == len(bands)


# ---- one batch: the band index is read and written once, and items see each other ----

def _one_word_changed(text: str) -> str:
    words = text.split(" ")
    words[len(words) // 2] = "meanwhile"
    return " ".join(words)


def test_near_copies_inside_one_document_are_one_story(store: Store) -> None:
    store.feed("wire")
    title, text = article(31, paragraphs=6)
    report = store.put("wire", post("wire", "a1", title, text), post("wire", "a2", title, _one_word_changed(text)))
    assert (report.new, report.duplicates) == (1, 1)
    assert store.story_of("wire", "a1") == store.story_of("wire", "a2")
    assert report.merges[0][2].startswith("near-duplicate")


def test_a_new_copy_finds_the_text_an_earlier_item_of_its_batch_changed_to(store: Store) -> None:
    store.feed("site")
    first_title, first_text = article(41)
    title, text = article(42, paragraphs=6)
    store.put("site", post("site", "x", first_title, first_text))
    report = store.put("site", post("site", "x", title, text), post("site", "y", title, _one_word_changed(text)))
    assert (report.updated, report.duplicates, report.new) == (1, 1, 0)
    assert store.story_of("site", "y") == store.story_of("site", "x")
    # The old text's fingerprint is gone from the index, the new ones are written.
    bands = store.session.execute(select(models.NearDupBand.item_id)).scalars().all()
    assert sorted(set(bands)) == sorted({store.session.scalar(select(models.Item.id).where(models.Item.guid == g))
                                         for g in ("x", "y")})


def test_a_batch_reads_and_writes_the_band_index_once(store: Store) -> None:
    store.feed("origin")
    store.put("origin", *(post("origin", f"o{n}", *article(100 + n)) for n in range(5)))
    store.feed("copies")
    with statements_run(store.session.get_bind()) as statements:
        report = store.put("copies", *(post("copies", f"c{n}", *article(200 + n)) for n in range(5)),
                           *(post("copies", f"d{n}", article(100 + n)[0], _one_word_changed(article(100 + n)[1]))
                             for n in range(5)))
    assert (report.new, report.duplicates) == (5, 5)
    band_reads = [s for s in statements if s.lstrip().startswith("SELECT") and "neardup_bands" in s]
    band_writes = [s for s in statements if s.lstrip().startswith("INSERT INTO neardup_bands")]
    assert (len(band_reads), len(band_writes)) == (1, 1)


# ---- PostgreSQL's lock table: a batch of many new items locks every bucket with one lock ----

def test_a_first_fetch_of_a_thousand_items_is_stored(store: Store) -> None:
    # One advisory lock per bucket would be ~32,000 locks: "out of shared memory" on PostgreSQL.
    store.feed("archive")
    report = store.put("archive", *(post("archive", f"a{n}", *article(3000 + n, paragraphs=2)) for n in range(1000)))
    assert report.new == 1000
    assert store.session.scalar(select(func.count(func.distinct(models.NearDupBand.item_id)))) == 1000


def test_a_batch_holding_every_bucket_keeps_single_bucket_lockers_waiting() -> None:
    with fresh_database("feedrelay_band_locks") as url:
        engine, sessions = open_database(url)
        try:
            many = [(band, value) for value in range(100) for band in range(FULL_BANDS)]
            elsewhere = [(band, 10_000 + band) for band in range(3)]  # buckets `many` does not touch
            assert len(many) > MAX_BAND_LOCKS
            with sessions.begin() as big:
                lock_bands(big, many)  # every bucket, with one exclusive lock, until commit
                with sessions.begin() as small:
                    small.execute(text("SET LOCAL lock_timeout = '300ms'"))
                    with pytest.raises(OperationalError, match="lock timeout"):
                        lock_bands(small, elsewhere)
                    small.rollback()
            with sessions.begin() as small, sessions.begin() as other:
                lock_bands(small, elsewhere)  # its buckets, and the every-bucket lock shared:
                lock_bands(other, many[:3])  # another single-bucket locker does not wait,
                other.execute(text("SET LOCAL lock_timeout = '300ms'"))
                with pytest.raises(OperationalError, match="lock timeout"):
                    lock_bands(other, many)  # one wanting every bucket does
                other.rollback()
        finally:
            engine.dispose()


def test_a_batch_finds_a_copy_whose_text_it_was_not_given_up_front(store: Store) -> None:
    store.feed("origin")
    title, text = article(61, paragraphs=6)
    store.put("origin", post("origin", "o1", title, text))
    store.feed("copies")
    store.put("copies", post("copies", "c0", *article(62)))
    copy = store.session.scalars(select(models.Item).where(models.Item.guid == "c0")).one()
    batch = store.policy.near_duplicate.batch(store.session, [])  # type: ignore[union-attr]
    match = batch.find(store.session, post("copies", "c1", title, _one_word_changed(text)), copy)
    assert match is not None and match[0] == store.story_of("origin", "o1")
