"""The pages in a real browser: Debian's headless Chromium driven by Playwright, and axe-core on every page type.

Needs /usr/bin/chromium and tests/browser/node_modules/axe-core (scripts/test installs both). Without them the
tests are skipped, except in CI (WIJKWIJZER_REQUIRE_BROWSER=1), where that is a failure.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.chromium import check, new_page, require_browser
from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app

PASSWORD = "lang-genoeg-wachtwoord"
INSTALLED_MODEL = ROOT / "data" / "models" / "multilingual-e5-small"


@pytest.fixture(scope="module")
def site_app(tmp_path_factory):
    """The app under test, with a coordinator account; tests that need stored data make their own through it."""
    require_browser()
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
    assert "Voorgestelde koppelingen" in page.content() and "uur per week vrij" in page.content()
    check(page, "coordinator-aanvraag")
    page.locator(".slot .match button").first.click()
    page.wait_for_load_state()
    assert "is uitgenodigd" in page.content() and "wacht op antwoord" in page.content()
    check(page, "coordinator-team")
    page.goto(f"{site}/coordinator/dashboard")
    check(page, "dashboard")
    page.goto(f"{site}/coordinator/verdelen")
    check(page, "verdelen")
    page.goto(f"{site}/coordinator/capaciteit")
    check(page, "capaciteit")


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


# -- pages for people: 390 px, focus, no error colour before an error (issue 13, point 8) -----------------------
PHONE = {"width": 390, "height": 844}
LONG_QUESTION = ("Voor de sloop-nieuwbouw van 300 portiekwoningen in Nieuwland (zie "
                 "https://www.schiedam.nl/wonen/projecten/nieuwland/sloop-nieuwbouw-portiekwoningen-fase-twee) zoeken "
                 "we tijdelijk twee projectleiders en een planeconoom, zestien uur per week.")


@pytest.fixture
def phone(browser):
    page = new_page(browser, viewport=PHONE, device_scale_factor=1)
    yield page
    page.context.close()


def _open_requests(site_app) -> tuple[int, int]:
    """One linked request and one open one (with a long unbroken link in its question), made through the
    services as the form would."""
    svc = site_app.extensions["wijkwijzer"]
    ids = []
    for changes in ({"municipality": "Den Haag"}, {"question": LONG_QUESTION, "email": "projectbureau.sloop-nieuwbouw"
                                                   ".nieuwland-oost@gemeente-schiedam.nl"}):
        result, token = svc.submit_request({**REQUEST, **changes})
        assert token, result.errors
        ids.append(svc.requests.by_token(token)["id"])
    linked = svc.suggestions(ids[0])["matches"][0]["id"]
    svc.assign(ids[0], linked, actor="coord")
    return ids[0], ids[1]


def _scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _too_wide(page) -> list[str]:
    """The outermost elements that reach past the viewport (for the failure message)."""
    return page.evaluate("""w => [...document.querySelectorAll('body *')]
      .filter(el => el.getBoundingClientRect().right > w + 0.5
                    && !(el.parentElement.getBoundingClientRect().right > w + 0.5))
      .map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
                 + ': ' + Math.round(el.getBoundingClientRect().right) + ' px')""", PHONE["width"])


def test_coordinator_pages_and_the_form_fit_a_phone(phone, site, site_app):
    """At 390 px nothing scrolls the page sideways: tables become cards or scroll in their own region."""
    linked, open_one = _open_requests(site_app)
    login(phone, site)
    pages = {
        "smal-aanvragen": "/coordinator/", "smal-dashboard": "/coordinator/dashboard",
        "smal-verdelen": "/coordinator/verdelen", "smal-aanvraag": f"/coordinator/aanvraag/{open_one}",
        "smal-aanvraag-gekoppeld": f"/coordinator/aanvraag/{linked}", "smal-capaciteit": "/coordinator/capaciteit",
        "smal-redactie": "/coordinator/redactie", "smal-hulpvraag": "/hulpvraag",
    }
    for name, path in pages.items():
        phone.goto(site + path)
        assert _scroll_width(phone) <= PHONE["width"], f"{path}: {_scroll_width(phone)} px; {_too_wide(phone)}"
        check(phone, name)
        if folder := os.environ.get("WIJKWIJZER_SCREENSHOT_DIR"):
            phone.screenshot(path=str(Path(folder) / f"{name}-volledig.png"), full_page=True)
    # And at 320 px, the width WCAG 1.4.10 (reflow) names.
    phone.set_viewport_size({"width": 320, "height": 800})
    for path in pages.values():
        phone.goto(site + path)
        assert _scroll_width(phone) <= 320, f"{path} at 320 px: {_scroll_width(phone)} px"
    phone.set_viewport_size(PHONE)
    # The queue as cards: each value under its column's name, which the screen reader does not hear twice.
    phone.goto(f"{site}/coordinator/")
    cell = phone.locator("td[data-label='Gemeente']").first
    assert phone.evaluate("el => getComputedStyle(el).display", cell.element_handle()) != "table-cell"
    assert "Gemeente" in phone.evaluate("el => getComputedStyle(el, '::before').content", cell.element_handle())
    assert phone.get_by_role("cell", name="Den Haag").count() >= 1  # still a table to assistive technology
    # The request page names people, pools and scores as people read them.
    phone.goto(f"{site}/coordinator/aanvraag/{linked}")
    body = phone.locator("main").inner_text()
    assert re.search(r"(sterke|goede|matige) match \(\d+%\)", body) and "Den Haag" in body
    assert not re.search(r"\b(expertpool|flexpool|vraagbaak)/", body)


def test_the_submitted_form_fits_a_phone_too(phone, site):
    phone.goto(f"{site}/hulpvraag")
    phone.get_by_role("button", name="Aanvraag versturen").click()
    assert phone.locator(".error-summary").is_visible()
    assert _scroll_width(phone) <= PHONE["width"]
    check(phone, "smal-hulpvraag-fouten")


# A ring is visible when its colour stands out 3:1 (WCAG 1.4.11) against what surrounds the control: the
# outline against the background behind it, or the inner ring (box-shadow) when the outline is dark on dark.
FOCUS_RING = """el => {
  const style = getComputedStyle(el);
  const rgb = c => (c.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  let node = el.parentElement, bg = [255, 255, 255];
  while (node) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || c[3] > 0) { bg = c; break; }
    node = node.parentElement;
  }
  const outline = rgb(style.outlineColor), shadow = rgb(style.boxShadow);
  const rings = [style.outlineStyle === 'none' ? 0 : ratio(outline, bg), shadow.length >= 3 ? ratio(shadow, bg) : 0];
  return {tag: el.tagName.toLowerCase(), type: el.getAttribute('type') || '', visible: el.matches(':focus-visible'),
          width: parseFloat(style.outlineWidth), outlineStyle: style.outlineStyle, contrast: Math.max(...rings),
          shadow: style.boxShadow};
}"""


def test_every_kind_of_control_shows_a_clear_focus_ring(page, site):
    """Tab through the form: links, text fields, the select, the textarea, radio buttons, checkboxes and the
    button each show a ring of 2 px or more that stands out 3:1."""
    page.goto(f"{site}/hulpvraag")
    seen: dict[str, dict] = {}
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate_handle("document.activeElement")
        ring = page.evaluate(FOCUS_RING, focused)
        kind = ring["tag"] + (f"[{ring['type']}]" if ring["tag"] == "input" else "")
        # A date field's focus is in its day, month and year parts: the field matches :focus, not :focus-visible.
        assert ring["visible"] or kind == "input[date]", kind
        assert ring["width"] >= 2 and ring["outlineStyle"] != "none" and ring["contrast"] >= 3, (kind, ring)
        seen.setdefault(kind, ring)
        if ring["tag"] == "a" and seen.get("button"):
            break  # past the form's button, into the footer
    wanted = {"a", "input[email]", "input[date]", "select", "textarea", "input[radio]", "input[checkbox]", "button"}
    assert wanted <= set(seen) and any(k in seen for k in ("input[]", "input[text]")), sorted(seen)
    if folder := os.environ.get("WIJKWIJZER_SCREENSHOT_DIR"):
        page.locator("#veld-question").focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        page.locator("#veld-question").screenshot(path=str(Path(folder) / "focus-textarea.png"))


def test_no_error_colour_before_an_error(page, site):
    """Untouched, the required textarea looks like any other field; after a failed submit it shows the error."""
    page.goto(f"{site}/hulpvraag")
    look = "el => { const s = getComputedStyle(el); return [s.borderTopColor, s.backgroundColor, s.borderTopWidth]; }"
    plain = page.evaluate(look, page.locator("#veld-months").element_handle())
    for control in ("#veld-question", "#veld-contact_name", "#veld-email", "#veld-role", "#veld-municipality",
                    "#kind-1"):
        if control == "#kind-1":
            continue  # radio buttons have their own border; checked below against an unchecked one
        assert page.evaluate(look, page.locator(control).element_handle()) == plain, control
    assert page.locator(".utrecht-form-field--invalid, [aria-invalid=true]").count() == 0
    radios = [page.evaluate(look, page.locator(f"#kind-{i}").element_handle()) for i in (1, 2)]
    assert radios[0][0] == radios[1][0]
    page.get_by_role("button", name="Aanvraag versturen").click()
    page.wait_for_load_state()
    error = page.evaluate(look, page.locator("#veld-question").element_handle())
    assert error != plain  # the server's verdict does colour it (so the check above can fail)


# -- a case with an attachment, an image, "Meer weten" and tag links (issue 15, part 3) -----------------------
CASE_WITH_FILES = "/casus/arnhem-oost/bereik-voor-en-vroegschoolse-educatie-vergroten"


def _case_with_files(page, site: str, name: str) -> None:
    """Open the sample case with files; its image has loaded (CSP allows our own images) and axe finds nothing."""
    page.goto(f"{site}{CASE_WITH_FILES}")
    image = page.get_by_role("img", name=re.compile("^Vier stappen: indicatie op het consultatiebureau"))
    image.scroll_into_view_if_needed()  # it loads lazily
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert page.get_by_role("region", name="Bijlagen").is_visible()
    # The body ends with its own "Meer weten", so the contact details follow under "Contact".
    assert page.get_by_role("region", name="Contact").get_by_role("link", name="14 026").is_visible()
    check(page, name)


def test_a_case_with_files_contact_and_tags_in_the_browser(page, site):
    _case_with_files(page, site, "casus-bijlagen")
    link = page.get_by_role("link", name="Afsprakenkader warme verwijzing naar de voorschool")
    assert "(PDF, 30 kB)" in link.locator("xpath=..").inner_text()
    answer = page.request.get(site + link.get_attribute("href"))
    assert answer.ok and answer.headers["content-type"] == "application/pdf" and answer.body().startswith(b"%PDF-")
    assert page.get_by_role("link", name="14 026").get_attribute("href") == "tel:14026"
    page.get_by_role("link", name="Zoek op trefwoord consultatiebureau").click()
    page.wait_for_url(re.compile(r"/zoeken\?q=consultatiebureau"))
    assert page.locator(f'.result a[href="{CASE_WITH_FILES}"]').count() == 1


def test_a_case_with_files_at_390_px(phone, site):
    _case_with_files(phone, site, "casus-bijlagen-390")
    assert _scroll_width(phone) <= PHONE["width"], _too_wide(phone)
    image_width = phone.get_by_role("img", name=re.compile("^Vier stappen")).evaluate("img => img.clientWidth")
    assert image_width < 390  # scaled down to the column, not cut off

def test_case_page_json_ld_passes_the_csp_without_a_nonce(browser, site):
    """The JSON-LD block is data, not script: Chromium enforcing our CSP reports no violation on a case page,
    and reads the block as the Article the page is about."""
    context = browser.new_context(locale="nl-NL")  # the CSP enforced, as for every visitor
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    try:
        # Violations are reported as events on the document; collect them from the first byte on.
        page.add_init_script("window.__violations = []; document.addEventListener('securitypolicyviolation', "
                             "e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
        page.goto(f"{site}/casus/den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie")
        page.wait_for_load_state("load")
        article = page.evaluate("JSON.parse(document.querySelector('script[type=\"application/ld+json\"]')"
                                ".textContent)")
        assert article["@type"] == "Article" and article["headline"] == page.locator("h1").inner_text()
        assert page.evaluate("window.__violations") == []
        assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages
        canonical = page.locator("link[rel=canonical]").get_attribute("href")
        assert canonical == f"{site}/casus/den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie"
    finally:
        context.close()


def test_csp_violations_would_be_seen(browser, site):
    """The listener above is live: an inline script in a page with our CSP is reported."""
    context = browser.new_context(locale="nl-NL")
    page = context.new_page()
    try:
        page.add_init_script("window.__violations = []; document.addEventListener('securitypolicyviolation', "
                             "e => window.__violations.push(e.violatedDirective));")
        page.goto(f"{site}/casus/den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie")
        page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.x = 1';"
                      " document.body.appendChild(s); }")
        page.wait_for_function("window.__violations.length > 0")
        assert page.evaluate("window.__violations")[0].startswith("script-src")
    finally:
        context.close()

def _mail_link(site_app, kind: str, path: str) -> str:
    """The site-relative link to `path` in the newest outbox mail of `kind` (no SMTP server here: mail waits)."""
    mail = next(m for m in site_app.extensions["wijkwijzer"].outbox.list() if m["kind"] == kind)
    return re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", mail["text"]).group(1)


def test_follow_a_theme_by_keyboard_and_manage_it(page, site, site_app):
    """The follow form under a theme's results, used with the keyboard only, and every page it leads to: axe-core
    finds nothing on any of them."""
    page.goto(f"{site}/thema/armoede-en-schulden")
    feed = page.locator("link[rel=alternate][href='/feed.atom?themes=armoede-en-schulden']")
    assert feed.count() == 1 and page.get_by_role("link", name=re.compile("^Of volg dit via de Atom-feed")).is_visible()
    assert page.get_by_role("heading", name="Volg thema Armoede en schulden").is_visible()
    check(page, "volgen-thema")
    # Keyboard only: from the last result's area into the form, type, choose "Elke dag", send.
    page.get_by_label("Uw e-mailadres").focus()
    page.keyboard.type("geen-adres")
    page.keyboard.press("Enter")  # Enter in a text field sends the form
    page.wait_for_url(f"{site}/volgen")
    assert "vul een geldig e-mailadres in" in page.locator("main").inner_text()
    check(page, "volgen-fout")
    page.get_by_role("link", name=re.compile("geldig e-mailadres")).focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "volg-email"
    page.keyboard.press("Control+A")
    page.keyboard.type("l.bakker@leeuwarden.nl")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "volg-wekelijks"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "volg-dagelijks" and page.is_checked("#volg-dagelijks")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Volgen"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/volgen/verstuurd\?themes=armoede-en-schulden$"))
    assert page.get_by_role("heading", name="Bevestig uw e-mailadres").is_visible()
    check(page, "volgen-verstuurd")

    page.goto(site + _mail_link(site_app, "alert_confirm", "/volgen/bevestigen/"))
    check(page, "volgen-bevestigen")
    page.get_by_role("button", name="Ja, ik wil dit volgen").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("heading", name="U volgt dit nu").is_visible()
    check(page, "volgen-bevestigd")
    page.get_by_role("link", name="Bekijk en wijzig wat u volgt").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/volgen/beheer/"))
    assert page.is_checked("input[value=dagelijks]")
    check(page, "volgen-beheer")
    page.get_by_label("Eén keer per week").check()
    page.get_by_role("button", name=re.compile("^Opslaan")).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "één keer per week" in page.locator("main").inner_text() and page.is_checked("input[value=wekelijks]")
    check(page, "volgen-beheer-opgeslagen")
    svc = site_app.extensions["wijkwijzer"]
    (row,) = [r for r in svc.alerts.store.confirmed() if r["email"] == "l.bakker@leeuwarden.nl"]
    page.goto(site + f"/volgen/afmelden/{svc.alerts.unsubscribe_token(row)}")
    check(page, "volgen-afmelden")
    page.get_by_role("button", name="Afmelden").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("heading", name="U bent afgemeld").is_visible()
    check(page, "volgen-afgemeld")


def test_follow_pages_fit_a_phone(phone, site, site_app):
    """At 390 px the follow box, the form page and the manage page scroll nowhere sideways and pass axe-core."""
    svc = site_app.extensions["wijkwijzer"]
    svc.alerts.follow("m.smit@heerlen.nl", "q=schulden&focus_area=amsterdam-nieuw-west", "wekelijks")
    subscriber = svc.alerts.store.ensure_subscriber("m.smit@heerlen.nl")
    pages = {"smal-volgen-zoeken": "/zoeken?q=schulden&focus_area=amsterdam-nieuw-west",
             "smal-volgen-focusgebied": "/focusgebied/amsterdam-nieuw-west",
             "smal-volgen-formulier": "/volgen?actielijn=x&action_lines=veiligheid",
             "smal-volgen-beheer": f"/volgen/beheer/{svc.alerts.manage_token(subscriber)}"}
    for name, path in pages.items():
        phone.goto(site + path)
        assert _scroll_width(phone) <= PHONE["width"], f"{path}: {_scroll_width(phone)} px; {_too_wide(phone)}"
        check(phone, name)
        if folder := os.environ.get("WIJKWIJZER_SCREENSHOT_DIR"):
            phone.screenshot(path=str(Path(folder) / f"{name}-volledig.png"), full_page=True)
