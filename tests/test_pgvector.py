"""pgvector on the shared PostgreSQL (WIJKWIJZER_PGVECTOR): detected at start, the `embedding` column written and
backfilled, and semantic search answered in the database with the same answers as the matrix in memory.

The cluster is tests/postgres.py's; pgvector is built by scripts/test (ensure_pgvector). Without it these tests
skip, or fail in CI (WIJKWIJZER_REQUIRE_PGVECTOR=1). The stand-in embedder is enough: what is compared is where
the vectors are searched, not what they mean.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app
from wijkwijzer.cli import main
from wijkwijzer.search.embedders import HashingEmbedder
from wijkwijzer.search.hybrid import HybridSearch
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.semantic import SemanticIndex
from wijkwijzer.search.spaces import MemorySpace, PgvectorSpace
from wijkwijzer.services import Services
from wijkwijzer.storage.postgres import PostgresStore
from wijkwijzer.storage.transfer import table_checksums
from wijkwijzer.storage.vectors import VectorCache

QUERIES = [
    "schulden voorkomen door vroeg signaleren", "jongeren weghouden uit de criminaliteit",
    "natte muren en beschimmelde huizen", "eenzaamheid onder ouderen", "taalachterstand bij peuters",
    "groene schoolpleinen tegen hitte", "buurtsportcoach en wijkverpleegkundige", "armoede kinderen school",
    "recept voor erwtensoep met rookworst", "how to fix a flat bicycle tyre", "bewoners ontmoeten elkaar",
]


@pytest.fixture(scope="session")
def pgvector_cluster(postgres):
    """The session's cluster, when its server offers the `vector` extension."""
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        offered = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if offered is None:
        reason = "pgvector is not installed for this PostgreSQL (scripts/test builds it: ensure_pgvector)"
        if os.environ.get("WIJKWIJZER_REQUIRE_PGVECTOR"):
            pytest.fail(reason)
        pytest.skip(reason)
    return postgres


@pytest.fixture
def vector_url(pgvector_cluster):
    url = pgvector_cluster.fresh_database()
    yield url
    pgvector_cluster.drop_database(url)


def _column(url: str) -> str | None:
    """How the `embedding` column is stored (m: in the row), or None without it."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT attstorage FROM pg_attribute WHERE attrelid = to_regclass('embeddings') "
                           "AND attname = 'embedding'").fetchone()
    return row[0] if row else None


def test_detected_at_start_with_its_column_hidden_from_the_portable_schema(vector_url):
    store = PostgresStore(vector_url)
    try:
        assert store.pgvector is True and "in de database" in store.pgvector_note
        assert _column(vector_url) == "m"  # kept in the row, the bytes beside it in TOAST
        # Derived from the portable tables: `db copy` and the checksums see the same schema as on SQLite.
        assert "embedding" not in store.db["embeddings"].columns_dict
        assert "semantic_passages" not in store.db.table_names()
        assert "embeddings" in {t.table for t in table_checksums(store)}
    finally:
        store.close()


def test_db_migrate_says_where_vectors_are_searched(pgvector_cluster, monkeypatch, tmp_path):
    url = pgvector_cluster.fresh_database(migrated=False)
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("WIJKWIJZER_DATABASE_URL", url)
    try:
        monkeypatch.setenv("WIJKWIJZER_PGVECTOR", "off")
        off = CliRunner().invoke(main, ["db", "migrate"])
        assert off.exit_code == 0, off.output
        assert "Vectoren: geheugen (pgvector staat uit (WIJKWIJZER_PGVECTOR=off)" in off.output
        store = PostgresStore(url, pgvector="off")
        VectorCache(store).put("m", {"a": np.ones(4, dtype=np.float32) / 2})  # stored before pgvector was used
        store.close()
        monkeypatch.setenv("WIJKWIJZER_PGVECTOR", "auto")
        on = CliRunner().invoke(main, ["db", "migrate"])
        assert on.exit_code == 0, on.output
        assert on.output.startswith("0 schemastappen uitgevoerd")
        assert "Vectoren: pgvector (pgvector: vectoren worden in de database doorzocht); 1 vectoren aangevuld." \
            in on.output
    finally:
        pgvector_cluster.drop_database(url)


def test_off_and_a_role_without_the_right_search_in_memory(pgvector_cluster, caplog, tmp_path):
    url = pgvector_cluster.fresh_database(migrated=False)
    owner_url = url.replace("postgres@", "plain@")
    name = url.rsplit("/", 1)[1]
    try:
        off = PostgresStore(url, pgvector="off")
        assert off.pgvector is False and "WIJKWIJZER_PGVECTOR=off" in off.pgvector_note
        assert _column(url) is None  # nothing of pgvector is made when it is off
        off.close()
        # A database owner that is no superuser may not create the (untrusted) extension: a warning, memory.
        pgvector_cluster.admin("DO $$ BEGIN CREATE ROLE plain LOGIN; EXCEPTION WHEN duplicate_object THEN "
                               "NULL; END $$")
        pgvector_cluster.admin(f"DROP DATABASE {name}")
        pgvector_cluster.admin(f"CREATE DATABASE {name} OWNER plain TEMPLATE template0")
        with caplog.at_level(logging.WARNING, logger="wijkwijzer.storage.postgres"):
            plain = PostgresStore(owner_url)
        assert plain.pgvector is False
        assert "CREATE EXTENSION vector" in caplog.text and "geheugen" in caplog.text
        plain.close()
        svc = Services.build(make_settings(tmp_path, SAMPLE_CONTENT, owner_url), embedder=HashingEmbedder())
        try:
            assert isinstance(svc.semantic.space, MemorySpace)
            assert svc.status()["storage"]["vectors"] == "memory"
        finally:
            svc.close()
    finally:
        pgvector_cluster.drop_database(url)


def test_put_writes_the_column_and_rows_without_it_are_backfilled(vector_url):
    rng = np.random.default_rng(7)
    first = {f"h{i}": rng.standard_normal(8).astype(np.float32) for i in range(7)}
    later = {"late": rng.standard_normal(8).astype(np.float32)}
    off = PostgresStore(vector_url, pgvector="off")  # a server with pgvector off writes only the bytes
    VectorCache(off).put("m", first)
    off.close()
    store = PostgresStore(vector_url)
    try:
        cache = VectorCache(store)
        cache.put("m", later)

        def embedded() -> dict[str, bytes | None]:
            # real[] comes back as the shortest decimals of each float4: exact once read as float32 again.
            rows = store.db.execute("SELECT hash, embedding::real[] FROM embeddings WHERE model = 'm'").fetchall()
            return {key: None if v is None else np.array(v, dtype=np.float32).tobytes() for key, v in rows}

        assert embedded()["late"] == later["late"].tobytes()  # written beside the bytes, exactly
        assert all(embedded()[key] is None for key in first)
        assert cache.backfill(batch=3) == 7  # in batches of 3: 3 + 3 + 1
        assert {key: embedded()[key] for key in first} == {key: v.tobytes() for key, v in first.items()}
        assert cache.backfill() == 0
    finally:
        store.close()


def _services(tmp_path, url: str) -> Services:
    svc = Services.build(make_settings(tmp_path, SAMPLE_CONTENT, url), embedder=HashingEmbedder())
    svc.sync()
    svc.refresh_semantic()
    return svc


def test_pgvector_and_memory_give_the_same_answers(vector_url, tmp_path):
    svc = _services(tmp_path, vector_url)
    try:
        database = svc.semantic
        assert isinstance(database.space, PgvectorSpace) and database.ready
        memory = SemanticIndex(svc.semantic.cache, HashingEmbedder(), space=MemorySpace(svc.semantic.cache))
        memory.update(svc.index.generation(), svc.index.all_cases)
        assert memory.ready and memory.status().passages == database.status().passages
        # The stand-in embedder admits what shares many words with a passage: some queries quote the content.
        quoted = [" ".join(case["body"].split()[40:70]) for case in svc.index.all_cases()[::4]]
        admitted = 0
        for query in QUERIES + quoted:
            ours, theirs = database.scores(query), memory.scores(query)
            assert ours.slugs == theirs.slugs
            assert np.allclose(ours.cosine, theirs.cosine, atol=1e-5)
            assert np.allclose(ours.evidence, theirs.evidence, atol=1e-3)
            assert ours.admitted.tolist() == theirs.admitted.tolist(), query
            assert ours.floor == pytest.approx(theirs.floor)
            admitted += int(ours.admitted.sum())
            for i in np.flatnonzero(ours.admitted):
                assert ours.passage(int(i)) == theirs.passage(int(i))
            assert list(database.search(query)) == list(memory.search(query))
        assert admitted >= len(quoted)  # the comparison covered documents above the floor, not only empty answers
        on_memory = HybridSearch(svc.index, memory, svc.settings.semantic_ratio)
        for query in QUERIES + quoted:
            for mode in ("semantic", "hybrid"):
                request = SearchRequest(text=query, per_page=50)
                ours, theirs = svc.hybrid.run(request, mode), on_memory.run(request, mode)
                assert (ours.mode, ours.total, ours.sources) == (theirs.mode, theirs.total, theirs.sources), query
                assert [h.slug for h in ours.hits] == [h.slug for h in theirs.hits], (query, mode)
        for slug in [c["slug"] for c in svc.index.all_cases()]:
            ours, theirs = database.similar(slug, 5), memory.similar(slug, 5)
            assert [s for s, _ in ours] == [s for s, _ in theirs], slug
            assert np.allclose([v for _, v in ours], [v for _, v in theirs], atol=1e-5)
        on_memory.close()
    finally:
        svc.close()


def test_a_content_change_registers_its_own_passage_list(vector_url, tmp_path, sample_content):
    svc = Services.build(make_settings(tmp_path, sample_content, vector_url), embedder=HashingEmbedder())
    try:
        svc.sync()
        svc.refresh_semantic()
        before = svc.semantic.search("groene schoolpleinen tegen hitte")
        victim = next(sample_content.rglob("*.md"))
        slug = f"{victim.parent.name}/{victim.stem}"
        victim.unlink()
        svc.sync()
        svc.refresh_semantic()
        after = svc.semantic.scores("groene schoolpleinen tegen hitte")
        assert slug not in after.slugs and len(after.slugs) == len(svc.index.all_cases())
        assert set(svc.semantic.search("groene schoolpleinen tegen hitte")) <= set(before) | set(after.slugs)
        corpora = svc.store.db.execute("SELECT count(DISTINCT corpus) FROM semantic_passages").fetchone()[0]
        assert corpora == 2  # the old version stays for servers still on it (CORPUS_KEEP)
    finally:
        svc.close()


def test_the_site_on_postgres_reports_and_uses_pgvector(vector_url, tmp_path, monkeypatch):
    monkeypatch.setattr("wijkwijzer.services.make_embedder", lambda settings: (HashingEmbedder(), None))
    app = create_app(make_settings(tmp_path, SAMPLE_CONTENT, vector_url), watch=False)
    services = app.extensions["wijkwijzer"]
    try:
        services.refresh_semantic()
        client = app.test_client()
        status = client.get("/api/v1/status").get_json()
        assert status["storage"]["vectors"] == "pgvector" and status["semantic"]["ready"]
        answer = client.get("/api/v1/search?q=schulden+voorkomen+door+vroeg+signaleren&mode=semantic").get_json()
        assert answer["mode"] == "semantic" and answer["total"] > 0
        memory = SemanticIndex(services.semantic.cache, HashingEmbedder(), space=MemorySpace(services.semantic.cache))
        memory.update(services.index.generation(), services.index.all_cases)
        expected = HybridSearch(services.index, memory, services.settings.semantic_ratio).run(
            SearchRequest(text="schulden voorkomen door vroeg signaleren"), "semantic")
        assert answer["total"] == expected.total
        assert [hit["slug"] for hit in answer["results"]] == [hit.slug for hit in expected.hits]
    finally:
        services.close()
