"""Keyword search on the sample content: Dutch compounds, typos, facets, sorting, paging, hostile input."""

import shutil

import pytest

from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.services import Services


@pytest.fixture(scope="module")
def svc(sample_app):
    return sample_app.extensions["wijkwijzer"]


def search(svc, text="", **kw):
    return svc.search(SearchRequest(text=text, **kw))


def slugs(response):
    return [h.slug for h in response.hits]


def test_compound_parts_find_compounds(svc):
    hits = search(svc, "criminaliteit", per_page=50)
    # Found by a compound part, marked as the whole word (issue 14: highlights never cut a word).
    assert any("<mark>jeugdcriminaliteit</mark>" in h.snippet for h in hits.hits)
    schuldhulp = search(svc, "schuldhulp", per_page=50)
    assert schuldhulp.total >= 3
    assert "<mark>schuldhulpverlening</mark>" in " ".join(h.snippet for h in schuldhulp.hits)


def test_no_false_hits_across_word_boundaries(svc):
    response = search(svc, "taalachterstand", per_page=50)
    for hit in response.hits:
        case = svc.case(hit.slug)
        text = (case["title"] + case["summary"] + case["body"] + " ".join(case["tags"])).lower()
        assert "taalachterstand" in text, hit.slug


def test_typos_are_tolerated_with_a_suggestion(svc):
    response = search(svc, "vroegsignalring")
    assert response.corrected_from == "vroegsignalring"
    assert response.request.text == "vroegsignalring"
    first = response.hits[0]
    assert response.total > 0 and "vroegsignalering" in (first.snippet + first.title).lower()
    assert search(svc, "onderwjis").total > 0
    # Corrected also when the other words find documents (issue 14), for both sides.
    mixed = search(svc, "schulden vroegsignalring")
    assert mixed.total > 0 and mixed.suggestion is None
    assert (mixed.corrected_from, mixed.searched) == ("schulden vroegsignalring", "schulden vroegsignalering")


def test_real_dutch_words_are_not_corrected(svc):
    assert search(svc, "jongeren weghouden uit de criminaliteit").suggestion is None


def test_title_outweighs_body(svc):
    top = search(svc, "huurteam").hits[0]
    assert "huurteam" in top.title.lower()


def test_facets_count_and_filter_disjunctively(svc):
    everything = search(svc)
    themes = {v.key: v.count for v in everything.facets["themes"]}
    assert themes["armoede-en-schulden"] >= 3
    one = search(svc, filters={"themes": ("armoede-en-schulden",)}, per_page=50)
    assert one.total == themes["armoede-en-schulden"]
    assert all("armoede-en-schulden" in h.themes for h in one.hits)
    # Within a facet values combine with OR, and the facet still shows the other values' counts.
    two = search(svc, filters={"themes": ("armoede-en-schulden", "wonen")}, per_page=50)
    assert two.total >= one.total
    assert {v.key: v.count for v in two.facets["themes"]}["wonen"] == themes["wonen"]
    # Across facets they combine with AND.
    both = search(svc, filters={"themes": ("armoede-en-schulden",), "type": ("onderzoek",)}, per_page=50)
    assert all(h.type == "onderzoek" and "armoede-en-schulden" in h.themes for h in both.hits)
    assert set(everything.facets) == {"themes", "action_lines", "focus_area", "municipality", "type", "year",
                                      "evidence"}


def test_sort_by_date_and_paginate(svc):
    by_date = search(svc, "wijk", sort="date", per_page=50)
    dates = [h.date for h in by_date.hits]
    assert dates == sorted(dates, reverse=True)
    page1, page2 = search(svc, "wijk", per_page=5), search(svc, "wijk", per_page=5, page=2)
    assert page1.total == page2.total > 10
    assert not set(slugs(page1)) & set(slugs(page2))
    assert search(svc, "wijk", per_page=5, page=999).hits == []


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    """Five short case studies whose matches are known by heart."""
    tmp = tmp_path_factory.mktemp("five")
    content = tmp / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    write_case(content, "a/een.md", "title: Schulden en wonen", "Schulden voorkomen in de wijk, samen met wonen.")
    write_case(content, "a/twee.md", "title: Schulden bij jongeren", "Jongeren met schulden in de wijk.")
    write_case(content, "a/drie.md", "title: Schulden", "Vroegsignalering van schulden.")
    write_case(content, "a/vier.md", "title: Jongeren", "Jongeren in het buurthuis in de wijk.")
    write_case(content, "a/vijf.md", "title: Groen", "Een groen schoolplein.")
    svc = Services.build(make_settings(tmp, content))
    svc.sync()
    yield svc
    svc.close()


ALL = ["a/drie", "a/een", "a/twee", "a/vier", "a/vijf"]
WIJK = ["a/een", "a/twee", "a/vier"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [('"', []), ('"onafgesloten', []), ("AND", []), ("OR OR", []), ("wijk AND", WIJK), ("NOT", []),
     ("*", ALL),  # too broad: no words left, so everything, newest first (as an empty query)
     ("a*", []), ("?", ALL), ("(((", []), (")", []), ("wijk^5", WIJK), ("title:x", []), ("x" * 10_000, []),
     ("woning " * 2000, []), ("\x00\x01\x1b[31m", []), ("🙂 emoji", []), ("ŞĞÜ ñ 中文", []), ("[a-z]+", []),
     ("wijk~2", WIJK), ("<script>", [])],
)
def test_hostile_input_never_fails(five, text, expected):
    response = search(five, text, per_page=50)
    assert response.total == len(expected) and sorted(slugs(response)) == expected


def test_plus_and_minus_narrow_the_results(five):
    assert search(five, "schulden").total == 3
    assert search(five, "schulden jongeren").total == 4  # plain words: either word
    # A leading minus excludes: "a/een" mentions wonen.
    assert sorted(slugs(search(five, "schulden -wonen"))) == ["a/drie", "a/twee"]
    # A leading plus requires: only the two about jongeren, the one with schulden too first.
    required = search(five, "schulden +jongeren")
    assert required.total == 2 and slugs(required) == ["a/twee", "a/vier"]
    assert slugs(search(five, "+schulden +jongeren")) == ["a/twee"]


def test_questions_and_hyphenated_names_are_plain_text(svc):
    question = search(svc, "hoe voorkom je schulden?")
    assert question.total > 0 and question.hits[0].score > 0
    assert search(svc, "Nieuw-West").total > 0
    with_minus = search(svc, "schulden -wonen", per_page=50)
    assert 0 < with_minus.total < search(svc, "schulden").total  # a leading minus excludes
    assert all(" wonen " not in f" {svc.case(hit.slug)['body'].lower()} " for hit in with_minus.hits)
    with_plus = search(svc, "schulden +jongeren", per_page=50)
    assert 0 < with_plus.total < search(svc, "schulden jongeren").total  # a leading plus requires
    assert with_plus.total == search(svc, "jongeren").total
