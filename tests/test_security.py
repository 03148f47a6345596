"""Web defences: every non-public route is guarded, headers, rate limits, security.txt, CSRF."""

import re
from dataclasses import replace

import pytest

from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from wijkwijzer import create_app

# Endpoints anyone may use. Anything else in the URL map must refuse a visitor who is not logged in.
PUBLIC = {
    "static", "security_txt", "site.home", "site.search", "site.case", "site.browse", "site.feed",
    "helpdesk.form", "helpdesk.status", "helpdesk.privacy", "helpdesk.accessibility", "api.search", "api.case",
    "api.status", "api.not_found", "coordinator.login", "coordinator.logout",
    # Reached by an unguessable link (only its hash is stored), answered with the form's CSRF token.
    "helpdesk.feedback", "invitations.show", "invitations.answer",
    # Open data: the public records (no contact details), their description, the sitemap and robots.txt.
    "opendata.cases", "opendata.export", "opendata.openapi", "opendata.catalogue", "opendata.sitemap",
    "opendata.robots",

    # Following by e-mail: the form is public; the other pages are reached by a signed or random link.
    "alerts.follow", "alerts.sent", "alerts.confirm", "alerts.manage", "alerts.unsubscribe",

    "readlist.page", "readlist.print_view",  # the reading list: public case studies only, nothing stored
    "site.case_file",  # attachments and images listed by a public case study (checked: inside content/, allowed type)
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("security"), SAMPLE_CONTENT), watch=False)
    yield app
    app.extensions["wijkwijzer"].close()


def test_every_non_public_route_is_guarded(app):
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False  # so that POSTs reach the guard instead of stopping at CSRF
    guarded = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, json={} if rule.rule.startswith("/api/") else None)
            if rule.rule.startswith("/api/"):
                assert response.status_code == 401, (method, rule.rule)
            else:
                assert response.status_code == 302, (method, rule.rule, response.status_code)
                assert "/coordinator/inloggen" in response.headers["Location"]
            guarded += 1
    app.config["WTF_CSRF_ENABLED"] = True
    assert guarded >= 8


def test_security_headers_on_pages_and_api(app):
    client = app.test_client()
    for url in ("/", "/zoeken?q=schulden", "/hulpvraag", "/api/v1/search?q=wonen", "/bestaat-niet"):
        headers = client.get(url).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], url
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"]
    assert client.get("/coordinator/inloggen").headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" in client.get("/", base_url="https://localhost").headers


def test_session_cookie_is_httponly_samesite_and_secure_over_https(app):
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        cookie = app.test_client().get("/hulpvraag", base_url=base).headers["Set-Cookie"]  # CSRF token in session
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure, (base, cookie)


def test_templates_have_no_inline_script_or_style(app):
    from pathlib import Path

    folder = Path(app.root_path) / "web" / "templates"
    for template in folder.rglob("*.html"):
        if template.relative_to(folder).parts[0] == "mail":
            continue  # mails, never served by the site: mail programs need their styles inline
        text = template.read_text(encoding="utf-8")
        # A JSON-LD block is data, never run (tests/test_browser.py checks the CSP reports nothing on it).
        assert not re.search(r"<script(?![^>]*\b(?:src=|type=\"application/ld\+json\"))|\sstyle=|\son[a-z]+=",
                             text), template.name


def test_security_txt(app):
    response = app.test_client().get("/.well-known/security.txt")
    assert response.status_code == 200 and "Contact: mailto:" in response.get_data(as_text=True)
    assert "Expires: " in response.get_data(as_text=True)


def test_login_is_throttled(tmp_path):
    app = create_app(make_settings(tmp_path, SAMPLE_CONTENT), watch=False)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/coordinator/inloggen").get_data(as_text=True)).group(1)
    codes = [client.post("/coordinator/inloggen", data={"username": "x", "password": "y", "csrf_token": token}
                         ).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    assert "te veel verzoeken" in client.post("/coordinator/inloggen", data={"csrf_token": token}
                                              ).get_data(as_text=True)
    app.extensions["wijkwijzer"].close()


def test_rate_limited_pages_survive_garbage_collection(tmp_path):
    import gc

    app = create_app(make_settings(tmp_path, SAMPLE_CONTENT), watch=False)
    gc.collect()
    client = app.test_client()
    assert client.get("/hulpvraag").status_code == 200
    assert client.get("/coordinator/inloggen").status_code == 200
    app.extensions["wijkwijzer"].close()


def test_public_status_shows_no_server_paths(tmp_path, content_dir):
    """A broken model folder: the public status and search page say semantic search is off, without the path;
    the editors' page keeps the path (that is where it is fixed)."""
    write_case(content_dir, "a/een.md", "title: Schulden", "Over schulden.")
    model = tmp_path / "geheime-map" / "kapot-model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{", encoding="utf-8")
    app = create_app(replace(make_settings(tmp_path, content_dir), embedding_model=str(model)), watch=False)
    svc = app.extensions["wijkwijzer"]
    try:
        svc.refresh_semantic(embed=True)  # loads the model, which fails
        assert str(model) in (svc.semantic.status().error or "")
        client = app.test_client()
        public = client.get("/api/v1/status").get_data(as_text=True)
        assert "semantisch zoeken staat uit" in public
        assert "geheime-map" not in public and str(tmp_path) not in public
        assert "geheime-map" not in client.get("/zoeken?q=schulden").get_data(as_text=True)
        svc.accounts.add("redacteur", "R", "ook-lang-genoeg-wachtwoord", role="editor")
        page = client.get("/coordinator/inloggen").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/coordinator/inloggen", data={"username": "redacteur", "password": "ook-lang-genoeg-wachtwoord",
                                                   "csrf_token": token})
        assert "geheime-map" in client.get("/coordinator/redactie").get_data(as_text=True)
    finally:
        svc.close()
