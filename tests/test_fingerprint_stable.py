"""Near-duplicate fingerprints are stored: a given text must keep its exact (band, value) pairs across
versions, or stored items stop matching new copies. The values below were computed before numpy
became a lazy import of store.neardup (it is now loaded by the first fingerprint, not at import)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from store.neardup import FULL_BANDS, LEAD_BANDS, fingerprint

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("The harbour authority said on Tuesday that the old lighthouse on the northern pier will be restored "
        "over the coming winter, after engineers found that the stone tower had shifted by several centimetres "
        "during the autumn storms. Volunteers who have kept the lamp room open to visitors since the eighties "
        "will help to catalogue the fittings before the scaffolding goes up, and the town council expects the "
        "work to finish before the summer season begins.")


def test_fingerprint_of_a_known_text_is_unchanged() -> None:
    bands = fingerprint(TEXT)
    assert len(bands) == 30 and {band for band, _ in bands} == set(range(FULL_BANDS + LEAD_BANDS))
    assert bands[:3] == [(0, 3323650777907691713), (1, 4174092822415264255), (2, -5150492674972082664)]
    assert bands[-1] == (23, 5515795492061560432)
    assert hashlib.sha256(repr(bands).encode()).hexdigest() == (
        "bd2f8815189391daaae04967e19948db72994e6ad388d07de05d0323ed07d3fb")


def test_numpy_is_loaded_by_the_first_fingerprint_only() -> None:
    code = ("import sys; import store.neardup as n; before = 'numpy' in sys.modules; "
            "n.fingerprint(' '.join(f'w{i}' for i in range(40))); print(before, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
