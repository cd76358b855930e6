"""Three `feedrelay run` workers, 300 feeds with syndicated copies, one PostgreSQL database.

Every item is stored once, copies of one article make one story, every story revision reaches
the webhook once, no feed is fetched twice in one cycle (the server's request log), and the
per-host cap holds across the workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from feedrelay.items import utcnow
from store import models
from store.db import open_database
from tests.support.chaos import check_deliveries, check_store
from tests.support.cluster import Cluster, cycle_done, progress, trigger_cycle, wait_for
from tests.support.farm import Farm
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer

pytestmark = pytest.mark.slow
PER_HOST = 6


def test_three_workers_share_300_feeds_without_doing_anything_twice(tmp_path: Path) -> None:
    with fresh_database() as url, LocalServer() as server:
        farm = Farm(server, origins=100, aggregators=200)
        farm.advance(new_per_origin=2)
        out = tmp_path / "out"
        config = tmp_path / "config.yaml"
        # Two fetch threads per worker: three workers can never hold more than the host cap between
        # them, so none is starved by the two others refilling the cap the moment a fetch ends.
        config.write_text(farm.config(url, workers=2, per_host=PER_HOST, lease="2m", extra_targets=(
            f"  - name: files\n    type: feed\n    dir: {out}\n    formats: [atom]\n    max_items: 50\n")))
        cluster = Cluster(config, tmp_path)
        engine, sessions = open_database(url)
        try:
            start = utcnow()
            for slot in range(3):
                cluster.start(slot)
            wait_for(lambda: cycle_done(sessions, start, 300), 300, "the first cycle",
                     explain=lambda: progress(sessions, start) + cluster.logs())
            first = farm.requests_per_feed()
            assert len(first) == 300 and set(first.values()) == {1}, first.most_common(3)
            mark = len(server.requests)

            farm.advance(new_per_origin=1, updates=15)
            start = utcnow()
            trigger_cycle(sessions)
            wait_for(lambda: cycle_done(sessions, start, 300), 300, "the second cycle",
                     explain=lambda: progress(sessions, start) + cluster.logs())
            second = farm.requests_per_feed(mark)
            assert len(second) == 300 and set(second.values()) == {1}, second.most_common(3)
            assert cluster.alive()
            for log in cluster.logfiles.values():  # all three took part
                assert "new," in log.read_text(), log.name
        finally:
            codes = cluster.stop()
            engine.dispose()
        assert codes == [0, 0, 0], cluster.logs()
        assert farm.max_active <= PER_HOST
        engine, sessions = open_database(url)
        try:
            check_store(farm, sessions)
            assert check_deliveries(farm, sessions) == 0
            with sessions() as session:
                revised = session.scalar(select(func.count()).where(models.Story.revision > 1))
            assert revised > 0  # updates made new revisions, and they were delivered
            atom = (out / "atom.xml").read_text()  # rendered by one worker at a time, complete
            assert atom.count("<entry>") == 50 and atom.rstrip().endswith("</feed>")
        finally:
            engine.dispose()
