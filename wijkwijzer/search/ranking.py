"""Fast ranking and facet counting over one Whoosh index generation, with numpy.

Whoosh's matchers walk postings one document at a time in Python; on 10,000 case studies an everyday query of a
few words costs 100-300 ms that way. Most queries are plain words (an OR over the words and the fields), and
for those we read each term's postings once per index generation into arrays, score BM25F with numpy, and count
facets with boolean matrices. The scores follow Whoosh's own BM25F (same idf, K1, B; field boosts live in the
posting weights). Queries with phrases, AND/NOT or wildcards still go through Whoosh's matchers.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from whoosh.query import Or, Query, Term

K1, B = 1.2, 0.75
COORDINATION = 0.5  # a document that matches every query word scores up to 1.5x one that matches a few
FACET_SEPARATOR = "\x1f"
FACET_ORDER = ("themes", "action_lines", "focus_area", "municipality", "type", "evidence", "year")
MULTI_VALUED = ("themes", "action_lines")
WARM_MIN_POSTINGS = 128  # one Whoosh postings block


@dataclass
class FacetColumn:
    """One facet: its values, and which documents carry each value (documents x values)."""

    keys: list[str]
    matrix: np.ndarray  # bool, shape (documents, values)

    def mask(self, selected: set[str]) -> np.ndarray:
        """Documents that carry any of the selected values."""
        idx = [i for i, k in enumerate(self.keys) if k in selected]
        if not idx:
            return np.zeros(self.matrix.shape[0], dtype=bool)
        return self.matrix[:, idx].any(axis=1)

    def counts(self, docs: np.ndarray) -> dict[str, int]:
        """Number of the given documents (a bool mask) per value."""
        if not self.keys:
            return {}
        totals = self.matrix[docs].sum(axis=0)
        return {k: int(c) for k, c in zip(self.keys, totals, strict=True) if c}


@dataclass
class SegmentData:
    """What ranking needs of one immutable Whoosh segment (cached until the segment is merged away)."""

    slugs: list[str]
    digests: list[str]
    dates: np.ndarray
    facets: dict[str, FacetColumn]
    lengths: dict[str, np.ndarray]


def _segment_data(segment, scored_fields: tuple[str, ...]) -> SegmentData:
    size = segment.doc_count_all()
    slugs, digests = [""] * size, [""] * size
    dates = np.zeros(size, dtype=np.int64)
    values: dict[str, list[tuple[str, ...]]] = {name: [()] * size for name in FACET_ORDER}
    column = segment.column_reader("facets") if size else None
    for docnum in range(size):
        slug, digest, date, *rest = [*column[docnum].decode("utf-8").split(FACET_SEPARATOR), "", ""]
        slugs[docnum], digests[docnum] = slug, digest
        if len(rest) != len(FACET_ORDER) + 2 or not (date.replace("-", "").isdigit() or not date):
            continue  # written by an older version: its hash differs, so the next sync rewrites it
        dates[docnum] = int(date.replace("-", "") or 0)
        for name, raw in zip(FACET_ORDER, rest, strict=False):
            values[name][docnum] = tuple(raw.split(",")) if name in MULTI_VALUED and raw else ((raw,) if raw else ())
    lengths = {
        field: np.fromiter((segment.doc_field_length(d, field, 0) for d in range(size)), dtype=np.float32, count=size)
        for field in scored_fields
    }
    return SegmentData(slugs, digests, dates, {n: _facet_column(v, size) for n, v in values.items()}, lengths)


class Snapshot:
    """Everything ranking needs of one index generation; built once per generation from cached segment data."""

    def __init__(self, searcher, generation: int, scored_fields: tuple[str, ...],
                 segment_cache: dict[str, SegmentData] | None = None,
                 postings_cache: PostingsCache | None = None) -> None:
        self.generation = generation
        self.searcher = searcher
        self.postings = postings_cache if postings_cache is not None else PostingsCache()
        self._leaves: list[tuple[object, int, str]] = []
        reader = searcher.reader()
        cache = segment_cache if segment_cache is not None else {}
        leaves = reader.leaf_readers()
        parts: list[tuple[SegmentData, int, object]] = []
        seen = set()
        for segment, offset in leaves:
            if segment.segment() is None:  # the reader of an empty index
                continue
            key = segment.segment().segment_id()
            seen.add(key)
            if key not in cache:
                cache[key] = _segment_data(segment, scored_fields)
            parts.append((cache[key], offset, segment))
            self._leaves.append((segment, offset, key))
        for key in set(cache) - seen:  # merged away
            del cache[key]
        self.postings.retain(seen)
        self.size = reader.doc_count_all()
        self.live = np.zeros(self.size, dtype=bool)
        self.slugs: list[str] = []
        self.manifest: dict[str, str] = {}
        for data, offset, segment in parts:
            self.slugs.extend(data.slugs)
            if segment.has_deletions():
                self.live[[offset + d for d in segment.all_doc_ids()]] = True
            else:
                self.live[offset:offset + len(data.slugs)] = True
        digests = [d for data, _, _ in parts for d in data.digests]
        for docnum in np.flatnonzero(self.live):
            self.manifest[self.slugs[docnum]] = digests[docnum]
        empty = np.zeros(0)
        self.dates = np.concatenate([p[0].dates for p in parts]) if parts else empty.astype(np.int64)
        self.lengths = {
            f: np.concatenate([p[0].lengths[f] for p in parts]) if parts else empty.astype(np.float32)
            for f in scored_fields
        }
        self.facets = {name: _merge_columns([p[0].facets[name] for p in parts], self.size) for name in FACET_ORDER}
        self.doc_count = int(self.live.sum())
        self.docnums = {self.slugs[d]: int(d) for d in np.flatnonzero(self.live)}
        self.avg_length = _average_lengths(parts, self.live, self.doc_count, scored_fields)
        self._terms: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    # -- postings --------------------------------------------------------------------------------------------
    @property
    def segments(self) -> list[tuple[object, str]]:
        """(segment reader, segment id) of every segment of this generation."""
        return [(segment, key) for segment, _, key in self._leaves]

    def term_scores(self, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, BM25F scores) of one term, live documents only; cached for this generation."""
        key = (field, text)
        with self._lock:
            if key in self._terms:
                self._terms.move_to_end(key)
                return self._terms[key]
        ids, weights = self._postings(field, text)
        keep = self.live[ids] if len(ids) else np.zeros(0, dtype=bool)
        ids, weights = ids[keep], weights[keep]
        df = len(ids)
        idf = math.log(self.doc_count / (df + 1)) + 1 if df else 0.0
        lengths = self.lengths[field][ids]
        norm = K1 * ((1 - B) + B * lengths / max(self.avg_length[field], 1e-6))
        scores = (idf * (weights * (K1 + 1)) / (weights + norm)).astype(np.float32)
        with self._lock:
            self._terms[key] = (ids, scores)
            while len(self._terms) > 5000:
                self._terms.popitem(last=False)
        return ids, scores

    def _postings(self, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings over all segments (segment arrays are cached across generations)."""
        all_ids, all_weights = [], []
        for segment, offset, key in self._leaves:
            ids, weights = self.postings.get(key, segment, field, text)
            if len(ids):
                all_ids.append(ids + offset)
                all_weights.append(weights)
        if not all_ids:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        return np.concatenate(all_ids), np.concatenate(all_weights)

    def score(self, groups: list[list[tuple[str, str]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores of all documents for OR-groups of (field, text) terms, the matched mask, and query coverage.

        Each group is one query word across fields; a document's score is the sum over matched terms, times a
        coordination bonus for the share of query words it matches. Coverage is that share weighted by each
        word's rarity (idf), 0-1: how much of the query a document answers, comparable across queries and
        corpus sizes, which raw BM25 is not. Hybrid ranking uses it to trust keyword matches.
        """
        total = np.zeros(self.size, dtype=np.float32)
        words = np.zeros(self.size, dtype=np.int16)
        coverage = np.zeros(self.size, dtype=np.float32)
        weights = 0.0
        live = max(1, int(self.live.sum()))
        for group in groups:
            hit = np.zeros(self.size, dtype=bool)
            for field, text in group:
                ids, scores = self.term_scores(field, text)
                total[ids] += scores
                hit[ids] = True
            words += hit
            # A word no document has still counts: no document answers that part of the query.
            weight = float(np.log1p(live / max(1, int(hit.sum()))))
            coverage += weight * hit
            weights += weight
        matched = words > 0
        if groups:
            total *= 1 + COORDINATION * (words / len(groups))
            coverage /= weights
        return total, matched, coverage

    # -- facets ----------------------------------------------------------------------------------------------
    def filter_masks(self, filters: dict[str, tuple[str, ...]]) -> dict[str, np.ndarray]:
        """One mask per active facet filter (OR within the facet)."""
        return {name: self.facets[name].mask(set(values)) for name, values in filters.items()
                if values and name in self.facets}


def _average_lengths(parts: list[tuple[SegmentData, int, object]], live: np.ndarray, doc_count: int,
                     fields: tuple[str, ...]) -> dict[str, float]:
    """BM25's average field length over the live documents.

    Whoosh's exact total per segment (the per-document lengths are lossy bytes), less the lengths of the
    documents deleted in it. Whoosh's own BM25F divides the total of all documents, deleted ones included, by
    the live count, and counts deleted documents in its idf as well: its scores then depend on how many edits
    the segments saw since their last merge. Ours depend only on the live documents, as Whoosh's do on a freshly
    built index (tests/test_ranking.py compares with that).
    """
    totals = dict.fromkeys(fields, 0.0)
    for data, offset, segment in parts:
        dead = None
        if segment.has_deletions():
            dead = ~live[offset:offset + len(data.slugs)]
        for field in fields:
            totals[field] += float(segment.field_length(field))
            if dead is not None:
                totals[field] -= float(data.lengths[field][dead].sum())
    return {field: (totals[field] / (doc_count or 1)) or 1.0 for field in fields}


def simple_terms(query: Query) -> list[list[tuple[str, str]]] | None:
    """The query as OR-groups of terms (one group per word), or None when it needs Whoosh's matchers."""
    if isinstance(query, Term):
        return [[(query.fieldname, _text(query.text))]]
    if not isinstance(query, Or):
        return None
    subqueries = list(query.subqueries)
    if all(isinstance(q, Term) for q in subqueries):
        by_word: dict[str, list[tuple[str, str]]] = {}
        for q in subqueries:
            by_word.setdefault(_text(q.text), []).append((q.fieldname, _text(q.text)))
        return list(by_word.values())
    groups: list[list[tuple[str, str]]] = []
    for sub in subqueries:
        inner = simple_terms(sub)
        if inner is None:
            return None
        groups.extend(inner)
    return groups


def _text(text: str | bytes) -> str:
    return text.decode("utf-8") if isinstance(text, bytes) else text


def _facet_column(values: list[tuple[str, ...]], size: int) -> FacetColumn:
    keys = sorted({v for vals in values for v in vals})
    index = {k: i for i, k in enumerate(keys)}
    matrix = np.zeros((size, len(keys)), dtype=bool)
    for docnum, vals in enumerate(values):
        for v in vals:
            matrix[docnum, index[v]] = True
    return FacetColumn(keys, matrix)


def _merge_columns(columns: list[FacetColumn], size: int) -> FacetColumn:
    keys = sorted({k for c in columns for k in c.keys})
    index = {k: i for i, k in enumerate(keys)}
    matrix = np.zeros((size, len(keys)), dtype=bool)
    row = 0
    for column in columns:
        rows = column.matrix.shape[0]
        if column.keys:
            matrix[row:row + rows, [index[k] for k in column.keys]] = column.matrix
        row += rows
    return FacetColumn(keys, matrix)


class PostingsCache:
    """(segment, field, term) -> (docnums, weights). Segments never change once written, so entries stay valid
    across index generations; an edit only adds a small segment whose postings are read on demand.

    Reading a term is slow the first time: Whoosh unpickles its positions along with the postings, about 2 us a
    posting, so a query of common words in a new process costs tens of milliseconds more. `warm` reads the most
    frequent terms ahead, in the background, up to `warm_postings`; the cache holds at most `max_postings`
    (8 bytes each, plus a few hundred bytes an entry).
    """

    def __init__(self, max_entries: int = 50_000, max_postings: int = 8_000_000,
                 warm_postings: int = 4_000_000) -> None:
        self._entries: OrderedDict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_postings = max_postings
        self.warm_postings = warm_postings
        self.postings = 0  # postings held, over all entries
        self._live: set[str] | None = None  # segments of the newest generation (None: not known yet)

    def get(self, segment_key: str, segment, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The postings of a term in one segment, read once."""
        key = (segment_key, field, text)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = _segment_postings(segment, field, text)
        with self._lock:
            if key not in self._entries and (self._live is None or segment_key in self._live):
                self._entries[key] = value
                self.postings += len(value[0])
            while self._entries and (len(self._entries) > self.max_entries or self.postings > self.max_postings):
                self.postings -= len(self._entries.popitem(last=False)[1][0])
        return value

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        with self._lock:
            return key in self._entries

    def retain(self, segment_keys: set[str]) -> None:
        """Forget the postings of segments that were merged away, and keep none of them from now on (a
        warm-up or a search still running on an older generation may read them)."""
        with self._lock:
            self._live = set(segment_keys)
            for key in [k for k in self._entries if k[0] not in self._live]:
                self.postings -= len(self._entries.pop(key)[0])

    def clear(self) -> None:
        """Forget every posting read so far (benchmarks: as in a new process)."""
        with self._lock:
            self._entries.clear()
            self.postings = 0

    def warm(self, leaves: list[tuple[object, str]], fields: tuple[str, ...],
             stop: threading.Event | None = None) -> int:
        """Read ahead the postings of the terms that span several blocks, most frequent first, until the cache
        holds `warm_postings`. Terms of one block are cheap to read on demand. Returns the postings read."""
        candidates = []
        for segment, key in leaves:
            for field in fields:
                for text, info in segment.iter_field(field):
                    df = info.doc_frequency()
                    if df > WARM_MIN_POSTINGS:
                        candidates.append((df, key, segment, field, _text(text)))
        # The most frequent terms that fit, read least frequent first: the costliest to read again end up last
        # in the LRU order, so eviction takes them last.
        candidates.sort(key=lambda c: -c[0])
        room, chosen = self.warm_postings - self.postings, []
        for candidate in candidates:
            if candidate[0] <= room and (candidate[1], candidate[3], candidate[4]) not in self:
                chosen.append(candidate)
                room -= candidate[0]
        read = 0
        for df, key, segment, field, text in reversed(chosen):
            if stop is not None and stop.is_set():
                break
            if self._live is not None and key not in self._live:
                continue  # merged away meanwhile
            self.get(key, segment, field, text)
            read += df
        return read


def _segment_postings(segment, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """All (docnum, weight) postings of a term in one segment, read block by block."""
    if (field, text) not in segment:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    matcher = segment.postings(field, text)
    # Segments with deletions wrap their postings in a filter; we apply the live mask ourselves.
    while not hasattr(matcher, "_read_ids") and hasattr(matcher, "child"):
        matcher = matcher.child
    ids: list[int] = []
    weights: list[float] = []
    if hasattr(matcher, "_read_ids") and hasattr(matcher, "_next_block"):
        # whoosh3 block matcher (pinned whoosh-reloaded 2.7.5): whole blocks at a time.
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            ids.extend(matcher._ids)
            weights.extend(matcher._weights)
            matcher._next_block()
    else:
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            matcher.next()
    return np.asarray(ids, dtype=np.int32), np.asarray(weights, dtype=np.float32)
