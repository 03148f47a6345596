"""Hybrid search: the modes, the fallback to keyword search, the query embedding beside the keyword match, typo
correction for both sides, the fusion of both rankings, and the answer cache.

`HybridSearch` is built by the composition root (services.py) over one full-text index and one semantic index;
the web and the CLI reach it through `Services.search`, `Services.related` and `Services.newest`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from wijkwijzer.search.fulltext import FulltextIndex
from wijkwijzer.search.models import Hit, SearchRequest, SearchResponse
from wijkwijzer.search.query import Match, clean, has_syntax
from wijkwijzer.search.ranking import Snapshot
from wijkwijzer.search.semantic import SemanticIndex
from wijkwijzer.search.spelling import Spelling

log = logging.getLogger(__name__)
MODES = ("keyword", "semantic", "hybrid")
CACHE_SIZE = 512  # answers kept per process (the cache empties when the index changes)

SemanticHits = dict[str, tuple[float, str]]  # slug -> (best passage cosine, that passage)


class UnknownMode(ValueError):
    """A search mode we do not offer; the message lists the allowed ones."""


class HybridSearch:
    """Keyword, semantic and hybrid search over one full-text and one semantic index."""

    def __init__(self, index: FulltextIndex, semantic: SemanticIndex, semantic_ratio: float) -> None:
        """`semantic_ratio`: the default share of the semantic side in hybrid ranking (0-1)."""
        self.index = index
        self.semantic = semantic
        self.semantic_ratio = semantic_ratio
        self.spelling = Spelling(index)
        self._cache: OrderedDict[tuple, SearchResponse] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def default_mode(self) -> str:
        """Hybrid once the semantic index is ready, keyword before that."""
        return "hybrid" if self.semantic.ready else "keyword"

    def search(self, request: SearchRequest, mode: str | None = None) -> SearchResponse:
        """Run a search; answers are cached per index generation (the cache empties when the index changes).

        Semantic and hybrid fall back to keyword while the semantic index is not ready; the answer's `mode`
        says what ran. Raises UnknownMode for a mode not in MODES.
        """
        mode = mode or self.default_mode()
        if mode not in MODES:
            raise UnknownMode(f"onbekende zoekmodus '{mode}'; kies uit: {', '.join(MODES)}")
        semantic_ready = self.semantic.ready
        key = (self.index.generation(), mode, semantic_ready, request.cache_key())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        response = self.run(request, mode, semantic_ready=semantic_ready)
        with self._lock:
            self._cache[key] = response
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return response

    def run(self, request: SearchRequest, mode: str, *, semantic_ready: bool | None = None) -> SearchResponse:
        """One search without the answer cache (benchmarks call this directly)."""
        if semantic_ready is None:
            semantic_ready = self.semantic.ready
        future = None
        if mode != "keyword" and semantic_ready and request.text.strip():
            # The query is embedded in a worker thread while the keyword side matches (torch releases the GIL).
            future = self._workers().submit(self._semantic_hits, request, 100 if mode == "hybrid" else 50)
        snap = self.index.snapshot()
        text = clean(request.text)
        suggestion = self.spelling.suggest(text) if text and not request.exact else None
        corrected_from = None
        if suggestion and not has_syntax(text):
            # Only words that match nothing are corrected, so searching the correction loses nothing the typed
            # text would find, also when its other words find documents; the answer says so and links to the
            # text as typed (request.exact). With syntax the correction stays a suggestion.
            corrected_from, text, suggestion = text, suggestion, None
        match = self.index.match(snap, text)
        sources = {"keyword": int(match.matched.sum()), "semantic": 0}
        semantic = _result(future)  # computed meanwhile; None when the model failed or found nothing
        if semantic and has_syntax(text):
            # Quotes and operators hold in every mode: meaning ranks, the syntax decides what counts.
            semantic = {slug: hit for slug, hit in semantic.items()
                        if (d := snap.docnums.get(slug)) is not None and match.matched[d]} or None
        passages: dict[int, str] = {}
        ran = "keyword"
        # Syntax queries have keyword scores too (search.fulltext), and the semantic side only their matches.
        if semantic and text and (mode == "semantic" or match.scores is not None):
            ratio = self.semantic_ratio if request.semantic_ratio is None else request.semantic_ratio
            match, passages = fuse(snap, match, semantic, ratio, mode)
            sources["semantic"] = len(passages)
            ran = mode
        return self.index.page(snap, request, match, text=text, mode=ran, passages=passages, suggestion=suggestion,
                               corrected_from=corrected_from, sources=sources)

    def _semantic_hits(self, request: SearchRequest, limit: int) -> SemanticHits:
        # A typo the keyword side corrects would also throw the embedding off: embed the same correction.
        text = clean(request.text)
        corrected = None if request.exact or has_syntax(text) else self.spelling.suggest(text)
        return self.semantic.search(corrected or request.text, limit=limit)

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wijkwijzer-embed")
            return self._executor

    def related(self, slug: str, limit: int = 5) -> list[dict]:
        """Similar case studies for a case page: by meaning when the semantic index is ready, else by words."""
        if self.semantic.ready:
            similar = [self.index.get(other) for other, _ in self.semantic.similar(slug, limit)]
            if similar:
                return [case for case in similar if case]
        return self.index.more_like(slug, limit)

    def newest(self, limit: int = 6) -> list[Hit]:
        """The most recent case studies, as hits."""
        return self.search(SearchRequest(sort="date", per_page=limit)).hits

    def clear_cache(self) -> None:
        """Forget every cached answer (e.g. when the taxonomy's labels changed)."""
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Wait for running query embeddings and stop the worker threads."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def _result(future: Future | None) -> SemanticHits | None:
    if future is None:
        return None
    try:
        return future.result() or None
    except Exception:
        log.exception("semantisch zoeken mislukt; zoeken op trefwoorden")
        return None


def fuse(snap: Snapshot, match: Match, semantic: SemanticHits, ratio: float, mode: str) -> tuple[Match, dict[int, str]]:
    """Semantic scores on their own ("semantic"), or fused with the keyword scores ("hybrid": `ratio` of semantic
    to keyword, both scaled to 0-1 first). Also returns the best passage per document found by meaning."""
    sem = np.zeros(snap.size, dtype=np.float32)
    found = np.zeros(snap.size, dtype=bool)
    passages: dict[int, str] = {}
    for slug, (score, passage) in semantic.items():
        docnum = snap.docnums.get(slug)
        if docnum is not None:
            sem[docnum], found[docnum], passages[docnum] = score, True, passage
    if found.any():
        low, high = float(sem[found].min()), float(sem[found].max())
        sem[found] = (sem[found] - low) / (high - low) if high > low else 1.0
    if mode == "semantic":
        return Match(found, sem, match.body_terms, match.query), passages
    keyword = match.scores if match.scores is not None else np.zeros(snap.size, dtype=np.float32)
    top = float(keyword.max()) if keyword.size else 0.0
    scaled = keyword / top if top > 0 else keyword
    if match.coverage is not None:
        # The best keyword match always scales to 1, even when it shares only a common word with a question
        # phrased in other words; coverage keeps such weak matches from pushing the meaning-based ones down.
        scaled = scaled * match.coverage
    fused = ((1 - ratio) * scaled + ratio * sem).astype(np.float32)
    return Match(match.matched | found, fused, match.body_terms, match.query), passages
