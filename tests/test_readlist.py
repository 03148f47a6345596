"""The reading list on the server: `?cases=` read into slugs, `/leeslijst` and its print view with the Flask client.

What the browser keeps (localStorage, the buttons, the live region) is tested in Chromium: test_readlist_browser.py.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import write_case
from wijkwijzer.domain.content import SLUG_PATTERN
from wijkwijzer.domain.readinglist import MAX_CASES, MAX_SLUG_LENGTH, parse_cases

SCHULDEN = "landelijk/wat-werkt-bij-vroegsignalering-van-schulden"
HEERLEN = "heerlen-noord/drugsoverlast-aanpakken-winkelstraat-herstructureren"


def items(html: str) -> list[str]:
    """Slugs of the listed case studies, in page order."""
    return re.findall(r'<li class="result" data-slug="([^"]+)"', html)


def test_parse_keeps_order_skips_repeats_and_reports_what_is_not_a_slug():
    reading = parse_cases([" b/c , a,,b/c,/a/", "A B,<x>", "a"])
    assert reading.slugs == ("b/c", "a")
    assert reading.invalid == ("A B", "<x>")
    assert reading.over_limit == 0
    assert reading.query() == "b/c,a"
    assert reading.adding("d").slugs == ("b/c", "a", "d") and reading.adding("a") == reading
    assert reading.without("b/c").slugs == ("a",)


def test_parse_caps_the_list_and_counts_what_it_left_out():
    many = ",".join(f"case-{n}" for n in range(MAX_CASES + 7))
    reading = parse_cases([many])
    assert len(reading.slugs) == MAX_CASES and reading.slugs[-1] == f"case-{MAX_CASES - 1}"
    assert reading.over_limit == 7
    assert reading.adding("one-more") == reading  # full: nothing is pushed out
    assert parse_cases(["x" * 500]).invalid == ("x" * 60,)  # never a slug, shown shortened


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab/-_,. <>Z9\x00é", max_size=300), max_size=4))
def test_parse_never_raises_and_keeps_only_unique_slugs_within_the_limit(values):
    reading = parse_cases(values)
    assert len(reading.slugs) <= MAX_CASES and len(set(reading.slugs)) == len(reading.slugs)
    assert all(SLUG_PATTERN.match(s) and len(s) <= MAX_SLUG_LENGTH for s in reading.slugs)
    assert parse_cases([reading.query()]).slugs == reading.slugs  # the link it makes reads back the same


def test_empty_list_page_explains_how_to_save(client):
    html = client.get("/leeslijst").get_data(as_text=True)
    assert '<html lang="nl"' in html
    assert "Er staan geen praktijkvoorbeelden in deze leeslijst." in html
    assert "Bewaar in leeslijst" in html  # names the button to look for
    assert items(html) == []
    assert re.search(r'<section class="readlist-share" id="leeslijst-delen"[^>]* hidden>', html)
    assert 'data-asked="nee"' in html  # leeslijst.js fills in the visitor's own list


def test_shared_url_lists_the_cases_with_title_summary_facts_and_links(client, sample_app):
    html = client.get(f"/leeslijst?cases={HEERLEN},{SCHULDEN}").get_data(as_text=True)
    assert items(html) == [HEERLEN, SCHULDEN]  # the order of the link
    assert "2 praktijkvoorbeelden" in html
    case = sample_app.extensions["wijkwijzer"].case(SCHULDEN)
    text = unescape(html)
    assert case["title"] in text and case["summary"] in text
    assert f'href="/casus/{SCHULDEN}"' in html
    assert "<dt>Thema's</dt><dd>Armoede en schulden, Wonen</dd>" in text
    assert "<dt>Onderbouwing</dt><dd>Effectief</dd>" in text
    # The share link: the full address in the same form; the print view of the whole list.
    assert f'value="http://localhost/leeslijst?cases={HEERLEN},{SCHULDEN}"' in html
    assert f'href="/leeslijst/afdrukken?cases={HEERLEN},{SCHULDEN}"' in html
    # Without JavaScript each "Verwijder uit leeslijst" is a link to the list without that case.
    assert f'href="/leeslijst?cases={SCHULDEN}" data-readlist="{HEERLEN}"' in html
    assert 'data-asked="ja"' in html


def test_the_plain_save_link_of_a_case_page_opens_a_list_with_that_case(client):
    page = client.get(f"/casus/{SCHULDEN}").get_data(as_text=True)
    link = re.search(r'<a class="[^"]*readlist-button" href="([^"]+)" data-readlist="([^"]+)"', page)
    assert link and link.group(2) == SCHULDEN
    assert ">Bewaar in leeslijst<" in page
    listed = client.get(unescape(link.group(1)))
    assert listed.status_code == 200 and items(listed.get_data(as_text=True)) == [SCHULDEN]


def test_every_search_result_has_a_save_link(client):
    html = client.get("/zoeken?q=schulden").get_data(as_text=True)
    results = html.count('<li class="result">')
    assert results > 3
    assert html.count("readlist-button") == results
    for href in re.findall(r'readlist-button" href="([^"]+)"', html)[:3]:
        assert items(client.get(unescape(href)).get_data(as_text=True))  # each one lists its case


def test_unknown_removed_and_damaged_slugs_are_named_politely(client):
    response = client.get(f"/leeslijst?cases=bestaat-niet,{SCHULDEN},<script>alert(1)</script>,oud/weg")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert items(html) == [SCHULDEN]
    assert "3 praktijkvoorbeelden uit deze leeslijst zijn niet (meer) te vinden" in html
    assert "<code>bestaat-niet</code>" in html and "<code>oud/weg</code>" in html
    assert "(geen geldig adres)" in html and "<script>alert" not in html
    # The share link holds only what was found, so passing it on does not pass the broken part on.
    assert f'value="http://localhost/leeslijst?cases={SCHULDEN}"' in html
    only_bad = client.get("/leeslijst?cases=bestaat-niet").get_data(as_text=True)
    assert "Eén praktijkvoorbeeld uit deze leeslijst is niet (meer) te vinden" in only_bad
    assert "Er staan geen praktijkvoorbeelden in deze leeslijst." in only_bad


def test_list_pages_are_kept_out_of_search_engines(client):
    for path in ("/leeslijst", f"/leeslijst?cases={SCHULDEN}", f"/leeslijst/afdrukken?cases={SCHULDEN}"):
        assert client.get(path).headers["X-Robots-Tag"] == "noindex"
    assert "X-Robots-Tag" not in client.get(f"/casus/{SCHULDEN}").headers


@pytest.mark.parametrize("query", ["cases=", "cases=,,,", "cases=%00", "cases=" + "a," * 5000, "cases=../../etc"])
def test_odd_values_never_crash(client, query):
    listed = client.get(f"/leeslijst?{query}")
    assert listed.status_code == 200
    assert client.get(f"/leeslijst/afdrukken?{query}").status_code == 200
    if query in ("cases=", "cases=,,,"):  # nothing asked for: the script shows the visitor's own list here
        assert 'data-asked="nee"' in listed.get_data(as_text=True)


def test_a_long_list_is_cut_at_the_limit_and_says_so(tmp_path, content_dir):
    from dataclasses import replace

    from tests.conftest import make_settings
    from wijkwijzer import create_app

    for n in range(MAX_CASES + 2):
        write_case(content_dir, f"stad/casus-{n:02d}.md", f"""
            title: "Casus {n}"
            summary: "Samenvatting van casus {n}."
            type: praktijkervaring
            themes: [wonen]
            date: 2026-01-01
        """)
    app = create_app(replace(make_settings(tmp_path, content_dir)), watch=False)
    try:
        slugs = [f"stad/casus-{n:02d}" for n in range(MAX_CASES + 2)]
        html = app.test_client().get("/leeslijst?cases=" + ",".join(slugs)).get_data(as_text=True)
        assert items(html) == slugs[:MAX_CASES]
        assert f"Een leeslijst heeft hoogstens {MAX_CASES} praktijkvoorbeelden" in html
        assert "2 zijn weggelaten" in html
    finally:
        app.extensions["wijkwijzer"].close()


def test_print_view_holds_every_case_in_full(client, sample_app):
    svc = sample_app.extensions["wijkwijzer"]
    html = client.get(f"/leeslijst/afdrukken?cases={SCHULDEN},{HEERLEN},weg").get_data(as_text=True)
    text = unescape(html)
    assert "Leeslijst: 2 praktijkvoorbeelden" in text
    assert text.count('<article class="print-case"') == 2
    for slug in (SCHULDEN, HEERLEN):
        case = svc.case(slug)
        assert case["title"] in text
        assert f"http://localhost/casus/{slug}" in text  # the address, printed in full
    assert "Welke kenmerken van vroegsignalering leiden ertoe" in text  # the body, not only the summary
    assert "<dt>Organisaties</dt><dd>Ministerie van Sociale Zaken en Werkgelegenheid, " in text
    assert "niet (meer) te vinden" in text
    assert f"Leeslijst van Wijkwijzer: http://localhost/leeslijst?cases={SCHULDEN},{HEERLEN}" in text


def test_the_case_page_prints_its_own_address(client):
    html = client.get(f"/casus/{SCHULDEN}").get_data(as_text=True)
    assert f'<p class="print-only">Deze pagina: http://localhost/casus/{SCHULDEN}</p>' in html


def test_the_menu_links_to_the_list_and_the_script_is_our_own_file(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<a class="nl-link" href="/leeslijst"[^>]*data-readlist-count>Leeslijst</a>', html)
    assert '<script src="/static/leeslijst.js" defer></script>' in html
    script = client.get("/static/leeslijst.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    csp = client.get("/leeslijst").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    script.close()
