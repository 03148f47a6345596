"""Search quality on a judged query set: nDCG@10, recall@10 and MRR per mode and per query type, and how search
behaves: the share of "expect nothing" queries that find nothing, and precision/recall of phrase queries.

The dev set (tests/eval/search_dev.yml) grades documents 1-3 per query; unlisted documents count as not
relevant. A query with `expect: nothing` (and `relevant: {}`) should find no document at all; it counts in the
"nothing" share, not in the ranking metrics. For a `type: phrase` query the relevant documents are those whose
text contains the phrase, and the whole returned set is judged, not only the first ten. `scripts/eval_search`
prints the tables; the bench uses `evaluate` to weigh a faster model variant.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

CUTOFF = 10


@dataclass(frozen=True)
class Judged:
    """One query of the dev set with its graded relevant documents."""

    id: str
    type: str
    query: str
    relevant: dict[str, int]
    expect: str = "results"  # "nothing": no document should be returned


EXPECTATIONS = ("results", "nothing")


def load_dev_set(path: Path) -> list[Judged]:
    """Read a dev set file; raises ValueError naming the query that is malformed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    queries = []
    for i, item in enumerate(data.get("queries") or [], start=1):
        try:
            relevant = {str(k): int(v) for k, v in (item["relevant"] or {}).items()}
            expect = str(item.get("expect") or "results")
            queries.append(Judged(str(item["id"]), str(item["type"]), str(item["query"]), relevant, expect))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: query {i} is missing or has a bad {exc}") from None
        if expect not in EXPECTATIONS:
            raise ValueError(f"{path}: query {i} has expect: {expect!r}; allowed: {', '.join(EXPECTATIONS)}")
        if expect == "nothing" and relevant:
            raise ValueError(f"{path}: query {i} expects nothing but lists relevant documents")
    return queries


def ndcg(ranking: list[str], relevant: dict[str, int], k: int = CUTOFF) -> float:
    """Normalised discounted cumulative gain with graded gains 2^rel - 1."""
    gain = sum((2 ** relevant.get(slug, 0) - 1) / math.log2(i + 2) for i, slug in enumerate(ranking[:k]))
    ideal = sum((2 ** rel - 1) / math.log2(i + 2)
                for i, rel in enumerate(sorted(relevant.values(), reverse=True)[:k]))
    return gain / ideal if ideal else 0.0


def recall(ranking: list[str], relevant: dict[str, int], k: int = CUTOFF) -> float:
    """Share of the relevant documents (any grade) among the first k."""
    return len(set(ranking[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def precision(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    """Share of the first k places taken by relevant items (any grade); empty places count as misses."""
    return len([slug for slug in ranking[:k] if slug in relevant]) / k


def reciprocal_rank(ranking: list[str], relevant: dict[str, int]) -> float:
    """1 / rank of the first relevant document (any grade), 0 when none is found."""
    return next((1 / (i + 1) for i, slug in enumerate(ranking) if slug in relevant), 0.0)


@dataclass
class Scores:
    """Mean metrics over a group of queries."""

    ndcg: float
    recall: float
    mrr: float
    n: int


def evaluate(queries: Iterable[Judged], rank: Callable[[str], list[str]]) -> dict[str, Scores]:
    """Run `rank` (query text -> ranked slugs) on every query that expects results; mean scores per query type
    and under "all"."""
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for judged in queries:
        if not judged.relevant:
            continue  # an "expect nothing" query has no ranking to judge
        ranking = rank(judged.query)
        row = (ndcg(ranking, judged.relevant), recall(ranking, judged.relevant),
               reciprocal_rank(ranking, judged.relevant))
        rows[judged.type].append(row)
        rows["all"].append(row)
    return {kind: Scores(*(sum(col) / len(values) for col in zip(*values, strict=True)), n=len(values))
            for kind, values in rows.items()}


@dataclass(frozen=True)
class Answer:
    """What one search returned, for judging: the first ten slugs in order, every returned slug, the total."""

    ranking: list[str]
    returned: list[str]
    total: int


@dataclass
class SetScores:
    """Mean precision, recall and F1 of returned sets (phrase queries)."""

    precision: float
    recall: float
    f1: float
    n: int


@dataclass
class Behaviour:
    """How one mode behaves on the dev set: ranking per type, "nothing" share, phrase set quality."""

    ranking: dict[str, Scores]
    nothing: float | None  # share of "expect nothing" queries with total == 0; None without such queries
    nothing_n: int
    phrases: SetScores | None


def phrase_of(query: str) -> str:
    """The phrase a phrase query asks for: the quoted part, else the whole query."""
    quoted = re.findall(r'"([^"]+)"', query)
    return " ".join(quoted[0].split()) if quoted else " ".join(query.split())


def containing(phrase: str, texts: dict[str, str]) -> set[str]:
    """Slugs whose text contains `phrase` as whole words, ignoring case and runs of spaces or punctuation."""
    words = re.findall(r"\w+", phrase.lower())
    if not words:
        return set()
    pattern = re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)")
    return {slug for slug, text in texts.items() if pattern.search(text.lower())}


def set_scores(returned: set[str], relevant: set[str]) -> tuple[float, float, float]:
    """Precision, recall and F1 of a returned set; an empty set that should be empty scores 1 on all three."""
    if not returned and not relevant:
        return 1.0, 1.0, 1.0
    hits = len(returned & relevant)
    precision_ = hits / len(returned) if returned else 0.0
    recall_ = hits / len(relevant) if relevant else 0.0
    f1 = 2 * precision_ * recall_ / (precision_ + recall_) if precision_ + recall_ else 0.0
    return precision_, recall_, f1


def judge(queries: Iterable[Judged], search: Callable[[str], Answer], texts: dict[str, str]) -> Behaviour:
    """Run `search` on every query: ranking metrics per type (queries with judged documents), the share of
    "expect nothing" queries that return nothing, and phrase precision/recall/F1 against `texts` (slug -> the
    document's plain text: title, summary and body)."""
    queries = list(queries)
    answers = {judged.query: search(judged.query) for judged in queries}
    ranking = evaluate([q for q in queries if q.relevant], lambda text: answers[text].ranking)
    empty = [answers[q.query].total == 0 for q in queries if q.expect == "nothing"]
    rows = [set_scores(set(answers[q.query].returned), containing(phrase_of(q.query), texts))
            for q in queries if q.type == "phrase"]
    phrases = SetScores(*(sum(col) / len(rows) for col in zip(*rows, strict=True)), n=len(rows)) if rows else None
    return Behaviour(ranking, sum(empty) / len(empty) if empty else None, len(empty), phrases)
