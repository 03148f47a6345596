"""The pool folder, kept current, and matching requests against it with the search embedder.

Ties the pure matcher (`domain/matching.py`) to the files in `experts/`, the SQLite vector cache and the
embedding model. The web app and the CLI reach it through `Services.pool`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from wijkwijzer.domain.gemeenten import Gemeenten, load_gemeenten
from wijkwijzer.domain.helprequests import DEFAULT_HOURS, BadRequest, HelpRequest
from wijkwijzer.domain.matching import (
    Assignment,
    Calibration,
    MatchResult,
    assign_batch,
    assign_greedy,
    lexical_similarity,
    match,
    term_weights,
)
from wijkwijzer.domain.pool import POOLS, MemberResult, PoolMember, parse_member, read_pool
from wijkwijzer.domain.problems import Problem
from wijkwijzer.domain.routing import ROUTING_FILE, Example, parse_examples
from wijkwijzer.domain.taxonomy import Taxonomy
from wijkwijzer.knowledge import iter_content_files
from wijkwijzer.parsing import ParseWorker
from wijkwijzer.search.embedders import Embedder
from wijkwijzer.storage.vectors import VectorCache
from wijkwijzer.text.dutch import terms

SYNONYMS_FILE = "_synonyms.yml"
BUILT_IN_EXAMPLES = Path(__file__).parent / "domain" / "routing_examples.yml"
# Calibration of the reasons: a profile "sluit aan" above the similarity that 95% of unrelated pairs (an
# example request and a profile with no theme in common) stay below, "sluit goed aan" above 99%.
RELATED_QUANTILE, CLOSE_QUANTILE = 0.95, 0.99
HUB_NEIGHBOURS = 10  # CSLS's usual neighbourhood
MIN_UNRELATED = 30  # fewer unrelated pairs than this calibrate nothing: no reason then claims a fit
COMMON_SHARE = 0.15  # a compound part in more than this share of profiles is too common to link expertise


@dataclass
class PoolState:
    """The members read at one signature of the folder, and the problems found."""

    signature: tuple
    members: list[PoolMember]
    problems: list[Problem]
    synonyms: list[list[str]]
    examples: list[Example]


def text_key(text: str) -> str:
    """The vector cache's key of a profile or request text."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ExpertPool:
    """Members from `experts/`, re-read when a file changes; their profile vectors cached like passages."""

    def __init__(self, experts_dir: Path, cache: VectorCache, taxonomy: Callable[[], Taxonomy],
                 embedder: Embedder | None, check_interval: float = 2.0, parser: ParseWorker | None = None) -> None:
        self.experts_dir = Path(experts_dir)
        self.cache = cache
        self._taxonomy = taxonomy  # the content folder's taxonomy, which editors may change while we run
        self.embedder = embedder
        self.gemeenten: Gemeenten = load_gemeenten()
        self.parser = parser or ParseWorker()  # each member file is parsed within a time budget
        self.check_interval = check_interval
        self._checked = 0.0
        self._matrix: tuple[str, list[PoolMember], np.ndarray] | None = None
        self._terms: tuple[list[PoolMember], list[set[str]]] | None = None
        self._state: PoolState | None = None
        self._reference: tuple[tuple, tuple[dict[str, float], Calibration | None]] | None = None
        self._examples: tuple[tuple, object] | None = None  # the examples' terms or vectors, per state
        self._specificity: tuple[PoolState, dict[tuple[str, str], float]] | None = None
        self._lock = threading.Lock()

    @property
    def taxonomy(self) -> Taxonomy:
        """The current taxonomy (themes are validated against it)."""
        return self._taxonomy()

    def _signature(self) -> tuple:
        extra = tuple((path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None
                      for path in (self.experts_dir / SYNONYMS_FILE, self.experts_dir / ROUTING_FILE))
        files = tuple((name, signature) for name, (_, signature) in iter_content_files(self.experts_dir).items())
        return (id(self.taxonomy), extra, files)

    def state(self) -> PoolState:
        """The current members. The folder is scanned at most every `check_interval` seconds (a scan stats every
        file) and re-read only when a file was added, changed or removed."""
        with self._lock:
            now = time.monotonic()
            if self._state is not None and now - self._checked < self.check_interval:
                return self._state
            self._checked = now
            signature = self._signature()
            if self._state is None or self._state.signature != signature:
                members, problems = read_pool(self.experts_dir, self.taxonomy, self.gemeenten, self._parse)
                synonyms, more = self._read_synonyms()
                examples, routing = self._read_examples()
                self._state = PoolState(signature, members, [*problems, *more, *routing], synonyms, examples)
            return self._state

    def _read_synonyms(self) -> tuple[list[list[str]], list[Problem]]:
        path = self.experts_dir / SYNONYMS_FILE
        if not path.is_file():
            return [], []
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            groups = [[str(w) for w in group] for group in data.get("synonyms", [])]
        except (yaml.YAMLError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            return [], [Problem(SYNONYMS_FILE, 1, "synonyms", f"niet leesbaar ({exc}); verwacht synonyms: een lijst "
                                "van lijsten, bijvoorbeeld [[huurachterstand, betalingsachterstand]]")]
        return groups, []

    def _read_examples(self) -> tuple[list[Example], list[Problem]]:
        """The pool folder's example requests, or the built-in ones when it has none: the three pools and the
        kinds of request they take are the programme's, not a particular pool's members."""
        path = self.experts_dir / ROUTING_FILE
        if path.is_file():
            return parse_examples(path.read_bytes(), list(self.taxonomy.themes))
        examples, problems = parse_examples(BUILT_IN_EXAMPLES.read_bytes(), list(self.taxonomy.themes),
                                            path=ROUTING_FILE)
        return examples, [Problem(ROUTING_FILE, 1, "examples", "ontbreekt: de ingebouwde voorbeeldvragen per pool "
                                  "worden gebruikt (kopieer wijkwijzer/domain/routing_examples.yml hierheen om ze "
                                  "aan te passen)", "warning"), *problems]

    def _parse(self, relative: str, raw: bytes, taxonomy: Taxonomy, gemeenten: Gemeenten) -> MemberResult:
        return self.parser.parse(parse_member, relative, raw, taxonomy, gemeenten,
                                 failed=lambda problem: MemberResult(None, [problem]))

    def check(self) -> list[Problem]:
        """Problems of every member file and of the synonyms file (paths relative to the experts folder)."""
        return self.state().problems

    def members(self) -> list[PoolMember]:
        """Every valid member."""
        return self.state().members

    # -- requests ----------------------------------------------------------------------------------------
    def normalise_request(self, request: HelpRequest) -> HelpRequest:
        """The official municipality name and its province; a clear error for a municipality we do not know."""
        name = self.gemeenten.find(request.municipality)
        if name is None:
            hint = self.gemeenten.closest(request.municipality)
            raise BadRequest(f"municipality: onbekende gemeente '{request.municipality}'"
                             + (f"; bedoelt u '{hint}'?" if hint else ""))
        themes = []
        for theme in request.themes:
            key = self.taxonomy.resolve("themes", theme)
            if key is None:
                raise BadRequest(f"themes: onbekend thema '{theme}'; toegestaan: {', '.join(self.taxonomy.themes)}")
            themes.append(key)
        return replace(request, municipality=name, province=self.gemeenten.province_of(name), themes=tuple(themes))

    def _cached_vectors(self, texts: list[str], kind: str) -> np.ndarray:
        """Vectors for `texts` in order, from the vector cache by text hash; only texts never seen are embedded."""
        assert self.embedder is not None
        model = self.embedder.model_id + ("#query" if kind == "query" else "")
        keys = [text_key(t) for t in texts]
        known = self.cache.fetch(model, dict(zip(keys, texts, strict=True)),
                                 lambda batch: self.embedder.embed(batch, kind))
        return np.stack([known[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, 1), np.float32)

    def profile_matrix(self, members: list[PoolMember]) -> np.ndarray:
        """Profile vectors in member order; only profiles never seen before are embedded."""
        assert self.embedder is not None
        model = self.embedder.model_id
        if self._matrix is not None and self._matrix[0] == model and self._matrix[1] is members:
            return self._matrix[2]  # the same list of members as last time: the state did not change
        matrix = self._cached_vectors([m.profile_text() for m in members], "passage")
        self._matrix = (model, members, matrix)
        return matrix

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        """Request vectors: a request is embedded once, when it arrives, not again for every batch assignment
        that reconsiders it."""
        return self._cached_vectors(texts, "query")

    def similarities(self, texts: list[str], members: list[PoolMember]) -> list[dict[str, float]]:
        """Per text the cosine to each profile with the search embedder, or term overlap without a model."""
        if self.embedder is None or not members:
            if self._terms is None or self._terms[0] is not members:  # analysed once per state of the folder
                self._terms = (members, [terms(m.profile_text()) for m in members])
            profiles = self._terms[1]
            return [{m.id: lexical_similarity(terms(t), p) for m, p in zip(members, profiles, strict=True)}
                    for t in texts]
        matrix = self.profile_matrix(members)
        queries = self.query_vectors(texts)
        sims = queries @ matrix.T
        ids = [m.id for m in members]
        return [dict(zip(ids, row.tolist(), strict=True)) for row in sims]

    def example_similarities(self, texts: list[str], examples: list[Example]) -> list[dict[str, list[float]]]:
        """Per text, per pool, the similarity to each of the pool's example requests (empty without examples)."""
        if not examples:
            return [{} for _ in texts]
        # Keyed by the list itself (kept alive here, so its id cannot be reused): analysed or embedded once per state
        key = (self.embedder.model_id if self.embedder else None, examples)
        if self._examples is None or self._examples[0][0] != key[0] or self._examples[0][1] is not examples:
            self._examples = (key, [terms(e.text) for e in examples] if self.embedder is None
                              else self.query_vectors([e.text for e in examples]))
        known = self._examples[1]
        if self.embedder is None:
            rows = [[_overlap(terms(t), w) for w in known] for t in texts]
        else:  # requests and examples are the same kind of text: both embedded as queries
            rows = (self.query_vectors(texts) @ known.T).tolist()
        return [{pool: [v for v, e in zip(row, examples, strict=True) if e.pool == pool] for pool in POOLS}
                for row in rows]

    def reference(self) -> tuple[dict[str, float], Calibration | None]:
        """What the example requests tell about the profiles, for the similarity in use (cached per state):

        - each member's hubness: the mean similarity of its profile to its HUB_NEIGHBOURS nearest example
          requests. A broad profile (a generalist's) is near every request; the matcher ranks by similarity
          minus hubness (CSLS, Conneau et al. 2018), so a member ranks high for what sets it apart.
        - the calibration of the reasons: quantiles of that corrected similarity over unrelated pairs (an
          example request and a profile without a theme in common). None when the examples give too few such
          pairs: then no reason claims a fit.
        """
        state = self.state()
        key = (self.embedder.model_id if self.embedder else None, state)  # the state itself: no id reused
        if self._reference is not None and self._reference[0][0] == key[0] and self._reference[0][1] is state:
            return self._reference[1]
        members, examples = state.members, state.examples
        hub = {m.id: 0.0 for m in members}
        calibration = None
        if examples and members:
            sims = np.array([[row[m.id] for m in members]
                             for row in self.similarities([e.text for e in examples], members)])
            nearest = np.sort(sims, axis=0)[-HUB_NEIGHBOURS:]
            hub = {m.id: float(v) for m, v in zip(members, nearest.mean(axis=0), strict=True)}
            pairs = [(i, j) for i, e in enumerate(examples) for j, m in enumerate(members)
                     if e.themes and m.themes and not set(e.themes) & set(m.themes)]
            if len(pairs) >= MIN_UNRELATED:
                values = np.array([sims[i, j] - hub[members[j].id] for i, j in pairs])
                calibration = Calibration(float(np.quantile(values, RELATED_QUANTILE)),
                                          float(np.quantile(values, CLOSE_QUANTILE)), _common_parts(members))
        self._reference = (key, (hub, calibration))
        return hub, calibration

    def match(self, request: HelpRequest, booked: Mapping[str, float] | None = None, limit: int = 5,
              today: dt.date | None = None) -> MatchResult:
        """Route, exclude and rank pool members for one request (see domain/matching.py)."""
        if not request.text.strip():
            raise BadRequest("request: beschrijf de hulpvraag")
        return self.match_many([request], booked, limit, today)[0]

    def match_many(self, requests: list[HelpRequest], booked: Mapping[str, float] | None = None, limit: int = 5,
                   today: dt.date | None = None) -> list[MatchResult]:
        """`match` for many requests, embedding them in one batch."""
        requests = [self.normalise_request(r) for r in requests]
        state = self.state()
        labels = {key: self.taxonomy.label("themes", key) for key in self.taxonomy.themes}
        texts = [r.text for r in requests]
        hub, calibration = self.reference()
        sims = [{member: value - hub.get(member, 0.0) for member, value in row.items()}
                for row in self.similarities(texts, state.members)]
        examples = self.example_similarities(texts, state.examples)
        if self._specificity is None or self._specificity[0] is not state:  # once per state of the folder
            self._specificity = (state, term_weights(state.members))
        return [match(r, state.members, s, booked=booked, today=today, synonyms=state.synonyms, limit=limit,
                      theme_labels=labels, examples=e, calibration=calibration, specificity=self._specificity[1])
                for r, s, e in zip(requests, sims, examples, strict=True)]

    def assign(self, requests: list[HelpRequest], booked: Mapping[str, float] | None = None,
               today: dt.date | None = None, candidates: int = 20) -> tuple[list[MatchResult], Assignment, Assignment]:
        """Assign all open requests at once: each request's `candidates` best eligible members go into an integer
        programme that maximises the total score under every member's free hours. Returns the matches, the
        optimal assignment and the greedy one (for comparison)."""
        booked = booked or {}
        results = self.match_many(requests, booked, limit=candidates, today=today)
        options = [[(m.id, m.score) for m in result.matches] for result in results]
        hours = [r.hours_per_week or DEFAULT_HOURS[result.routing.pool] for r, result in zip(requests, results,
                                                                                            strict=True)]
        free = {m.id: m.hours_per_week - booked.get(m.id, 0.0) for m in self.members()}
        return results, assign_batch(options, hours, free), assign_greedy(options, hours, free)


def _overlap(a: set[str], b: set[str]) -> float:
    """Shared terms over all terms of two texts (Jaccard): symmetric, as request and example are alike."""
    return len(a & b) / len(a | b) if a or b else 0.0


def _common_parts(members: list[PoolMember]) -> frozenset[str]:
    """Terms (stems and compound parts) used by more than COMMON_SHARE of the profiles."""
    counts: dict[str, int] = {}
    for member in members:
        for term in terms(member.profile_text()):
            counts[term] = counts.get(term, 0) + 1
    return frozenset(t for t, n in counts.items() if n > COMMON_SHARE * len(members))
