"""Semantic and hybrid search: passages, the vector cache, modes, fallbacks, and the real model."""

import shutil

import numpy as np
import pytest

from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from tests.test_helpdesk import login
from wijkwijzer import create_app
from wijkwijzer.search.embedders import HashingEmbedder, SentenceTransformerEmbedder
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.passages import split_passages
from wijkwijzer.search.semantic import RETRY_FIRST, RETRY_MAX, SemanticScores, retry_delay
from wijkwijzer.services import Services
from wijkwijzer.text.formats import format_time


class CountingEmbedder(HashingEmbedder):
    def __init__(self, model_id="hashing-test-embedder"):
        super().__init__()
        self.model_id = model_id
        self.embedded = 0

    def embed(self, texts, kind):
        if kind == "passage":
            self.embedded += len(texts)
        return super().embed(texts, kind)


class BrokenEmbedder(HashingEmbedder):
    def embed(self, texts, kind):
        raise RuntimeError("model kapot")


def semantic_services(tmp_path, content, embedder):
    svc = Services.build(make_settings(tmp_path, content), embedder=embedder)
    svc.sync()
    svc.refresh_semantic()
    return svc


def test_passages_carry_the_title_and_stay_within_bounds():
    case = next(SAMPLE_CONTENT.glob("rotterdam-zuid/vroegsignalering*.md")).read_text(encoding="utf-8")
    body = case.split("---", 2)[2]
    passages = split_passages("x", "Titel", body)
    assert len(passages) >= 3
    assert all(p.text.startswith("Titel. ") for p in passages)
    sizes = [len(p.text.split()) for p in passages]
    assert max(sizes) <= 280  # 250 words plus title and heading
    assert sum(sizes) >= len(body.split()) * 0.8


def test_vectors_are_cached_by_content_hash(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Een", "Schulden voorkomen door vroeg te signaleren. " * 30)
    write_case(content_dir, "a/twee.md", "title: Twee", "Groene schoolpleinen tegen hitte. " * 30)
    embedder = CountingEmbedder()
    svc = semantic_services(tmp_path, content_dir, embedder)
    status = svc.semantic.status()
    assert status.ready and status.pending == 0 and status.passages == embedder.embedded >= 2
    first = embedder.embedded
    write_case(content_dir, "a/twee.md", "title: Twee", "Bomen op het schoolplein tegen hittestress. " * 30)
    svc.sync()
    svc.refresh_semantic()
    assert 0 < embedder.embedded - first < first  # only the changed file's passages
    svc.close()

    again = CountingEmbedder()
    svc = semantic_services(tmp_path, content_dir, again)
    assert again.embedded == 0 and svc.semantic.ready  # everything came from the SQLite cache
    svc.close()

    other = CountingEmbedder(model_id="ander-model")
    svc = semantic_services(tmp_path, content_dir, other)
    assert other.embedded == status.passages  # a model change re-embeds everything
    svc.close()


def test_corrupt_cached_vectors_are_embedded_again(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Een", "Tekst over wonen. " * 40)
    svc = semantic_services(tmp_path, content_dir, CountingEmbedder())
    svc.store.db.execute("UPDATE embeddings SET vector = X'00'")
    svc.close()
    embedder = CountingEmbedder()
    svc = semantic_services(tmp_path, content_dir, embedder)
    assert embedder.embedded > 0 and svc.semantic.ready
    svc.close()


def test_modes_through_the_api(tmp_path, sample_content):
    app = create_app(make_settings(tmp_path, sample_content), watch=False)
    svc = app.extensions["wijkwijzer"]
    semantic = Services.build(make_settings(tmp_path, sample_content), embedder=HashingEmbedder()).semantic
    svc.semantic = svc.hybrid.semantic = semantic
    svc.refresh_semantic()
    client = app.test_client()
    for mode in ("semantic", "hybrid", "keyword"):
        data = client.get(f"/api/v1/search?q=schulden+voorkomen&mode={mode}").get_json()
        assert data["mode"] == mode and data["total"] > 0, mode
    hybrid = client.get("/api/v1/search?q=schulden+voorkomen").get_json()
    assert hybrid["mode"] == "hybrid" and set(hybrid["sources"]) == {"keyword", "semantic"}
    filtered = client.get("/api/v1/search?q=schulden&mode=semantic&themes=wonen").get_json()
    assert all("wonen" in r["themes"] for r in filtered["results"])
    status = client.get("/api/v1/status").get_json()["semantic"]
    assert status["ready"] and status["pending"] == 0 and status["passages"] > 40
    case = client.get("/casus/rotterdam-zuid/vroegsignalering-betalingsachterstanden-met-vaste-lastenpartners")
    assert case.status_code == 200 and "Vergelijkbare praktijkvoorbeelden" in case.get_data(as_text=True)
    svc.close()


def test_missing_model_falls_back_to_keyword(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Schulden", "Over schulden.")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    client = app.test_client()
    status = client.get("/api/v1/status").get_json()["semantic"]
    assert status["enabled"] is False and "wijkwijzer model install" in status["error"]
    data = client.get("/api/v1/search?q=schulden&mode=hybrid").get_json()
    assert data["mode"] == "keyword" and data["total"] == 1
    assert "Zoeken op betekenis staat uit" in client.get("/zoeken?q=schulden").get_data(as_text=True)
    app.extensions["wijkwijzer"].close()


def test_failing_model_is_reported_and_search_still_works(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Schulden", "Over schulden.")
    svc = semantic_services(tmp_path, content_dir, BrokenEmbedder())
    status = svc.semantic.status()
    assert not status.ready and "model kapot" in status.error
    response = svc.search(SearchRequest(text="schulden"), mode="hybrid")
    assert response.mode == "keyword" and response.total == 1
    svc.close()


@pytest.mark.model
def test_real_model_understands_dutch_questions(tmp_path, built_model):
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    for pattern in ("rotterdam-zuid/vroegsignalering*", "vlaardingen-west/*", "amsterdam-zuidoost/straatcoaches*",
                    "tilburg-noordwest/huurteam*"):
        for path in SAMPLE_CONTENT.glob(pattern + ".md"):
            (content / path.parent.name).mkdir(exist_ok=True)
            shutil.copy(path, content / path.parent.name / path.name)
    settings = make_settings(tmp_path, content)
    from dataclasses import replace

    svc = Services.build(replace(settings, embedding_model=str(built_model.path)))
    svc.sync()
    svc.refresh_semantic()
    assert svc.semantic.ready
    top = svc.search(SearchRequest(text="hoe help je mensen met geldzorgen voordat het uit de hand loopt?"),
                     mode="semantic").hits[0]
    assert top.slug.startswith("rotterdam-zuid/vroegsignalering")
    top = svc.search(SearchRequest(text="jongeren weghouden uit de criminaliteit"), mode="semantic").hits[0]
    assert top.slug.startswith("amsterdam-zuidoost/straatcoaches")
    top = svc.search(SearchRequest(text="natte muren en beschimmelde huizen"), mode="hybrid").hits[0]
    assert top.slug.startswith("tilburg-noordwest/huurteam")
    vectors = svc.semantic.cache.get(built_model.model_id, [])
    assert vectors == {}
    norms = np.linalg.norm(svc.semantic._view.matrix, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)
    svc.close()


def test_weak_keyword_matches_do_not_outrank_meaning(tmp_path, content_dir):
    # "buurt" is everywhere; only the second case is about litter. Keyword search ranks the first by the
    # common word; hybrid must not let that weak match beat the semantic side.
    write_case(content_dir, "a/een.md", "title: Buurtfeest", "De buurt viert feest in de buurt. " * 20)
    write_case(content_dir, "a/twee.md", "title: Zwerfvuil", "Zwerfvuil opruimen met bewoners. " * 20)
    write_case(content_dir, "a/drie.md", "title: Buurthuis", "Een buurthuis voor de hele buurt. " * 20)
    svc = semantic_services(tmp_path, content_dir, HashingEmbedder())
    cosine = np.array([0.9, 0.5, 0.4], dtype=np.float32)
    svc.semantic.scores = lambda text: SemanticScores(
        ["a/twee", "a/een", "a/drie"], cosine, cosine * 10, np.array([True, False, False]), cosine,
        np.array([0, 1, 2, 3]), ["Zwerfvuil. Zwerfvuil opruimen", "Buurtfeest", "Buurthuis"])
    response = svc.search(SearchRequest(text="troep in de buurt", semantic_ratio=0.4), mode="hybrid")
    assert response.hits[0].slug == "a/twee"
    svc.close()


def test_semantic_ratio_is_a_validated_parameter(tmp_path, sample_content):
    app = create_app(make_settings(tmp_path, sample_content), watch=False)
    client = app.test_client()
    bad = client.get("/api/v1/search?q=schulden&semantic_ratio=2")
    assert bad.status_code == 400 and "semantic_ratio" in bad.get_json()["error"]
    assert client.get("/api/v1/search?q=schulden&semantic_ratio=0.3").status_code == 200
    assert client.get("/zoeken?q=schulden&semantic_ratio=abc").status_code == 200  # the site resets bad values
    app.extensions["wijkwijzer"].close()


@pytest.mark.model
def test_onnx_query_encoder_gives_the_models_vectors(built_model, tmp_path):
    from wijkwijzer.search.onnx_query import encoder_path, export_query_encoder

    exported = export_query_encoder(built_model.path)  # made by `wijkwijzer model install`; reused here
    assert encoder_path(built_model.path) == exported
    onnx = SentenceTransformerEmbedder(str(built_model.path), built_model.model_id, query_runtime="onnx")
    torch_fp32 = SentenceTransformerEmbedder(str(built_model.path), built_model.model_id)
    assert onnx.query_runtime == "onnx" and torch_fp32.query_runtime == "torch-fp32"
    for query in ("jongeren weghouden uit de criminaliteit", "VvE", "wat werkt tegen eenzaamheid?"):
        a, b = onnx.embed([query], "query"), torch_fp32.embed([query], "query")
        assert a.shape == b.shape == (1, 384) and float(a[0] @ b[0]) > 0.9999
    # a copy of the folder whose weights differ from what the encoder was made from does not use it
    copy = tmp_path / "model"
    shutil.copytree(built_model.path / "onnx", copy / "onnx")
    (copy / "model.safetensors").write_bytes(b"other weights")
    assert encoder_path(copy) is None
    assert SentenceTransformerEmbedder(str(copy), "x", query_runtime="onnx").query_runtime == "torch-fp32"


class FlakyEmbedder(HashingEmbedder):
    """Fails the first `failures` passage batches, then works."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures
        self.calls = 0

    def embed(self, texts, kind):
        if kind == "passage":
            self.calls += 1
            if self.calls <= self.failures:
                raise RuntimeError("model tijdelijk onbereikbaar")
        return super().embed(texts, kind)


def test_a_failing_model_is_retried_with_growing_pauses(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Schulden", "Over schulden en vroegsignalering.")
    embedder = FlakyEmbedder(failures=2)
    svc = Services.build(make_settings(tmp_path, content_dir), embedder=embedder)
    now = [1000.0]
    svc.semantic.clock = lambda: now[0]
    svc.sync()
    svc.refresh_semantic()
    status = svc.semantic.status().to_dict()
    assert {"enabled", "ready", "model", "passages", "pending", "error"} <= status.keys()
    assert not status["ready"] and "tijdelijk onbereikbaar" in status["error"]
    assert status["failed_attempts"] == 1 and status["retry_at"] is not None
    assert svc.search(SearchRequest(text="schulden"), mode="hybrid").mode == "keyword"

    now[0] += RETRY_FIRST - 0.1
    svc.refresh_semantic()  # too early: not tried
    assert embedder.calls == 1
    now[0] += 0.1
    svc.refresh_semantic()  # second failure: the pause doubles
    assert embedder.calls == 2 and svc.semantic.status().failed_attempts == 2
    now[0] += 2 * RETRY_FIRST - 0.1
    svc.refresh_semantic()
    assert embedder.calls == 2
    now[0] += 0.1
    svc.refresh_semantic()  # works now
    status = svc.semantic.status()
    assert status.ready and status.error is None and status.failed_attempts == 0 and status.retry_at is None
    assert svc.search(SearchRequest(text="schulden vroegsignalering"), mode="hybrid").mode == "hybrid"
    svc.close()


def test_retry_pauses_are_capped():
    assert [retry_delay(n) for n in (1, 2, 3)] == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST]
    assert retry_delay(50) == retry_delay(10_000) == RETRY_MAX


def test_the_editors_page_shows_when_semantic_search_is_retried(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Schulden", "Over schulden.")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    svc = app.extensions["wijkwijzer"]
    semantic = Services.build(make_settings(tmp_path, content_dir), embedder=FlakyEmbedder(failures=1)).semantic
    svc.semantic = svc.hybrid.semantic = semantic
    svc.refresh_semantic()
    client = app.test_client()
    status = client.get("/api/v1/status").get_json()["semantic"]
    assert status["failed_attempts"] == 1 and status["retry_at"] and "tijdelijk onbereikbaar" in status["error"]
    svc.accounts.add("coord", "Coördinator Een", "lang-genoeg-wachtwoord")
    login(client)
    page = client.get("/coordinator/redactie").get_data(as_text=True)
    # In Amsterdam time, as every time on the pages.
    assert f"nieuwe poging om {format_time(status['retry_at'], seconds=True)}; 1 keer mislukt" in page
    svc.close()


def test_closing_stops_a_long_embedding_run_after_its_batch(tmp_path, sample_content):
    import threading

    class SlowEmbedder(CountingEmbedder):
        def __init__(self):
            super().__init__()
            self.started = threading.Event()

        def embed(self, texts, kind):
            if kind == "passage":  # the relevance floor's calibration queries come first
                self.started.set()
            threading.Event().wait(0.2)  # a batch takes a while, as on a CPU
            return super().embed(texts, kind)

    embedder = SlowEmbedder()
    svc = Services.build(make_settings(tmp_path, sample_content), embedder=embedder)
    svc.sync()
    worker = threading.Thread(target=svc.refresh_semantic)
    worker.start()
    assert embedder.started.wait(30)
    svc.close()  # the shutdown of a server worker
    worker.join(5)
    assert not worker.is_alive(), "the embedding run went on after close()"
    assert 0 < embedder.embedded < 300  # it stopped after a batch, not after all passages of the sample
