"""The Whoosh full-text index: schema, incremental writes, keyword search with facets, snippets and suggestions.

Uses whoosh-reloaded, the maintained fork of Whoosh (same `whoosh` import): the original 2.7.4 has not had a
release since 2016 and emits SyntaxWarnings on current Python, which our warnings-as-errors test run rejects.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index, qparser
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, STORED, TEXT, Schema
from whoosh.query import Every, Query, Term
from whoosh.writing import CLEAR

from wijkwijzer.domain.content import CaseStudy
from wijkwijzer.domain.taxonomy import FACETS, Taxonomy, normalise
from wijkwijzer.search import whoosh_speedups, whoosh_threads
from wijkwijzer.search.analysis import dutch_analyzer
from wijkwijzer.search.models import MAX_QUERY_CHARS, FacetValue, Hit, SearchRequest, SearchResponse
from wijkwijzer.search.ranking import FACET_SEPARATOR, PostingsCache, Snapshot, simple_terms
from wijkwijzer.search.snippets import snippet as make_snippet
from wijkwijzer.text.dutch import TOKEN_PATTERN, analyse_word, dutch_lexicon, fold
from wijkwijzer.text.markup import markdown_to_text

log = logging.getLogger(__name__)

# How long a generation check is trusted. Each check lists the index folder (about a millisecond at 10,000
# documents) and one search asked four times; another process's commit is still seen within this delay, and
# this process's own commits at once.
GENERATION_TTL = 0.25

# Bump when the analysis or schema changes: every document's stored hash then differs and is re-indexed.
ANALYSIS_VERSION = "9"
SEARCH_FIELDS = ("title", "lead", "body")
MAX_QUERY_WORDS = 32


def build_schema() -> Schema:
    """Fields and weights: title (x4) > lead (x2: summary, with the tags twice, places once) > body.

    Three scored fields instead of one per frontmatter key: every query word becomes one matcher per field,
    so fewer fields make queries and indexing markedly faster, while tags still outweigh places and the body.
    """
    dutch = dutch_analyzer()
    return Schema(
        slug=ID(stored=True, unique=True),
        hash=ID(stored=True),
        title=TEXT(analyzer=dutch, field_boost=4.0),
        lead=TEXT(analyzer=dutch, field_boost=2.0),
        body=TEXT(analyzer=dutch, stored=True),  # stored as plain text: snippets need it on every result page
        # slug, hash and facet values of every document in one column: read at once per index generation.
        facets=COLUMN(VarBytesColumn()),
        date=ID(sortable=True),
        case=STORED(),
    )


def case_to_stored(case: CaseStudy) -> dict:
    """The case study as plain data, stored in the index so every worker serves the same version."""
    return {
        "slug": case.slug, "title": case.title, "summary": case.summary, "body": case.body, "type": case.type,
        "themes": list(case.themes), "action_lines": list(case.action_lines), "municipality": case.municipality,
        "focus_area": case.focus_area, "organisations": list(case.organisations),
        "date": case.date.isoformat() if case.date else "", "evidence": case.evidence, "tags": list(case.tags),
        "contact": case.contact, "source_url": case.source_url, "hash": case.content_hash,
    }


def _document(case: CaseStudy, taxonomy: Taxonomy) -> dict:
    body = markdown_to_text(case.body)
    focus_name = taxonomy.label("focus_area", case.focus_area) if case.focus_area else ""
    places = " ".join([case.municipality, focus_name, *case.organisations])
    tags = " ".join(case.tags)
    facets = [case.slug, case.content_hash, case.date.isoformat() if case.date else "",
              ",".join(case.themes), ",".join(case.action_lines), case.focus_area, normalise(case.municipality),
              case.type, case.evidence, case.year]  # in ranking.FACET_ORDER after slug, hash and date
    return {
        "slug": case.slug,
        "hash": case.content_hash,
        "title": case.title,
        "lead": "\n".join([case.summary, tags, tags, places]),
        "body": body,
        "facets": FACET_SEPARATOR.join(facets).encode("utf-8"),
        "date": case.date.isoformat() if case.date else "0000-00-00",
        "case": case_to_stored(case),
    }


class FulltextIndex:
    """A Whoosh index in a folder. Readers refresh when another process or thread commits a new generation."""

    def __init__(self, index_dir: Path, taxonomy: Taxonomy | None = None, warm: bool = False) -> None:
        """`warm`: read the postings of frequent terms ahead in the background whenever new segments appear."""
        self.index_dir = Path(index_dir)
        self.warm = warm
        self.taxonomy = taxonomy or Taxonomy()
        whoosh_speedups.install()
        whoosh_threads.install()
        self._lock = threading.RLock()
        self._ix: index.Index | None = None
        self._searcher = None
        self._searcher_generation: int | None = None
        self._generation: tuple[int, float] | None = None  # (generation, when it was read)
        self._snapshot: Snapshot | None = None
        self._segments: dict = {}  # segment id -> ranking.SegmentData
        self._postings = PostingsCache()
        self._warmed: set[str] = set()  # segment ids whose frequent postings were read ahead
        self._warmup: tuple[threading.Thread, threading.Event] | None = None  # the running warm-up, its stop
        self._suggestions: OrderedDict[tuple[int, str], str | None] = OrderedDict()

    # -- opening -------------------------------------------------------------------------------------------
    def open(self) -> index.Index:
        """Open the index, creating it when the folder holds none (or one with another schema version)."""
        with self._lock:
            if self._ix is None:
                self.index_dir.mkdir(parents=True, exist_ok=True)
                if index.exists_in(str(self.index_dir)):
                    self._ix = index.open_dir(str(self.index_dir))
                    if set(self._ix.schema.names()) != set(build_schema().names()):
                        self._ix = index.create_in(str(self.index_dir), build_schema())
                else:
                    self._ix = index.create_in(str(self.index_dir), build_schema())
            return self._ix

    def searcher(self):
        """A searcher on the newest committed generation (shared; refreshed when the index changed)."""
        with self._lock:
            ix = self.open()
            generation = self.generation()
            if self._searcher is None or self._searcher_generation != generation:
                # A fresh searcher rather than refresh(): refresh() fails on a reader of an empty index, and
                # requests still holding the old searcher finish on their generation.
                self._searcher = ix.searcher()
                self._searcher_generation = generation
            return self._searcher

    def generation(self) -> int:
        """The generation number of the newest commit (changes on every commit, by any process; a commit by
        another process is seen within GENERATION_TTL seconds)."""
        now = time.monotonic()
        with self._lock:
            if self._generation is not None and now - self._generation[1] < GENERATION_TTL:
                return self._generation[0]
            generation = self.open().latest_generation()
            self._generation = (generation, now)
            return generation

    def close(self) -> None:
        """Release readers (tests and short-lived CLI runs)."""
        self._stop_warmup()
        with self._lock:
            if self._warmup is not None:  # started by a search meanwhile: it ends on the closed reader
                self._warmup[1].set()
            if self._searcher is not None:
                self._searcher.close()
            self._searcher = None
            self._searcher_generation = None
            self._generation = None
            self._ix = None
            self._snapshot = None

    # -- writing -------------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, str]:
        """slug -> content hash of every indexed document."""
        return dict(self._snap().manifest)

    def write(
        self,
        upserts: Iterable[CaseStudy],
        deletions: Iterable[str] = (),
        *,
        full: bool = False,
        procs: int = 1,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Add or replace `upserts`, remove `deletions`, and commit once; return the number of documents written.

        With `full`, the commit replaces the whole index (the previous generation stays readable until then). A
        crash or exception before the commit leaves the previous generation as it was.
        """
        ix = self.open()
        # A generous pool keeps postings in memory: below it Whoosh spills pickled runs to disk and merges
        # them back, which cost a third of the indexing time in profiles.
        kwargs = {"procs": procs, "limitmb": 768, "multisegment": True} if procs > 1 else {"limitmb": 256}
        writer = ix.writer(timeout=60.0, **kwargs)
        written = 0
        try:
            for slug in deletions:
                writer.delete_by_term("slug", slug)
            for case in upserts:
                doc = _document(case, self.taxonomy)
                if full:
                    writer.add_document(**doc)
                else:
                    writer.update_document(**doc)
                written += 1
                if progress:
                    progress(1)
        except BaseException:
            writer.cancel()
            raise
        if full:
            writer.commit(mergetype=CLEAR)
        else:
            # Small edits commit a small segment without merging, so an edit is searchable at once; larger
            # batches let Whoosh merge small segments away.
            writer.commit(merge=written + len(deletions) > 50)
        with self._lock:
            self._generation = None  # our own commit is visible to our next search, without delay
        return written

    # -- reading -------------------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of indexed documents."""
        return self.searcher().doc_count()

    def get(self, slug: str) -> dict | None:
        """The stored case study for a slug, or None."""
        fields = self.searcher().document(slug=slug)
        return fields["case"] if fields else None

    def all_cases(self) -> list[dict]:
        """Every stored case study (for feeds and overviews; small enough to hold for our corpus sizes)."""
        return [fields["case"] for fields in self.searcher().all_stored_fields()]

    def search(
        self, request: SearchRequest,
        semantic: dict[str, tuple[float, str]] | Callable[[], dict[str, tuple[float, str]] | None] | None = None,
        ratio: float = 0.0,
        mode: str = "keyword",
    ) -> SearchResponse:
        """Search with disjunctive facet counts, a page of highlighted hits and a spelling suggestion.

        `semantic` (slug -> best passage cosine and passage) turns on `mode` "semantic" (rank by it alone) or
        "hybrid" (`ratio` of semantic to keyword, each normalised to 0-1). Queries with operators or phrases
        always run as keyword search; the response's `mode` says what ran.
        """
        snap = self._snap()
        text = _clean(request.text)
        suggestion = self._suggest(text) if text else None
        corrected_from = None
        if suggestion and _plain_groups(text) is not None:
            # Words the index lacks cannot match anything; their corrections can. Without syntax in the query,
            # searching the corrected text finds everything the typed text would, and more.
            match = self._match(snap, suggestion)
            if not self._match(snap, text).matched.any():
                corrected_from, text, suggestion = text, suggestion, None
        else:
            match = self._match(snap, text)
        passages: dict[int, str] = {}
        sources = {"keyword": int(match.matched.sum()), "semantic": 0}
        if callable(semantic):
            semantic = semantic()  # computed meanwhile (the query embedding runs beside the keyword match)
        semantic = semantic or None  # no semantic hits (model failed, empty index): a keyword answer
        # A query with operators keeps its keyword ranking in hybrid mode: whoever types them wants them.
        if semantic is not None and text and mode in ("semantic", "hybrid") and (
                mode == "semantic" or match.scores is not None):
            match, passages = _blend(snap, match, semantic, ratio, mode)
            sources["semantic"] = len(passages)
        else:
            mode = "keyword"
        facets, allowed = _facet_counts(snap, match.matched, request.filters, self.taxonomy)
        by_date = request.sort == "date" or not text
        start = (request.page - 1) * request.per_page
        if match.scores is not None:
            docs = np.flatnonzero(allowed)
            scores = match.scores[docs]
            keys = (-scores, -snap.dates[docs]) if by_date else (-snap.dates[docs], -scores)
            order = docs[np.lexsort(keys)][start:start + request.per_page]
            page = [(int(d), float(match.scores[d])) for d in order]
        else:
            results = snap.searcher.search(
                match.query, limit=start + request.per_page, filter={int(d) for d in np.flatnonzero(allowed)},
                sortedby="date" if by_date else None, reverse=by_date,
            )
            page = [(hit.docnum, _score(hit)) for hit in results[start:]]
        # Semantic mode shows the passage that matched best; hybrid prefers the words typed, where they occur.
        hits = [_hit(snap.searcher.stored_fields(d), score, match.body_terms, passages.get(d), mode == "semantic")
                for d, score in page]
        return SearchResponse(
            request=request, total=int(allowed.sum()), hits=hits, facets=facets, mode=mode, suggestion=suggestion,
            corrected_from=corrected_from, sources=sources, searched=text,
        )

    def _match(self, snap: Snapshot, text: str) -> _Match:
        """Which documents match, and their scores when the fast path could compute them."""
        if not text:
            return _Match(snap.live.copy(), np.zeros(snap.size, dtype=np.float32), frozenset(), None)
        groups = _plain_groups(text)
        query = None
        if groups is None:
            query = self._parse(text)
            groups = simple_terms(query)
        if groups is not None:
            scores, matched, coverage = snap.score(groups)
            body = frozenset(t for group in groups for f, t in group if f == "body")
            return _Match(matched, scores, body, query, coverage)
        matched = np.zeros(snap.size, dtype=bool)
        docs = list(snap.searcher.docs_for_query(query))
        matched[docs] = True
        body = frozenset(t.decode() if isinstance(t, bytes) else t for f, t in query.iter_all_terms() if f == "body")
        return _Match(matched, None, body, query)

    def more_like(self, slug: str, limit: int = 5) -> list[dict]:
        """Case studies that share the most distinctive words with this one (keyword "related cases")."""
        searcher = self.searcher()
        docnum = searcher.document_number(slug=slug)
        if docnum is None:
            return []
        stored = searcher.stored_fields(docnum)
        results = searcher.more_like(docnum, "body", text=stored["body"], top=limit, numterms=25)
        return [hit["case"] for hit in results]

    # -- internals -----------------------------------------------------------------------------------------
    def _parse(self, text: str) -> Query:
        if not text:
            return Every()
        schema = self.open().schema
        parser = qparser.MultifieldParser(SEARCH_FIELDS, schema, group=qparser.OrGroup.factory(0.9))
        for plugin in (qparser.FieldsPlugin, qparser.RangePlugin, qparser.BoostPlugin, qparser.EveryPlugin):
            parser.remove_plugin_class(plugin)
        # "schulden -wonen" excludes, "+jongeren" requires, as on every search engine people know.
        parser.add_plugin(qparser.PlusMinusPlugin())
        try:
            query = parser.parse(text)
        except Exception:
            query = None
        if query is None or _too_broad(query):
            words = [w for w in re.findall(r"\w+", text)][:MAX_QUERY_WORDS]
            query = parser.parse(" ".join(words)) if words else Every()
        return query

    def correct(self, text: str) -> str | None:
        """The query with words the index lacks replaced by the nearest indexed word, or None if none changed."""
        text = _clean(text)
        return self._suggest(text) if text else None

    def _suggest(self, text: str) -> str | None:
        """`_find_suggestion`, remembered per index generation: hybrid search asks twice (before embedding the
        query and while ranking), and the nearest-word search costs milliseconds."""
        key = (self.generation(), text)
        with self._lock:
            if key in self._suggestions:
                return self._suggestions[key]
        found = self._find_suggestion(text)
        with self._lock:
            self._suggestions[key] = found
            while len(self._suggestions) > 2048:
                self._suggestions.popitem(last=False)
        return found

    def _find_suggestion(self, text: str) -> str | None:
        """Replace words the index does not know by the nearest indexed word (edit distance 1-2).

        Works on the body's stems, so no extra spelling field is indexed; the stem found is turned back into a
        readable word by looking it up in a document that contains it.
        """
        searcher = self.searcher()
        reader = searcher.reader()
        changed = False
        out: list[str] = []
        for token in re.findall(r"\w+|\W+", text):
            word = fold(token)
            analysed = analyse_word(token) if len(word) >= 4 and word.isalpha() else None
            # Known to the index, or a real Dutch word the corpus happens to lack ("weghouden"): no correction.
            if analysed is None or word in ("and", "or", "not") or word in dutch_lexicon():
                out.append(token)
                continue
            stem = analysed[0]
            if any(reader.doc_frequency(f, stem) for f in SEARCH_FIELDS):
                out.append(token)
                continue
            maxdist = 1 if len(stem) < 6 else 2
            candidates = [c for c in reader.terms_within("body", stem, maxdist, prefix=1) if c != stem]
            surface = None
            if candidates:
                best = max(candidates, key=lambda c: (reader.doc_frequency("body", c), c))
                surface = self._surface_word(searcher, best)
            if surface is None:
                out.append(token)
                continue
            out.append(surface)
            changed = True
        return "".join(out) if changed else None

    @staticmethod
    def _surface_word(searcher, stem: str) -> str | None:
        """A word as written in the texts whose stem is `stem` (the most common form in one document)."""
        docnum = next(iter(searcher.docs_for_query(Term("body", stem))), None)
        if docnum is None:
            return None
        forms: dict[str, int] = {}
        for match in re.finditer(TOKEN_PATTERN, searcher.stored_fields(docnum)["body"]):
            analysed = analyse_word(match.group())
            if analysed and analysed[0] == stem:
                form = fold(match.group())
                forms[form] = forms.get(form, 0) + 1
        return max(forms, key=lambda f: (forms[f], -len(f))) if forms else None

    def _snap(self) -> Snapshot:
        with self._lock:
            searcher = self.searcher()
            gen = self._searcher_generation  # the generation this searcher reads, not a later one
            if self._snapshot is None or self._snapshot.generation != gen:
                self._snapshot = Snapshot(searcher, gen, SEARCH_FIELDS, self._segments, self._postings)
                self._warm(self._snapshot)
            return self._snapshot

    def _warm(self, snap: Snapshot) -> None:
        """Read the frequent postings of new segments in a background thread, so that the first searches in a
        new process, or after a merge, are as fast as later ones. Caller holds the lock."""
        if not self.warm or self._warmup is not None or not self._unwarmed(snap):
            return  # a running warm-up picks up the segments of newer generations before it ends
        stop = threading.Event()
        self._warmup = (threading.Thread(target=self._warm_loop, args=(stop,), name="wijkwijzer-postings-warmup",
                                         daemon=True), stop)
        self._warmup[0].start()

    def _unwarmed(self, snap: Snapshot | None) -> list[tuple[object, str]]:
        return [(segment, key) for segment, key in snap.segments if key not in self._warmed] if snap else []

    def _warm_loop(self, stop: threading.Event) -> None:
        while True:
            with self._lock:
                todo = self._unwarmed(self._snapshot)
                if stop.is_set() or not todo:
                    if self._warmup is not None and self._warmup[1] is stop:
                        self._warmup = None
                    return
            try:
                self._postings.warm(todo, SEARCH_FIELDS, stop=stop)
            except Exception:  # a reader closed under us: on-demand reads remain
                log.debug("postings warm-up stopped", exc_info=True)
                stop.set()
                continue
            with self._lock:
                if not stop.is_set():  # only a finished run counts: a stopped one is tried again
                    self._warmed.update(key for _, key in todo)
                live = {key for _, key in self._snapshot.segments} if self._snapshot else set()
                self._warmed &= live

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Wait for a running postings warm-up (benchmarks and tests). True when none runs any more."""
        running = self._warmup
        if running is not None:
            running[0].join(timeout)
        return running is None or not running[0].is_alive()

    def _stop_warmup(self, timeout: float = 5.0) -> None:
        with self._lock:
            running = self._warmup
        if running is not None:
            running[1].set()
            running[0].join(timeout)

    def forget_postings(self) -> None:
        """Drop every posting read or read ahead so far and the term scores, as in a new process (benchmarks)."""
        self._stop_warmup()
        with self._lock:
            self._postings.clear()
            self._warmed.clear()
            self._snapshot = None


@dataclass
class _Match:
    matched: np.ndarray  # bool per document
    scores: np.ndarray | None  # None: rank with Whoosh's matchers (phrases, AND/NOT, wildcards)
    body_terms: frozenset[str]
    query: Query | None
    coverage: np.ndarray | None = None  # idf-weighted share of the query words each document has, 0-1


# Query syntax the parser must see. A hyphen inside a word (Nieuw-West), an apostrophe inside one (auto's) and
# the question mark that ends a typed question are plain text, not operators.
_SYNTAX = re.compile(r"[\"()*?~^:\[\]{}]|(?<!\w)['+\-]|'(?!\w)|\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
_QUESTION_MARK = re.compile(r"(?<=\w)\?+(?=\s|$)")


def _plain_groups(text: str) -> list[list[tuple[str, str]]] | None:
    """Query words as OR-groups over the searched fields, without Whoosh's parser, for text without syntax.

    The parser costs milliseconds per query and yields the same terms for plain words; quotes, operators,
    wildcards and the like still go through it.
    """
    if _SYNTAX.search(text):
        return None
    groups: dict[str, list[tuple[str, str]]] = {}
    for word in re.findall(TOKEN_PATTERN, text)[:MAX_QUERY_WORDS]:
        analysed = analyse_word(word)
        if analysed is not None and analysed[0] not in groups:
            groups[analysed[0]] = [(field, analysed[0]) for field in SEARCH_FIELDS]
    return list(groups.values())


def _facet_counts(
    snap: Snapshot, matched: np.ndarray, filters: dict[str, tuple[str, ...]], taxonomy: Taxonomy
) -> tuple[dict[str, list[FacetValue]], np.ndarray]:
    """Disjunctive facets: each facet counts what its values would give with the *other* facets' filters."""
    masks = snap.filter_masks(filters)
    allowed = matched.copy()
    for mask in masks.values():
        allowed &= mask
    out: dict[str, list[FacetValue]] = {}
    for name in FACETS:
        pool = allowed
        if name in masks:
            pool = matched.copy()
            for other, mask in masks.items():
                if other != name:
                    pool &= mask
        counts = snap.facets[name].counts(pool)
        selected = set(filters.get(name, ())) if name in masks else set()
        for key in selected:
            counts.setdefault(key, 0)
        if name == "year":
            order = sorted(counts.items(), reverse=True)
        else:
            order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        out[name] = [FacetValue(key, taxonomy.label(name, key), count, key in selected) for key, count in order]
    return out, allowed


def _blend(snap: Snapshot, match: _Match, semantic: dict[str, tuple[float, str]], ratio: float,
           mode: str) -> tuple[_Match, dict[int, str]]:
    """Semantic scores on their own, or fused with the keyword scores (both scaled to 0-1 first)."""
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
        return _Match(found, sem, match.body_terms, match.query), passages
    keyword = match.scores if match.scores is not None else np.zeros(snap.size, dtype=np.float32)
    top = float(keyword.max()) if keyword.size else 0.0
    scaled = keyword / top if top > 0 else keyword
    if match.coverage is not None:
        # The best keyword match always scales to 1, even when it shares only a common word with a question
        # phrased in other words; coverage keeps such weak matches from pushing the meaning-based ones down.
        scaled = scaled * match.coverage
    fused = ((1 - ratio) * scaled + ratio * sem).astype(np.float32)
    return _Match(match.matched | found, fused, match.body_terms, match.query), passages


def _hit(fields: dict, score: float, terms: frozenset[str], passage: str | None = None,
         prefer_passage: bool = False) -> Hit:
    case = fields["case"]
    snippet = "" if prefer_passage and passage else make_snippet(fields["body"], terms)
    if not snippet and passage:
        # Found by meaning: show the passage that matched best, with any query words in it marked.
        body_part = passage.split(": ", 1)[-1] if ": " in passage[:200] else passage
        snippet = make_snippet(body_part, terms) or html.escape(_shorten(body_part, 240))
    if not snippet:
        # The match was in the title, summary or tags: show the summary, escaped like a highlight is.
        snippet = html.escape(case["summary"])
    return Hit(
        slug=case["slug"], title=case["title"], summary=case["summary"], score=round(score, 4),
        snippet=snippet, themes=case["themes"], action_lines=case["action_lines"],
        municipality=case["municipality"], focus_area=case["focus_area"], type=case["type"], date=case["date"],
        evidence=case["evidence"],
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _score(hit) -> float:
    # Sorted results carry the sort key (a date) as their "score": report 0 there.
    return round(float(hit.score), 4) if isinstance(hit.score, int | float) else 0.0


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: str) -> str:
    """Strip control characters and cut overlong input; the rest goes to the parser as typed."""
    text = _CONTROL.sub(" ", text or "")[:MAX_QUERY_CHARS]
    return " ".join(_QUESTION_MARK.sub("", text).split())


def _too_broad(query: Query) -> bool:
    """Queries that would expand over the whole vocabulary (a bare '*', 'a*') or are huge are simplified."""
    terms = list(query.leaves())
    if len(terms) > MAX_QUERY_WORDS * len(SEARCH_FIELDS):
        return True
    for leaf in terms:
        name = type(leaf).__name__
        if name == "Every":
            return True
        if name in ("Wildcard", "Prefix", "Regex") and len(str(getattr(leaf, "text", "")).rstrip("*?")) < 3:
            return True
    return False
