"""A page of results: disjunctive facet counts and hits with highlighted snippets."""

from __future__ import annotations

import html

import numpy as np

from wijkwijzer.domain.taxonomy import FACETS, Taxonomy
from wijkwijzer.search.models import FacetValue, Hit
from wijkwijzer.search.ranking import Snapshot
from wijkwijzer.search.snippets import snippet as make_snippet


def facet_counts(
    snap: Snapshot, matched: np.ndarray, filters: dict[str, tuple[str, ...]], taxonomy: Taxonomy
) -> tuple[dict[str, list[FacetValue]], np.ndarray]:
    """Disjunctive facets: each facet counts what its values would give with the *other* facets' filters.
    Also returns the matched documents that pass every filter."""
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


def make_hit(fields: dict, score: float, terms: frozenset[str], passage: str | None = None,
             prefer_passage: bool = False) -> Hit:
    """One result from a document's stored fields: the snippet highlights `terms`, or shows the best passage."""
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


def whoosh_score(hit) -> float:
    """The score of a Whoosh hit; sorted results carry the sort key (a date) as their "score": 0 there."""
    return round(float(hit.score), 4) if isinstance(hit.score, int | float) else 0.0


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
