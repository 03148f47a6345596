"""The search page as a person meets it: nothing found, paging, sorting, filters, and the way on to the vraagbaak."""

import html as htmllib
import re
from urllib.parse import parse_qs, urlsplit

from tests.conftest import make_settings, write_case
from wijkwijzer import create_app


def links(page: str) -> list[tuple[str, str]]:
    """(href, text without tags) of every link on the page."""
    return [(htmllib.unescape(href), re.sub(r"<[^>]+>", "", text).strip())
            for href, text in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', page, flags=re.S)]


def page_numbers(page: str) -> list[int]:
    nav = re.search(r'<nav class="utrecht-pagination".*?</nav>', page, flags=re.S)
    return [int(text.split()[-1]) for _, text in links(nav.group(0)) if text.split()[-1].isdigit()] if nav else []


def test_nothing_found_says_so_with_the_way_to_the_vraagbaak(client):
    page = client.get("/zoeken?q=xqzvbn").get_data(as_text=True)
    assert "Geen resultaten voor ‘xqzvbn’." in page
    assert "Niet gevonden wat u zoekt?" in page
    route = [href for href, text in links(page) if text == "Stel uw vraag aan de vraagbaak"]
    assert len(route) == 1
    url = urlsplit(route[0])
    assert url.path == "/hulpvraag" and parse_qs(url.query) == {"kind": ["vraagbaak"], "question": ["xqzvbn"]}
    # The form opens with the question filled in and the vraagbaak chosen; nothing is stored yet.
    form = client.get(route[0]).get_data(as_text=True)
    assert re.search(r'<textarea[^>]*name="question"[^>]*>xqzvbn</textarea>', form)
    assert re.search(r'<input[^>]*value="vraagbaak"[^>]*checked', form)
    assert "Haal filters weg" not in page  # no filters were set


def test_the_form_takes_only_known_kinds_and_escapes_the_question(client):
    form = client.get('/hulpvraag?kind=geheim&question=<script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)" not in form and "&lt;script&gt;alert(1)&lt;/script&gt;" in form
    assert re.search(r'<input[^>]*value="weet ik niet"[^>]*checked', form)


def test_results_carry_the_query_to_the_vraagbaak_too(client):
    page = client.get("/zoeken?q=schulden").get_data(as_text=True)
    route = [href for href, text in links(page) if text == "Stel uw vraag aan de vraagbaak"]
    assert route and parse_qs(urlsplit(route[0]).query)["question"] == ["schulden"]


def test_every_case_page_leads_to_the_vraagbaak(client):
    page = client.get("/casus/vlaardingen-west/groene-schoolpleinen-tegen-hittestress").get_data(as_text=True)
    route = [href for href, text in links(page) if text == "Stel uw vraag aan de vraagbaak"]
    assert route, "no route to the vraagbaak on the case page"
    question = parse_qs(urlsplit(route[0]).query)["question"][0]
    assert question.startswith("Over het praktijkvoorbeeld ‘Groene schoolpleinen")


def test_page_links_always_show_the_first_and_the_last(client):
    page = client.get("/zoeken?limit=2&page=10").get_data(as_text=True)  # 40 cases: 20 pages
    assert page_numbers(page) == [1, 8, 9, 10, 11, 12, 20]
    assert page.count('class="pagination-gap"') == 2
    assert 'aria-current="page"' in page
    first = client.get("/zoeken?limit=2").get_data(as_text=True)
    assert page_numbers(first) == [1, 2, 3, 20]


def test_a_page_past_the_end_says_so_and_links_to_the_last(client):
    total = client.get("/api/v1/search?q=wijk").get_json()
    last = total["pages"]
    page = client.get(f"/zoeken?q=wijk&page={last + 1}").get_data(as_text=True)
    assert f"Pagina {last + 1} bestaat niet: er zijn {last} pagina's met resultaten." in htmllib.unescape(page)
    target = [href for href, text in links(page) if text == f"Ga naar de laatste pagina (pagina {last})"]
    assert target and parse_qs(urlsplit(target[0]).query)["page"] == [str(last)]
    assert f"{total['total']} resultaten voor ‘wijk’" in page


def test_the_current_order_is_the_one_marked(client):
    def current(page: str) -> list[str]:
        return [re.sub(r"<[^>]+>", "", m) for m in re.findall(r'<a [^>]*aria-current="true"[^>]*>(.*?)</a>',
                                                               page.split('class="sort"')[1].split("</p>")[0])]

    assert current(client.get("/zoeken?q=wijk").get_data(as_text=True)) == ["op relevantie"]
    assert current(client.get("/zoeken?q=wijk&sort=date").get_data(as_text=True)) == ["op datum"]
    everything = client.get("/zoeken").get_data(as_text=True)  # no words: newest first, nothing to rank
    assert current(everything) == ["op datum"] and "op relevantie" not in everything


def test_active_filters_are_chips_without_bullets_and_the_filters_link_leads_to_them(client):
    page = client.get("/zoeken?q=schulden&themes=wonen").get_data(as_text=True)
    chips = page.split('class="active-filters"')[1].split("</div>")[0]
    assert "utrecht-unordered-list" not in chips and "Thema: Wonen" in chips
    # The "Filters" link comes before the results and points at the filter panel.
    assert page.index('href="#filters"') < page.index('class="results"')
    assert 'id="filters"' in page and 'href="#resultaten"' in page


def test_totals_and_facets_agree_in_the_api(client):
    data = client.get("/api/v1/search?q=hittestress&limit=50").get_json()
    assert data["total"] == len(data["results"]) and data["pages"] == 1
    assert sum(v["count"] for v in data["facets"]["type"]) == data["total"]
    empty = client.get("/api/v1/search?q=xqzvbn").get_json()
    assert empty["total"] == 0 and empty["results"] == [] and empty["pages"] == 1
    assert all(v["count"] == 0 for values in empty["facets"].values() for v in values)


def test_empty_collection_page_is_plain(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Schulden", "Over schulden.")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    page = app.test_client().get("/zoeken?q=schulden&page=2").get_data(as_text=True)
    assert "Pagina 2 bestaat niet: er is 1 pagina met resultaten." in page
    app.extensions["wijkwijzer"].close()
