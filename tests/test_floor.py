"""The relevance floor: calibration, storage with the model, and honest totals in every mode."""

import shutil
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from wijkwijzer.search import floor
from wijkwijzer.search.embedders import HashingEmbedder
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.services import Services

MODES = ("keyword", "semantic", "hybrid")


def test_the_floor_lets_through_about_the_chosen_share_of_unrelated_queries():
    rng = np.random.default_rng(7)
    docs = 30
    hub = np.linspace(0.70, 0.85, docs)  # some documents score high against anything
    null = hub + rng.normal(0, 0.01, size=(400, docs))
    fitted = floor.fit(null)
    fresh = hub + rng.normal(0, 0.01, size=(4000, docs))  # new unrelated queries from the same distribution
    any_admitted = fitted.admits(fresh).any(axis=1).mean()
    # About FALSE_ADMISSION per query, not per document (per document it would be near 1 - 0.95 ** 30 = 79 %).
    assert floor.FALSE_ADMISSION / 2 < any_admitted < floor.FALSE_ADMISSION * 1.6
    # The same cosine is evidence on a specific document and none on a hub.
    scores = np.full(docs, 0.80)
    admitted = fitted.admits(scores)
    assert admitted[0] and not admitted[-1]


def test_the_keyword_floor_is_a_quantile_of_what_unrelated_queries_reach():
    coverages = [0.0] * 90 + [0.2] * 6 + [0.4] * 3 + [1.0]
    assert floor.keyword_floor(coverages) == pytest.approx(0.2)
    assert floor.keyword_floor([1.0] * 10) == 0.99  # a document with every word of the query always answers


def test_a_collection_too_small_to_calibrate_admits_nothing_by_meaning():
    assert not floor.fit(np.zeros((2, 5))).admits(np.ones(5)).any()


def test_calibration_queries_are_fixed_and_not_the_dev_set():
    from pathlib import Path

    queries = floor.calibration_queries()
    assert queries == floor.calibration_queries() and len(queries) >= 100
    dev = (Path(__file__).parent / "eval" / "search_dev.yml").read_text(encoding="utf-8").lower()
    assert not [q for q in queries if f'"{q.lower()}"' in dev]


def test_calibration_is_stored_with_the_model_and_checked(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"gewichten")
    embedder = HashingEmbedder()
    embedder.model_path = str(model)
    vectors = floor.null_vectors(embedder)  # not there yet: embedded and stored
    assert (model / floor.FOLDER / "hashing-test-embedder.json").is_file()
    assert np.array_equal(floor.load(model, embedder.model_id), vectors)
    assert floor.load(model, "een-ander-model") is None
    (model / "model.safetensors").write_bytes(b"andere gewichten")  # other weights: the vectors no longer count
    assert floor.load(model, embedder.model_id) is None
    assert not list((model / floor.FOLDER).glob(".*"))  # no temporary files left


def hashing_services(tmp_path, content):
    svc = Services.build(make_settings(tmp_path, content), embedder=HashingEmbedder())
    svc.sync()
    svc.refresh_semantic()
    assert svc.semantic.ready and svc.semantic.status().floor is not None
    return svc


def test_totals_and_facets_count_only_documents_with_evidence(tmp_path, sample_content):
    svc = hashing_services(tmp_path, sample_content)
    for mode in MODES:
        response = svc.search(SearchRequest(text="xqzvbn"), mode=mode)
        assert response.total == 0 and response.hits == [], mode
        assert all(v.count == 0 for values in response.facets.values() for v in values), mode
        response = svc.search(SearchRequest(text="hittestress schoolplein", per_page=50), mode=mode)
        assert 0 < response.total < svc.index.count(), mode
        assert response.total == len(response.hits)
        # Every document has one type: the type facet counts add up to the total.
        assert sum(v.count for v in response.facets["type"]) == response.total, mode
        filtered = svc.search(SearchRequest(text="hittestress schoolplein", filters={"type": ("praktijkvoorbeeld",)},
                                            per_page=50), mode=mode)
        assert filtered.total == {v.key: v.count for v in response.facets["type"]}.get("praktijkvoorbeeld", 0), mode
    # The scores say which floor they were held against (scripts/eval_search --explain prints it).
    scores = svc.semantic.scores("hittestress schoolplein")
    assert round(scores.floor, 3) == svc.semantic.status().floor
    assert np.array_equal(scores.admitted, scores.evidence > scores.floor)
    svc.close()


@pytest.mark.model
def test_nonsense_finds_nothing_in_every_mode_with_the_real_model(tmp_path, built_model):
    assert floor.load(built_model.path, built_model.model_id) is not None  # calibrated at install
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    for pattern in ("rotterdam-zuid/vroegsignalering*", "vlaardingen-west/*", "amsterdam-zuidoost/straatcoaches*",
                    "tilburg-noordwest/huurteam*", "breda-noord/*", "delft-west/*"):
        for path in SAMPLE_CONTENT.glob(pattern + ".md"):
            (content / path.parent.name).mkdir(exist_ok=True)
            shutil.copy(path, content / path.parent.name / path.name)
    settings = replace(make_settings(tmp_path, content), embedding_model=str(built_model.path))
    svc = Services.build(settings)
    svc.sync()
    svc.refresh_semantic()
    assert svc.semantic.ready
    for text in ("xqzvbn", "qwpfjd zxlrk", "recipe for banana bread"):
        for mode in MODES:
            response = svc.search(SearchRequest(text=text), mode=mode)
            assert response.total == 0 and response.hits == [], (text, mode, [h.slug for h in response.hits])
            assert all(v.count == 0 for values in response.facets.values() for v in values)
    # An off-topic Dutch question: nothing clears the floor by meaning (a shared common word may still match).
    off_topic = svc.search(SearchRequest(text="hoe laat begint de voetbalwedstrijd vanavond"), mode="semantic")
    assert off_topic.sources["semantic"] == 0
    # A real question still finds its answer by meaning, without a shared word, and not the whole collection.
    for mode in ("semantic", "hybrid"):
        response = svc.search(SearchRequest(text="hoe help je mensen met geldzorgen voordat het uit de hand loopt?",
                                            per_page=50), mode=mode)
        assert response.hits[0].slug.startswith("rotterdam-zuid/vroegsignalering"), mode
        assert response.total < svc.index.count(), mode
        assert sum(v.count for v in response.facets["type"]) == response.total
    svc.close()


def test_keyword_fallback_counts_the_same_way(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Schulden\ntype: praktijkvoorbeeld", "Over schulden en geldzorgen.")
    write_case(content_dir, "a/twee.md", "title: Groen\ntype: praktijkvoorbeeld", "Over bomen op het plein.")
    svc = Services.build(make_settings(tmp_path, content_dir))  # no model installed: keyword only
    svc.sync()
    response = svc.search(SearchRequest(text="schulden"), mode="hybrid")
    assert response.mode == "keyword" and response.total == 1
    assert sum(v.count for v in response.facets["type"]) == 1
    assert svc.search(SearchRequest(text="xqzvbn"), mode="semantic").total == 0
    svc.close()
