"""Our Whoosh patches: with them, threads sharing one searcher read exactly the right postings; where Whoosh's
internals differ from what a patch relies on, it stays out (with a warning) and search still answers right."""

import logging
import threading

import pytest
from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.columns import NumericColumn

from tests.conftest import run_threads, write_case
from wijkwijzer.search import whoosh_patches
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.ranking import _segment_postings

WORDS = ["buurthuis", "speeltuin", "fietspad", "moestuin", "bibliotheek", "sporthal"]


@pytest.fixture
def one_segment(services, content_dir):
    """400 documents in one segment: the frequent words span several postings blocks."""
    for n in range(400):
        body = " ".join(w for i, w in enumerate(WORDS) if n % (i + 2) == 0) or "wijk"
        write_case(content_dir, f"t/doc-{n:03d}.md", f"title: Casus {n}", f"{body}.")
    services.sync(full=True)
    ix = whoosh_index.open_dir(str(services.settings.index_dir))
    ix.writer().commit(optimize=True)
    with ix.searcher() as searcher:
        [(segment, _)] = searcher.reader().leaf_readers()
        yield segment


def _concurrent_reads(segment, terms: list[str], rounds: int = 40) -> dict[str, list]:
    """Read every term's postings from 8 threads at once; term -> every answer (or error) seen."""
    seen: dict[str, list] = {t: [] for t in terms}
    barrier = threading.Barrier(8)

    def work(offset: int) -> None:
        barrier.wait()
        for _ in range(rounds):
            for term in terms[offset:] + terms[:offset]:
                try:
                    ids, weights = _segment_postings(segment, "body", term)
                    seen[term].append((ids.tolist(), weights.tolist()))
                except Exception as exc:  # any failure is what we look for
                    seen[term].append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    run_threads(threads)
    return seen


def test_many_threads_read_exactly_the_postings_of_one_thread(one_segment):
    assert whoosh_patches.install() and all(whoosh_patches.installed().values())
    terms = [t.decode() for t in one_segment.lexicon("body")]
    expected = {t: (ids.tolist(), weights.tolist()) for t in terms
                for ids, weights in [_segment_postings(one_segment, "body", t)]}
    assert sum(len(ids) for ids, _ in expected.values()) > 1000  # several blocks per frequent word
    seen = _concurrent_reads(one_segment, terms)
    wrong = {t: answers for t, answers in seen.items() if answers != [expected[t]] * len(answers)}
    assert not wrong, list(wrong)[:5]
    assert all(len(answers) == 8 * 40 for answers in seen.values())


class _RenamedReader(NumericColumn.Reader):
    """Same reader, but its own __init__ no longer shows the attributes the field-length patch reads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)


def _break_positional_reads(monkeypatch):
    # A Whoosh whose block reader is other code than the one the patch was checked against (here a wrapper
    # around the real one, so that Whoosh itself still works).
    real = whoosh3.W3LeafMatcher._goto
    monkeypatch.setattr(whoosh3.W3LeafMatcher, "_goto", lambda self, position: real(self, position))


def _break_field_lengths(monkeypatch):
    monkeypatch.setattr(NumericColumn, "Reader", _RenamedReader, raising=False)


@pytest.mark.parametrize("breakage", [_break_positional_reads, _break_field_lengths])
def test_a_patch_whose_internals_differ_stays_out_and_search_still_works(services, content_dir, monkeypatch,
                                                                          caplog, breakage):
    for n in range(200):
        write_case(content_dir, f"t/doc-{n:03d}.md", f"title: Casus {n}",
                   " ".join(w for i, w in enumerate(WORDS) if n % (i + 2) == 0) + " in de wijk.")
    services.sync(full=True)
    expected = services.index.search(SearchRequest(text="speeltuin fietspad", per_page=50))
    whoosh_patches.uninstall()
    breakage(monkeypatch)
    try:
        with caplog.at_level(logging.WARNING, logger="wijkwijzer.search.whoosh_patches"):
            assert whoosh_patches.install() is False
        assert "niet geïnstalleerd" in caplog.text
        assert not all(whoosh_patches.installed().values())
        services.index.forget_postings()  # read everything again, through Whoosh's own methods where unpatched
        services.sync(full=True)  # and write a segment through them
        again = services.index.search(SearchRequest(text="speeltuin fietspad", per_page=50))
        assert again.total == expected.total == len([n for n in range(200) if n % 3 == 0 or n % 4 == 0]) == 100
        assert [(h.slug, h.score) for h in again.hits] == [(h.slug, h.score) for h in expected.hits]
    finally:
        monkeypatch.undo()
        assert whoosh_patches.install()
