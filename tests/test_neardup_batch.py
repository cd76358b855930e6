"""The per-batch near-duplicate finder (`NearDuplicateBatch`: one index read and one write per
stored batch) must decide exactly what an index query per item decided. Its own cases are in
test_dedup.py ("one batch")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import bench.dedup
from bench.gen_corpus import generate
from store import models
from store.neardup import NearDuplicates


class Unbatched(NearDuplicates):
    """The finder as it was: an index query per item, fingerprints written as they come."""

    def batch(self, session: Session, texts: Sequence[str], analysed: object = None) -> NearDuplicates:  # type: ignore[override]
        return self


@pytest.mark.parametrize("seed", [11, 23])
def test_batched_finder_decides_as_a_query_per_item_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        seed: int) -> None:
    corpus = generate(tmp_path / "corpus", seed=seed, rounds=16)
    outcomes = []
    for name, finder in (("batched", NearDuplicates), ("per-item", Unbatched)):
        monkeypatch.setattr(bench.dedup, "NearDuplicates", finder)
        session, _ = bench.dedup.play(corpus, f"sqlite:///{tmp_path / (name + '.db')}")
        with session:
            items = session.execute(select(models.Item.id, models.Item.story_id, models.Item.status)
                                    .order_by(models.Item.id)).all()
            merges = session.execute(select(models.Merge.item_id, models.Merge.story_id, models.Merge.reason)
                                     .order_by(models.Merge.id)).all()
            bands = session.execute(select(models.NearDupBand.band, models.NearDupBand.value,
                                           models.NearDupBand.item_id)).all()
        outcomes.append((json.dumps([tuple(r) for r in items]), [tuple(r) for r in merges],
                         sorted(tuple(r) for r in bands)))
    (items_a, merges_a, bands_a), (items_b, merges_b, bands_b) = outcomes
    assert len(merges_a) > 50
    assert items_a == items_b
    assert merges_a == merges_b
    assert bands_a == bands_b
