"""Debian's headless Chromium for the browser tests (Playwright drives it, axe-core checks each page).

Needs /usr/bin/chromium and tests/browser/node_modules/axe-core (scripts/test installs both). Without them the
browser tests are skipped, except in CI (WIJKWIJZER_REQUIRE_BROWSER=1), where that is a failure. The `browser`
and `page` fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

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


def require_browser() -> None:
    """Skip without Chromium, axe-core or playwright; in CI (WIJKWIJZER_REQUIRE_BROWSER=1) fail instead."""
    reason = _missing()
    if reason:
        if os.environ.get("WIJKWIJZER_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)


def launch(playwright):
    """Chromium as every browser test starts it (root in a container needs --no-sandbox)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])


def new_page(browser, viewport: dict | None = None, javascript: bool = True, **options):
    """A page in a fresh context: its own, empty storage, Dutch locale. axe-core is injected into the page and our
    CSP (rightly) forbids that, so test contexts bypass it."""
    context = browser.new_context(bypass_csp=True, locale="nl-NL", java_script_enabled=javascript,
                                  viewport=viewport or {"width": 1280, "height": 900}, **options)
    return context.new_page()


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
