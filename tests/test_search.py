"""Keyword search on the sample content: Dutch compounds, typos, facets, sorting, paging, hostile input."""

import pytest

from wijkwijzer.search.models import SearchRequest


@pytest.fixture(scope="module")
def svc(sample_app):
    return sample_app.extensions["wijkwijzer"]


def search(svc, text="", **kw):
    return svc.search(SearchRequest(text=text, **kw))


def slugs(response):
    return [h.slug for h in response.hits]


def test_compound_parts_find_compounds(svc):
    hits = search(svc, "criminaliteit", per_page=50)
    assert any("jeugd<mark>criminaliteit</mark>" in h.snippet for h in hits.hits)
    schuldhulp = search(svc, "schuldhulp", per_page=50)
    assert schuldhulp.total >= 3
    assert "schuldhulp</mark>verlening" in " ".join(h.snippet for h in schuldhulp.hits)


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
    mixed = search(svc, "schulden vroegsignalring")
    assert mixed.total > 0 and mixed.suggestion == "schulden vroegsignalering"


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


@pytest.mark.parametrize(
    "text",
    ['"', '"onafgesloten', "AND", "OR OR", "wijk AND", "NOT", "*", "a*", "?", "(((", ")", "wijk^5", "title:x",
     "x" * 10_000, "woning " * 2000, "\x00\x01\x1b[31m", "🙂 emoji", "ŞĞÜ ñ 中文", "[a-z]+", "wijk~2", "<script>"],
)
def test_hostile_input_never_fails(svc, text):
    response = search(svc, text)
    assert response.total >= 0


def test_questions_and_hyphenated_names_are_plain_text(svc):
    question = search(svc, "hoe voorkom je schulden?")
    assert question.total > 0 and question.hits[0].score > 0
    assert search(svc, "Nieuw-West").total > 0
    with_minus = search(svc, "schulden -wonen", per_page=50)
    assert 0 < with_minus.total < search(svc, "schulden").total  # a leading minus excludes
    assert all(" wonen " not in f" {svc.case(hit.slug)['body'].lower()} " for hit in with_minus.hits)
    assert search(svc, "schulden +jongeren").total <= search(svc, "schulden").total
