"""The reading list and the print view in Debian's Chromium: saving, removing, keyboard only, reload, sharing,
without JavaScript, axe-core, and Chromium's own PDF of a case page read back with pypdf.

Skips like tests/test_browser.py when Chromium or axe-core is missing (a failure under WIJKWIJZER_REQUIRE_BROWSER).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from tests.chromium import check, new_page, require_browser, shot
from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from wijkwijzer import create_app

SCHULDEN = "landelijk/wat-werkt-bij-vroegsignalering-van-schulden"
HEERLEN = "heerlen-noord/drugsoverlast-aanpakken-winkelstraat-herstructureren"
PRINTED = "rotterdam-zuid/buurtkamer-met-een-bron"  # written below: a source and a link out
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The sample content plus one case with a source and a link to another site, served on a free port."""
    require_browser()
    tmp = tmp_path_factory.mktemp("readlist")
    content = tmp / "content"
    shutil.copytree(SAMPLE_CONTENT, content)
    write_case(content, f"{PRINTED}.md", """
        title: "Een buurtkamer die de bewoners zelf runnen"
        summary: "Bewoners van Rotterdam Zuid beheren samen een buurtkamer; de gemeente betaalt de huur."
        type: praktijkervaring
        themes: [leefomgeving-en-openbare-ruimte]
        municipality: Rotterdam
        focus_area: Rotterdam Zuid
        organisations: [Gemeente Rotterdam, Bewonersvereniging Tarwewijk]
        date: 2026-03-01
        evidence: goed-beschreven
        source_url: https://www.example.org/buurtkamer-tarwewijk
    """, """
        ## Aanpak

        De buurtkamer is elke werkdag open. Vrijwilligers zetten koffie en helpen met formulieren.

        Lees ook het [verslag van de eerste twee jaar](https://www.example.org/verslag-buurtkamer).
    """)
    from werkzeug.serving import make_server

    app = create_app(make_settings(tmp, content), watch=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["wijkwijzer"].close()


def listed(page) -> list[str]:
    """The slugs the list page shows, in order."""
    return page.locator("#leeslijst-inhoud li[data-slug]").evaluate_all("items => items.map(i => i.dataset.slug)")


def count_in_menu(page) -> str:
    badge = page.locator("[data-readlist-count] .readlist-count")
    return re.sub(r"\D", "", badge.inner_text()) if badge.count() and badge.is_visible() else ""


def announced(page, text: str) -> None:
    page.locator("#leeslijst-melding", has_text=text).wait_for()


def focused_slug(page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.getAttribute('data-readlist')")


def tab_to(page, predicate: str, limit: int = 80) -> None:
    """Press Tab until `predicate` (JS on document.activeElement, as `el`) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => !!el && ({predicate}))(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")


def test_save_from_results_and_a_case_page_then_list_remove_and_reload(page, site):
    page.goto(f"{site}/zoeken?q=schulden")
    first = page.locator(".result").first
    button = first.locator("[data-readlist]")
    assert button.evaluate("el => el.tagName") == "BUTTON"  # the script made the plain link a button
    saved = button.get_attribute("data-readlist")
    title = first.locator("h3").inner_text()
    assert button.inner_text().startswith("Bewaar in leeslijst")
    first.get_by_role("button", name="Bewaar in leeslijst").click()
    assert button.inner_text().startswith("Verwijder uit leeslijst")
    announced(page, f"‘{title}’ is bewaard in uw leeslijst. Er staat nu 1 praktijkvoorbeeld in uw leeslijst.")
    assert count_in_menu(page) == "1"
    assert page.get_by_role("link", name="Leeslijst 1 bewaard", exact=True).is_visible()
    check(page, "zoeken-leeslijst")

    other = SCHULDEN if saved != SCHULDEN else HEERLEN
    page.goto(f"{site}/casus/{other}")
    assert count_in_menu(page) == "1"  # the count on every page
    page.locator(".case").get_by_role("button", name="Bewaar in leeslijst").click()
    announced(page, "Er staan nu 2 praktijkvoorbeelden in uw leeslijst.")
    assert count_in_menu(page) == "2"

    page.get_by_role("link", name="Leeslijst 2 bewaard", exact=True).click()
    page.wait_for_url(f"{site}/leeslijst")
    page.locator("#leeslijst-inhoud li[data-slug]").nth(1).wait_for()
    assert listed(page) == [saved, other]  # in the order saved
    assert page.get_by_label("Link naar deze leeslijst").input_value() == f"{site}/leeslijst?cases={saved},{other}"
    assert page.get_by_role("link", name="Afdrukversie van de hele leeslijst").get_attribute("href") == \
        f"/leeslijst/afdrukken?cases={saved},{other}"
    check(page, "leeslijst")

    page.locator(f"li[data-slug='{saved}']").get_by_role("button", name="Verwijder uit leeslijst").click()
    announced(page, f"‘{title}’ is verwijderd uit uw leeslijst. Er staat nu 1 praktijkvoorbeeld in uw leeslijst.")
    assert listed(page) == [other]
    assert focused_slug(page) == other  # focus stays in the list, on the next case's button
    assert count_in_menu(page) == "1"
    assert page.get_by_label("Link naar deze leeslijst").input_value() == f"{site}/leeslijst?cases={other}"

    page.reload()
    page.locator("#leeslijst-inhoud li[data-slug]").first.wait_for()
    assert listed(page) == [other]
    assert page.locator("#leeslijst-inhoud .readlist-button").inner_text().startswith("Verwijder uit leeslijst")


def test_keyboard_only(page, site):
    page.goto(f"{site}/casus/{SCHULDEN}")
    tab_to(page, f"el.getAttribute('data-readlist') === '{SCHULDEN}'")
    page.keyboard.press("Space")
    announced(page, "is bewaard in uw leeslijst")
    assert focused_slug(page) == SCHULDEN  # the button keeps focus, with its new text
    assert page.evaluate("document.activeElement.textContent").startswith("Verwijder uit leeslijst")

    page.goto(f"{site}/zoeken?q=winkelstraat")
    tab_to(page, f"el.getAttribute('data-readlist') === '{HEERLEN}'")
    page.keyboard.press("Enter")
    announced(page, "Er staan nu 2 praktijkvoorbeelden in uw leeslijst.")

    page.goto(f"{site}/leeslijst")
    page.locator("#leeslijst-inhoud li[data-slug]").nth(1).wait_for()
    tab_to(page, "el.hasAttribute('data-readlist')")
    assert focused_slug(page) == SCHULDEN
    page.keyboard.press("Enter")
    announced(page, "is verwijderd uit uw leeslijst. Er staat nu 1 praktijkvoorbeeld in uw leeslijst.")
    assert focused_slug(page) == HEERLEN
    page.keyboard.press("Space")
    announced(page, "Uw leeslijst is nu leeg.")
    assert page.evaluate("document.activeElement.id") == "leeslijst-kop"  # nothing left: back to the heading
    assert page.get_by_text("Er staan geen praktijkvoorbeelden in deze leeslijst.").is_visible()
    assert page.locator("#leeslijst-delen").is_hidden()
    assert count_in_menu(page) == ""
    page.reload()
    assert page.get_by_text("Er staan geen praktijkvoorbeelden in deze leeslijst.").is_visible()
    assert listed(page) == []


def test_a_shared_link_shows_the_list_and_saves_it_into_ones_own(page, site):
    page.goto(f"{site}/leeslijst?cases={HEERLEN},bestaat-niet,{SCHULDEN}")
    assert listed(page) == [HEERLEN, SCHULDEN]
    assert page.get_by_text("1 praktijkvoorbeeld uit deze leeslijst is niet (meer) te vinden").count() == 0
    assert page.get_by_text("Eén praktijkvoorbeeld uit deze leeslijst is niet (meer) te vinden").is_visible()
    assert page.get_by_text("U bekijkt een gedeelde leeslijst.").is_visible()
    # Not in this visitor's list yet: the buttons offer to save.
    assert page.locator("button[data-readlist]").all_inner_texts()[0].startswith("Bewaar in leeslijst")
    check(page, "leeslijst-gedeeld")
    page.get_by_role("button", name="Bewaar alle 2 praktijkvoorbeelden in mijn leeslijst").click()
    announced(page, "2 praktijkvoorbeelden zijn bewaard in uw leeslijst.")
    assert count_in_menu(page) == "2"
    page.get_by_role("link", name="Naar mijn leeslijst").click()
    page.locator("#leeslijst-inhoud li[data-slug]").nth(1).wait_for()
    assert listed(page) == [HEERLEN, SCHULDEN]


def test_a_saved_case_that_is_gone_is_named_and_forgotten(page, site):
    page.goto(f"{site}/")
    page.evaluate(f"localStorage.setItem('wijkwijzer-leeslijst', JSON.stringify(['weg/verdwenen', '{SCHULDEN}']))")
    page.goto(f"{site}/leeslijst")
    page.locator("#leeslijst-inhoud li[data-slug]").first.wait_for()
    assert listed(page) == [SCHULDEN]
    assert page.get_by_text("weg/verdwenen").is_visible()
    assert page.evaluate("JSON.parse(localStorage.getItem('wijkwijzer-leeslijst'))") == [SCHULDEN]
    assert count_in_menu(page) == "1"


def test_without_javascript_the_buttons_are_links_that_work(browser, site):
    page = new_page(browser, javascript=False)
    try:
        page.goto(f"{site}/casus/{SCHULDEN}")
        link = page.get_by_role("link", name="Bewaar in leeslijst")
        assert link.count() == 1
        link.click()
        page.wait_for_url(re.compile(r"/leeslijst\?cases="))
        assert listed(page) == [SCHULDEN]
        assert page.get_by_label("Link naar deze leeslijst").input_value() == f"{site}/leeslijst?cases={SCHULDEN}"
        page.get_by_role("link", name="Verwijder uit leeslijst").click()
        assert page.get_by_text("Er staan geen praktijkvoorbeelden in deze leeslijst.").is_visible()
    finally:
        page.context.close()


def test_the_list_fits_a_phone(browser, site):
    page = new_page(browser, viewport=PHONE)
    try:
        page.goto(f"{site}/leeslijst?cases={HEERLEN},{PRINTED}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        check(page, "leeslijst-390")
        page.goto(f"{site}/casus/{PRINTED}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "casus-leeslijst-390")
    finally:
        page.context.close()


def pdf_text(page, name: str) -> tuple[str, int]:
    """Chromium's print of the page (print media, A4), as text read by pypdf, and its number of pages; kept
    beside the screenshots when WIJKWIJZER_SCREENSHOT_DIR is set, to look at."""
    from pypdf import PdfReader

    pdf = page.pdf(format="A4", print_background=True)
    folder = os.environ.get("WIJKWIJZER_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(p.extract_text() for p in reader.pages), len(reader.pages)


def squashed(text: str) -> str:
    """Without white space: a long address may wrap anywhere on paper."""
    return re.sub(r"\s+", "", text)


def test_a_printed_case_page_has_facts_text_source_and_address_and_no_navigation(page, site):
    page.goto(f"{site}/casus/{PRINTED}")
    text, _ = pdf_text(page, "casus-afdruk")
    flat = squashed(text)
    assert squashed("Een buurtkamer die de bewoners zelf runnen") in flat
    for fact in ("Kenmerken", "Onderbouwing", "Goed beschreven", "Gemeente", "Rotterdam", "Bewonersvereniging"):
        assert squashed(fact) in flat, fact
    assert squashed("Vrijwilligers zetten koffie en helpen met formulieren.") in flat  # the body
    assert "https://www.example.org/buurtkamer-tarwewijk" in flat  # the source
    assert f"{site}/casus/{PRINTED}" in flat  # the page's own address
    assert "(https://www.example.org/verslag-buurtkamer)" in flat  # a link out shows where it goes
    for screen_only in ("Alle praktijkvoorbeelden", "Hulp vragen", "Direct naar de inhoud", "Bewaar in leeslijst",
                        "Stel uw vraag aan de vraagbaak", "Vergelijkbare praktijkvoorbeelden", "Kruimelpad",
                        "Inloggen voor coördinatoren", "Atom-feed", "Focusgebieden"):
        assert squashed(screen_only) not in flat, screen_only


def test_the_print_view_of_the_list_prints_every_case_from_a_new_page(page, site):
    page.goto(f"{site}/leeslijst/afdrukken?cases={PRINTED},{SCHULDEN}")
    check(page, "leeslijst-afdrukken")
    assert page.get_by_role("button", name="Afdrukken").is_visible()  # shown by our script
    text, pages = pdf_text(page, "leeslijst-afdruk")
    flat = squashed(text)
    assert squashed("Een buurtkamer die de bewoners zelf runnen") in flat
    assert squashed("Wat werkt bij vroegsignalering van schulden?") in flat
    assert squashed("Welke kenmerken van vroegsignalering leiden ertoe") in flat
    assert f"{site}/casus/{SCHULDEN}" in flat and f"{site}/casus/{PRINTED}" in flat
    for screen_only in ("Afdrukken", "Terug naar de leeslijst", "Hulp vragen", "Alle praktijkvoorbeelden"):
        assert squashed(screen_only) not in flat, screen_only
    # The second case starts on a page of its own: its title is at the top of a page.
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(page.pdf(format="A4")))
    starts = [i for i, p in enumerate(reader.pages) if squashed(p.extract_text()).startswith(
        squashed("Wat werkt bij vroegsignalering"))]
    assert starts and starts[0] > 0 and pages >= 2
