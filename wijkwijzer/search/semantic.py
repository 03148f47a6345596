"""Semantic search: case studies split into passages, embedded once per content hash, found by cosine.

Vectors live in the database keyed by (model id, passage hash): an unchanged passage is never embedded twice, and
a model change re-embeds everything. Where they are searched is a `PassageSpace`: one matrix in this process's
memory (`MemorySpace`: SQLite, PostgreSQL without pgvector), or the database itself (`PgvectorSpace`), so several
servers need not each hold every vector. Embedding runs in a background thread; until it is done, `status()` says
how far it is and searches fall back to keyword search. A failed update is tried again after a pause that
doubles with every failure in a row (RETRY_FIRST up to RETRY_MAX); `status()` says when.

A query is scored against every document (its best passage); `search.floor` decides which of those scores are
evidence of relevance, calibrated per model and recomputed for the collection whenever it changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wijkwijzer.search import floor as relevance
from wijkwijzer.search.embedders import Embedder
from wijkwijzer.search.passages import Passage, split_passages
from wijkwijzer.search.spaces import MemorySpace, PassageSpace, PassageView, PgvectorSpace, best_per_document
from wijkwijzer.storage.vectors import VectorCache

log = logging.getLogger(__name__)
EMBED_BATCH = 32
RETRY_FIRST = 5.0  # seconds before the first retry of a failed update: a model file still being written, a
RETRY_MAX = 600.0  # locked database; doubled per failure in a row, up to ten minutes for a lasting fault


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` failed updates in a row (exponential, capped at RETRY_MAX)."""
    return min(RETRY_MAX, RETRY_FIRST * 2 ** min(max(failures - 1, 0), 32))


@dataclass(frozen=True)
class SemanticScores:
    """One query against every document of the semantic index: best-passage cosine, evidence, and the floor."""

    slugs: list[str]  # the documents, in index order
    cosine: np.ndarray  # best passage cosine per document
    evidence: np.ndarray  # standard deviations above what unrelated queries score on the document
    admitted: np.ndarray  # bool: evidence above the floor
    _sims: np.ndarray  # cosine per passage row
    _starts: np.ndarray  # first row of each document, and the end
    _texts: list[str]  # passage text per row
    floor: float = float("inf")  # the threshold `admitted` used: the floor of the query's language

    def passage(self, i: int) -> str:
        """The text of document i's best passage."""
        start, end = int(self._starts[i]), int(self._starts[i + 1])
        return self._texts[start + int(np.argmax(self._sims[start:end]))]


@dataclass
class SemanticStatus:
    """What `/api/v1/status` reports about semantic search."""

    enabled: bool
    ready: bool
    model: str
    passages: int
    pending: int
    error: str | None = None
    failed_attempts: int = 0  # failed updates in a row; 0 once one succeeds
    retry_at: str | None = None  # when the next attempt is due (UTC, ISO 8601), while `error` is a failure
    floor: float | None = None  # the relevance floor in standard deviations (see search.floor), once calibrated

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"enabled": self.enabled, "ready": self.ready, "model": self.model, "passages": self.passages,
                "pending": self.pending, "error": self.error, "failed_attempts": self.failed_attempts,
                "retry_at": self.retry_at, "floor": self.floor}


class SemanticIndex:
    """Passages of the current case studies, their vectors, and nearest-passage search."""

    def __init__(self, cache: VectorCache, embedder: Embedder | None, disabled_reason: str | None = None,
                 clock: Callable[[], float] = time.monotonic, space: PassageSpace | None = None) -> None:
        """`disabled_reason`: why there is no `embedder` (shown as the error); `clock` times the retries; `space`:
        where vectors are searched (default: in PostgreSQL where the store has pgvector, else in memory)."""
        self.cache = cache
        self.space = space or (PgvectorSpace(cache) if cache.pgvector else MemorySpace(cache))
        self.embedder = embedder
        self.error = disabled_reason if embedder is None else None
        self.clock = clock
        self.failed_attempts = 0
        self._retry_at: float | None = None  # clock time of the next attempt after a failure
        self._closing = threading.Event()
        self._passages: list[Passage] = []
        self._pending = 0
        self._ready = False
        self._lock = threading.RLock()
        self._generation: object = None
        self._split: tuple[object, list[Passage]] | None = None
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._null: np.ndarray | None = None  # the model's calibration query vectors (search.floor)
        self._slugs: list[str] = []  # documents with a stored vector, in order
        self._view: PassageView = PassageView()  # what the space installed last
        self._floors: dict[str, relevance.Floor] = {}  # per language of the query

    @property
    def configured(self) -> bool:
        """True when there is a model to embed with (even while it fails and is retried)."""
        return self.embedder is not None

    @property
    def enabled(self) -> bool:
        """False when no model could be configured, or while the last update failed (until a retry succeeds)."""
        return self.embedder is not None and self.error is None

    def status(self) -> SemanticStatus:
        """Current state, for the API and the site."""
        with self._lock:
            retry_at = None
            if self._retry_at is not None:
                wait = max(0.0, self._retry_at - self.clock())
                retry_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)).isoformat(timespec="seconds")
            return SemanticStatus(
                enabled=self.enabled, ready=self.enabled and self._ready,
                model=self.embedder.model_id if self.embedder else "", passages=len(self._passages),
                pending=self._pending, error=self.error, failed_attempts=self.failed_attempts, retry_at=retry_at,
                floor=_threshold(self._floors.get("nl")),
            )

    def update(self, generation: object, cases: list[dict] | Callable[[], list[dict]],
               progress: Callable[[int], None] | None = None, *, embed: bool = True) -> None:
        """Make the passages of `cases` searchable: reuse stored vectors, embed the rest (call off the request path).

        `cases` may be a function: it is then only called when the generation changed (reading every stored
        case study is the expensive part of a call that finds nothing to do).

        With `embed=False` (a server process that is not the writer) only stored vectors are used: while some
        are missing the index stays not ready, and a later call picks up what the writer has stored meanwhile.

        A failure (the model, the vector store) turns semantic search off and is tried again by the first call
        after `retry_delay(failures in a row)` seconds; calls before that return at once.
        """
        if self.embedder is None or generation == self._generation:
            return
        if self._retry_at is not None and self.clock() < self._retry_at:
            return
        assert self.embedder is not None
        if self._split is not None and self._split[0] == generation:
            passages = self._split[1]  # a reader polling for the writer's vectors: split once per generation
        else:
            cases = cases() if callable(cases) else cases
            passages = [p for case in cases for p in split_passages(case["slug"], case["title"], case["body"])]
            self._split = (generation, passages)
        model_id = self.embedder.model_id
        try:
            if self._null is None:
                self._null = relevance.null_vectors(self.embedder)  # stored with the model; else embedded now
            known = self.space.stored(model_id, [p.hash for p in passages])
            missing = list({p.hash: p for p in passages if p.hash not in known}.values())
            with self._lock:
                self._pending = len(missing)
            if missing and not self._ready:  # show what we already have while the rest is embedded
                self._install(passages, known)
            if missing and not embed:
                return
            for start in range(0, len(missing), EMBED_BATCH):
                if self._closing.is_set():
                    return  # the process is stopping: what was embedded is stored, the rest waits for a next run
                batch = missing[start:start + EMBED_BATCH]
                vectors = self.embedder.embed([p.text for p in batch], "passage")
                fresh = {p.hash: v for p, v in zip(batch, vectors, strict=True)}
                self.cache.put(model_id, fresh)
                known.update(self.space.keep(fresh))
                with self._lock:
                    self._pending = max(0, self._pending - len(batch))
                if progress:
                    progress(len(batch))
            self._install(passages, known)
        except Exception as exc:
            with self._lock:
                self.failed_attempts += 1
                delay = retry_delay(self.failed_attempts)
                self._retry_at = self.clock() + delay
                self.error = f"semantisch zoeken staat uit: {exc}"
                self._ready = False
            log.exception("semantische index bijwerken mislukt (poging %d); volgende poging over %.0f s",
                          self.failed_attempts, delay)
            return
        with self._lock:
            self._ready = True
            self._generation = generation
            if self._retry_at is not None:
                log.info("semantische index weer bijgewerkt na %d mislukte pogingen", self.failed_attempts)
            self.error, self.failed_attempts, self._retry_at = None, 0, None

    def close(self) -> None:
        """Stop a running update after its current batch (embedding all passages may take an hour)."""
        self._closing.set()

    def _install(self, passages: list[Passage], vectors: dict[str, np.ndarray | None]) -> None:
        rows = [i for i, p in enumerate(passages) if p.hash in vectors]
        # A document's passages are consecutive: each document is a run of rows.
        slugs = [passages[i].slug for i in rows]
        starts = [i for i in range(len(slugs)) if i == 0 or slugs[i] != slugs[i - 1]]
        starts_array = np.array([*starts, len(slugs)], dtype=np.int64)
        # What each unrelated calibration query scores on each document, as a real query is scored.
        # Outside the lock (the pgvector space reads the database meanwhile): searches keep the previous view.
        view, null = self.space.install(self.embedder.model_id if self.embedder else "", passages, rows,
                                        starts_array, vectors, self._null)
        floors = relevance.fit_per_language(null) if null is not None else {}
        with self._lock:
            self._view, self._passages, self._slugs, self._floors = view, passages, [slugs[i] for i in starts], floors

    @property
    def ready(self) -> bool:
        """True once every current passage has a vector."""
        return self.enabled and self._ready

    def scores(self, query: str) -> SemanticScores | None:
        """The query against every document: cosine of the best passage, evidence and what clears the floor.
        None when the index is not ready, the query is empty or there is nothing to score."""
        if not self.ready or not query.strip():
            return None
        vector = self.query_vector(query)
        with self._lock:
            view, slugs, floors = self._view, self._slugs, self._floors
        if not slugs:
            return None
        sims, starts, texts = view.best(vector)
        floor = floors.get(relevance.query_language(query)) or floors.get("nl")
        cosine = best_per_document(sims, starts)
        if floor is None or len(floor.mean) != len(cosine):
            evidence, admitted = np.zeros_like(cosine), np.zeros(len(cosine), dtype=bool)
            threshold = float("inf")
        else:
            evidence, admitted, threshold = floor.evidence(cosine), floor.admits(cosine), floor.threshold
        return SemanticScores(slugs, cosine, evidence, admitted, sims, starts, texts, threshold)

    def search(self, query: str, limit: int = 100) -> dict[str, tuple[float, str]]:
        """slug -> (best passage cosine, that passage) for at most `limit` documents that clear the floor, best
        first."""
        found = self.scores(query)
        if found is None:
            return {}
        order = [i for i in np.argsort(-found.cosine) if found.admitted[i]][:limit]
        return {found.slugs[i]: (float(found.cosine[i]), found.passage(i)) for i in order}

    def query_vector(self, query: str) -> np.ndarray:
        """The query's vector, remembered for the latest 1,024 queries (page 2 or another filter on the same
        query needs no second embedding)."""
        assert self.embedder is not None
        with self._lock:
            cached = self._queries.get(query)
            if cached is not None:
                self._queries.move_to_end(query)
                return cached
        vector = self.embedder.embed([query], "query")[0]
        with self._lock:
            self._queries[query] = vector
            while len(self._queries) > 1024:
                self._queries.popitem(last=False)
        return vector

    def clear_queries(self) -> None:
        """Forget every remembered query vector (after an erasure: a question may have been searched for)."""
        with self._lock:
            self._queries.clear()

    def similar(self, slug: str, limit: int = 5) -> list[tuple[str, float]]:
        """Case studies whose passages are closest to this one's (mean of its passage vectors)."""
        if not self.ready:
            return []
        with self._lock:
            view = self._view
        return view.similar(slug, limit)


def _threshold(floor: relevance.Floor | None) -> float | None:
    return round(floor.threshold, 3) if floor is not None and np.isfinite(floor.threshold) else None
