"""Files beside a case on the site: the file route's headers and refusals, and what the case page shows
(attachments, images, "Meer weten", tags as links), through the Flask test client on a real tmp content tree."""

from __future__ import annotations

import os
import re

import pytest

from tests.casefiles_helpers import office, png, put
from tests.conftest import make_settings, write_case
from wijkwijzer import create_app
from wijkwijzer.text.markup import render_markdown

PDF = b"%PDF-1.4\n" + b"0" * 1500 + b"\n%%EOF\n"
CASE = "noord/groene-straat"
FILES = f"/casus/{CASE}/_bestanden"
FRONTMATTER = """
title: Een groene straat
themes: [wonen]
tags: [groen, openbare ruimte, preventie-met-gezag]
contact:
  name: Wijkteam Noord
  email: wijkteam@gemeente.example.nl
  phone: 010 123 45 67
  url: https://www.gemeente.example.nl/noord
attachments:
  - file: factsheet.pdf
    title: Factsheet groene straat
  - file: bijlagen/Jaarverslag wijk ë.docx
    title: Jaarverslag van de wijk
"""
BODY = "Bewoners vergroenen hun straat.\n\n![Bewoners planten geveltuinen](straat.png)\n\nDaarna een borrel."


@pytest.fixture
def site(tmp_path, content_dir):
    folder = content_dir / "noord"
    put(folder, "factsheet.pdf", PDF)
    put(folder, "bijlagen/Jaarverslag wijk ë.docx", office("docx"))
    put(folder, "straat.png", png(640, 360))
    put(folder, "niet-genoemd.pdf", PDF)  # beside the case, but not listed: never served
    write_case(content_dir, f"{CASE}.md", FRONTMATTER, BODY)
    (tmp_path / "geheim.txt").write_text("wachtwoord", encoding="utf-8")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    assert app.extensions["wijkwijzer"].case(CASE) is not None
    yield app, folder
    app.extensions["wijkwijzer"].close()


def test_a_pdf_is_shown_inline_with_type_caching_and_nosniff(site):
    client = site[0].test_client()
    response = client.get(f"{FILES}/factsheet.pdf")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == "inline; filename=factsheet.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(PDF))
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Last-Modified"] and response.headers["ETag"]
    again = client.get(f"{FILES}/factsheet.pdf", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    part = client.get(f"{FILES}/factsheet.pdf", headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.data == b"%PDF-1.4"
    for each in (response, again, part):
        each.close()


def test_an_office_document_is_downloaded_with_a_safe_name(site):
    response = site[0].test_client().get(f"{FILES}/bijlagen/Jaarverslag%20wijk%20%C3%AB.docx")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ("application/vnd.openxmlformats-officedocument."
                                                "wordprocessingml.document")
    # An ASCII name for old clients, the real one (RFC 5987) for the rest; no folder in either.
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Jaarverslag wijk e.docx\"; filename*=UTF-8''Jaarverslag%20wijk%20%C3%AB.docx")
    response.close()


def test_an_image_of_the_body_is_served(site):
    response = site[0].test_client().get(f"{FILES}/straat.png")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"] == "inline; filename=straat.png"
    response.close()


@pytest.mark.parametrize("path", [
    f"{FILES}/niet-genoemd.pdf",  # beside the case, not listed
    f"{FILES}/../../../geheim.txt",
    f"{FILES}/%2e%2e/%2e%2e/%2e%2e/geheim.txt",
    f"{FILES}/..%2f..%2f..%2fgeheim.txt",
    f"{FILES}/%252e%252e/geheim.txt",
    f"{FILES}/..%5c..%5cgeheim.txt",
    f"{FILES}//etc/passwd",
    f"{FILES}/%2Fetc%2Fpasswd",
    f"{FILES}/./factsheet.pdf",
    f"{FILES}/factsheet.pdf%00.png",
    f"{FILES}/bijlagen/../factsheet.pdf",
    f"{FILES}/FACTSHEET.PDF",
    "/casus/noord/_bestanden/factsheet.pdf",  # another (non-existent) case's folder
    "/casus/noord/groene-straat/../_taxonomy.yml",
    "/casus/../noord/groene-straat/_bestanden/factsheet.pdf",
    f"/casus/{CASE}/_bestanden/",
    f"/casus/{CASE}.md",
])
def test_anything_not_listed_is_404(site, path):
    response = site[0].test_client().get(path)
    assert response.status_code == 404, path
    assert b"wachtwoord" not in response.data and b"%PDF" not in response.data


def test_a_file_changed_after_indexing_is_checked_again_when_served(site, tmp_path):
    app, folder = site
    client = app.test_client()
    outside = put(tmp_path / "elders", "geheim.pdf", PDF)
    (folder / "factsheet.pdf").unlink()
    os.symlink(outside, folder / "factsheet.pdf")  # swapped for a link out of content/
    assert client.get(f"{FILES}/factsheet.pdf").status_code == 404
    (folder / "straat.png").write_bytes(b"<svg onload='alert(1)'/>")  # no longer what its extension says
    assert client.get(f"{FILES}/straat.png").status_code == 404
    page = client.get(f"/casus/{CASE}").get_data(as_text=True)
    assert "Factsheet groene straat" not in page  # not listed while it cannot be served
    assert "<img" not in page and "Bewoners planten geveltuinen" in page  # the alt text stands in


def test_the_case_page_lists_attachments_shows_the_image_contact_and_tag_links(site):
    client = site[0].test_client()
    page = client.get(f"/casus/{CASE}").get_data(as_text=True)
    bijlagen = page.split('id="casus-bijlagen"', 1)[1].split("</section>", 1)[0]
    assert (f'<a class="nl-link" href="{FILES}/factsheet.pdf">Factsheet groene straat</a> '
            '<span class="muted">(PDF, 2 kB)</span>') in bijlagen
    size = len(office("docx"))
    assert (f'<a class="nl-link" href="{FILES}/bijlagen/Jaarverslag%20wijk%20%C3%AB.docx">Jaarverslag van de wijk</a>'
            f' <span class="muted">(Word, {size} bytes)</span>') in bijlagen
    image = re.search(r"<img [^>]*>", page).group(0)
    assert f'src="{FILES}/straat.png"' in image and 'alt="Bewoners planten geveltuinen"' in image
    assert 'width="640"' in image and 'height="360"' in image and 'loading="lazy"' in image
    meer = page.split('id="casus-contact"', 1)[1].split("</section>", 1)[0]
    assert meer.startswith(">Meer weten</h2>") and "<strong>Wijkteam Noord</strong>" in meer
    assert 'href="mailto:wijkteam@gemeente.example.nl"' in meer
    assert 'href="tel:+31101234567">010 123 45 67</a>' in meer
    assert 'href="https://www.gemeente.example.nl/noord" rel="noopener noreferrer"' in meer
    tags = dict(re.findall(r'<a class="nl-link" href="([^"]*)" aria-label="Zoek op trefwoord [^"]*">([^<]*)</a>', page))
    assert tags == {"/zoeken?q=groen&amp;exact=1": "groen",
                    "/zoeken?q=%22openbare+ruimte%22&amp;exact=1": "openbare ruimte",
                    "/zoeken?q=preventie-met-gezag&amp;exact=1": "preventie-met-gezag"}
    for href in tags:  # each tag's search finds the case
        results = client.get(href.replace("&amp;", "&")).get_data(as_text=True)
        assert f'href="/casus/{CASE}"' in results, href


def test_a_case_without_files_or_contact_shows_neither_section(tmp_path, content_dir):
    write_case(content_dir, "a/kaal.md", "title: Kaal")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    try:
        page = app.test_client().get("/casus/a/kaal").get_data(as_text=True)
        assert 'id="casus-bijlagen"' not in page and 'id="casus-contact"' not in page
    finally:
        app.extensions["wijkwijzer"].close()


def test_a_body_with_its_own_meer_weten_heading_gets_a_contact_section(tmp_path, content_dir):
    write_case(content_dir, "a/eigen.md", "title: Eigen\ncontact: Wijkteam Zuid",
               "Tekst.\n\n## Meer weten\n\nBel het wijkteam.")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    try:
        page = app.test_client().get("/casus/a/eigen").get_data(as_text=True)
        headings = re.findall(r"<h2[^>]*>([^<]*)</h2>", page)
        assert headings.count("Meer weten") == 1 and "Contact" in headings
        section = page.split('id="casus-contact"')[1].split("</section>")[0]
        assert "<strong>Wijkteam Zuid</strong>" in section and "<dl>" not in section
    finally:
        app.extensions["wijkwijzer"].close()


def test_images_pass_the_sanitiser_only_with_our_urls():
    ours = ((("kaart.png", "/casus/a/b/_bestanden/kaart.png", 10, 20),))
    html = render_markdown('![Kaart van de wijk](kaart.png) ![Logo](https://example.org/logo.png)\n\n'
                           '<img src="https://example.org/track.gif" alt="x"> <img src=x onerror="alert(1)">'
                           ' <img src="//example.org/casus/a/_bestanden/x.png" alt="y">'
                           ' <img src="javascript:alert(1)//casus/_bestanden/" alt="z">', ours)
    assert re.findall(r"<img[^>]*>", html) == [
        '<img alt="Kaart van de wijk" decoding="async" height="20" loading="lazy" src="/casus/a/b/_bestanden/kaart.png"'
        ' width="10">']
    assert "example.org" not in html and "onerror" not in html and "javascript" not in html
    assert "<span>Logo</span>" in html  # an image from elsewhere shows its alt text
