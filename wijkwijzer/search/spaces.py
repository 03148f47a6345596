"""Where the passage vectors of the current content are searched: in this process's memory (`MemorySpace`: SQLite,
or PostgreSQL without pgvector) or in PostgreSQL itself (`PgvectorSpace`), so that several servers need not each
hold every vector. `SemanticIndex` (semantic.py) picks one and never needs to know which."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from wijkwijzer.search.passages import Passage
from wijkwijzer.storage.vectors import VectorCache


class PassageSpace:
    """Where the passage vectors of the current content are searched. `install` makes the passages with a stored
    vector searchable as a `PassageView`, and returns with it what the calibration queries score on each document
    (for the floor). A view never changes: a search keeps the one it started with while an update installs the
    next."""

    def stored(self, model: str, hashes: list[str]) -> dict[str, np.ndarray | None]:
        """The stored passages among `hashes`: hash -> vector (or None where this space need not hold it)."""
        raise NotImplementedError

    def keep(self, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
        """Freshly embedded vectors, as `stored` returns them."""
        raise NotImplementedError

    def install(self, model: str, passages: list[Passage], rows: list[int], starts: np.ndarray,
                vectors: dict[str, np.ndarray | None],
                null: np.ndarray | None) -> tuple[PassageView, np.ndarray | None]:
        """`rows`: the passage indices with a vector, in order; document i is rows starts[i]:starts[i + 1]. Returns
        the view and the best passage score of each calibration query (rows of `null`) on each document (None
        without `null` or rows)."""
        raise NotImplementedError


class PassageView:
    """One installed content version of a PassageSpace."""

    def best(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Scores for a query vector as SemanticScores holds them (`_sims`, `_starts`, `_texts`): per row, the
        first row of each document and the end, and each row's text."""
        return np.zeros(0, dtype=np.float32), np.zeros(1, dtype=np.int64), []

    def similar(self, slug: str, limit: int) -> list[tuple[str, float]]:
        """Other documents nearest to the mean of `slug`'s passage vectors: (slug, score of the best passage)."""
        return []


class MemorySpace(PassageSpace):
    """Every current passage vector in one matrix in this process, searched by brute force."""

    def __init__(self, cache: VectorCache) -> None:
        self.cache = cache

    def stored(self, model: str, hashes: list[str]) -> dict[str, np.ndarray | None]:
        return dict(self.cache.get(model, hashes))

    def keep(self, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
        return dict(vectors)

    def install(self, model, passages, rows, starts, vectors, null):
        matrix = (np.stack([vectors[passages[i].hash] for i in rows]).astype(np.float32) if rows
                  else np.zeros((0, 1), dtype=np.float32))
        view = MemoryView(matrix, rows, passages, starts, [passages[i].text for i in rows])
        return view, (best_per_document(null @ matrix.T, starts) if null is not None and rows else None)


@dataclass(frozen=True)
class MemoryView(PassageView):
    """The matrix of one content version's passage vectors."""

    matrix: np.ndarray
    rows: list[int]  # passage index of each matrix row
    passages: list[Passage]
    starts: np.ndarray
    texts: list[str]  # passage text per row

    def best(self, vector):
        return self.matrix @ vector, self.starts, self.texts

    def similar(self, slug, limit):
        matrix, rows, passages = self.matrix, self.rows, self.passages
        own = [r for r, i in enumerate(rows) if passages[i].slug == slug]
        if not own:
            return []
        centre = matrix[own].mean(axis=0)
        sims = matrix @ centre
        best: dict[str, float] = {}
        for row in np.argsort(-sims):
            other = passages[rows[row]].slug
            if other != slug and other not in best:
                best[other] = float(sims[row])
                if len(best) >= limit:
                    break
        return list(best.items())


class PgvectorSpace(PassageSpace):
    """The vectors stay in PostgreSQL (pgvector) and each query is answered there: per document its nearest
    passage by cosine, exactly, over the passages of this content version (registered under a key made from
    them, so servers on the same content share one list and a rolling deploy's servers each find their own).

    Exact rather than through an approximate (HNSW) index: hybrid ranking scales the semantic scores over every
    document and the floor compares each document with its own null, so every document needs its true best
    score, as in memory. This process keeps no vectors, only the passage texts; the calibration scores per
    document are computed at install, reading the vectors in batches."""

    BATCH = 2000  # vectors read at a time for the calibration scores

    def __init__(self, cache: VectorCache) -> None:
        self.cache = cache
        self._backfilled = False

    def stored(self, model: str, hashes: list[str]) -> dict[str, np.ndarray | None]:
        return dict.fromkeys(self.cache.stored(model, hashes))

    def keep(self, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
        return dict.fromkeys(vectors)

    def install(self, model, passages, rows, starts, vectors, null):
        if not self._backfilled:  # rows stored before pgvector was there: once per process, not at every poll
            self.cache.backfill()
            self._backfilled = True
        numbers = _document_numbers(passages)
        listed = list(zip(numbers, [p.hash for p in passages], strict=True))
        corpus = hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:32]
        # Every passage of the content, also those still without a vector: the search joins the stored ones, so
        # a reader polling while the writer embeds registers the list once.
        self.cache.register(corpus, listed)
        present = np.full(numbers[-1] + 1 if numbers else 0, -1, dtype=np.int64)
        for index, start in enumerate(starts[:-1]):
            present[numbers[rows[int(start)]]] = index
        view = PgvectorView(self.cache, model, corpus, passages, listed, present, len(starts) - 1)
        if null is None or not rows:
            return view, None
        out = np.full((len(null), len(starts) - 1), -np.inf, dtype=np.float32)
        documents = np.repeat(np.arange(len(starts) - 1), np.diff(starts))  # installed document of each row
        for start in range(0, len(rows), self.BATCH):
            batch = rows[start:start + self.BATCH]
            found = self.cache.get(model, [passages[i].hash for i in batch])
            matrix = np.stack([found[passages[i].hash] for i in batch]).astype(np.float32)
            docs = documents[start:start + len(batch)]
            runs = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
            best = np.maximum.reduceat(null @ matrix.T, runs, axis=-1)
            out[:, docs[runs]] = np.maximum(out[:, docs[runs]], best)
        return view, out


@dataclass(frozen=True)
class PgvectorView(PassageView):
    """One content version's passages, registered in PostgreSQL as `corpus`."""

    cache: VectorCache
    model: str
    corpus: str
    passages: list[Passage]
    listed: list[tuple[int, str]]  # (document number, hash) per passage, as registered
    present: np.ndarray  # document number -> index among the documents with a vector (-1: none)
    documents: int  # how many documents have a vector

    def _nearest(self, vector: np.ndarray, skip: int | None = None) -> list[tuple[int, int, float]]:
        found = self.cache.nearest(self.model, self.corpus, vector, skip)
        if not found and self.documents and not self.cache.registered(self.corpus):
            # Dropped (CORPUS_KEEP) while this server kept its content: register the list again.
            self.cache.register(self.corpus, self.listed)
            found = self.cache.nearest(self.model, self.corpus, vector, skip)
        return found

    def best(self, vector):
        n = self.documents
        # A document whose vectors went meanwhile scores as far as possible (and is not admitted).
        scores, texts = np.full(n, -1.0, dtype=np.float32), [""] * n
        for number, row, cosine in self._nearest(vector):
            index = self.present[number] if number < len(self.present) else -1
            if index >= 0:
                scores[index], texts[index] = cosine, self.passages[row].text
        return scores, np.arange(n + 1, dtype=np.int64), texts

    def similar(self, slug, limit):
        own = [i for i, p in enumerate(self.passages) if p.slug == slug]
        vectors = self.cache.get(self.model, [self.passages[i].hash for i in own])
        own_vectors = [vectors[self.passages[i].hash] for i in own if self.passages[i].hash in vectors]
        if not own_vectors:
            return []
        centre = np.stack(own_vectors).astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(centre))  # memory scores by the unnormalised mean: give the same numbers
        return [(self.passages[row].slug, cosine * norm)
                for _, row, cosine in self._nearest(centre, skip=self.listed[own[0]][0])[:limit]]


def _document_numbers(passages: list[Passage]) -> list[int]:
    """The document number of each passage: a document's passages are consecutive."""
    numbers, current = [], -1
    for i, passage in enumerate(passages):
        if i == 0 or passage.slug != passages[i - 1].slug:
            current += 1
        numbers.append(current)
    return numbers


def best_per_document(sims: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The best passage score of each document (along the last axis of `sims`)."""
    return np.maximum.reduceat(sims, starts[:-1], axis=-1)
