"""Ranking metrics and the dev set they run on."""

import math
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CONTENT
from wijkwijzer.search.evaluation import evaluate, load_dev_set, ndcg, recall, reciprocal_rank

DEV_SET = Path(__file__).parent / "eval" / "search_dev.yml"


def test_ndcg_is_one_for_the_ideal_order_and_lower_otherwise():
    relevant = {"a": 3, "b": 1}
    assert ndcg(["a", "b", "x"], relevant) == pytest.approx(1.0)
    swapped = ndcg(["b", "a"], relevant)
    expected = (1 + 7 / math.log2(3)) / (7 + 1 / math.log2(3))
    assert swapped == pytest.approx(expected)
    assert ndcg(["x", "y"], relevant) == 0.0
    assert ndcg(["x"] * 10 + ["a"], relevant) == 0.0  # beyond the cut-off


def test_recall_and_reciprocal_rank():
    relevant = {"a": 3, "b": 1, "c": 2}
    assert recall(["a", "x", "b"], relevant) == pytest.approx(2 / 3)
    assert reciprocal_rank(["x", "y", "b"], relevant) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], relevant) == 0.0


def test_evaluate_groups_by_query_type():
    queries = load_dev_set(DEV_SET)
    perfect = {q.query: sorted(q.relevant, key=q.relevant.get, reverse=True) for q in queries}
    scores = evaluate(queries, lambda text: perfect[text])
    assert scores["all"].ndcg == pytest.approx(1.0) and scores["all"].n == len(queries)
    assert {"keyword", "question", "synonym", "typo"} <= set(scores)


def test_dev_set_is_large_enough_and_points_at_real_case_studies():
    queries = load_dev_set(DEV_SET)
    assert len(queries) >= 30 and len({q.id for q in queries}) == len(queries)
    slugs = {str(p.relative_to(SAMPLE_CONTENT).with_suffix("")) for p in SAMPLE_CONTENT.rglob("*.md")}
    for q in queries:
        assert q.relevant and set(q.relevant) <= slugs, q.id
        assert all(1 <= grade <= 3 for grade in q.relevant.values()), q.id


def test_malformed_dev_set_names_the_query(tmp_path):
    path = tmp_path / "dev.yml"
    path.write_text("queries:\n  - id: q1\n    type: keyword\n", encoding="utf-8")
    with pytest.raises(ValueError, match="query 1"):
        load_dev_set(path)
