"""The Whoosh full-text index: schema, incremental writes, matching a query and building a page of results.

It knows nothing of semantic search or spelling: `search.hybrid` combines matching here with the semantic side,
`search.spelling` corrects typos against the vocabulary here. Whoosh's internals are patched by
`search.whoosh_patches`, which the composition root installs (concurrent searches need it).

Uses whoosh-reloaded, the maintained fork of Whoosh (same `whoosh` import): the original 2.7.4 has not had a
release since 2016 and emits SyntaxWarnings on current Python, which our warnings-as-errors test run rejects.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
from whoosh import index
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, STORED, TEXT, Schema
from whoosh.query import Query
from whoosh.writing import CLEAR

from wijkwijzer.domain.acronyms import Acronyms
from wijkwijzer.domain.content import CaseStudy
from wijkwijzer.domain.taxonomy import Taxonomy, normalise
from wijkwijzer.search.analysis import dutch_analyzer
from wijkwijzer.search.models import SearchRequest, SearchResponse
from wijkwijzer.search.query import (
    SEARCH_FIELDS,
    Match,
    case_variants,
    clean,
    contains_phrase,
    parse,
    phrase_keys,
    plain_groups,
)
from wijkwijzer.search.ranking import FACET_SEPARATOR, PostingsCache, Snapshot, simple_terms
from wijkwijzer.search.results import facet_counts, make_hit, whoosh_score
from wijkwijzer.search.warmup import PostingsWarmup
from wijkwijzer.search.whoosh_patches import remove_leftovers
from wijkwijzer.text.dutch import TOKEN_PATTERN, acronym, fold
from wijkwijzer.text.markup import markdown_to_text

log = logging.getLogger(__name__)

# How long a generation check is trusted. Each check lists the index folder (about a millisecond at 10,000
# documents) and one search asked four times; another process's commit is still seen within this delay, and
# this process's own commits at once.
GENERATION_TTL = 0.25

# Bump when the analysis or schema changes: every document's stored hash then differs and is re-indexed.
ANALYSIS_VERSION = "10"


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
        "contact_email": case.contact_email, "contact_phone": case.contact_phone, "contact_url": case.contact_url,
        "attachments": [{"file": a.file, "title": a.title} for a in case.attachments], "images": list(case.images),
    }


def _places(case: dict | CaseStudy, taxonomy: Taxonomy) -> list[str]:
    """Municipality, focus area name and organisations: the places part of the lead field."""
    get = case.get if isinstance(case, dict) else lambda name: getattr(case, name)
    focus = get("focus_area")
    return [get("municipality"), taxonomy.label("focus_area", focus) if focus else "", *get("organisations")]


def acronym_links(texts: list[str], acronyms: Acronyms) -> list[str]:
    """What a document's texts imply through the acronym list: the expansions of the listed acronyms they use,
    and the acronyms whose expansion they spell out. Indexed in the lead, so each finds the other."""
    if not acronyms.expansions:
        return []
    used = {letters for text in texts for token in re.findall(TOKEN_PATTERN, text)
            if not token.islower() and (letters := acronym(token)) is not None}
    folded = fold(" ".join(texts))
    keys: list[list[str]] | None = None
    out: list[str] = []
    for name, expansions in acronyms.expansions.items():
        if name in used:
            out.extend(expansions)
            continue
        for expansion in expansions:
            if fold(expansion.split()[0]) not in folded:  # a cheap test before comparing words
                continue
            keys = keys if keys is not None else [phrase_keys(text, stemmed=True) for text in texts]
            if any(contains_phrase(k, phrase_keys(expansion, stemmed=True)) for k in keys):
                out.append(name)
                break
    return out


def _document(case: CaseStudy, taxonomy: Taxonomy, acronyms: Acronyms) -> dict:
    body = markdown_to_text(case.body)
    places = " ".join(_places(case, taxonomy))
    tags = " ".join(case.tags)
    links = acronym_links([case.title, case.summary, tags, places, body], acronyms)
    facets = [case.slug, case.content_hash, case.date.isoformat() if case.date else "",
              ",".join(case.themes), ",".join(case.action_lines), case.focus_area, normalise(case.municipality),
              case.type, case.evidence, case.year]  # in ranking.FACET_ORDER after slug, hash and date
    return {
        "slug": case.slug,
        "hash": case.content_hash,
        "title": case.title,
        "lead": "\n".join([case.summary, tags, tags, places, *links]),
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
        self.acronyms = Acronyms()  # set by the knowledge base from content/_acronyms.yml
        self._lock = threading.RLock()
        self._ix: index.Index | None = None
        self._searcher = None
        self._searcher_generation: int | None = None
        self._generation: tuple[int, float] | None = None  # (generation, when it was read)
        self._snapshot: Snapshot | None = None
        self._segments: dict = {}  # segment id -> ranking.SegmentData
        self._postings = PostingsCache()
        self.warmup = PostingsWarmup(self._postings, SEARCH_FIELDS, lambda: self._snapshot)

    # -- opening -------------------------------------------------------------------------------------------
    def open(self) -> index.Index:
        """Open the index, creating it when the folder holds none (or one with another schema version).

        On opening, files that a killed writer left behind are removed (see `remove_leftovers`).
        """
        with self._lock:
            if self._ix is None:
                self.index_dir.mkdir(parents=True, exist_ok=True)
                if index.exists_in(str(self.index_dir)):
                    self._ix = index.open_dir(str(self.index_dir))
                    if set(self._ix.schema.names()) != set(build_schema().names()):
                        self._ix = index.create_in(str(self.index_dir), build_schema())
                    else:
                        remove_leftovers(self._ix)
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

    def snapshot(self) -> Snapshot:
        """What ranking needs of the newest generation (built once per generation); a web process's postings
        warm-up starts here when new segments appear."""
        with self._lock:
            searcher = self.searcher()
            gen = self._searcher_generation  # the generation this searcher reads, not a later one
            if self._snapshot is None or self._snapshot.generation != gen:
                self._snapshot = Snapshot(searcher, gen, SEARCH_FIELDS, self._segments, self._postings)
                if self.warm:
                    self.warmup.start(self._snapshot)
            return self._snapshot

    def forget_postings(self) -> None:
        """Drop every posting read or read ahead so far and the term scores, as in a new process (benchmarks)."""
        self.warmup.forget()
        with self._lock:
            self._snapshot = None

    def close(self) -> None:
        """Release readers (tests and short-lived CLI runs)."""
        self.warmup.stop()
        with self._lock:
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
        return dict(self.snapshot().manifest)

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
        crash or exception before the commit leaves the previous generation as it was; the files such a crash
        leaves behind are removed before the next write, or when a process next opens the index.
        """
        ix = self.open()
        remove_leftovers(ix)  # a long-running process (the site) sees a killed `wijkwijzer index` here
        # A generous pool keeps postings in memory: below it Whoosh spills pickled runs to disk and merges
        # them back, which cost a third of the indexing time in profiles.
        kwargs = {"procs": procs, "limitmb": 768, "multisegment": True} if procs > 1 else {"limitmb": 256}
        writer = ix.writer(timeout=60.0, **kwargs)
        written = 0
        try:
            for slug in deletions:
                writer.delete_by_term("slug", slug)
            for case in upserts:
                doc = _document(case, self.taxonomy, self.acronyms)
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

    def get_many(self, slugs: Iterable[str]) -> dict[str, dict]:
        """The stored case studies of `slugs`, all from one generation, by slug (absent ones left out): a page of
        the open-data listing reads its documents by number instead of a term lookup each."""
        snap = self.snapshot()
        numbers = [(slug, snap.docnums[slug]) for slug in dict.fromkeys(slugs) if slug in snap.docnums]
        return {slug: snap.searcher.stored_fields(docnum)["case"] for slug, docnum in numbers}

    def all_cases(self) -> list[dict]:
        """Every stored case study (for feeds and overviews; small enough to hold for our corpus sizes)."""
        return [fields["case"] for fields in self.searcher().all_stored_fields()]

    def search(self, request: SearchRequest) -> SearchResponse:
        """Keyword search as typed (no spelling correction, no semantic side): match, then one page."""
        snap = self.snapshot()
        text = clean(request.text)
        match = self.match(snap, text)
        return self.page(snap, request, match, text=text,
                         sources={"keyword": int(match.matched.sum()), "semantic": 0})

    def match(self, snap: Snapshot, text: str) -> Match:
        """Which documents match cleaned `text`, and their scores when the fast path could compute them."""
        if not text:
            return Match(snap.live.copy(), np.zeros(snap.size, dtype=np.float32), frozenset(), None)
        groups = plain_groups(text, lambda letters: self.case_forms(snap, letters))
        query = None
        if groups is None:
            query = self.parse(text)
            groups = simple_terms(query)
        if groups is not None:
            scores, matched, coverage = snap.score(groups)
            body = frozenset(t for group in groups for f, t in group if f == "body")
            return Match(matched, scores, body, query, coverage)
        # Phrases, AND/NOT, wildcards: Whoosh's matchers score every match once, so the page, facets and the
        # fusion with the semantic side work on these scores as on the fast path's.
        matched = np.zeros(snap.size, dtype=bool)
        scores = np.zeros(snap.size, dtype=np.float32)
        for score, docnum in snap.searcher.search(query, limit=None).top_n:
            matched[docnum], scores[docnum] = True, score
        body = frozenset(t.decode() if isinstance(t, bytes) else t for f, t in query.iter_all_terms() if f == "body")
        return Match(matched, scores, body, query)

    def page(self, snap: Snapshot, request: SearchRequest, match: Match, *, text: str, mode: str = "keyword",
             passages: Mapping[int, str] | None = None, suggestion: str | None = None,
             corrected_from: str | None = None, sources: dict[str, int] | None = None) -> SearchResponse:
        """Disjunctive facet counts and the requested page of highlighted hits for `match`.

        `text` is what was searched (after any correction); `passages` the best passage of documents found by
        meaning, shown in "semantic" `mode`; the other arguments are passed on to the response.
        """
        passages = {} if passages is None else passages
        facets, allowed = facet_counts(snap, match.matched, request.filters, self.taxonomy)
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
            page = [(hit.docnum, whoosh_score(hit)) for hit in results[start:]]
        # Semantic mode shows the passage that matched best; hybrid prefers the words typed, where they occur.
        hits = [make_hit(snap.searcher.stored_fields(d), score, match.body_terms, passages.get(d), mode == "semantic")
                for d, score in page]
        return SearchResponse(
            request=request, total=int(allowed.sum()), hits=hits, facets=facets, mode=mode, suggestion=suggestion,
            corrected_from=corrected_from, sources=sources or {"keyword": 0, "semantic": 0}, searched=text,
            sort="date" if by_date else "relevance",
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

    def parse(self, text: str) -> Query:
        """`text` through Whoosh's query parser with our plugins (see query.parse)."""
        return parse(text, self.open().schema, self.stored_texts)

    def case_forms(self, snap: Snapshot, letters: str) -> set[str]:
        """The case forms of acronym `letters` (lowercase) that the texts or the acronym list use."""
        reader = snap.searcher.reader()
        found = {form for form in case_variants(letters)
                 if any(reader.doc_frequency(field, form) for field in SEARCH_FIELDS)}
        return found | self.acronyms.forms(letters)

    def stored_texts(self, fields: dict, field: str) -> list[str]:
        """The stored texts a field was indexed from, each on its own (a phrase never spans two of them)."""
        case = fields["case"]
        if field == "title":
            return [case["title"]]
        if field == "lead":
            return [case["summary"], *case["tags"], *_places(case, self.taxonomy)]
        return [fields["body"]]

