"""The vector cache: embeddings keyed by (model, hash of the text), shared by search passages and pool profiles.

An unchanged text is never embedded twice; another model (or precision) gets its own vectors. The cache is an
optimisation: a row that does not decode is treated as absent, so it is embedded again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from wijkwijzer.storage.db import Store

Embed = Callable[[list[str]], np.ndarray]


class VectorCache:
    """Reads and writes the `embeddings` table; the only code that does."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, model: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of a model for the given keys (absent or undecodable ones are left out)."""
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.store.db.execute(
                f"SELECT hash, dim, vector FROM embeddings WHERE model = ? AND hash IN ({marks})", [model, *chunk]
            ).fetchall()
            for digest, dim, blob in rows:
                if blob is not None and len(blob) == 4 * dim:
                    found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors of a model, keyed by text hash (one transaction)."""
        rows = [(model, digest, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                for digest, v in vectors.items()]
        with self.store.transaction() as db:
            # Another server may store the same passage at the same moment: the last write wins, both are equal.
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
