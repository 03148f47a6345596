"""The site and the JSON API through the Flask test client."""

import json
import re

import pytest

from tests.conftest import make_settings, write_case
from wijkwijzer import create_app


def test_home_page_in_dutch(client):
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="nl"' in html and "Direct naar de inhoud" in html
    assert "Armoede en schulden" in html and "Rotterdam-Zuid" in html and "Nieuw in Wijkwijzer" in html


def test_results_page_with_facets_in_shareable_urls(client):
    page = client.get("/zoeken?q=schulden&themes=armoede-en-schulden")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'aria-live="polite"' in html and "resultaten" in html
    assert "Thema: Armoede en schulden" in html  # active filter with a link that removes it
    assert re.search(r'href="/zoeken\?q=schulden&amp;themes=armoede-en-schulden&amp;themes=wonen"', html)
    assert "<mark" in html


def test_did_you_mean_on_the_page(client):
    # With syntax (a phrase) the text is searched as typed and the correction offered.
    html = client.get('/zoeken?q="schulden vroegsignalring"').get_data(as_text=True)
    assert "Bedoelde u" in html and "vroegsignalering" in html


def test_case_page_renders_markdown_tables_and_related(client):
    page = client.get("/casus/rotterdam-zuid/vroegsignalering-betalingsachterstanden-met-vaste-lastenpartners")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h2" in html and "<table>" in html and "Vergelijkbare praktijkvoorbeelden" in html
    assert len(re.findall(r"<h1[ >]", html)) == 1


def test_browse_pages_and_unknown_keys(client):
    assert client.get("/thema/wonen").status_code == 200
    assert client.get("/actielijn/veiligheid").status_code == 200
    html = client.get("/focusgebied/utrecht-overvecht").get_data(as_text=True)
    assert "Utrecht Overvecht" in html and "gemeente Utrecht" in html
    assert client.get("/thema/bestaat-niet").status_code == 404


def test_dutch_404_page(client):
    page = client.get("/casus/bestaat/niet")
    assert page.status_code == 404
    assert "Pagina niet gevonden" in page.get_data(as_text=True)
    assert client.get("/casus/../../etc/passwd").status_code == 404


def test_atom_feed(client):
    page = client.get("/feed.atom")
    assert page.status_code == 200 and page.mimetype == "application/atom+xml"
    body = page.get_data(as_text=True)
    assert body.count("<entry>") == 20 and "<feed" in body


def test_api_search_shape(client):
    data = client.get("/api/v1/search?q=vroegsignalering&limit=3").get_json()
    assert set(data) >= {"query", "mode", "total", "results", "facets", "suggestion"}
    assert data["mode"] == "keyword" and len(data["results"]) == 3
    first = data["results"][0]
    assert set(first) >= {"slug", "title", "summary", "url", "score", "snippet", "themes", "municipality"}
    assert first["url"].endswith("/casus/" + first["slug"])
    assert {v["value"] for v in data["facets"]["themes"]}


@pytest.mark.parametrize(
    "query, message",
    [("mode=magic", "zoekmodus"), ("limit=0", "limit"), ("limit=abc", "limit"), ("page=-1", "page"),
     ("sort=random", "sort")],
)
def test_api_validates_parameters(client, query, message):
    response = client.get(f"/api/v1/search?q=wijk&{query}")
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_api_case_and_status(client):
    case = client.get("/api/v1/cases/landelijk/wijkalliantie-opzetten-in-zeven-stappen").get_json()
    assert case["title"] and case["body"] and case["url"]
    assert client.get("/api/v1/cases/nope").status_code == 404
    assert client.get("/api/v1/onbekend").get_json()["status"] == 404
    status = client.get("/api/v1/status").get_json()
    assert status["documents"] >= 40 and status["errors"] == [] and status["last_indexed"]


@pytest.mark.parametrize("q", ["\x00", '"', "x" * 10_000, "AND OR NOT", "*", "<script>alert(1)</script>"])
def test_search_input_never_500(client, q):
    assert client.get("/zoeken", query_string={"q": q}).status_code == 200
    assert client.get("/api/v1/search", query_string={"q": q}).status_code == 200
    html = client.get("/zoeken", query_string={"q": q}).get_data(as_text=True)
    assert "<script>alert" not in html


def test_site_ignores_bad_paging_values(client):
    assert client.get("/zoeken?q=wijk&page=abc&limit=-5&sort=x").status_code == 200


def test_raw_html_in_markdown_is_sanitised(tmp_path, content_dir):
    write_case(content_dir, "a/xss.md", "title: Onveilig",
               '<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">\n\n[klik](javascript:alert(1))\n\n'
               '<svg onload="alert(1)"></svg> <a href="https://example.org" onclick="x()">ok</a>')
    app = create_app(make_settings(tmp_path, content_dir))
    html = app.test_client().get("/casus/a/xss").get_data(as_text=True)
    body = html.split('class="case-body utrecht-html">', 1)[1].split("</div>", 1)[0]
    for bad in ("<script", "onerror", "javascript:", "<svg", "onclick", "<img"):
        assert bad not in body
    assert 'href="https://example.org"' in body
    app.extensions["wijkwijzer"].close()


def test_500_page_is_dutch_and_json_for_api(tmp_path, content_dir, monkeypatch):
    app = create_app(make_settings(tmp_path, content_dir))
    services = app.extensions["wijkwijzer"]

    def boom(*a, **k):
        raise RuntimeError("kapot")

    monkeypatch.setattr(services, "search", boom)
    client = app.test_client()
    page = client.get("/zoeken?q=x")
    assert page.status_code == 500 and "Er ging iets mis" in page.get_data(as_text=True)
    api = client.get("/api/v1/search?q=x")
    assert api.status_code == 500 and json.loads(api.data)["status"] == 500
    services.close()


def test_corrected_query_names_what_was_searched(client):
    html = client.get("/zoeken?q=vroegsignalring").get_data(as_text=True)
    assert "Resultaten voor ‘vroegsignalering’; zoek in plaats daarvan naar" in html
    assert 'href="/zoeken?q=vroegsignalring&amp;exact=1">‘vroegsignalring’</a>' in html


def test_a_list_right_under_a_paragraph_is_a_list():
    from wijkwijzer.text.markup import render_markdown

    html = render_markdown("Wij deden drie dingen:\n- bellen\n- langsgaan\n  met een collega\n- nazorg\n\n"
                           "```\ntekst:\n- geen lijst in code\n```\n\nNog een alinea.\n1. eerst\n2. dan")
    assert "<p>Wij deden drie dingen:</p>\n<ul>" in html and html.count("<li>") == 5
    assert "- geen lijst in code" in html and "<ol>" in html
    # as in CommonMark, only "1." starts a numbered list under a paragraph line
    assert "<ol" not in render_markdown("Zo ging het.\n2023. Daarna kwam de gemeente.")


def test_storage_trouble_is_503_and_database_bugs_stay_500(tmp_path, content_dir):
    import sqlite3

    app = create_app(make_settings(tmp_path, content_dir))
    errors = {"locked": sqlite3.OperationalError("database is locked"),
              "dubbel": sqlite3.IntegrityError("UNIQUE constraint failed")}

    @app.get("/probeer/<name>")
    def fail(name):
        raise errors[name]

    client = app.test_client()
    page = client.get("/probeer/locked")
    assert page.status_code == 503 and "Opslaan lukt op dit moment niet" in page.get_data(as_text=True)
    assert client.get("/probeer/dubbel").status_code == 500
