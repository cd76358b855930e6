"""Golden-output check for the cleaner: does a change to `ingest.clean` keep its output identical?

    python -m bench.clean_golden dump /tmp/clean-golden.json    # before the change
    python -m bench.clean_golden check /tmp/clean-golden.json   # after it: lists every difference

`dump` snapshots the raw inputs together with what `clean_item` and `filter_reason` make of them
under several rule sets; `check` cleans the snapshot's inputs again (so a parser change between
the two runs does not matter) and compares every field. Inputs: every item of
../shared/corpus/real, samples/, a generated `bench.corpus`, the XSS payloads (ours and
../shared/corpus/xss), seeded random HTML built from the property tests' vocabulary, and the
cleaned real-corpus HTML again (the idempotency path). Golden files stay out of the repository.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.corpus import generate
from feedrelay.items import Item
from ingest.clean import CleanRules, Rewrite, clean_item, filter_reason
from ingest.parse import parse_feed

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpus"
BASE = "https://blog.example/2024/05/post/"
RULE_SETS: dict[str, CleanRules | None] = {
    "default": None,
    "remove+strip_links": CleanRules(remove=[".ad", "div.promo > p", "aside"], strip_links=True),
    "images-strip": CleanRules(images="strip"),
    "mixed": CleanRules(remove=["div > span", ".x"], strip_links=True, images="strip", summary_chars=40,
                        rewrite=[Rewrite(r"(?i)copyright (\d{4})", r"© $1", "content"),
                                 Rewrite(r"^\[News\] ", "", "title"), Rewrite(r"Minsk", "Minsk (BY)", "both")],
                        include=["the", "/\\d{4}/"], exclude=["casino", "sponsored"]),
}
FIELDS = ("title", "content_html", "text", "summary", "image", "litter", "source_link")


def _feed_items(path: Path) -> list[Item]:
    try:
        return parse_feed(path.read_bytes(), feed_name=path.stem).items
    except Exception:  # noqa: BLE001 - a document the parser refuses has no items to clean
        return []


def _random_html(rng: random.Random, depth: int = 0) -> str:
    from tests.test_clean_properties import ATTRIBUTES, TAGS, VALUES, WORDS

    parts = []
    for _ in range(rng.randint(0, 4)):
        if depth > 3 or rng.random() < 0.4:
            parts.append(rng.choice(WORDS) if rng.random() < 0.7 else "".join(
                chr(rng.randint(0, 0x500)) for _ in range(rng.randint(0, 8))))
            continue
        tag = rng.choice(TAGS)
        attrs = "".join(f' {rng.choice(ATTRIBUTES)}="{rng.choice(VALUES)}"' for _ in range(rng.randint(0, 3)))
        close = f"</{tag}>" if rng.random() < 0.8 else ""
        parts.append(f"<{tag}{attrs}>{_random_html(rng, depth + 1)}{close}")
    return "".join(parts)


def inputs() -> Iterator[tuple[str, Item]]:
    """(label, raw item) for every input of the check."""
    for directory in (SHARED / "real", ROOT / "samples"):
        for path in sorted(directory.glob("*.xml")):
            for n, item in enumerate(_feed_items(path)):
                yield f"{directory.name}/{path.name}#{n}", item
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), origins=6, aggregators=6, per_feed=10)
        for path in sorted(Path(tmp).glob("*.xml")):
            for n, item in enumerate(_feed_items(path)):
                yield f"bench-corpus/{path.name}#{n}", item
    payloads = [json.loads(line)["payload"] for line in
                (ROOT / "tests" / "fixtures" / "xss_vectors.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    for path in sorted((SHARED / "xss").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            record = json.loads(line) if line.strip() else {}
            payloads += [record[key] for key in ("payload", "payload_nbsp_as_space") if key in record]
    for n, payload in enumerate(payloads):
        yield f"xss#{n}", Item(feed="xss", guid=str(n), link=BASE, title=payload[:80], content_html=payload)
    rng = random.Random(7)
    for n in range(3000):
        yield f"random#{n}", Item(feed="random", guid=str(n), link=BASE, title=_random_html(rng)[:60],
                                  content_html=_random_html(rng))


def _outputs(item: Item) -> dict[str, Any]:
    result = {}
    for name, rules in RULE_SETS.items():
        cleaned = clean_item(item, rules)
        result[name] = {**{f: getattr(cleaned, f) for f in FIELDS}, "filter": filter_reason(cleaned, rules)}
    return result


def dump(path: Path) -> int:
    records = []
    for label, item in inputs():
        records.append({"label": label, "item": item.to_json(), "out": _outputs(item)})
    again = [{"label": f"again/{r['label']}", "item": {**r["item"], "content_html": r["out"]["default"]["content_html"]}}
             for r in records if r["label"].startswith("real/")]
    for record in again:
        record["out"] = _outputs(Item.from_json(record["item"]))
    records += again
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    print(f"{len(records)} inputs × {len(RULE_SETS)} rule sets written to {path}")
    return 0


def check(path: Path) -> int:
    records = json.loads(path.read_text(encoding="utf-8"))
    differences = 0
    for record in records:
        out = _outputs(Item.from_json(record["item"]))
        for rules, fields in record["out"].items():
            for name, expected in fields.items():
                if out[rules][name] != expected:
                    differences += 1
                    if differences <= 20:
                        print(f"{record['label']} [{rules}] {name}:\n  was {expected!r}\n  now {out[rules][name]!r}")
    print(f"{len(records)} inputs × {len(RULE_SETS)} rule sets: {differences} differences")
    return 1 if differences else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("dump", "check"))
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if not (SHARED / "real").is_dir():
        print(f"corpus not found: {SHARED / 'real'}", file=sys.stderr)
        return 2
    return dump(args.path) if args.command == "dump" else check(args.path)


if __name__ == "__main__":
    raise SystemExit(main())
