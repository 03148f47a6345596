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
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wijkwijzer.search import floor as relevance
from wijkwijzer.search.embedders import Embedder
from wijkwijzer.storage.vectors import VectorCache
from wijkwijzer.text.markup import markdown_to_text

log = logging.getLogger(__name__)
PASSAGE_MIN_WORDS = 100
PASSAGE_MAX_WORDS = 250
EMBED_BATCH = 32
RETRY_FIRST = 5.0  # seconds before the first retry of a failed update: a model file still being written, a
RETRY_MAX = 600.0  # locked database; doubled per failure in a row, up to ten minutes for a lasting fault


@dataclass(frozen=True)
class Passage:
    """A piece of a case study, with the title (and section heading) carried along for context."""

    slug: str
    text: str
    hash: str


def split_passages(slug: str, title: str, body: str) -> list[Passage]:
    """Split a markdown body by heading and paragraph into passages of about 100-250 words."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for block in re.split(r"\n\s*\n", body):
        block = block.strip()
        if not block:
            continue
        heading = re.match(r"^#{1,6}\s+(.+?)\s*$", block.splitlines()[0])
        if heading:
            sections.append((heading.group(1).strip("# "), []))
            block = "\n".join(block.splitlines()[1:]).strip()
            if not block:
                continue
        sections[-1][1].append(markdown_to_text(block))
    passages: list[Passage] = []
    for heading, paragraphs in sections:
        for chunk in _chunks(paragraphs):
            prefix = f"{title}. {heading}: " if heading else f"{title}. "
            text = prefix + chunk
            passages.append(Passage(slug, text, hashlib.sha256(text.encode()).hexdigest()[:32]))
    if not passages:
        text = title
        passages.append(Passage(slug, text, hashlib.sha256(text.encode()).hexdigest()[:32]))
    return passages


def _chunks(paragraphs: list[str]) -> list[str]:
    """Merge short paragraphs and cut long ones at sentence ends, aiming at 100-250 words per chunk."""
    pieces: list[str] = []
    for paragraph in paragraphs:
        words = paragraph.split()
        if len(words) <= PASSAGE_MAX_WORDS:
            pieces.append(paragraph)
            continue
        current: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
            if current and len(" ".join(current).split()) + len(sentence.split()) > PASSAGE_MAX_WORDS:
                pieces.append(" ".join(current))
                current = []
            current.append(sentence)
        if current:
            pieces.append(" ".join(current))
    chunks: list[str] = []
    current_words = 0
    for piece in pieces:
        n = len(piece.split())
        if chunks and current_words < PASSAGE_MIN_WORDS and current_words + n <= PASSAGE_MAX_WORDS:
            chunks[-1] += "\n" + piece
            current_words += n
        else:
            chunks.append(piece)
            current_words = n
    return chunks


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
        return view, (_best_per_document(null @ matrix.T, starts) if null is not None and rows else None)


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

    def stored(self, model: str, hashes: list[str]) -> dict[str, np.ndarray | None]:
        return dict.fromkeys(self.cache.stored(model, hashes))

    def keep(self, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
        return dict.fromkeys(vectors)

    def install(self, model, passages, rows, starts, vectors, null):
        self.cache.backfill()  # rows stored without the pgvector column (before it, or by a server with it off)
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


def _best_per_document(sims: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The best passage score of each document (along the last axis of `sims`)."""
    return np.maximum.reduceat(sims, starts[:-1], axis=-1)


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
            if not self._ready:  # show what we already have while the rest is embedded
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
        cosine = _best_per_document(sims, starts)
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
