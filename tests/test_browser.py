"""The pages in a real browser: Debian's headless Chromium driven by Playwright, and axe-core on every page type.

Needs /usr/bin/chromium and tests/browser/node_modules/axe-core (scripts/test installs both). Without them the
tests are skipped, except in CI (WIJKWIJZER_REQUIRE_BROWSER=1), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "lang-genoeg-wachtwoord"
INSTALLED_MODEL = ROOT / "data" / "models" / "multilingual-e5-small"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (scripts/test installs it)"
    if not AXE.exists():
        return "axe-core is not installed in tests/browser (scripts/test installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (dev extra)"
    return None


@pytest.fixture(scope="module")
def site_app(tmp_path_factory):
    """The app under test, with a coordinator account; tests that need stored data make their own through it."""
    reason = _missing()
    if reason:
        if os.environ.get("WIJKWIJZER_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("browser")
    settings = replace(make_settings(tmp, SAMPLE_CONTENT), experts_dir=ROOT / "experts")
    if os.environ.get("WIJKWIJZER_SCREENSHOT_DIR") and INSTALLED_MODEL.is_dir():
        # Screenshots for the README show the product as users get it: with semantic search on. Embedding the
        # sample content takes a minute on two cores, so only the screenshot run pays for it.
        settings = replace(settings, embedding_model=str(INSTALLED_MODEL))
    app = create_app(settings, watch=False)
    services = app.extensions["wijkwijzer"]
    if settings.embedding_model:
        services.refresh_semantic()
        assert services.semantic.ready, services.semantic.status()
    app.extensions["wijkwijzer"].accounts.add("coord", "Coördinator", PASSWORD)
    yield app
    app.extensions["wijkwijzer"].close()


@pytest.fixture(scope="module")
def site(site_app):
    """The app served by werkzeug's threaded server on a free loopback port."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, site_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # axe is injected into the page; our CSP (rightly) forbids that, so this test context bypasses it.
    context = browser.new_context(bypass_csp=True, locale="nl-NL", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    """Save a screenshot for the README when WIJKWIJZER_SCREENSHOT_DIR is set."""
    folder = os.environ.get("WIJKWIJZER_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
            for v in result["violations"]]


def check(page, name: str) -> None:
    assert page.locator("html").get_attribute("lang") == "nl"
    violations = axe_violations(page)
    assert violations == [], f"{name}: {violations}"
    shot(page, name)


REQUEST = {
    "municipality": "Schiedam", "contact_name": "Jan Jansen", "email": "j.jansen@schiedam.nl",
    "role": "Programmamanager wijkaanpak", "kind": "weet ik niet", "hours_per_week": "16", "months": "12",
    "question": "Voor de sloop-nieuwbouw van 300 portiekwoningen zoeken we tijdelijk twee projectleiders en een "
                "planeconoom, zestien uur per week.",
}


def _count(text: str) -> int:
    """The number in "11 resultaten voor ‘schulden’."."""
    return int(re.search(r"\d+", text.replace(".", "")).group())


def _get_json(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def login(page, site: str) -> None:
    page.goto(f"{site}/coordinator/inloggen")
    page.get_by_label("Gebruikersnaam").fill("coord")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(re.compile(r"/coordinator/$"))


def test_search_filter_and_open_a_case(page, site):
    page.goto(site)
    check(page, "home")
    page.get_by_label("Zoek in de praktijkvoorbeelden").fill("schulden")
    page.get_by_role("button", name="Zoeken").click()
    page.wait_for_url(re.compile(r"/zoeken\?q=schulden"))
    assert page.locator(".result").count() > 0
    check(page, "zoeken")
    total = _count(page.locator(".result-count").inner_text())
    page.locator(".search-aside a", has_text="Armoede en schulden").first.click()
    page.wait_for_url(re.compile(r"themes=armoede-en-schulden"))
    # The filter narrows the results to exactly what the API finds with it (11 of 21 in the sample content).
    filtered = _get_json(f"{site}/api/v1/search?q=schulden&themes=armoede-en-schulden")["total"]
    assert 0 < filtered < total
    assert _count(page.locator(".result-count").inner_text()) == filtered
    page.locator(".result h3 a").first.click()
    page.wait_for_url(re.compile(r"/casus/"))
    assert page.locator("h1").inner_text()
    check(page, "casus")
    page.goto(f"{site}/thema/wonen")
    check(page, "thema")


def test_submit_a_request_and_follow_its_link(page, site):
    page.goto(f"{site}/hulpvraag")
    check(page, "hulpvraag")
    page.get_by_role("button", name="Aanvraag versturen").click()  # empty: errors, tied to their fields
    assert page.locator(".error-summary").is_visible()
    check(page, "hulpvraag-fouten")
    page.get_by_label("Gemeente", exact=True).select_option("Schiedam")
    page.get_by_label("Uw naam").fill("Jan Jansen")
    page.get_by_label("Uw e-mailadres").fill("j.jansen@schiedam.nl")
    page.get_by_label("Uw functie").fill("Programmamanager wijkaanpak")
    page.get_by_label("Uw vraag").fill("Voor de sloop-nieuwbouw van 300 portiekwoningen zoeken we tijdelijk twee "
                                       "projectleiders en een planeconoom, zestien uur per week.")
    page.get_by_label("Uren per week").fill("16")
    page.get_by_role("button", name="Aanvraag versturen").click()
    page.wait_for_url(re.compile(r"/hulpvraag/status/"))
    assert "Uw aanvraag is verstuurd" in page.content()
    assert re.search(r"WW-\d{4}-\d{4}", page.locator(".facts").inner_text())  # the reference number
    check(page, "hulpvraag-status")
    link = page.get_by_label("Link naar deze pagina")
    assert link.input_value() == page.url.split("?")[0]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Kopieer link").click()  # shown by our script, hidden without it
    page.get_by_text("De link is gekopieerd.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link.input_value()


def test_outbox_page_shows_what_would_be_sent(page, site, site_app):
    svc = site_app.extensions["wijkwijzer"]
    result, token = svc.submit_request(dict(REQUEST))
    assert token, result.errors
    reference = svc.requests.by_token(token)["reference"]
    login(page, site)
    page.get_by_role("link", name="Uitgaande e-mail").click()
    page.wait_for_url(re.compile(r"/coordinator/uitgaande-mail$"))
    assert "Er is geen mailserver ingesteld" in page.content()
    mail = page.locator(".mail-item", has_text=f"Uw hulpvraag is ontvangen ({reference})")
    mail.locator("summary").click()
    assert "/hulpvraag/status/" in mail.locator(".mail-text").inner_text()
    check(page, "uitgaande-mail")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone


def test_coordinator_sees_explained_matches_and_assigns(page, site, site_app):
    # Its own request, not one another test may or may not have left.
    svc = site_app.extensions["wijkwijzer"]
    result, token = svc.submit_request(dict(REQUEST))
    assert token, result.errors
    request_id, reference = svc.requests.by_token(token)["id"], svc.requests.by_token(token)["reference"]
    page.goto(f"{site}/coordinator/inloggen")
    check(page, "inloggen")
    login(page, site)
    check(page, "coordinator-aanvragen")
    page.locator("table a", has_text=reference).first.click()
    page.wait_for_url(re.compile(rf"/coordinator/aanvraag/{request_id}$"))
    assert "Voorgestelde koppelingen" in page.content() and "u/week beschikbaar" in page.content()
    check(page, "coordinator-aanvraag")
    page.locator(".slot .match button").first.click()
    page.wait_for_load_state()
    assert "is uitgenodigd" in page.content() and "wacht op antwoord" in page.content()
    check(page, "coordinator-team")
    page.goto(f"{site}/coordinator/dashboard")
    check(page, "dashboard")


def test_phone_width_reaches_the_filters_by_keyboard(browser, site):
    context = browser.new_context(bypass_csp=True, locale="nl-NL", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{site}/zoeken?q=schulden")
        check(page, "zoeken-390")
        link = page.get_by_role("link", name="Filters", exact=True)
        assert link.is_visible()
        # By keyboard only: tab from the search button to the "Filters" link, before any result.
        page.get_by_role("button", name="Zoeken").focus()
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == "Filters":
                break
        else:
            raise AssertionError("the Filters link is not reachable by Tab before the results")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "filters"
        box = page.locator("#filters").bounding_box()
        assert -5 < box["y"] < 844, "the page did not scroll to the filters"
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.closest('#filters') !== null")
        assert focused, "Tab after the jump should land on the first filter"
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"&[a-z_]+="))
        assert page.locator(".active-filters a").count() == 1
        check(page, "zoeken-390-gefilterd")
    finally:
        context.close()


def test_desktop_hides_the_filters_link_and_an_empty_search_passes_axe(page, site):
    page.goto(f"{site}/zoeken?q=schulden")
    assert not page.get_by_role("link", name="Filters", exact=True).is_visible()  # the panel is beside the list
    page.goto(f"{site}/zoeken?q=xqzvbn")
    assert "Geen resultaten voor ‘xqzvbn’" in page.locator(".result-count").inner_text()
    check(page, "zoeken-leeg")
    page.get_by_role("link", name="Stel uw vraag aan de vraagbaak").click()
    page.wait_for_url(re.compile(r"/hulpvraag\?"))
    assert page.get_by_label("Uw vraag").input_value() == "xqzvbn"
    page.goto(f"{site}/zoeken?limit=2&page=30")
    assert "Pagina 30 bestaat niet" in page.content()
    check(page, "zoeken-voorbij-het-einde")

def test_an_editor_on_a_coordinator_page_reads_geen_toegang(page, site, site_app):
    site_app.extensions["wijkwijzer"].accounts.add("redacteur", "Redacteur", PASSWORD, role="editor")
    page.goto(f"{site}/coordinator/inloggen?volgende=/coordinator/")
    page.get_by_label("Gebruikersnaam").fill("redacteur")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_load_state()
    assert page.title().startswith("Geen toegang")
    assert page.get_by_role("heading", level=1).inner_text() == "Geen toegang"
    assert "Er ging iets mis" not in page.content()
    check(page, "geen-toegang")
    page.get_by_role("link", name="redactiepagina").click()
    page.wait_for_url(re.compile(r"/coordinator/redactie$"))
    page.get_by_role("button", name="Uitloggen").click()  # and the session ends on the server
    page.wait_for_load_state()
    page.goto(f"{site}/coordinator/redactie")
    assert "/coordinator/inloggen" in page.url


def _narrow(page) -> None:
    """The page fits 390 px: nothing scrolls sideways (tables scroll inside their own region)."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"{page.url}: {width} px wide at a 390 px viewport"


def test_team_slots_and_the_invitation_page_at_390_px(browser, site, site_app):
    svc = site_app.extensions["wijkwijzer"]
    result, status_token = svc.submit_request(dict(REQUEST))
    assert status_token, result.errors
    request_id = svc.requests.by_token(status_token)["id"]
    slots = svc.team.ensure(request_id)
    assert len(slots) == 3
    invitation = svc.team.link(slots[0]["id"], svc.team.suggestions(request_id, slots[0], [])[0].id, "coord")
    context = browser.new_context(bypass_csp=True, locale="nl-NL", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        login(page, site)
        page.goto(f"{site}/coordinator/aanvraag/{request_id}")
        assert page.locator(".slot").count() == 3 and "Plek 3: planeconoom" in page.content()
        page.locator(".slot details summary", has_text="Plek 2 wijzigen").click()
        check(page, "team-390")
        _narrow(page)
        # The member's page: no login (a fresh context), plain Dutch, both answers, usable at 390 px.
        member = browser.new_context(bypass_csp=True, locale="nl-NL", viewport={"width": 390, "height": 844})
        answer = member.new_page()
        answer.goto(f"{site}/uitnodiging/{invitation}")
        assert "Doet u mee?" in answer.content()
        check(answer, "uitnodiging")
        _narrow(answer)
        answer.get_by_role("button", name="Nee, ik kan niet").click()  # without a reason: the field says why
        assert "Geef kort aan waarom" in answer.content()
        check(answer, "uitnodiging-fout")
        answer.get_by_role("button", name="Ja, ik doe mee").click()
        answer.wait_for_load_state()
        assert "De uren staan voor u geboekt" in answer.content() and "Zo bereikt u de aanvrager" in answer.content()
        check(answer, "uitnodiging-geaccepteerd")
        answer.goto(f"{site}/hulpvraag/status/{status_token}")
        assert "Uw team" in answer.content() and "Wat gebeurt er nu?" in answer.content()
        check(answer, "status-team")
        _narrow(answer)
        member.close()
    finally:
        context.close()
