"""Near-duplicate fingerprints are stored: a given text must keep its exact (band, value) pairs across
versions, or stored items stop matching new copies. A change of the fingerprint comes with a migration
that recomputes the stored bands (0005 did, from the BLAKE2b-per-shingle fingerprint of 0002-0004)."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from store import models
from store.db import open_database
from store.neardup import FULL_BANDS, LEAD_BANDS, fingerprint
from tests.support.migrations import move_schema
from tests.test_dedup import article

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("The harbour authority said on Tuesday that the old lighthouse on the northern pier will be restored "
        "over the coming winter, after engineers found that the stone tower had shifted by several centimetres "
        "during the autumn storms. Volunteers who have kept the lamp room open to visitors since the eighties "
        "will help to catalogue the fittings before the scaffolding goes up, and the town council expects the "
        "work to finish before the summer season begins.")
NOW = datetime(2026, 11, 27, tzinfo=UTC)
MIGRATION = importlib.import_module("store.migrations.versions.0005_fingerprint_word_hashes")


def _digest(bands: list[tuple[int, int]]) -> str:
    return hashlib.sha256(repr(bands).encode()).hexdigest()


def test_fingerprint_of_a_known_text_is_unchanged() -> None:
    bands = fingerprint(TEXT)
    assert len(bands) == 32 and {band for band, _ in bands} == set(range(FULL_BANDS + LEAD_BANDS))
    assert bands[:3] == [(0, -7140828588966463192), (1, 4676539715860866921), (2, 2377154291756559062)]
    assert bands[-1] == (23, 8306132118126389882)
    assert _digest(bands) == "4fa7fcdc35e0e9b7801ffa4eae773b5cf18a69423abac3bab16de73d3c692f3c"


def test_the_migration_keeps_the_older_fingerprint_exactly() -> None:
    # The values stored by revisions 0002-0004 (pinned then), which a downgrade must restore.
    bands = MIGRATION.blake2b_shingle_fingerprint(TEXT)
    assert bands[:3] == [(0, 3323650777907691713), (1, 4174092822415264255), (2, -5150492674972082664)]
    assert _digest(bands) == "bd2f8815189391daaae04967e19948db72994e6ad388d07de05d0323ed07d3fb"


def test_upgrade_recomputes_stored_bands_and_downgrade_restores_them(tmp_path: Path) -> None:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'bands.db'}")
    move_schema(engine, "0004_item_raw_hash")
    texts = {n: article(500 + n)[1] for n in range(4)}
    texts[4] = "too short to fingerprint"
    with sessions.begin() as session:
        # Core, naming its columns: the Feed model has columns of later revisions
        feed_id = session.execute(insert(models.Feed.__table__).values(
            name="f", url="https://f.example/feed", config_url="https://f.example/feed", enabled=True,
            last_new_items=0, error_count=0, guid_mode="guid")).inserted_primary_key[0]
        for n, text in texts.items():
            item = models.Item(feed_id=feed_id, key=f"k{n}", title=f"t{n}", data={"text": text}, status="active",
                               revision=1, content_hash=f"c{n}", first_seen=NOW, last_seen=NOW)
            session.add(item)
            session.flush()
            bands = MIGRATION.blake2b_shingle_fingerprint(text) or [(0, n)]  # a stray row for the short text
            session.add_all(models.NearDupBand(band=b, value=v, item_id=item.id) for b, v in bands)

    def stored() -> dict[str, set[tuple[int, int]]]:
        with sessions() as session:
            rows = session.execute(select(models.Item.data, models.NearDupBand.band, models.NearDupBand.value)
                                   .join(models.NearDupBand, models.NearDupBand.item_id == models.Item.id)).all()
        result: dict[str, set[tuple[int, int]]] = {}
        for data, band, value in rows:
            result.setdefault(data["text"], set()).add((band, value))
        return result

    before = stored()
    for revision, up, expected in (("0005_fingerprint_word_hashes", True, fingerprint),
                                   ("0004_item_raw_hash", False, MIGRATION.blake2b_shingle_fingerprint)):
        move_schema(engine, revision, up=up)
        after = stored()
        assert after == {text: set(expected(text)) for text in texts.values() if expected(text)}
    assert after == {text: bands for text, bands in before.items() if text != texts[4]}
    engine.dispose()


def test_numpy_is_loaded_by_the_first_fingerprint_only() -> None:
    code = ("import sys; import store.neardup as n; before = 'numpy' in sys.modules; "
            "n.fingerprint(' '.join(f'w{i}' for i in range(40))); print(before, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
