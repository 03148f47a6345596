"""Search quality on a judged query set: nDCG@10, recall@10 and MRR per mode and per query type.

The dev set (tests/eval/search_dev.yml) grades documents 1-3 per query; unlisted documents count as not
relevant. `scripts/eval_search` prints the table; the bench uses `evaluate` to weigh a faster model variant.
"""

from __future__ import annotations

import math
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


def load_dev_set(path: Path) -> list[Judged]:
    """Read a dev set file; raises ValueError naming the query that is malformed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    queries = []
    for i, item in enumerate(data.get("queries") or [], start=1):
        try:
            relevant = {str(k): int(v) for k, v in (item["relevant"] or {}).items()}
            queries.append(Judged(str(item["id"]), str(item["type"]), str(item["query"]), relevant))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: query {i} is missing or has a bad {exc}") from None
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
    """Run `rank` (query text -> ranked slugs) on every query; mean scores per query type and under "all"."""
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for judged in queries:
        ranking = rank(judged.query)
        row = (ndcg(ranking, judged.relevant), recall(ranking, judged.relevant),
               reciprocal_rank(ranking, judged.relevant))
        rows[judged.type].append(row)
        rows["all"].append(row)
    return {kind: Scores(*(sum(col) / len(values) for col in zip(*values, strict=True)), n=len(values))
            for kind, values in rows.items()}
