"""The vector cache: embeddings keyed by (model, hash of the text), shared by search passages and pool profiles.

An unchanged text is never embedded twice; another model (or precision) gets its own vectors. The cache is an
optimisation: a row that does not decode is treated as absent, so it is embedded again.

Where the store has pgvector (`store.pgvector`, detected at start, see postgres.py), each row also holds its
vector as an `embedding vector` column beside the bytes, and nearest-passage search runs in PostgreSQL
(`nearest`) over the passages of one content version (`register`, table `semantic_passages`). Both are derived
from the bytes: `backfill` fills the column where it is missing, and neither is copied by `wijkwijzer db copy`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from wijkwijzer.storage.db import Store

Embed = Callable[[list[str]], np.ndarray]
BACKFILL_BATCH = 500
CORPUS_BATCH = 1000
# A content version's passage list is kept this long after it was registered: servers of a rolling deploy still
# search the old one meanwhile (and one that finds its list gone registers it again).
CORPUS_KEEP = dt.timedelta(days=2)


class VectorCache:
    """Reads and writes the `embeddings` table; the only code that does."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def pgvector(self) -> bool:
        """Whether vectors are also kept as pgvector values and searched in the database."""
        return self.store.pgvector

    def get(self, model: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of a model for the given keys (absent or undecodable ones are left out)."""
        found: dict[str, np.ndarray] = {}
        for chunk, marks in _chunks(keys):
            rows = self.store.db.execute(
                f"SELECT hash, dim, vector FROM embeddings WHERE model = ? AND hash IN ({marks})", [model, *chunk]
            ).fetchall()
            for digest, dim, blob in rows:
                if blob is not None and len(blob) == 4 * dim:
                    found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def stored(self, model: str, keys: Iterable[str]) -> set[str]:
        """Which of the keys have a (decodable) vector of this model, without reading the vectors."""
        found: set[str] = set()
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self.store.db.execute(
                f"SELECT hash FROM embeddings WHERE model = ? AND hash IN ({marks}) AND vector IS NOT NULL "
                "AND length(vector) = 4 * dim", [model, *chunk]))
        return found

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors of a model, keyed by text hash (one transaction); with pgvector also as `embedding`."""
        rows = [(model, digest, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                for digest, v in vectors.items()]
        with self.store.transaction() as db:
            # Another server may store the same passage at the same moment: the last write wins, both are equal.
            if self.pgvector:
                # A float8[] of the float32 values converts to pgvector's float4 exactly.
                db.executemany(
                    "INSERT INTO embeddings (model, hash, dim, vector, embedding) VALUES (?, ?, ?, ?, "
                    "CAST(? AS vector)) ON CONFLICT (model, hash) DO UPDATE SET dim = excluded.dim, "
                    "vector = excluded.vector, embedding = excluded.embedding",
                    [(*row, np.frombuffer(row[3], dtype=np.float32).tolist()) for row in rows])
            else:
                db.executemany("INSERT INTO embeddings (model, hash, dim, vector) VALUES (?, ?, ?, ?) ON CONFLICT "
                               "(model, hash) DO UPDATE SET dim = excluded.dim, vector = excluded.vector", rows)

    def forget(self, keys: Iterable[str]) -> int:
        """Delete the vectors of these text hashes under every model (an erased request's question: its hash
        would confirm a guessed text); returns how many rows went. Joins the caller's transaction."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        with self.store.transaction() as db:
            return db.execute(f"DELETE FROM embeddings WHERE hash IN ({marks})", wanted).rowcount

    def fetch(self, model: str, texts: Mapping[str, str], embed: Embed, batch_size: int | None = None,
              on_batch: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """Vectors for every key of `texts` (key -> text): stored ones as they are, the rest embedded by `embed`
        in batches of `batch_size` (all at once by default) and stored batch by batch, so an interrupted run
        keeps what it finished. `on_batch(n)` is told after each stored batch."""
        known = self.get(model, texts)
        missing = [key for key in texts if key not in known]
        size = batch_size or max(1, len(missing))
        for start in range(0, len(missing), size):
            batch = missing[start:start + size]
            fresh = dict(zip(batch, embed([texts[key] for key in batch]), strict=True))
            self.put(model, fresh)
            known.update(fresh)
            if on_batch is not None:
                on_batch(len(batch))
        return known

    # -- pgvector ----------------------------------------------------------------------------------------------
    def backfill(self, batch: int = BACKFILL_BATCH) -> int:
        """Fill the `embedding` column of rows that lack it (stored before pgvector was there, or by a server with
        WIJKWIJZER_PGVECTOR=off), `batch` rows per transaction; returns how many. 0 without pgvector."""
        if not self.pgvector:
            return 0
        done = 0
        while True:
            with self.store.transaction() as db:
                # SKIP LOCKED: servers starting together share the work instead of waiting for each other.
                rows = db.execute("SELECT model, hash, vector FROM embeddings WHERE embedding IS NULL AND vector "
                                  "IS NOT NULL AND length(vector) = 4 * dim AND dim > 0 LIMIT ?"
                                  + db.dialect.skip_locked, [batch]).fetchall()
                if rows:
                    db.executemany("UPDATE embeddings SET embedding = CAST(? AS vector) WHERE model = ? AND hash = ?",
                                   [(np.frombuffer(bytes(blob), dtype=np.float32).tolist(), model, digest)
                                    for model, digest, blob in rows])
            done += len(rows)
            if len(rows) < batch:
                return done

    def register(self, corpus: str, passages: Sequence[tuple[int, str]]) -> None:
        """Record a content version's passages (document number, text hash; row = position) under the key
        `corpus` once, for `nearest`; drops versions registered more than CORPUS_KEEP ago."""
        now = dt.datetime.now(dt.UTC)
        with self.store.transaction() as db:
            db.lock("passages", corpus)
            count = db.execute("SELECT count(*) FROM semantic_passages WHERE corpus = ?", [corpus]).fetchone()[0]
            if count == len(passages):
                return
            db.execute("DELETE FROM semantic_passages WHERE corpus = ? OR registered < ?",
                       [corpus, (now - CORPUS_KEEP).isoformat(timespec="seconds")])
            stamp = now.isoformat(timespec="seconds")
            rows = [(corpus, pos, doc, digest, stamp) for pos, (doc, digest) in enumerate(passages)]
            for start in range(0, len(rows), CORPUS_BATCH):
                db.executemany("INSERT INTO semantic_passages (corpus, pos, doc, hash, registered) "
                               "VALUES (?, ?, ?, ?, ?)", rows[start:start + CORPUS_BATCH])

    def nearest(self, model: str, corpus: str, vector: np.ndarray,
                skip_doc: int | None = None) -> list[tuple[int, int, float]]:
        """Per document of `corpus` its passage nearest to `vector` by cosine: (document, row, cosine), computed
        exactly over every passage with a vector (a sequential scan: see README "Several servers with
        PostgreSQL"), best first; `skip_doc` leaves one document out."""
        rows = self.store.db.execute(
            "SELECT doc, pos, 1 - distance FROM (SELECT DISTINCT ON (p.doc) p.doc, p.pos, "
            "e.embedding <=> CAST(? AS vector) AS distance FROM semantic_passages p JOIN embeddings e "
            "ON e.model = ? AND e.hash = p.hash WHERE p.corpus = ? AND p.doc <> ? AND e.embedding IS NOT NULL "
            "ORDER BY p.doc, distance, p.pos) best ORDER BY distance, doc",
            [np.asarray(vector, dtype=np.float32).tolist(), model, corpus, -1 if skip_doc is None else skip_doc],
        ).fetchall()
        return [(int(doc), int(pos), float(cosine)) for doc, pos, cosine in rows]

    def registered(self, corpus: str) -> bool:
        """Whether `corpus` is still registered (it is dropped CORPUS_KEEP after registering)."""
        return self.store.db.execute("SELECT 1 FROM semantic_passages WHERE corpus = ? LIMIT 1",
                                     [corpus]).fetchone() is not None


def _chunks(keys: Iterable[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """The distinct keys in chunks of `size`, each with its `?` placeholders (SQLite caps bound parameters)."""
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), size):
        chunk = wanted[start:start + size]
        yield chunk, ",".join("?" * len(chunk))
