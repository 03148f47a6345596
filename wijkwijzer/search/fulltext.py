"""The Whoosh full-text index: schema, incremental writes, keyword search with facets, snippets and suggestions.

Uses whoosh-reloaded, the maintained fork of Whoosh (same `whoosh` import): the original 2.7.4 has not had a
release since 2016 and emits SyntaxWarnings on current Python, which our warnings-as-errors test run rejects.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from whoosh import highlight, index, qparser
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.query import And, Every, Or, Query, Term
from whoosh.writing import CLEAR

from wijkwijzer.domain.content import CaseStudy
from wijkwijzer.domain.taxonomy import FACETS, Taxonomy, normalise
from wijkwijzer.search.analysis import DUTCH_STOPWORDS, dutch_analyzer, dutch_lexicon, fold, spelling_analyzer
from wijkwijzer.search.models import MAX_QUERY_CHARS, FacetValue, Hit, SearchRequest, SearchResponse
from wijkwijzer.markup import markdown_to_text

# Bump when the analysis or schema changes: every document's stored hash then differs and is re-indexed.
ANALYSIS_VERSION = "3"
SEARCH_FIELDS = ("title", "summary", "tags", "places", "body")
MAX_QUERY_WORDS = 32


def build_schema() -> Schema:
    """Fields and weights: title > summary > tags > places (organisations, municipality) > body."""
    dutch = dutch_analyzer()
    return Schema(
        slug=ID(stored=True, unique=True),
        hash=ID(stored=True),
        title=TEXT(analyzer=dutch, stored=True, field_boost=5.0),
        summary=TEXT(analyzer=dutch, stored=True, field_boost=3.0),
        tags=TEXT(analyzer=dutch, field_boost=2.5),
        places=TEXT(analyzer=dutch, field_boost=1.5),
        body=TEXT(analyzer=dutch, stored=True, chars=True),
        spell=TEXT(analyzer=spelling_analyzer(), phrase=False),
        themes=KEYWORD(commas=True, scorable=False),
        action_lines=KEYWORD(commas=True, scorable=False),
        focus_area=ID(),
        municipality=ID(),
        type=ID(),
        evidence=ID(),
        year=ID(),
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
    return {
        "slug": case.slug,
        "hash": case.content_hash,
        "title": case.title,
        "summary": case.summary,
        "tags": " ".join(case.tags),
        "places": places,
        "body": body,
        "spell": " ".join([case.title, case.summary, " ".join(case.tags), body]),
        "themes": ",".join(case.themes),
        "action_lines": ",".join(case.action_lines),
        "focus_area": case.focus_area,
        "municipality": normalise(case.municipality),
        "type": case.type,
        "evidence": case.evidence,
        "year": case.year,
        "date": case.date.isoformat() if case.date else "0000-00-00",
        "case": case_to_stored(case),
    }


@dataclass
class _Snapshot:
    """Per index generation: facet values per document number, and each document's slug and hash."""

    generation: int
    facets: dict[str, list[tuple[str, ...]]]
    manifest: dict[str, str]


class FulltextIndex:
    """A Whoosh index in a folder. Readers refresh when another process or thread commits a new generation."""

    def __init__(self, index_dir: Path, taxonomy: Taxonomy | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.taxonomy = taxonomy or Taxonomy()
        self._lock = threading.RLock()
        self._ix: index.Index | None = None
        self._searcher = None
        self._snapshot: _Snapshot | None = None

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
            if self._searcher is None or not self._searcher.up_to_date():
                # A fresh searcher rather than refresh(): refresh() fails on a reader of an empty index, and
                # requests still holding the old searcher finish on their generation.
                self._searcher = ix.searcher()
            return self._searcher

    def generation(self) -> int:
        """The generation number of the newest commit (changes on every commit, by any process)."""
        return self.open().latest_generation()

    def close(self) -> None:
        """Release readers (tests and short-lived CLI runs)."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
            self._searcher = None
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
        kwargs = {"procs": procs, "limitmb": 128, "multisegment": True} if procs > 1 else {"limitmb": 64}
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
            writer.commit()
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

    def search(self, request: SearchRequest) -> SearchResponse:
        """Keyword search with disjunctive facet counts, a page of highlighted hits and a spelling suggestion."""
        searcher = self.searcher()
        snap = self._snap()
        text = _clean(request.text)
        query = self._parse(text)
        suggestion = self._suggest(text) if text else None
        matched = set(searcher.docs_for_query(query))
        corrected_from = None
        if not matched and suggestion:
            corrected_from, text, suggestion = text, suggestion, None
            query = self._parse(text)
            matched = set(searcher.docs_for_query(query))
        facets, allowed = _facet_counts(matched, snap.facets, request.filters, self.taxonomy)
        hits: list[Hit] = []
        if allowed:
            sort = "date" if request.sort == "date" or not text else None
            results = searcher.search_page(
                query, request.page, pagelen=request.per_page, filter=allowed, sortedby=sort, reverse=bool(sort),
                terms=True,
            )
            results.results.fragmenter = highlight.PinpointFragmenter(maxchars=220, surround=70, autotrim=True)
            results.results.formatter = highlight.HtmlFormatter(tagname="mark", between=" … ")
            hits = [_hit(hit, text) for hit in results] if request.page <= results.pagecount else []
        return SearchResponse(
            request=request, total=len(allowed), hits=hits, facets=facets, suggestion=suggestion,
            corrected_from=corrected_from,
        )

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
        try:
            query = parser.parse(text)
        except Exception:  # noqa: BLE001 - any parser failure falls back to the plain words
            query = None
        if query is None or _too_broad(query):
            words = [w for w in re.findall(r"\w+", text)][:MAX_QUERY_WORDS]
            query = parser.parse(" ".join(words)) if words else Every()
        return query

    def _suggest(self, text: str) -> str | None:
        """Replace words the index does not know by the most frequent indexed word within edit distance 1-2."""
        reader = self.searcher().reader()
        changed = False
        out: list[str] = []
        for token in re.findall(r"\w+|\W+", text):
            word = fold(token)
            if len(word) < 4 or not word.isalpha() or word in DUTCH_STOPWORDS or word in ("and", "or", "not"):
                out.append(token)
                continue
            # Known to the index, or a real Dutch word the corpus happens to lack ("weghouden"): no correction.
            if reader.doc_frequency("spell", word) or word in dutch_lexicon():
                out.append(token)
                continue
            maxdist = 1 if len(word) < 6 else 2
            candidates = [c for c in reader.terms_within("spell", word, maxdist, prefix=1) if c != word]
            if not candidates:
                out.append(token)
                continue
            best = max(candidates, key=lambda c: (reader.doc_frequency("spell", c), c))
            out.append(best)
            changed = True
        return "".join(out) if changed else None

    def _snap(self) -> _Snapshot:
        with self._lock:
            searcher = self.searcher()
            gen = self.generation()
            if self._snapshot is None or self._snapshot.generation != gen:
                self._snapshot = _build_snapshot(searcher, gen)
            return self._snapshot


def _build_snapshot(searcher, generation: int) -> _Snapshot:
    """Read facet values and hashes once per generation, so searches count facets in memory."""
    size = searcher.doc_count_all()
    facets: dict[str, list[tuple[str, ...]]] = {name: [()] * size for name in FACETS}
    manifest: dict[str, str] = {}
    for docnum, fields in searcher.iter_docs():
        case = fields["case"]
        manifest[fields["slug"]] = fields.get("hash", "")
        facets["themes"][docnum] = tuple(case["themes"])
        facets["action_lines"][docnum] = tuple(case["action_lines"])
        facets["focus_area"][docnum] = (case["focus_area"],) if case["focus_area"] else ()
        facets["municipality"][docnum] = (normalise(case["municipality"]),) if case["municipality"] else ()
        facets["type"][docnum] = (case["type"],) if case["type"] else ()
        facets["evidence"][docnum] = (case["evidence"],) if case["evidence"] else ()
        facets["year"][docnum] = (case["date"][:4],) if case["date"] else ()
    return _Snapshot(generation, facets, manifest)


def _facet_counts(
    matched: set[int], values: dict[str, list[tuple[str, ...]]], filters: dict[str, tuple[str, ...]],
    taxonomy: Taxonomy,
) -> tuple[dict[str, list[FacetValue]], set[int]]:
    """Disjunctive facets: each facet counts what its values would give with the *other* facets' filters."""
    active = {name: set(filters.get(name, ())) for name in FACETS if filters.get(name)}

    def passes(doc: int, skip: str | None) -> bool:
        return all(name == skip or not active[name].isdisjoint(values[name][doc]) for name in active)

    allowed = {doc for doc in matched if passes(doc, None)}
    out: dict[str, list[FacetValue]] = {}
    for name in FACETS:
        pool = allowed if name not in active else {doc for doc in matched if passes(doc, name)}
        counts: dict[str, int] = {}
        for doc in pool:
            for key in values[name][doc]:
                counts[key] = counts.get(key, 0) + 1
        for key in active.get(name, ()):
            counts.setdefault(key, 0)
        order = sorted(counts.items(), key=lambda kv: (kv[0] if name == "year" else "", -kv[1], kv[0]))
        if name == "year":
            order.reverse()
        out[name] = [
            FacetValue(key, taxonomy.label(name, key), count, key in active.get(name, ())) for key, count in order
        ]
    return out, allowed


def _hit(hit, text: str) -> Hit:
    case = hit["case"]
    snippet = hit.highlights("body", top=2) if text else ""
    if not snippet.strip():
        # The match was in the title, summary or tags: show the summary, escaped like a highlight is.
        snippet = html.escape(case["summary"])
    return Hit(
        slug=case["slug"], title=case["title"], summary=case["summary"], score=_score(hit),
        snippet=snippet, themes=case["themes"], action_lines=case["action_lines"],
        municipality=case["municipality"], focus_area=case["focus_area"], type=case["type"], date=case["date"],
        evidence=case["evidence"],
    )


def _score(hit) -> float:
    # Sorted results carry the sort key (a date) as their "score": report 0 there.
    return round(float(hit.score), 4) if isinstance(hit.score, int | float) else 0.0


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(text: str) -> str:
    """Strip control characters and cut overlong input; the rest goes to the parser as typed."""
    text = _CONTROL.sub(" ", text or "")[:MAX_QUERY_CHARS]
    return " ".join(text.split())


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


__all__ = ["FulltextIndex", "ANALYSIS_VERSION", "build_schema", "And", "Or", "Term"]
