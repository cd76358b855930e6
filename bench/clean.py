"""Cleaning benchmark: per-item cost of `ingest.clean` against feedparser's own sanitizer.

    python -m bench.clean [--repeat 5] [--stages] [--baseline REV]

Over every RSS/Atom/RDF document in ../shared/corpus/real, in one run, interleaved per
document, best of `--repeat` rounds, CPU time of this (single-threaded) process:
  feedparser full   `feedparser.parse(body)` — its defaults: sanitizer and URI resolver on
  feedparser raw    `feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)`
  sanitize+resolve  full − raw: what feedparser's own clean-up costs
  feedrelay clean   `clean_html(content, base_url=link)` for every item of the document
The goal: feedrelay clean < sanitize+resolve, so that raw parse + our clean beats feedparser's
defaults. `--stages` adds where our clean's time goes (function-level, one extra round).
`--baseline REV` also times the `ingest` package of git revision REV (read with `git show`
into a temporary package, nothing checked out) in the same rounds: on a busy machine an
interleaved comparison is the fair one.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser

import ingest.clean as clean_module
from ingest.clean import clean_html

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "real"
STAGES = ("_parse", "_survey", "_remove_elements", "_fix_media_and_links", "_drop_empty", "_remove_lines",
          "_trim_tail", "_normalise_whitespace", "_plain_text", "_serialise", "sanitize", "summarize")


def documents() -> list[tuple[str, bytes, list[tuple[str | None, str]]]]:
    """(name, bytes, [(link, raw content HTML)]) for each feed document feedparser can read."""
    found = []
    for path in sorted(CORPUS.glob("*.xml")):
        body = path.read_bytes()
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        items = []
        for entry in parsed.entries:
            contents = [c["value"] for c in entry.get("content", []) if c.get("value")]
            items.append((entry.get("link"), max(contents, key=len, default="") or entry.get("summary", "")))
        if items:
            found.append((path.name, body, items))
    return found


def cpu(function: Callable[[], Any]) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def baseline_clean_html(revision: str) -> Callable[..., Any]:
    """`clean_html` of the `ingest` package at git `revision`, imported as `baseline_ingest`."""
    listing = subprocess.run(["git", "ls-tree", "--name-only", f"{revision}:ingest"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    package = Path(tempfile.mkdtemp()) / "baseline_ingest"
    package.mkdir()
    for name in listing:
        if name.endswith(".py"):
            source = subprocess.run(["git", "show", f"{revision}:ingest/{name}"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout
            (package / name).write_text(re.sub(r"\bfrom ingest\b", "from baseline_ingest", source))
    sys.path.insert(0, str(package.parent))
    return importlib.import_module("baseline_ingest.clean").clean_html  # type: ignore[no-any-return]


def measure(docs: list, repeat: int, baseline: Callable[..., Any] | None = None) -> dict[str, float]:
    best: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(lambda: float("inf")))
    for round_ in range(repeat):
        for name, body, items in docs:
            runs = {
                "full": lambda body=body: feedparser.parse(body),
                "raw": lambda body=body: feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False),
                "clean": lambda items=items: [clean_html(html, base_url=link) for link, html in items],
            }
            if baseline is not None:
                runs["baseline"] = lambda items=items: [baseline(html, base_url=link) for link, html in items]
                if round_ % 2:  # neither goes first every time
                    runs = dict(reversed(runs.items()))
            for key, run in runs.items():
                best[name][key] = min(best[name][key], cpu(run))
    return {key: sum(per_doc[key] for per_doc in best.values()) for key in next(iter(best.values()))}


def stages(docs: list) -> dict[str, float]:
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(clean_module, name) for name in STAGES}

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - started
        return timed

    try:
        for name, function in originals.items():
            setattr(clean_module, name, wrap(name, function))
        total = cpu(lambda: [clean_html(html, base_url=link) for _n, _b, items in docs for link, html in items])
    finally:
        for name, function in originals.items():
            setattr(clean_module, name, function)
    spent["(rest of clean_html)"] = total - sum(spent.values())
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best per document counts")
    parser.add_argument("--stages", action="store_true", help="also show where clean_html's time goes")
    parser.add_argument("--baseline", metavar="REV", help="also time clean_html of this git revision")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"corpus not found: {CORPUS}", file=sys.stderr)
        return 2
    baseline = baseline_clean_html(args.baseline) if args.baseline else None
    docs = documents()
    n_items = sum(len(items) for _n, _b, items in docs)
    n_bytes = sum(len(html) for _n, _b, items in docs for _l, html in items)
    print(f"$ python -m bench.clean {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"{len(docs)} documents, {n_items} items, {n_bytes / 1e6:.1f} MB of item HTML; "
          f"CPU seconds, best of {args.repeat} per document\n")
    totals = measure(docs, args.repeat, baseline)
    sanitize = totals["full"] - totals["raw"]
    rows = [
        ("feedparser full (sanitize+resolve on)", totals["full"]),
        ("feedparser raw (both off)", totals["raw"]),
        ("feedparser sanitize+resolve (full − raw)", sanitize),
        ("feedrelay clean_html (all passes)", totals["clean"]),
        ("raw parse + feedrelay clean", totals["raw"] + totals["clean"]),
    ]
    if baseline is not None:
        rows.append((f"clean_html at {args.baseline}", totals["baseline"]))
    print(f"{'':44s} {'total s':>9s} {'µs/item':>9s}")
    for label, seconds in rows:
        print(f"{label:44s} {seconds:9.3f} {seconds / n_items * 1e6:9.0f}")
    print(f"\nclean / feedparser sanitize+resolve  = {totals['clean'] / sanitize:.2f}  (goal < 1)")
    print(f"clean / feedparser full parse        = {totals['clean'] / totals['full']:.2f}")
    print(f"feedparser full / (raw + clean)      = {totals['full'] / (totals['raw'] + totals['clean']):.2f}×")
    if baseline is not None:
        print(f"clean at {args.baseline} / clean now = {totals['baseline'] / totals['clean']:.2f}×")
    if args.stages:
        print("\nwhere clean_html's time goes (one round, instrumented):")
        spent = stages(docs)
        total = sum(spent.values())
        for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"  {name:24s} {seconds:7.3f} s {seconds / total:6.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
