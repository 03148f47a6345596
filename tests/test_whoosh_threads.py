"""Threads sharing one searcher read postings concurrently: Whoosh's seek-and-read matcher mixes them up."""

import sys
import threading

import pytest
from whoosh import index as whoosh_index

from tests.conftest import write_case
from wijkwijzer.search import whoosh_threads
from wijkwijzer.search.ranking import _segment_postings


def _concurrent_reads(segment, terms: list[str], expected: dict, rounds: int = 40) -> list[str]:
    """Read every term's postings from 8 threads at once; the errors and wrong answers seen."""
    problems: list[str] = []
    barrier = threading.Barrier(8)

    def work(offset: int) -> None:
        barrier.wait()
        for _ in range(rounds):
            for term in terms[offset:] + terms[:offset]:
                try:
                    ids, _ = _segment_postings(segment, "body", term)
                    if ids.tolist() != expected[term]:
                        problems.append(f"{term}: wrong postings")
                except Exception as exc:  # any failure is what we look for
                    problems.append(f"{term}: {exc}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    return problems


@pytest.mark.parametrize("patched", [True, False])
def test_postings_reads_from_many_threads(services, content_dir, patched):
    words = ["buurthuis", "speeltuin", "fietspad", "moestuin", "bibliotheek", "sporthal"]
    for n in range(400):
        body = " ".join(w for i, w in enumerate(words) if n % (i + 2) == 0) or "wijk"
        write_case(content_dir, f"t/doc-{n:03d}.md", f"title: Casus {n}", f"{body}.")
    services.sync(full=True)
    ix = whoosh_index.open_dir(str(services.settings.index_dir))
    ix.writer().commit(optimize=True)
    with ix.searcher() as searcher:
        [(segment, _)] = searcher.reader().leaf_readers()
        terms = [t.decode() for t in segment.lexicon("body")]
        expected = {t: _segment_postings(segment, "body", t)[0].tolist() for t in terms}
        if patched:
            assert whoosh_threads.install()
            assert _concurrent_reads(segment, terms, expected) == []
        else:
            whoosh_threads.uninstall()
            try:
                problems = _concurrent_reads(segment, terms, expected)
            finally:
                whoosh_threads.install()
            assert problems, "Whoosh's own matcher raced: expected errors without the patch"
