"""The numpy ranking path must agree with Whoosh's own BM25F scoring and honour deletions."""

import logging
import threading
import time

import numpy as np
import pytest
from whoosh.query import Or, Term

from tests.conftest import make_settings, write_case
from wijkwijzer.search import ranking
from wijkwijzer.search.fulltext import GENERATION_TTL
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.query import SEARCH_FIELDS
from wijkwijzer.search.query import plain_groups as _plain_groups
from wijkwijzer.search.ranking import COORDINATION, simple_terms
from wijkwijzer.services import Services


@pytest.fixture(scope="module")
def index(sample_app):
    return sample_app.extensions["wijkwijzer"].index


@pytest.mark.parametrize("word", ["schuld", "jongeren", "woning", "criminaliteit", "school"])
def test_single_word_scores_match_whoosh_bm25f(index, word):
    snap = index.snapshot()
    stem = _plain_groups(word)[0][0][1]
    scores, matched, _ = snap.score([[(f, stem) for f in SEARCH_FIELDS]])
    whoosh = snap.searcher.search(Or([Term(f, stem) for f in SEARCH_FIELDS]), limit=None)
    expected = {hit.docnum: hit.score for hit in whoosh}
    assert set(expected) == set(matched.nonzero()[0].tolist())
    for docnum, score in expected.items():
        assert scores[docnum] == pytest.approx(score * (1 + COORDINATION), rel=1e-4)


WORDS = ["buurthuis", "speeltuin", "fietspad", "moestuin", "sporthal", "markt"]


def _short_case(content_dir, n: int, shift: int = 0):
    # Short fields: their lengths are stored exactly (Whoosh keeps lengths above 10 as rounded bytes).
    words = " ".join(w for i, w in enumerate(WORDS) if (n + shift) % (i + 2) == 0) or "plein"
    return write_case(content_dir, f"e/doc-{n:02d}.md", f"title: {WORDS[n % 6]} {n}", f"De {words}.")


@pytest.mark.parametrize("word", WORDS)
def test_scores_after_edits_match_whoosh_on_a_fresh_index(tmp_path, content_dir, word):
    """After updates and deletions our BM25F uses the live documents only (idf, document count, average
    lengths), so a document scores as it would in an index built from scratch from the same files. Whoosh's
    own scoring on the edited index counts the deleted versions too, and drifts with the edit history."""
    svc = Services.build(make_settings(tmp_path / "edited", content_dir))
    for n in range(30):
        _short_case(content_dir, n)
    svc.sync()
    for n in range(0, 10):  # updated
        _short_case(content_dir, n, shift=1)
        svc.sync()
    for n in range(10, 16):  # deleted
        (content_dir / f"e/doc-{n:02d}.md").unlink()
    svc.sync()
    snap = svc.index.snapshot()
    assert any(segment.has_deletions() for segment, _ in snap.segments)
    stem = _plain_groups(word)[0][0][1]
    scores, matched, _ = snap.score([[(f, stem) for f in SEARCH_FIELDS]])
    ours = {snap.slugs[d]: float(scores[d]) for d in np.flatnonzero(matched)}

    fresh = Services.build(make_settings(tmp_path / "fresh", content_dir))
    fresh.sync()
    fresh_snap = fresh.index.snapshot()
    assert not any(segment.has_deletions() for segment, _ in fresh_snap.segments)
    whoosh = fresh_snap.searcher.search(Or([Term(f, stem) for f in SEARCH_FIELDS]), limit=None)
    expected = {fresh_snap.slugs[hit.docnum]: hit.score * (1 + COORDINATION) for hit in whoosh}
    assert ours.keys() == expected.keys() and len(ours) >= 4
    assert ours == pytest.approx(expected, rel=1e-4)
    svc.close()
    fresh.close()


def test_plain_words_give_the_same_terms_as_the_parser(index):
    text = "Jongeren weghouden uit de jeugdcriminaliteit"
    parsed = simple_terms(index.parse(text))
    assert sorted(map(sorted, _plain_groups(text))) == sorted(map(sorted, parsed))


def test_syntax_goes_through_whoosh(index):
    assert _plain_groups('"vroegsignalering schulden"') is None
    assert _plain_groups("schulden AND wonen") is None
    phrase = index.search(SearchRequest(text='"schulden"'))
    assert phrase.total > 0


def test_updates_and_deletions_are_seen_by_the_fast_path(services, content_dir):
    path = write_case(content_dir, "a/een.md", "title: Eerste", "Zonnebloemveld in de wijk.")
    services.sync()
    assert services.index.search(SearchRequest(text="zonnebloemveld")).total == 1
    path.write_text("---\ntitle: Eerste\n---\nTulpenveld in de wijk.\n", encoding="utf-8")
    services.sync()
    assert services.index.search(SearchRequest(text="zonnebloemveld")).total == 0
    assert services.index.search(SearchRequest(text="tulpenveld")).total == 1
    path.unlink()
    services.sync()
    assert services.index.search(SearchRequest(text="tulpenveld")).total == 0


def test_frequent_postings_are_read_ahead_and_rank_the_same(services, content_dir):
    # 300 documents: "buurthuis" and "speeltuin" span three postings blocks (read ahead), each "uniekwoordN" one
    # (read on demand).
    for n in range(300):
        write_case(content_dir, f"w/doc-{n:03d}.md", f"title: Casus {n}",
                   f"Het buurthuis, de speeltuin en uniekwoord{n}.")
    services.sync(full=True)
    index = services.index
    index.warm = True  # as in a web process
    index.open().writer().commit(optimize=True)  # one segment, so "buurthuis" has 300 postings in it
    time.sleep(GENERATION_TTL * 1.2)
    cold = index.search(SearchRequest(text="buurthuis uniekwoord7"))
    assert index.warmup.wait(30)
    keys = [key for _, key in index.snapshot().segments]
    assert len(keys) == 1

    def cached(word: str) -> bool:
        return (keys[0], "body", _plain_groups(word)[0][0][1]) in index._postings

    assert cached("speeltuin")  # never searched: read ahead
    assert cached("uniekwoord7")  # read by the search above, not ahead
    assert not any(cached(f"uniekwoord{n}") for n in range(100, 300))
    warm = index.search(SearchRequest(text="buurthuis uniekwoord7"))
    assert [h.slug for h in warm.hits] == [h.slug for h in cold.hits] and warm.total == cold.total == 300
    assert index._postings.postings >= 300


def test_web_processes_read_ahead(sample_app):
    assert sample_app.extensions["wijkwijzer"].index.warm


def test_commands_do_not_read_ahead(services, content_dir):
    for n in range(200):
        write_case(content_dir, f"w/doc-{n:03d}.md", f"title: Casus {n}", "Het buurthuis en de speeltuin.")
    services.sync(full=True)
    services.index.search(SearchRequest(text="buurthuis"))
    assert services.index.warmup.wait(1)
    speeltuin = _plain_groups("speeltuin")[0][0][1]
    assert services.index._postings._entries
    assert not any(text == speeltuin for _, _, text in services.index._postings._entries)


def test_postings_of_merged_segments_are_dropped(services, content_dir):
    for n in range(3):
        write_case(content_dir, f"m/doc-{n}.md", f"title: Casus {n}", "Het buurthuis in de wijk.")
        services.sync()
        services.index.search(SearchRequest(text="buurthuis"))
    before = {key[0] for key in services.index._postings._entries}
    assert len(before) == 3
    old_segment, old_key = services.index.snapshot().segments[0]
    services.index.open().writer().commit(optimize=True)
    time.sleep(GENERATION_TTL * 1.2)  # a commit not made through FulltextIndex is seen after this delay
    services.index.search(SearchRequest(text="buurthuis"))
    after = {key[0] for key in services.index._postings._entries}
    assert len(after) == 1 and not after & before
    # A search or warm-up still on the old generation reads a merged-away segment: answered, not kept.
    ids, _ = services.index._postings.get(old_key, old_segment, "body", _plain_groups("wijk")[0][0][1])
    assert len(ids) == 1 and {key[0] for key in services.index._postings._entries} == after


def _held_warm_up(services, content_dir, monkeypatch) -> threading.Event:
    """300 documents with frequent words, and a warm-up that reads nothing until the returned event is set."""
    for n in range(300):
        write_case(content_dir, f"w/doc-{n:03d}.md", f"title: Casus {n}",
                   f"Het buurthuis, de speeltuin en uniekwoord{n}.")
    services.sync(full=True)
    services.index.warm = True
    real, started, release = ranking._segment_postings, threading.Event(), threading.Event()

    def held(*args):
        if threading.current_thread().name == "wijkwijzer-postings-warmup":
            started.set()
            release.wait(10)
        return real(*args)

    monkeypatch.setattr(ranking, "_segment_postings", held)
    services.index.search(SearchRequest(text="wijk"))  # the first search starts the warm-up
    assert started.wait(10)
    return release


def test_segments_merged_during_a_warm_up_are_warmed_too(services, content_dir, monkeypatch):
    release = _held_warm_up(services, content_dir, monkeypatch)
    index = services.index
    index.open().writer().commit(optimize=True)
    time.sleep(GENERATION_TTL * 1.2)
    index.search(SearchRequest(text="wijk"))  # a new generation while the first warm-up still runs
    release.set()
    assert index.warmup.wait(60)
    [(_, merged)] = index.snapshot().segments
    assert (merged, "body", _plain_groups("speeltuin")[0][0][1]) in index._postings


def test_closing_stops_a_warm_up(services, content_dir, monkeypatch):
    release = _held_warm_up(services, content_dir, monkeypatch)
    threading.Timer(0.5, release.set).start()
    services.index.close()
    assert services.index.warmup.wait(0)  # close() waited for it


def test_a_failed_warm_up_is_a_warning_and_search_still_answers(services, content_dir, monkeypatch, caplog):
    for n in range(200):
        write_case(content_dir, f"w/doc-{n:03d}.md", f"title: Casus {n}", "Het buurthuis en de speeltuin.")
    services.sync(full=True)

    def broken(*args, **kwargs):
        raise OSError("schijf weg")

    monkeypatch.setattr(services.index._postings, "warm", broken)
    services.index.warm = True
    with caplog.at_level(logging.DEBUG, logger="wijkwijzer.search.warmup"):
        assert services.index.search(SearchRequest(text="buurthuis")).total == 200
        assert services.index.warmup.wait(10)
    assert [r.levelno for r in caplog.records if "schijf weg" in r.getMessage()] == [logging.WARNING]
