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
    check(page, "hulpvraag-status")


def test_coordinator_sees_explained_matches_and_assigns(page, site, site_app):
    # Its own request, not one another test may or may not have left.
    svc = site_app.extensions["wijkwijzer"]
    result, token = svc.submit_request(dict(REQUEST))
    assert token, result.errors
    request_id = svc.requests.by_token(token)["id"]
    page.goto(f"{site}/coordinator/inloggen")
    check(page, "inloggen")
    login(page, site)
    check(page, "coordinator-aanvragen")
    page.locator("table a", has_text=f"#{request_id}").first.click()
    page.wait_for_url(re.compile(rf"/coordinator/aanvraag/{request_id}$"))
    assert "Voorgestelde koppelingen" in page.content() and "uur per week vrij" in page.content()
    check(page, "coordinator-aanvraag")
    page.locator(".match button").first.click()
    page.wait_for_load_state()
    assert "Gekoppeld aan" in page.content()
    page.goto(f"{site}/coordinator/dashboard")
    check(page, "dashboard")
