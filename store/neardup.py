"""Near-duplicate detection: MinHash fingerprints, an LSH band index, and a verification step.

Why MinHash over word shingles (and not SimHash): the decision we finally make is about set
overlap of shingles — Jaccard for two full copies, containment for an excerpt inside its
original — and MinHash estimates exactly that set overlap, with a banding scheme (LSH) whose
hit probability `1 - (1 - J**r)**b` can be tuned and reasoned about. SimHash approximates a
weighted cosine, cannot express containment, and its Hamming-ball lookups need many
permuted tables to be index-friendly. Excerpts get their own small "lead" MinHash over the first
`LEAD_WORDS` words (and over a second window a little further in, which survives a byline or
dateline in front of one copy), so an excerpt finds the full article (and vice versa) although
their whole-text Jaccard is tiny.

Index: one row per (band, value, item) in `neardup_bands`, primary key (band, value, item_id),
so finding candidates is one index lookup per band, never a scan. Candidates are only hints:
`verify` compares the shingles of the stored clean texts (Jaccard and containment), discounting
shingles the new item shares with *other* stories among the candidates (template text and
disclaimers that recur across posts), and a merge needs a high containment; title agreement
is required for excerpt matches and numbers in titles veto recurring posts. Title alone never
merges.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import TextClause, bindparam, delete, insert, select, text
from sqlalchemy.orm import Session

from feedrelay.items import Item
from store import direct, models
from store.identity import numbered_titles_match, text_words, title_overlap, titles_agree

if TYPE_CHECKING:  # numpy (a large import) is loaded by the first fingerprint, not by every command
    import numpy as np

SHINGLE = 3
FULL_BANDS, FULL_ROWS = 16, 4
LEAD_BANDS, LEAD_ROWS = 8, 2
LEAD_WORDS = 32
LEAD_OFFSETS = (0, 16)  # a second window survives a byline or dateline in front of the text
MIN_WORDS = 20
MIN_SHINGLES = 8
MAX_CANDIDATES = 12
BAND_CHUNK = 384  # bands per index read: 768 parameters, far below any backend's limit

_PERMUTATIONS = FULL_BANDS * FULL_ROWS + LEAD_BANDS * LEAD_ROWS


def _constants(name: str, count: int) -> np.ndarray:
    # Derived from fixed strings, not a RNG stream, so stored fingerprints stay valid forever.
    import numpy as np

    return np.array([int.from_bytes(hashlib.blake2b(f"feedrelay-minhash-{name}-{i}".encode(), digest_size=8)
                                    .digest(), "little") for i in range(count)], dtype=np.uint64)


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The MinHash permutations' (a, b) multipliers, one entry per permutation."""
    return _constants("a", _PERMUTATIONS) | 1, _constants("b", _PERMUTATIONS)


@cache
def _mixers() -> tuple[np.ndarray, np.ndarray]:
    """Odd multipliers combining a shingle's word hashes, and a band's rows, into one value."""
    return _constants("shingle", SHINGLE) | 1, _constants("band", max(FULL_ROWS, LEAD_ROWS)) | 1


def shingles(tokens: Sequence[str]) -> set[str]:
    """The word `SHINGLE`-grams of a token list (the whole list if it is shorter)."""
    if len(tokens) < SHINGLE:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i:i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


_WORD_HASHES: dict[str, int] = {}
WORD_HASH_CACHE = 1 << 16  # words remembered (at most ~8 MB): most words of news text recur


def _word_hashes(tokens: Sequence[str]) -> list[int]:
    """Each token's 64-bit BLAKE2b hash, remembered across texts (words recur, shingles rarely)."""
    known = _WORD_HASHES
    values = [known.get(token) for token in tokens]
    if None in values:
        for i, value in enumerate(values):
            if value is None:
                token = tokens[i]
                values[i] = known[token] = int.from_bytes(
                    hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if len(known) > WORD_HASH_CACHE:
            known.clear()
    return values


def _shingle_hashes(tokens: Sequence[str]) -> np.ndarray:
    """One 64-bit hash per word `SHINGLE`-gram, in text order (a repeated shingle repeats its
    hash, which MinHash's minimum ignores): the words' hashes combined by odd multipliers."""
    import numpy as np

    words_ = np.array(_word_hashes(tokens), dtype=np.uint64)
    mix = _mixers()[0]
    count = len(tokens) - SHINGLE + 1
    combined = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(SHINGLE):
            combined = combined + words_[offset:offset + count] * mix[offset]
    return combined


def _minhash(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Multiply-shift hashing: ((a*x + b) mod 2**64) >> 32, one row per permutation (the shift is
    # monotonic, so it is applied to each row's minimum only).
    import numpy as np

    with np.errstate(over="ignore"):
        mixed = a[:, None] * hashes[None, :]
        mixed += b[:, None]
    return mixed.min(axis=1) >> np.uint64(32)


def _band_values(signature: np.ndarray, rows: int, first_band: int) -> list[tuple[int, int]]:
    """(band, value) pairs: each band's `rows` signature entries mixed into a signed 64-bit value."""
    import numpy as np

    table = signature.reshape(-1, rows)
    mix = _mixers()[1]
    value = np.zeros(len(table), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in range(rows):
            value = (value ^ table[:, row]) * mix[row]
        value ^= value >> np.uint64(29)  # the high bits' entropy into the low ones
    return list(zip(range(first_band, first_band + len(table)), value.view(np.int64).tolist(), strict=True))


def fingerprint(text: str) -> list[tuple[int, int]]:
    """The (band, value) pairs of a clean text; empty when too short to compare safely."""
    return list(_analysed(text)[1])


Analysis = tuple[tuple[str, ...], tuple[tuple[int, int], ...]]  # a text's tokens and fingerprint


def analyse(texts: Iterable[str]) -> dict[str, Analysis]:
    """Each text's tokens and fingerprint, for `NearDuplicates.batch`: pure CPU work a caller
    can do before its store transaction, keeping the transaction short."""
    return {text: _analysed(text) for text in texts}


@lru_cache(maxsize=64)
def _analysed(text: str) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    # `find` and then `remember` fingerprint the same text: compute it once.
    tokens = text_words(text)
    return tokens, tuple(fingerprint_tokens(tokens))


def fingerprint_tokens(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """`fingerprint` of an already tokenised text."""
    if len(tokens) < MIN_WORDS:
        return []
    full_n = FULL_BANDS * FULL_ROWS
    mult, add = _permutations()
    hashes = _shingle_hashes(tokens)
    bands = _band_values(_minhash(hashes, mult[:full_n], add[:full_n]), FULL_ROWS, 0)
    for offset in LEAD_OFFSETS:
        if offset == 0 or len(tokens) - offset >= MIN_WORDS:
            # A window's shingles are a slice of the whole text's.
            window = hashes[offset:offset + LEAD_WORDS - SHINGLE + 1]
            lead = _band_values(_minhash(window, mult[full_n:], add[full_n:]), LEAD_ROWS, FULL_BANDS)
            bands.extend(b for b in lead if b not in bands)
    return bands


def band_query(count: int) -> TextClause:
    """Items sharing any of `count` bands (params b0, v0, b1, v1, …): one primary-key probe per
    band, as an OR of equalities that SQLite and PostgreSQL both answer from the index (a
    row-value IN makes SQLite scan). Plain SQL text, built once per count: building the
    expression tree per lookup cost more than the lookup itself."""
    return _band_query(count)


@cache
def _band_query(count: int) -> TextClause:
    terms = " OR ".join(f"(band = :b{i} AND value = :v{i})" for i in range(count))
    return text(f"SELECT item_id FROM neardup_bands WHERE {terms}")


def band_params(bands: list[tuple[int, int]]) -> dict[str, int]:
    """The parameters of `band_query(len(bands))`."""
    params = {}
    for i, (band, value) in enumerate(bands):
        params[f"b{i}"], params[f"v{i}"] = band, value
    return params


MAX_BAND_LOCKS = 1024
# Outside the bucket keys' range (below 2**62); "feedband".
BAND_LOCK_ALL = 0x66656564_62616E64
_LOCK_ALL_BANDS = text("SELECT pg_advisory_xact_lock(:key)")
_LOCK_ALL_BANDS_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)")
_LOCK_BANDS = text(
    "SELECT pg_advisory_xact_lock(k) FROM "
    "(SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
)


def lock_bands(session: Session, bands: list[tuple[int, int]]) -> None:
    """On PostgreSQL, hold a transaction lock on each of the item's LSH buckets.

    Two workers storing two near-copies of one article at the same moment share a bucket, so
    the second waits until the first has committed its story and bands, then finds it: one
    story, not two. Unrelated items share no bucket and never wait for each other. Locks are
    taken in sorted order (no lock-order deadlock) and released at commit. SQLite needs none:
    its transactions take turns (`store.retry`).

    PostgreSQL's lock table is small and shared (64 locks per connection by default): a
    transaction that would hold more than `MAX_BAND_LOCKS` bucket locks (a feed's first fetch
    of a few hundred items) takes one lock on every bucket instead — `BAND_LOCK_ALL`, which
    the transactions locking single buckets hold shared — and so runs alone among them.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({(band * 1_000_003 + value) % (1 << 62) for band, value in bands})
    transaction = session.get_transaction()
    state = session.info.get("band_locks")
    if state is None or state[0] is not transaction:
        state = session.info["band_locks"] = [transaction, 0]  # this transaction's bucket locks
    if state[1] < 0:  # it holds every bucket already
        return
    if state[1] + len(keys) > MAX_BAND_LOCKS:
        session.execute(_LOCK_ALL_BANDS, {"key": BAND_LOCK_ALL})
        state[1] = -1
        return
    if state[1] == 0:
        session.execute(_LOCK_ALL_BANDS_SHARED, {"key": BAND_LOCK_ALL})
    session.execute(_LOCK_BANDS, {"keys": keys})
    state[1] += len(keys)


@dataclass(frozen=True)
class Similarity:
    """How much two texts overlap, on informative shingles."""

    containment: float
    jaccard: float
    smaller: int
    length_ratio: float


def similarity(new: set[str], old: set[str], common: set[str] = frozenset()) -> Similarity:
    """Containment (of the smaller in the larger) and Jaccard of two shingle sets, ignoring
    the `common` shingles (text that also belongs to other stories)."""
    left, right = new - common, old - common
    if not left or not right:
        return Similarity(0.0, 0.0, 0, 0.0)
    shared = len(left & right)
    smaller, larger = sorted((len(left), len(right)))
    return Similarity(shared / smaller, shared / (len(left) + len(right) - shared), smaller,
                      smaller / larger)


@dataclass(frozen=True)
class Candidate:
    """A stored item whose fingerprint shares at least one band with the new item."""

    item_id: int
    story_id: int
    feed_id: int
    title: str
    shingles: frozenset[str]


class NearDuplicates:
    """The near-duplicate finder `StorePolicy.near_duplicate` uses: `find`, `remember`, `forget`.

    `threshold` is the containment a merge needs (recommended 0.9); a copy from the same feed
    (a re-issue under a new GUID and link) needs `same_feed_threshold`.
    """

    def __init__(self, threshold: float = 0.9, same_feed_threshold: float = 0.97) -> None:
        self.threshold = threshold
        self.same_feed_threshold = same_feed_threshold

    def find(self, session: Session, item: Item, row: models.Item) -> tuple[int, float, str] | None:
        """The story `item` is a near-duplicate of, with the containment score, or None."""
        tokens, fingerprinted = _analysed(item.text)
        bands = list(fingerprinted)
        if not bands:
            return None
        lock_bands(session, bands)
        return self.verify(item, row, tokens, self.candidates(session, bands, exclude=row.id))

    def verify(self, item: Item, row: models.Item, tokens: tuple[str, ...], candidates: list[Candidate]
               ) -> tuple[int, float, str] | None:
        """The best of `candidates` that `accepts` the item (`tokens`: its words), or None."""
        if not candidates:
            return None
        mine = shingles(tokens)
        best: tuple[float, Candidate, Similarity] | None = None
        for candidate in candidates:
            common: set[str] = set()
            for other in candidates:
                if other.story_id != candidate.story_id:
                    common |= other.shingles & mine
            sim = similarity(mine, set(candidate.shingles), common)
            if sim.smaller < MIN_SHINGLES and numbered_titles_match(item.title, candidate.title):
                sim = similarity(mine, set(candidate.shingles))  # see `accepts`
            if self.accepts(item, row, candidate, sim) and (best is None or sim.containment > best[0]):
                best = (sim.containment, candidate, sim)
        if best is None:
            return None
        score, candidate, sim = best
        kind = "near-duplicate" if sim.length_ratio >= 0.5 else "excerpt"
        return candidate.story_id, round(score, 4), f"{kind}:j={sim.jaccard:.2f}:item={candidate.item_id}"

    def accepts(self, item: Item, row: models.Item, candidate: Candidate, sim: Similarity) -> bool:
        """The verification rule: enough informative overlap, and no title evidence against.

        Overlap is measured without the text other stories share (templates, disclaimers). When
        that leaves too little — an excerpt of a recurring post that is all template — `find`
        measures the whole text instead, but only for titles carrying the same numbers ("Daily
        briefing for 6 November" in both): the title picks the instance, the text confirms it.
        """
        # informative shingles ≈ words of the smaller text
        if sim.smaller < MIN_SHINGLES or not titles_agree(item.title, candidate.title, length=sim.smaller):
            return False
        needed = self.same_feed_threshold if candidate.feed_id == row.feed_id else self.threshold
        if sim.containment < needed:
            return False
        # An excerpt is weak evidence on its own: its title must agree with the original's.
        return sim.length_ratio >= 0.5 or title_overlap(item.title, candidate.title) >= 0.5

    def candidates(self, session: Session, bands: list[tuple[int, int]], exclude: int | None = None
                   ) -> list[Candidate]:
        """Stored items sharing a band with `bands`, most shared bands first (index lookups only)."""
        hits: dict[int, int] = {}
        for item_id in session.scalars(band_query(len(bands)), band_params(bands)):
            if item_id != exclude:
                hits[item_id] = hits.get(item_id, 0) + 1
        return load_candidates(session, hits)

    def remember(self, session: Session, row: models.Item, item: Item, *, replace: bool = True) -> None:
        """Index `row` under the fingerprint of `item`, replacing an older fingerprint
        (`replace` False: the row has none, it was inserted in this transaction)."""
        if replace:
            self.forget(session, row.id)
        rows = [{"band": band, "value": value, "item_id": row.id} for band, value in fingerprint(item.text)]
        if rows:
            session.execute(_INSERT_BANDS, rows)

    def forget(self, session: Session, item_id: int) -> None:
        """Drop an item's fingerprint (pruned, deleted, or about to be replaced)."""
        session.execute(_DELETE_BANDS, {"item_id": item_id})

    def batch(self, session: Session, texts: Sequence[str],
              analysed: Mapping[str, Analysis] | None = None) -> NearDuplicateBatch:
        """A finder for one stored batch whose new items have these `texts` (see
        `NearDuplicateBatch`; `analysed`: some of them already `analyse`d); `flush` it before the
        transaction ends."""
        return NearDuplicateBatch(self, session, texts, analysed or {})

    def flush(self, session: Session) -> None:
        """Nothing to write: this finder writes as it goes."""


class NearDuplicateBatch:
    """`NearDuplicates` for one batch of a feed's items, in one transaction: the index rows of
    every band the batch's new items carry are read (and on PostgreSQL their buckets locked) in
    one go, and the fingerprints it remembers are written in one statement by `flush`.

    Between the two, its own band map stands in for the index: it starts as the rows read and
    follows what the batch remembers and forgets, so each item sees what a query of the index
    would show at that moment. Deleting fingerprints still happens at once.
    """

    def __init__(self, finder: NearDuplicates, session: Session, texts: Sequence[str],
                 analysed: Mapping[str, Analysis]) -> None:
        self.finder = finder
        self.items: dict[tuple[int, int], set[int]] = {}  # band -> ids of the items in it
        self.pending: dict[int, list[tuple[int, int]]] = {}  # item id -> bands not yet written
        self.analysed = {text: analysed.get(text) or _analysed(text) for text in texts}
        self.read: set[tuple[int, int]] = set()  # bands whose index rows are in the map
        self._read(session, {band for _, bands in self.analysed.values() for band in bands})

    def _read(self, session: Session, bands: set[tuple[int, int]]) -> None:
        """Lock (on PostgreSQL) and read into the map the index rows of `bands` not read yet."""
        wanted = sorted(bands - self.read)
        if not wanted:
            return
        self.read.update(wanted)
        lock_bands(session, wanted)
        for band, value, item_id in _read_bands(session, wanted):
            self.items.setdefault((band, value), set()).add(item_id)

    def find(self, session: Session, item: Item, row: models.Item) -> tuple[int, float, str] | None:
        """`NearDuplicates.find`, from the band map (a text not named up front has its bands read now)."""
        tokens, fingerprinted = self.analysed.get(item.text) or _analysed(item.text)
        if not fingerprinted:
            return None
        self._read(session, set(fingerprinted))
        hits: dict[int, int] = {}
        for band in fingerprinted:
            for item_id in self.items.get(band, ()):
                if item_id != row.id:
                    hits[item_id] = hits.get(item_id, 0) + 1
        return self.finder.verify(item, row, tokens, load_candidates(session, hits))

    def remember(self, session: Session, row: models.Item, item: Item, *, replace: bool = True) -> None:
        """`NearDuplicates.remember`, written by `flush`."""
        if replace:
            self.forget(session, row.id)
        bands = (self.analysed.get(item.text) or _analysed(item.text))[1]
        if bands:
            self.pending[row.id] = list(bands)
            for band in bands:
                self.items.setdefault(band, set()).add(row.id)

    def forget(self, session: Session, item_id: int) -> None:
        """`NearDuplicates.forget`, at once."""
        self.finder.forget(session, item_id)
        self.pending.pop(item_id, None)
        for members in self.items.values():
            members.discard(item_id)

    def batch(self, session: Session, texts: Sequence[str],
              analysed: Mapping[str, Analysis] | None = None) -> NearDuplicateBatch:
        """Already one batch's finder."""
        return self

    def flush(self, session: Session) -> None:
        """Write the fingerprints remembered since the last flush (one statement)."""
        rows = [(band, value, item_id) for item_id, bands in self.pending.items() for band, value in bands]
        self.pending.clear()
        if rows:
            _write_bands(session, rows)


# A batch's band-index reads and writes are plain DBAPI statements (store.direct): with hundreds
# of parameters or rows, SQLAlchemy's processing of each cost more than the lookups and inserts. PostgreSQL
# takes the bands as arrays (an OR of hundreds of terms costs it more to plan than to run);
# SQLite answers an OR of primary-key equalities from the index (a row-value IN would scan).
_PG_READ_BANDS = ("SELECT b.band, b.value, b.item_id FROM neardup_bands AS b "
                  "JOIN unnest(%s::smallint[], %s::bigint[]) AS q(band, value) ON b.band = q.band AND b.value = q.value")
_PG_WRITE_BANDS = ("INSERT INTO neardup_bands (band, value, item_id) "
                   "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bigint[])")


def _read_bands(session: Session, bands: list[tuple[int, int]]) -> Iterable[tuple[int, int, int]]:
    """The index rows (band, value, item id) in any of `bands`."""
    if not bands:
        return
    if session.connection().dialect.name == "postgresql":
        yield from direct.execute(session, _PG_READ_BANDS, ([b for b, _ in bands], [v for _, v in bands]))
        return
    for start in range(0, len(bands), BAND_CHUNK):
        chunk = bands[start:start + BAND_CHUNK]
        chunk += chunk[-1:] * (-len(chunk) % 32)  # padded with its last band: a few statement shapes
        yield from direct.execute(session, _sqlite_read_bands(len(chunk)), tuple(number for band in chunk for number in band))


def _write_bands(session: Session, rows: list[tuple[int, int, int]]) -> None:
    """Insert index rows (band, value, item id)."""
    if session.connection().dialect.name == "postgresql":
        direct.execute(session, _PG_WRITE_BANDS, tuple(list(column) for column in zip(*rows, strict=True)))
    else:
        direct.execute(session, "INSERT INTO neardup_bands (band, value, item_id) VALUES (?, ?, ?)", rows, many=True)


@cache
def _sqlite_read_bands(count: int) -> str:
    terms = " OR ".join("(band = ? AND value = ?)" for _ in range(count))
    return f"SELECT band, value, item_id FROM neardup_bands WHERE {terms}"


def load_candidates(session: Session, hits: dict[int, int]) -> list[Candidate]:
    """The items of `hits` (id → bands shared) worth verifying: the `MAX_CANDIDATES` sharing most
    bands (among equals the newest: copies follow their original soon), if in a live story."""
    if not hits:
        return []
    chosen = sorted(hits, key=lambda i: (hits[i], i), reverse=True)[:MAX_CANDIDATES]
    rows = session.execute(_CANDIDATE_ROWS, {"ids": chosen}).all()
    return [
        Candidate(r.id, r.story_id, r.feed_id, r.title, frozenset(shingles(text_words((r.data or {}).get("text") or ""))))
        for r in rows
    ]


# Core statements built once (the ORM forms cost more to build than to run).
_BANDS = models.NearDupBand.__table__
_INSERT_BANDS = insert(_BANDS)
_DELETE_BANDS = delete(_BANDS).where(_BANDS.c.item_id == bindparam("item_id"))
_ITEMS = models.Item.__table__
_CANDIDATE_ROWS = select(_ITEMS.c.id, _ITEMS.c.story_id, _ITEMS.c.feed_id, _ITEMS.c.title, _ITEMS.c.data).where(
    _ITEMS.c.id.in_(bindparam("ids", expanding=True)), _ITEMS.c.story_id.is_not(None), _ITEMS.c.status == "active")
