"""Ranking metrics and the dev set they run on."""

import math
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CONTENT
from wijkwijzer.search.evaluation import (
    Answer,
    containing,
    evaluate,
    judge,
    load_dev_set,
    ndcg,
    phrase_of,
    recall,
    reciprocal_rank,
    set_scores,
)

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
    judged = [q for q in queries if q.relevant]
    assert scores["all"].ndcg == pytest.approx(1.0) and scores["all"].n == len(judged)
    assert {"keyword", "question", "synonym", "typo"} <= set(scores)


def test_dev_set_is_large_enough_and_points_at_real_case_studies():
    queries = load_dev_set(DEV_SET)
    assert len(queries) >= 30 and len({q.id for q in queries}) == len(queries)
    slugs = {str(p.relative_to(SAMPLE_CONTENT).with_suffix("")) for p in SAMPLE_CONTENT.rglob("*.md")}
    for q in queries:
        assert (not q.relevant if q.expect == "nothing" else q.relevant), q.id
        assert set(q.relevant) <= slugs, q.id
        assert all(1 <= grade <= 3 for grade in q.relevant.values()), q.id


def test_malformed_dev_set_names_the_query(tmp_path):
    path = tmp_path / "dev.yml"
    path.write_text("queries:\n  - id: q1\n    type: keyword\n", encoding="utf-8")
    with pytest.raises(ValueError, match="query 1"):
        load_dev_set(path)


def test_expect_nothing_must_not_list_documents(tmp_path):
    path = tmp_path / "dev.yml"
    path.write_text("queries:\n  - {id: n1, type: nonsense, query: xq, expect: nothing, relevant: {a: 1}}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="expects nothing"):
        load_dev_set(path)
    path.write_text("queries:\n  - {id: n1, type: nonsense, query: xq, expect: niks, relevant: {}}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="allowed: results, nothing"):
        load_dev_set(path)


def test_phrase_sets_and_the_nothing_share(tmp_path):
    texts = {"a": "Preventie met gezag op school.", "b": "Preventie en gezag.", "c": "preventie,  met\ngezag!",
             "d": "Nog meer preventie met gezagdragers."}
    assert phrase_of('"preventie met gezag" school') == "preventie met gezag"
    assert containing("preventie met gezag", texts) == {"a", "c"}  # whole words: not "gezagdragers"
    assert set_scores({"a", "b"}, {"a", "c"}) == pytest.approx((0.5, 0.5, 0.5))
    assert set_scores(set(), set()) == (1.0, 1.0, 1.0)
    path = tmp_path / "dev.yml"
    path.write_text(
        "queries:\n"
        "  - {id: p1, type: phrase, query: '\"preventie met gezag\"', relevant: {a: 3}}\n"
        "  - {id: n1, type: nonsense, query: xqzvbn, expect: nothing, relevant: {}}\n"
        "  - {id: n2, type: nonsense, query: blorf, expect: nothing, relevant: {}}\n", encoding="utf-8")
    answers = {'"preventie met gezag"': Answer(["a", "b"], ["a", "b"], 2), "xqzvbn": Answer([], [], 0),
               "blorf": Answer(["d"], ["d"], 1)}
    behaviour = judge(load_dev_set(path), answers.__getitem__, texts)
    assert behaviour.nothing == 0.5 and behaviour.nothing_n == 2
    assert behaviour.phrases.precision == 0.5 and behaviour.phrases.recall == 0.5 and behaviour.phrases.n == 1
    assert behaviour.ranking["phrase"].ndcg == pytest.approx(1.0) and "nonsense" not in behaviour.ranking
