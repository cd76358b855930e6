"""Labeled de-duplication corpus: origin sites, aggregators republishing them, hard negatives.

Writes, to `--out` (a directory):
- `feeds.json`: the feeds (name, role, priority, complete).
- `fetches.jsonl`: one fetch per line, in order: round, feed, items (`Item.to_json()` with raw
  HTML content, as the parser produces it) and Atom tombstone refs.
- `truth.json`: for every "feed|guid|link" the article it is; hard-negative article pairs with their
  kind; updated, deleted and reappearing articles.

Origins publish about one post every two rounds, English and Cyrillic. Aggregators copy posts
with WPeMatico-like transformations: new GUID (`?p=N`) and permalink, title prefix/suffix,
entity-encoded quotes, whitespace changes, litter around the body (WPeMatico credit, Yoast
"appeared first on" footer with the original permalink, share box, related posts), or an
excerpt only (30–80 words, with or without a link back). Origin quirks: GUIDs changing on every fetch, one GUID for every item, tracking
parameters changing per fetch, a move from http to https, content updates, deletions
(vanishing from a `complete` feed, RFC 6721 tombstones) and reappearing items. Hard negatives:
recurring template posts ("Daily briefing for 27 November"), different stories with one title,
and posts sharing a long disclaimer.

Usage: python -m bench.gen_corpus --out DIR [--seed N] [--rounds N]
"""

from __future__ import annotations

import argparse
import html
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.textgen import TextGen
from feedrelay.items import Item

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 15
SHARED_TITLES_EN = ["Weekly update", "Hello world!", "Announcement", "Quick note"]
SHARED_TITLES_RU = ["Привет, мир!", "Новости недели", "Объявление"]
MONTHS_EN = ["November", "December"]
MONTHS_RU = ["ноября", "декабря"]


@dataclass
class Article:
    """One real article: its origin post and every change it goes through."""

    id: str
    site: str
    number: int
    title: str
    paragraphs: list[str]
    round: int
    language: str
    kind: str = "normal"
    updated_round: int | None = None
    updated_paragraphs: list[str] | None = None
    deleted_round: int | None = None
    reappear_round: int | None = None

    def body(self, at_round: int) -> list[str]:
        if self.updated_round is not None and at_round >= self.updated_round:
            return self.updated_paragraphs or self.paragraphs
        return self.paragraphs

    def visible(self, at_round: int) -> bool:
        if at_round < self.round:
            return False
        if self.deleted_round is not None and at_round >= self.deleted_round:
            return self.reappear_round is not None and at_round >= self.reappear_round
        return True


@dataclass
class Site:
    """An origin site (publishing its own articles) or an aggregator (copying others')."""

    name: str
    language: str
    role: str
    quirk: str = ""
    priority: int = 0
    complete: bool = False
    articles: list[Article] = field(default_factory=list)
    copies: list[tuple[int, Article, str]] = field(default_factory=list)  # (round, article, style)

    @property
    def home(self) -> str:
        return f"https://{self.name}.example"


class Corpus:
    """Builds sites, articles and copies from one seed, then plays the fetches."""

    def __init__(self, seed: int, rounds: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.rounds = rounds
        self.sites: list[Site] = []
        self.truth: dict[str, str] = {}
        self.hard_negatives: list[tuple[str, str, str]] = []
        self.fetches: list[dict] = []
        self.copy_numbers: dict[tuple[str, str], int] = {}

    # ---- building ----
    def build(self) -> None:
        plain = [("herald", "en", ""), ("gazette", "en", ""), ("tribune", "en", "utm"),
                 ("chronicle", "en", "https-move"), ("observer", "en", "guid-changes"),
                 ("courier", "en", "one-guid"), ("dispatch", "en", "complete"),
                 ("ledger", "en", "tombstones"), ("vedomosti", "ru", ""), ("izvestia", "ru", "utm"),
                 ("gorod", "ru", "complete"), ("vestnik", "ru", "")]
        for name, language, quirk in plain:
            site = Site(name, language, "origin", quirk, priority=10, complete=quirk == "complete")
            self.sites.append(site)
            self._articles(site)
        for name, language in (("briefing", "en"), ("svodka", "ru")):
            site = Site(name, language, "origin", "template", priority=10)
            self.sites.append(site)
            self._template_articles(site)
        for name, language in (("lawfirm", "en"), ("broker", "en"), ("fond", "ru")):
            site = Site(name, language, "origin", "disclaimer", priority=10)
            self.sites.append(site)
            self._disclaimer_articles(site)
        self._shared_disclaimer_negatives()
        self._same_title_negatives()
        for index in range(6):
            self.sites.append(Site(f"aggregator{index}", "mixed", "aggregator", priority=0))
        self._copies()

    def _article(self, site: Site, number: int, title: str, paragraphs: list[str], at: int,
                 kind: str = "normal") -> Article:
        article = Article(f"{site.name}-{number}", site.name, number, title, paragraphs, at, site.language, kind)
        site.articles.append(article)
        return article

    def _articles(self, site: Site) -> None:
        gen = TextGen(self.rng.randrange(10**9), site.language)
        for number in range(1, self.rounds // 2 + 1):
            at = min(self.rounds - 1, number * 2 + self.rng.randint(-1, 1))
            title = gen.title()
            if self.rng.random() < 0.3:
                title = f'{title} "{gen.word()}" {gen.word()}\'s'
            article = self._article(site, number, title, gen.paragraphs(self.rng.randint(3, 9)), max(0, at))
            if self.rng.random() < 0.12 and at + 3 < self.rounds:
                article.updated_round = min(self.rounds - 1, at + self.rng.randint(2, 6))
                changed = list(article.paragraphs)
                changed[self.rng.randrange(len(changed))] = gen.paragraph()
                changed.append(gen.paragraph())
                article.updated_paragraphs = changed
        if site.quirk in ("complete", "tombstones"):
            for article in self.rng.sample(site.articles[: len(site.articles) // 2], 3):
                article.deleted_round = article.round + 4
            article.reappear_round = article.round + 9  # the last of them comes back

    def _template_articles(self, site: Site) -> None:
        gen = TextGen(self.rng.randrange(10**9), site.language)
        intro = gen.paragraph(3)
        headers = [gen.title() for _ in range(3)]
        outro = [gen.paragraph(4), gen.paragraph(4)]
        months = MONTHS_RU if site.language == "ru" else MONTHS_EN
        for number in range(1, self.rounds // 2 + 1):
            day = number % 28 + 1
            month = months[(number // 28) % 2]
            title = (f"Ежедневная сводка за {day} {month}" if site.language == "ru"
                     else f"Daily briefing for {day} {month}")
            share = self.rng.choice((1, 2, 3))  # fewer unique items: more of the text is template
            body = [f"{intro} {day} {month}."]
            for header in headers[:share]:
                body.append(f"{header}. {gen.sentence()} {gen.sentence()}")
            body.extend(outro)
            self._article(site, number, title, body, min(self.rounds - 1, number * 2), "template")
        self._pairwise(site.articles, "template")

    def _disclaimer_articles(self, site: Site) -> None:
        gen = TextGen(self.rng.randrange(10**9), site.language)
        disclaimer = getattr(self, "disclaimer_" + site.language, None) or " ".join(gen.paragraphs(3))
        setattr(self, "disclaimer_" + site.language, disclaimer)
        for number in range(1, self.rounds // 3 + 1):
            body = [gen.paragraph(self.rng.randint(2, 6)), disclaimer]
            self._article(site, number, gen.title(), body, min(self.rounds - 1, number * 3), "disclaimer")

    def _shared_disclaimer_negatives(self) -> None:
        for language in ("en", "ru"):
            articles = [a for s in self.sites if s.quirk == "disclaimer" and s.language == language
                        for a in s.articles]
            self._pairwise(articles, "disclaimer")

    def _same_title_negatives(self) -> None:
        origins = [s for s in self.sites if s.role == "origin" and not s.quirk]
        for language, titles in (("en", SHARED_TITLES_EN), ("ru", SHARED_TITLES_RU)):
            sites = [s for s in origins if s.language == language]
            for title in titles:
                group = []
                for site in sites:
                    article = self.rng.choice([a for a in site.articles if a.kind == "normal"])
                    article.title, article.kind = title, "same-title"
                    group.append(article)
                self._pairwise(group, "same-title")

    def _pairwise(self, articles: list[Article], kind: str) -> None:
        for i, left in enumerate(articles):
            for right in articles[i + 1:]:
                self.hard_negatives.append((left.id, right.id, kind))

    def _copies(self) -> None:
        origins = [s for s in self.sites if s.role == "origin"]
        styles = ["yoast", "wpematico", "litter", "excerpt", "bare-excerpt", "plain", "source-link", "related"]
        for aggregator in (s for s in self.sites if s.role == "aggregator"):
            for origin in self.rng.sample(origins, 7):
                for article in origin.articles:
                    if self.rng.random() < 0.5:
                        continue
                    at = article.round + self.rng.randint(0, 3)
                    if article.deleted_round is not None and at >= article.deleted_round:
                        continue
                    if at < self.rounds:
                        aggregator.copies.append((at, article, self.rng.choice(styles)))
            # A very late copy of an old article (long after retention pruned it).
            old = self.rng.choice([a for s in origins for a in s.articles if a.round < 6 and a.kind == "normal"])
            aggregator.copies.append((self.rounds - 1, old, "yoast"))

    # ---- rendering ----
    def link(self, site: Site, article: Article, at: int) -> str:
        slug = "-".join(article.title.lower().split()[:5]).replace('"', "").replace("'", "")
        url = f"{site.home}/{2026}/{article.number:04d}/{slug}/"
        if site.quirk == "https-move" and at < self.rounds // 2:
            url = url.replace("https://", "http://")
        if site.quirk == "utm":
            url += f"?utm_source=rss&utm_medium=feed&utm_campaign=r{at}"
        return url

    def origin_item(self, site: Site, article: Article, at: int) -> Item:
        link = self.link(site, article, at)
        guid = f"{site.home}/?p={article.number}"
        if site.quirk == "guid-changes":
            guid = f"{site.home}/?p={article.number}&v={at}"
        elif site.quirk == "one-guid":
            guid = site.home + "/"
        self.truth[f"{site.name}|{guid}|{link}"] = article.id
        body = "".join(f"<p>{html.escape(p, quote=False)}</p>\n" for p in article.body(at))
        return Item(feed=site.name, guid=guid, link=link, title=html.escape(article.title, quote=False),
                    content_html=body, published=BASE_TIME + timedelta(hours=article.round),
                    language=site.language)

    def copy_item(self, site: Site, article: Article, style: str, at: int) -> Item:
        """The aggregator's copy, rendered the same on every fetch (its own seeded noise)."""
        rng = random.Random(f"{self.seed}-{site.name}-{article.id}")
        origin = next(s for s in self.sites if s.name == article.site)
        number = self.copy_numbers.setdefault((site.name, article.id), 1000 + len(self.copy_numbers))
        guid = f"{site.home}/?p={number}"
        link = f"{site.home}/{number}/"
        self.truth[f"{site.name}|{guid}|{link}"] = article.id
        original_link = self.link(origin, article, article.round).split("?")[0]
        if rng.random() < 0.3:
            original_link = original_link.replace("https://", "http://")
        title = self._copy_title(rng, article.title, origin.name)
        paragraphs = article.body(at)
        body = "".join(f"<p>{self._noisy(rng, p)}</p>\n" for p in paragraphs)
        if style in ("excerpt", "bare-excerpt"):  # bare: no link back to the original at all
            first = " ".join(" ".join(paragraphs).split()[:rng.choice((30, 55, 55, 80))])
            body = f"<p>{html.escape(first, quote=False)} [&#8230;]</p>\n"
        if style in ("yoast", "excerpt"):
            body += (f'<p>The post <a rel="nofollow" href="{original_link}">{html.escape(article.title)}</a> '
                     f'appeared first on <a rel="nofollow" href="{origin.home}">{origin.name.title()}</a>.</p>')
        elif style == "wpematico":
            body += ('<p class="wpematico_credit"><small>Powered by <a href="http://www.wpematico.com" '
                     'target="_blank">WPeMatico</a></small></p>')
        elif style == "source-link":
            body += f'<p>Source: <a href="{original_link}" rel="nofollow">{original_link}</a></p>'
        elif style == "litter":
            body = ('<div class="sharedaddy"><h3>Share this:</h3><ul><li><a href="https://facebook.com/share">'
                    'Facebook</a></li><li><a href="https://twitter.com/share">Twitter</a></li></ul></div>\n'
                    + body + '<p><a href="https://example.com/subscribe">Subscribe to our newsletter</a></p>')
        elif style == "related":
            others = [a.title for a in origin.articles[:3] if a is not article]
            body += "<h3>Related posts</h3><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in others) + "</ul>"
        return Item(feed=site.name, guid=guid, link=link, title=title,
                    content_html=body, published=BASE_TIME + timedelta(hours=at), language=article.language)

    def _copy_title(self, rng: random.Random, title: str, origin: str) -> str:
        escaped = html.escape(title, quote=True)
        choice = rng.random()
        if choice < 0.2:
            escaped = escaped.replace("&#x27;", "&#8217;").replace("&quot;", "&#8220;", 1).replace("&quot;", "&#8221;")
        elif choice < 0.3:
            escaped = escaped.replace("&amp;", "&amp;amp;").replace("&quot;", "&amp;quot;")
        if rng.random() < 0.3:
            escaped = f"[{origin.title()}] {escaped}"
        elif rng.random() < 0.2:
            escaped = f"{escaped} &#8211; {origin.title()}"
        if rng.random() < 0.2:
            escaped = "  " + escaped.replace(" ", "  ", 1) + " "
        return escaped

    def _noisy(self, rng: random.Random, paragraph: str) -> str:
        text = html.escape(paragraph, quote=False)
        if rng.random() < 0.3:
            text = text.replace(". ", ".&nbsp; ", 2)
        if rng.random() < 0.2:
            text = text.replace(" ", "\n", 3)
        return text

    def play(self) -> None:
        for at in range(self.rounds):
            for site in self.sites:
                if site.role == "origin":
                    self._fetch_origin(site, at)
                else:
                    self._fetch_aggregator(site, at)

    def _fetch_origin(self, site: Site, at: int) -> None:
        visible = [a for a in site.articles if a.visible(at)][-WINDOW:]
        if site.quirk == "complete":
            visible = [a for a in site.articles if a.visible(at)]  # a complete feed lists everything
        deleted = []
        if site.quirk == "tombstones":
            deleted = [f"{site.home}/?p={a.number}" for a in site.articles
                       if a.deleted_round is not None and a.deleted_round <= at < a.deleted_round + 3
                       and not a.visible(at)]
        items = [self.origin_item(site, a, at) for a in visible]
        if items or deleted:
            self.fetches.append({"round": at, "feed": site.name, "items": [i.to_json() for i in items],
                                 "deleted": deleted})

    def _fetch_aggregator(self, site: Site, at: int) -> None:
        copies = [(r, a, s) for r, a, s in site.copies if r <= at][-WINDOW:]
        items = [self.copy_item(site, a, s, r) for r, a, s in copies]
        if items:
            self.fetches.append({"round": at, "feed": site.name, "items": [i.to_json() for i in items],
                                 "deleted": []})

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        feeds = [{"name": s.name, "role": s.role, "quirk": s.quirk, "priority": s.priority,
                  "complete": s.complete, "language": s.language} for s in self.sites]
        (out / "feeds.json").write_text(json.dumps(feeds, indent=1))
        with (out / "fetches.jsonl").open("w") as handle:
            for fetch in self.fetches:
                handle.write(json.dumps(fetch, ensure_ascii=False) + "\n")
        articles = {a.id: {"site": a.site, "kind": a.kind, "round": a.round, "updated": a.updated_round,
                           "deleted": a.deleted_round, "reappears": a.reappear_round, "title": a.title}
                    for s in self.sites for a in s.articles}
        (out / "truth.json").write_text(json.dumps({
            "seed": self.seed, "rounds": self.rounds, "items": self.truth, "articles": articles,
            "hard_negatives": self.hard_negatives,
        }, ensure_ascii=False))


def generate(out: Path, seed: int = 7, rounds: int = 60) -> Path:
    """Build and write the corpus; returns `out`."""
    corpus = Corpus(seed, rounds)
    corpus.build()
    corpus.play()
    corpus.write(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    generate(args.out, args.seed, args.rounds)
    truth = json.loads((args.out / "truth.json").read_text())
    print(f"{len(truth['articles'])} articles, {len(truth['items'])} distinct items, "
          f"{len(truth['hard_negatives'])} hard-negative pairs -> {args.out}")


if __name__ == "__main__":
    main()
