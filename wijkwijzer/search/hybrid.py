"""Hybrid search: the modes, the fallback to keyword search, the query embedding beside the keyword match, typo
correction for both sides, the fusion of both rankings, and the answer cache.

Semantic and hybrid answers hold only documents with evidence of relevance: a keyword match, or a semantic score
above the relevance floor (`search.floor`). Every other document still has a cosine, but is not an answer: the
total, the facet counts and the pages count the admitted documents only, so a query nothing answers finds nothing.

`HybridSearch` is built by the composition root (services.py) over one full-text index and one semantic index;
the web and the CLI reach it through `Services.search`, `Services.related` and `Services.newest`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from wijkwijzer.search import floor
from wijkwijzer.search.fulltext import FulltextIndex
from wijkwijzer.search.models import Hit, SearchRequest, SearchResponse
from wijkwijzer.search.query import Match, clean, has_syntax
from wijkwijzer.search.ranking import Snapshot
from wijkwijzer.search.semantic import SemanticIndex, SemanticScores
from wijkwijzer.search.spelling import Spelling
from wijkwijzer.storage.engine import StorageUnavailable

log = logging.getLogger(__name__)
MODES = ("keyword", "semantic", "hybrid")
CACHE_SIZE = 512  # answers kept per process (the cache empties when the index changes)


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
        self._floor_lock = threading.Lock()
        self._keyword_floor: tuple[object, float] | None = None  # (index generation, floor)

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
            future = self._workers().submit(self._semantic_scores, request)
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
        if request.strict:
            match = keyword_evidence(match, self.keyword_floor(snap))
        sources = {"keyword": int(match.matched.sum()), "semantic": 0}
        semantic = _result(future)  # computed meanwhile; None when the model failed or found nothing
        passages: Mapping[int, str] = {}
        ran = "keyword"
        # Quotes and operators hold in every mode: syntax queries have keyword scores too (search.fulltext), and
        # their keyword matches are the only evidence; meaning helps rank them.
        if semantic and text and (mode == "semantic" or match.scores is not None):
            ratio = self.semantic_ratio if request.semantic_ratio is None else request.semantic_ratio
            if match.scores is None or has_syntax(text):
                semantic = replace(semantic, admitted=np.zeros_like(semantic.admitted))
            match, passages, admitted = fuse(snap, match, semantic, ratio, mode)
            sources["semantic"] = admitted
            ran = mode
        return self.index.page(snap, request, match, text=text, mode=ran, passages=passages, suggestion=suggestion,
                               corrected_from=corrected_from, sources=sources)

    def keyword_floor(self, snap: Snapshot) -> float:
        """The keyword floor of this index generation, from the calibration queries (see search.floor); computed
        once per generation, by one thread while the others wait."""
        with self._floor_lock:
            if self._keyword_floor is None or self._keyword_floor[0] != snap.generation:
                coverages = []
                for query in floor.calibration_queries():
                    match = self.index.match(snap, clean(query))
                    found = match.coverage[match.matched] if match.coverage is not None else np.zeros(0)
                    coverages.append(float(found.max()) if found.size else 0.0)
                self._keyword_floor = (snap.generation, floor.keyword_floor(coverages))
            return self._keyword_floor[1]

    def _semantic_scores(self, request: SearchRequest) -> SemanticScores | None:
        # A typo the keyword side corrects would also throw the embedding off: embed the same correction.
        text = clean(request.text)
        corrected = None if request.exact or has_syntax(text) else self.spelling.suggest(text)
        return self.semantic.scores(corrected or request.text)

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wijkwijzer-embed")
            return self._executor

    def related(self, slug: str, limit: int = 5) -> list[dict]:
        """Similar case studies for a case page: by meaning when the semantic index is ready, else by words."""
        if self.semantic.ready:
            try:
                similar = [self.index.get(other) for other, _ in self.semantic.similar(slug, limit)]
            except StorageUnavailable as exc:  # pgvector, with the database down: by words meanwhile
                log.warning("verwante casussen op betekenis vereisen de database; op woorden: %s", exc)
                similar = []
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


def keyword_evidence(match: Match, share: float) -> Match:
    """The match without documents that hold less than `share` of the query (rarity-weighed words, see
    floor.keyword_floor). Matches without coverage (quotes, operators: Whoosh decides) are kept as they are."""
    if match.coverage is None or match.scores is None:
        return match
    return replace(match, matched=match.matched & (match.coverage > share))


def _result(future: Future | None) -> SemanticScores | None:
    if future is None:
        return None
    try:
        return future.result()
    except StorageUnavailable as exc:
        # pgvector searches in the database: while it is down, keyword search answers (no traceback per search).
        log.warning("semantisch zoeken kan de database niet bereiken; zoeken op trefwoorden: %s", exc)
        return None
    except Exception:
        log.exception("semantisch zoeken mislukt; zoeken op trefwoorden")
        return None


class BestPassages(Mapping[int, str]):
    """docnum -> the best passage of a document with evidence, looked up only for the hits on the page shown."""

    def __init__(self, semantic: SemanticScores, docnums: np.ndarray, evidence: np.ndarray) -> None:
        self._semantic, self._evidence = semantic, evidence
        self._index = {int(d): i for i, d in enumerate(docnums) if d >= 0}

    def __getitem__(self, docnum: int) -> str:
        if docnum not in self._index or not self._evidence[docnum]:
            raise KeyError(docnum)
        return self._semantic.passage(self._index[docnum])

    def __iter__(self) -> Iterator[int]:
        return (d for d in self._index if self._evidence[d])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def fuse(snap: Snapshot, match: Match, semantic: SemanticScores, ratio: float,
         mode: str) -> tuple[Match, Mapping[int, str], int]:
    """Semantic scores on their own ("semantic"), or fused with the keyword scores ("hybrid": `ratio` of semantic
    to keyword, both scaled to 0-1 first), over the documents with evidence: a keyword match or a semantic score
    above the floor. Also returns the best passage of each of those documents and how many the floor admitted."""
    docnums = np.fromiter((snap.docnums.get(slug, -1) for slug in semantic.slugs), dtype=np.int64,
                          count=len(semantic.slugs))
    known = docnums >= 0
    sem = np.zeros(snap.size, dtype=np.float32)
    found = np.zeros(snap.size, dtype=bool)
    sem[docnums[known]] = semantic.cosine[known]
    found[docnums[known & semantic.admitted]] = True
    scored = np.zeros(snap.size, dtype=bool)
    scored[docnums[known]] = True
    if scored.any():
        # Scaled over the whole collection, so a document's place does not depend on which others clear the floor.
        low, high = float(sem[scored].min()), float(sem[scored].max())
        sem[scored] = (sem[scored] - low) / (high - low) if high > low else 1.0
    evidence = match.matched | found
    passages = BestPassages(semantic, docnums, evidence)
    if mode == "semantic":
        return Match(evidence, sem, match.body_terms, match.query), passages, int(found.sum())
    keyword = match.scores if match.scores is not None else np.zeros(snap.size, dtype=np.float32)
    top = float(keyword.max()) if keyword.size else 0.0
    scaled = keyword / top if top > 0 else keyword
    if match.coverage is not None:
        # The best keyword match always scales to 1, even when it shares only a common word with a question
        # phrased in other words; coverage keeps such weak matches from pushing the meaning-based ones down.
        scaled = scaled * match.coverage
    fused = ((1 - ratio) * scaled + ratio * sem).astype(np.float32)
    return Match(evidence, fused, match.body_terms, match.query), passages, int(found.sum())
