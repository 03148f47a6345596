"""Erasure that erases: after erase or purge the personal data is in no file of the database (the main file,
-wal, -shm), the question's embedding is gone from the vector cache, no cached answer holds the question, an
erase cut short leaves nothing half done, and erasing twice changes nothing."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer.expertise import text_key
from wijkwijzer.search.embedders import HashingEmbedder
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.services import Services

EMAIL = "zeldzaam.adres.4711@voorbeeldgemeente.nl"
PHONE = "06-98761234"
NOTE_PHONE = "010-4455667"
QUESTION = (f"Wij zoeken een projectleider wijkaanpak voor de sloop-nieuwbouw in Nieuwland; bel gerust {PHONE} "
            "voor een toelichting op de planning van de portiekwoningen.")
FORM = {"municipality": "Schiedam", "contact_name": "Henriëtte Zeldzaamnaam", "email": EMAIL,
        "role": "Programmamanager wijkaanpak", "kind": "flexpool", "hours_per_week": "8", "months": "6",
        "question": QUESTION}
STRINGS = (EMAIL, PHONE, NOTE_PHONE, "Zeldzaamnaam")
TODAY = dt.date(2026, 3, 2)


def build(tmp_path: Path, embedder=None, semantic: bool = True, **changes) -> Services:
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts", **changes)
    svc = Services.build(settings, embedder=embedder or HashingEmbedder())
    svc.sync()
    if semantic:
        svc.refresh_semantic()  # semantic search on: query vectors are remembered too
    return svc


def raw(svc: Services) -> dict[str, bytes]:
    """The bytes of the database file and its -wal and -shm files, as a disk reader sees them."""
    path = svc.settings.database_path
    return {suffix or "db": Path(f"{path}{suffix}").read_bytes() if Path(f"{path}{suffix}").exists() else b""
            for suffix in ("", "-wal", "-shm")}


def found(files: dict[str, bytes], needles) -> list[str]:
    """Which needles (str or bytes) occur in which file; strings also as UTF-16 (SQLite may store either)."""
    hits = []
    for needle in needles:
        forms = [needle] if isinstance(needle, bytes) else [needle.encode(), needle.encode("utf-16-le")]
        hits += [f"{name}: {needle[:30]!r}" for name, data in files.items() for form in forms if form in data]
    return hits


def submit_and_work_on(svc: Services, suggest: bool = True) -> tuple[int, bytes]:
    """A request as it lives: submitted, embedded, searched for, suggested, taken in hand with a note. Returns its
    id and the bytes of its question's stored embedding."""
    result, _ = svc.submit_request(dict(FORM), today=TODAY)
    assert result.data is not None, result.errors
    request_id = svc.requests.queue()[0]["id"]
    if suggest:  # the coordinator's look: embeds every pool profile, and the question (already embedded)
        svc.suggestions(request_id, today=TODAY)
    svc.search(SearchRequest(text=QUESTION))  # the coordinator looked for related cases: a cached answer
    svc.change_status(request_id, "in behandeling", "coord", f"Teruggebeld op {NOTE_PHONE}, wil in april starten")
    svc._background().submit(lambda: None).result()  # the embedding made at submission is stored
    row = svc.store.db.execute("SELECT vector FROM embeddings WHERE hash = ?", [text_key(QUESTION)]).fetchone()
    assert row is not None, "the question was never embedded: this test would prove nothing"
    return request_id, bytes(row[0])


def cached_texts(svc: Services) -> list[str]:
    return [key[3][0] for key in svc.hybrid._cache] + list(svc.semantic._queries)


@pytest.mark.parametrize("how", ["erase", "purge"])
@pytest.mark.parametrize("where", ["wal", "file"])
def test_erased_strings_are_in_no_database_file(tmp_path, how, where):
    svc = build(tmp_path)
    try:
        request_id, vector = submit_and_work_on(svc)
        if where == "file":  # the data already checkpointed into the main file: only secure_delete zeroes it
            assert svc.store.checkpoint()
        before = raw(svc)
        assert len(found(before, (*STRINGS, vector))) >= len(STRINGS) + 1, "the strings were never written"
        assert QUESTION in cached_texts(svc) and QUESTION in svc.semantic._queries

        if how == "erase":
            assert svc.erase_request(request_id, "coord") is True
        else:
            svc.change_status(request_id, "afgewezen", "coord", "buiten het programma")
            svc.store.db.execute("UPDATE help_requests SET updated = '2024-01-01T00:00:00+00:00'")
            assert svc.purge(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) == [request_id]

        after = raw(svc)
        assert found(after, (*STRINGS, vector)) == []
        assert after["-wal"] == b""  # truncated by the checkpoint
        assert svc.store.db.execute("SELECT count(*) FROM embeddings WHERE hash = ?",
                                    [text_key(QUESTION)]).fetchone()[0] == 0
        assert QUESTION not in cached_texts(svc) and not any(PHONE in text for text in cached_texts(svc))
        item = svc.requests.get(request_id)
        assert item["email"] == "" and item["question"] == "[verwijderd]" and item["municipality"] == "Schiedam"
        # Still readable and consistent afterwards.
        assert svc.store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        svc.close()


def test_without_secure_delete_the_file_would_keep_them(tmp_path, monkeypatch):
    """The check above can fail: with secure_delete off, checkpointed text survives an erase in free space."""
    svc = build(tmp_path)
    try:
        request_id, _ = submit_and_work_on(svc)
        assert svc.store.checkpoint()
        svc.store.db.execute("PRAGMA secure_delete = OFF")
        svc.erase_request(request_id, "coord")
        assert found(raw(svc), STRINGS)
    finally:
        svc.close()


def snapshot(svc: Services) -> list[str]:
    return list(svc.store.conn.iterdump())


def test_an_erase_cut_by_a_held_write_lock_leaves_everything_and_a_retry_finishes(tmp_path):
    svc = build(tmp_path)
    try:
        request_id, _ = submit_and_work_on(svc)
        before = snapshot(svc)
        other = sqlite3.connect(svc.settings.database_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        svc.store.conn.execute("PRAGMA busy_timeout = 200")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            svc.erase_request(request_id, "coord")
        other.execute("ROLLBACK")
        other.close()
        svc.store.conn.execute("PRAGMA busy_timeout = 30000")
        assert snapshot(svc) == before  # nothing erased, nothing half erased
        assert svc.erase_request(request_id, "coord") is True
        assert found(raw(svc), STRINGS) == []
    finally:
        svc.close()


def test_an_erase_that_crashes_midway_leaves_nothing_half_done(tmp_path, monkeypatch):
    svc = build(tmp_path)
    try:
        request_id, _ = submit_and_work_on(svc)
        before = snapshot(svc)

        def crash(self, keys):
            raise RuntimeError("the process dies here, say")

        monkeypatch.setattr(type(svc.pool.cache), "forget", crash)  # after the row and the notes were blanked
        with pytest.raises(RuntimeError):
            svc.erase_request(request_id, "coord")
        monkeypatch.undo()
        assert snapshot(svc) == before
        assert any(NOTE_PHONE in (event["note"] or "") for event in svc.requests.history(request_id))
        assert svc.erase_request(request_id, "coord") is True
        assert not any(NOTE_PHONE in (event["note"] or "") for event in svc.requests.history(request_id))
    finally:
        svc.close()


def test_erasing_twice_says_so_and_changes_nothing(tmp_path):
    svc = build(tmp_path)
    try:
        request_id, _ = submit_and_work_on(svc)
        assert svc.erase_request(request_id, "coord") is True
        before = snapshot(svc)
        assert svc.erase_request(request_id, "coord") is False
        assert svc.purge(dt.datetime(2100, 1, 1, tzinfo=dt.UTC)) == []
        assert snapshot(svc) == before
        with pytest.raises(KeyError):
            svc.erase_request(987654, "coord")
    finally:
        svc.close()


def test_a_late_embedding_of_an_erased_question_is_not_kept(tmp_path):
    svc = build(tmp_path)
    try:
        request_id, _ = submit_and_work_on(svc)
        svc.erase_request(request_id, "coord")
        svc._embed_quietly(request_id, QUESTION)  # the background embedding finishing after the erasure
        assert svc.store.db.execute("SELECT count(*) FROM embeddings WHERE hash = ?",
                                    [text_key(QUESTION)]).fetchone()[0] == 0
    finally:
        svc.close()


def test_other_server_processes_drop_their_cached_answers(tmp_path):
    first = build(tmp_path)
    second = Services.build(first.settings, embedder=HashingEmbedder())  # another worker on the same data folder
    try:
        request_id, _ = submit_and_work_on(first)
        second.search(SearchRequest(text=QUESTION))
        assert QUESTION in cached_texts(second)
        first.erase_request(request_id, "coord")
        second.search(SearchRequest(text="wonen"))  # its next search, on any subject
        assert QUESTION not in cached_texts(second)
    finally:
        second.close()
        first.close()


def test_the_web_erase_is_honest_the_second_time(tmp_path):
    from wijkwijzer import create_app

    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts")
    app = create_app(settings, sync=False, watch=False)
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator", "lang-genoeg-wachtwoord")
    try:
        svc.submit_request(dict(FORM), today=TODAY)
        request_id = svc.requests.queue()[0]["id"]
        client = app.test_client()

        def csrf(path):
            return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)

        client.post("/coordinator/inloggen", data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                                   "csrf_token": csrf("/coordinator/inloggen")})
        token = csrf(f"/coordinator/aanvraag/{request_id}")
        url = f"/coordinator/aanvraag/{request_id}/wissen"
        page = client.post(url, data={"confirm": "ja", "csrf_token": token}, follow_redirects=True)
        assert "Persoonsgegevens gewist." in page.get_data(as_text=True)
        trail = svc.audit.trail(request_id)
        page = client.post(url, data={"confirm": "ja", "csrf_token": token}, follow_redirects=True)
        html = page.get_data(as_text=True)
        assert "waren al gewist; er is niets veranderd" in html and "Persoonsgegevens gewist." not in html
        assert [a for a in svc.audit.trail(request_id) if "gewist" in a["action"].lower()] == \
               [a for a in trail if "gewist" in a["action"].lower()]
    finally:
        svc.close()


@pytest.mark.slow
def test_erasure_with_the_real_model(tmp_path, built_model):
    from wijkwijzer.services import make_embedder

    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts",
                       embedding_model=str(built_model.path))
    embedder, _ = make_embedder(settings)
    # Only the request's path: embedding the 370 sample passages would take minutes on two cores.
    svc = build(tmp_path, embedder=embedder, semantic=False, embedding_model=str(built_model.path))
    try:
        request_id, vector = submit_and_work_on(svc, suggest=False)  # the pool's 40 profiles: minutes on 2 cores
        assert np.frombuffer(vector, dtype=np.float32).shape == (384,)
        assert svc.erase_request(request_id, "coord")
        assert found(raw(svc), (*STRINGS, vector)) == []
    finally:
        svc.close()
