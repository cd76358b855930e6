"""near-duplicate fingerprints recomputed: shingle hashes built from remembered word hashes

The LSH band values of every fingerprinted item are recomputed from its stored clean text with
`store.neardup.fingerprint` (about 3x cheaper per text than hashing each shingle with BLAKE2b).
Downgrading recomputes them the older way, which this file keeps for that purpose.

Revision ID: 0005_fingerprint_word_hashes
Revises: 0004_item_raw_hash
Create Date: 2026-11-27 16:30:00
"""

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from store.identity import words
from store.neardup import fingerprint

revision = "0005_fingerprint_word_hashes"
down_revision = "0004_item_raw_hash"
branch_labels = None
depends_on = None

CHUNK = 2000
ITEMS = sa.table("items", sa.column("id", sa.Integer), sa.column("data", sa.JSON))
BANDS = sa.table("neardup_bands", sa.column("band", sa.SmallInteger), sa.column("value", sa.BigInteger),
                 sa.column("item_id", sa.Integer))


def upgrade() -> None:
    _recompute(fingerprint)


def downgrade() -> None:
    _recompute(blake2b_shingle_fingerprint)


def _recompute(fingerprint_of: Callable[[str], list[tuple[int, int]]]) -> None:
    """Replace the bands of every item that has some with those of its stored text."""
    bind = op.get_bind()
    ids = sorted(bind.execute(sa.select(BANDS.c.item_id).distinct()).scalars())
    bind.execute(BANDS.delete())
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        texts = {item_id: ((data or {}).get("text") or "")
                 for item_id, data in bind.execute(sa.select(ITEMS.c.id, ITEMS.c.data).where(ITEMS.c.id.in_(chunk)))}
        rows = [{"band": band, "value": value, "item_id": item_id}
                for item_id in chunk for band, value in fingerprint_of(texts.get(item_id, ""))]
        if rows:
            bind.execute(BANDS.insert(), rows)


def blake2b_shingle_fingerprint(text: str) -> list[tuple[int, int]]:
    """The fingerprint of revisions 0002-0004: each distinct word 3-gram hashed with BLAKE2b,
    MinHash by multiply-shift (64 permutations in 16 bands of 4, and 16 in 8 bands of 2 over the
    first 32 words and over words 16-47), each band's rows hashed with BLAKE2b."""
    import numpy as np

    def constants(name: str) -> np.ndarray:
        return np.array([int.from_bytes(hashlib.blake2b(f"feedrelay-minhash-{name}-{i}".encode(), digest_size=8)
                                        .digest(), "little") for i in range(80)], dtype=np.uint64)

    def shingles(tokens: list[str]) -> set[str]:
        return {" ".join(tokens[i:i + 3]) for i in range(len(tokens) - 2)}

    def minhash(values: list[bytes], a: np.ndarray, b: np.ndarray) -> np.ndarray:
        x = np.frombuffer(b"".join(values), dtype="<u8").astype(np.uint64)
        with np.errstate(over="ignore"):
            return ((a[:, None] * x[None, :] + b[:, None]) >> np.uint64(32)).min(axis=1)

    def band_values(signature: np.ndarray, rows: int, first: int) -> list[tuple[int, int]]:
        return [(first + i, int.from_bytes(hashlib.blake2b(band.tobytes(), digest_size=8).digest(), "little",
                                           signed=True))
                for i, band in enumerate(signature.astype(np.uint32).reshape(-1, rows))]

    tokens = words(text)
    if len(tokens) < 20:
        return []
    mult, add = constants("a") | np.uint64(1), constants("b")
    digests = {v: hashlib.blake2b(v.encode(), digest_size=8).digest() for v in shingles(tokens)}
    bands = band_values(minhash(list(digests.values()), mult[:64], add[:64]), 4, 0)
    for offset in (0, 16):
        window = tokens[offset:offset + 32]
        if offset == 0 or len(window) >= 20:
            lead = minhash([digests[v] for v in shingles(window)], mult[64:], add[64:])
            bands.extend(b for b in band_values(lead, 2, 16) if b not in bands)
    return bands
