"""The numpy ranking path must agree with Whoosh's own BM25F scoring and honour deletions."""

import pytest
from whoosh.query import Or, Term

from tests.conftest import write_case
from wijkwijzer.search.fulltext import SEARCH_FIELDS, _plain_groups
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.ranking import COORDINATION, simple_terms


@pytest.fixture(scope="module")
def index(sample_app):
    return sample_app.extensions["wijkwijzer"].index


@pytest.mark.parametrize("word", ["schuld", "jongeren", "woning", "criminaliteit", "school"])
def test_single_word_scores_match_whoosh_bm25f(index, word):
    snap = index._snap()
    stem = _plain_groups(word)[0][0][1]
    scores, matched, _ = snap.score([[(f, stem) for f in SEARCH_FIELDS]])
    whoosh = snap.searcher.search(Or([Term(f, stem) for f in SEARCH_FIELDS]), limit=None)
    expected = {hit.docnum: hit.score for hit in whoosh}
    assert set(expected) == set(matched.nonzero()[0].tolist())
    for docnum, score in expected.items():
        assert scores[docnum] == pytest.approx(score * (1 + COORDINATION), rel=1e-4)


def test_plain_words_give_the_same_terms_as_the_parser(index):
    text = "Jongeren weghouden uit de jeugdcriminaliteit"
    parsed = simple_terms(index._parse(text))
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
