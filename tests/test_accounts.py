"""Accounts and limits: logins held on the server (revoked at once, idle and absolute timeouts), password
guesses throttled on both doors (the form and HTTP Basic), the match API for coordinators only, the client
address behind trusted proxies, and the "Geen toegang" page."""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app
from wijkwijzer.cli import main
from wijkwijzer.config import Settings, SettingsError
from wijkwijzer.storage.sessions import session_hash

PASSWORD = "lang-genoeg-wachtwoord"
MATCH = {"municipality": "Schiedam", "request": "Twee projectleiders voor sloop-nieuwbouw van portiekwoningen."}


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app(tmp_path, database_url, monkeypatch):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT, database_url), experts_dir=ROOT / "experts")
    monkeypatch.setenv("WIJKWIJZER_DATABASE_URL", database_url)  # the CLI commands of a test use it too
    app = create_app(settings, sync=False, watch=False)  # no case studies needed: accounts, pool, requests
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator Een", PASSWORD)
    svc.accounts.add("redacteur", "Redacteur Een", PASSWORD, role="editor")
    yield app
    svc.close()


def csrf(client, path: str = "/coordinator/inloggen") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def log_in(client, username: str = "coord", password: str = PASSWORD):
    return client.post("/coordinator/inloggen", data={"username": username, "password": password,
                                                       "csrf_token": csrf(client)})


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def copy_with(app, cookie: str):
    """A second browser that holds a copy of someone's session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def submit_request(app) -> int:
    svc = app.extensions["wijkwijzer"]
    request_id, _ = svc.requests.submit({
        "municipality": "Schiedam", "focus_area": "", "contact_name": "Jan", "email": "jan@schiedam.nl",
        "role": "projectleider", "question": "Tijdelijk een projectleider woningbouw.", "themes": [],
        "kind": "flexpool", "start": "2026-04-01", "months": 6, "hours_per_week": 4})
    return request_id


def opens_private_pages(client, request_id: int) -> bool:
    queue = client.get("/coordinator/")
    export = client.get(f"/coordinator/aanvraag/{request_id}/export")
    assert queue.status_code in (200, 302) and export.status_code in (200, 302)
    return queue.status_code == 200 and export.status_code == 200 and b"jan@schiedam.nl" in export.data


# -- sessions on the server ------------------------------------------------------------------------------------
def test_the_cookie_holds_a_random_id_and_the_database_only_its_hash(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    assert log_in(client).status_code == 302
    cookie = cookie_of(client)
    payload = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert "user" not in payload and "coord" not in cookie  # who is logged in is not in the cookie
    rows = list(svc.store.db.query("SELECT id_hash, username FROM sessions"))
    assert rows == [{"id_hash": session_hash(payload["sid"]), "username": "coord"}]
    assert payload["sid"] not in str(rows)
    assert len(payload["sid"]) >= 40  # 32 random bytes


@pytest.mark.parametrize("revoke", ["logout", "remove", "passwd", "demote", "demote-by-add"])
def test_a_copied_cookie_stops_working_when_the_session_is_revoked(app, tmp_path, monkeypatch, revoke):
    request_id = submit_request(app)
    client = app.test_client()
    log_in(client)
    copied = copy_with(app, cookie_of(client))
    assert opens_private_pages(copied, request_id)  # the copy works while the session lives
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    run = CliRunner()
    if revoke == "logout":
        client.post("/coordinator/uitloggen", data={"csrf_token": csrf(client, "/coordinator/")})
    elif revoke == "remove":
        assert run.invoke(main, ["user", "remove", "coord"]).exit_code == 0
    elif revoke == "passwd":
        assert run.invoke(main, ["user", "passwd", "coord", "--password", "n" * 12]).exit_code == 0
    elif revoke == "demote":
        result = run.invoke(main, ["user", "role", "coord", "editor"])
        assert result.exit_code == 0 and "sessies zijn beëindigd" in result.output
        assert run.invoke(main, ["user", "role", "niemand", "editor"]).exit_code == 2
        assert run.invoke(main, ["user", "role", "coord", "baas"]).exit_code == 2
    else:
        assert run.invoke(main, ["user", "add", "coord", "--role", "editor", "--password", PASSWORD]).exit_code == 0
    for browser in (copied, client):
        assert not opens_private_pages(browser, request_id), revoke
        response = browser.get("/coordinator/")
        assert response.status_code == 302 and "/coordinator/inloggen" in response.headers["Location"]
        api = browser.post("/api/v1/match", json=MATCH)
        assert api.status_code == 401, revoke
    assert app.extensions["wijkwijzer"].sessions.count("coord") == 0


def test_a_demoted_account_logs_in_again_as_editor_and_reads_geen_toegang(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    log_in(client)
    assert svc.accounts.set_role("coord", "editor")
    assert not svc.accounts.set_role("niemand", "editor")
    log_in(client)
    page = client.get("/coordinator/")
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "<title>Geen toegang" in html and "<h1 class=\"nl-heading nl-heading--level-1\">Geen toegang</h1>" in html
    assert "Er ging iets mis" not in html and "redactiepagina" in html
    assert ">Coördinatie</a>" not in html and ">Redactie</a>" in html  # the menu follows the role
    assert "Uitloggen" in html and "Inloggen voor coördinatoren" not in html
    client.post("/coordinator/uitloggen", data={"csrf_token": csrf(client, "/coordinator/redactie")})
    html = client.get("/").get_data(as_text=True)
    assert "Uitloggen" not in html and "Inloggen voor coördinatoren" in html


def test_idle_and_absolute_timeouts_with_a_driven_clock(app):
    svc = app.extensions["wijkwijzer"]
    clock = Clock()
    svc.sessions.clock = clock
    request_id = submit_request(app)

    client = app.test_client()
    log_in(client)
    clock.now += 29 * 60
    assert opens_private_pages(client, request_id)  # 29 minutes idle: still in
    clock.now += 31 * 60
    assert not opens_private_pages(client, request_id)  # 31 minutes idle: out
    assert svc.sessions.count("coord") == 0  # and the row is gone

    log_in(client)
    for _ in range(16):  # active all day, a request every 29 minutes: 7 h 44 min
        clock.now += 29 * 60
        assert opens_private_pages(client, request_id)
    clock.now += 17 * 60  # 8 h 1 min after the login: out, however active
    assert not opens_private_pages(client, request_id)

    # Expired sessions of other accounts are cleaned up at the next login and by `purge`.
    stale = app.test_client()
    log_in(stale, "redacteur")
    clock.now += 31 * 60
    log_in(client)
    assert svc.sessions.count("redacteur") == 0
    clock.now += 9 * 3600
    svc.purge(closed_before=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert svc.store.db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def test_session_limits_are_settings():
    env = {"WIJKWIJZER_SESSION_IDLE_MINUTES": "15", "WIJKWIJZER_SESSION_MAX_HOURS": "4",
           "WIJKWIJZER_TRUSTED_PROXIES": "2"}
    settings = Settings.from_env(env)
    assert (settings.session_idle_minutes, settings.session_max_hours, settings.trusted_proxies) == (15, 4, 2)
    defaults = Settings.from_env({})
    assert (defaults.session_idle_minutes, defaults.session_max_hours, defaults.trusted_proxies) == (30, 8, 0)
    for name, value in (("SESSION_IDLE_MINUTES", "0"), ("SESSION_MAX_HOURS", "acht"), ("TRUSTED_PROXIES", "-1")):
        with pytest.raises(SettingsError, match=f"WIJKWIJZER_{name}"):
            Settings.from_env({f"WIJKWIJZER_{name}": value})


def test_a_session_id_planted_before_login_is_not_kept(app):
    client = app.test_client()
    csrf(client)
    client.get("/hulpvraag")
    before = app.session_interface.get_signing_serializer(app).loads(cookie_of(client))
    log_in(client)
    after = app.session_interface.get_signing_serializer(app).loads(cookie_of(client))
    assert "sid" not in before and after["sid"] and after.get("csrf_token") != before.get("csrf_token")


def test_a_login_on_a_read_only_database_lives_in_the_cookie_only_while_it_is_read_only(app):
    svc = app.extensions["wijkwijzer"]
    clock = Clock()
    svc.sessions.clock = clock
    client = app.test_client()
    svc.store.read_only = "de datamap is alleen-lezen"  # what Store sets when it cannot write (test_readonly.py)
    try:
        assert log_in(client, "redacteur").status_code == 302
        assert svc.sessions.count("redacteur") == 0
        assert client.get("/coordinator/redactie").status_code == 200
        assert client.get("/coordinator/").status_code == 403  # the role still comes from the database
        clock.now += 31 * 60
        assert client.get("/coordinator/redactie").status_code == 302  # the same idle timeout
        log_in(client, "redacteur")
    finally:
        svc.store.read_only = None
    assert client.get("/coordinator/redactie").status_code == 302  # writable again: log in properly


# -- roles -----------------------------------------------------------------------------------------------------
def test_editors_get_geen_toegang_on_coordinator_pages_and_403_on_the_match_api(app):
    request_id = submit_request(app)
    client = app.test_client()
    assert log_in(client, "redacteur").headers["Location"] == "/coordinator/redactie"
    for path in ("/coordinator/", f"/coordinator/aanvraag/{request_id}", f"/coordinator/aanvraag/{request_id}/export",
                 "/coordinator/capaciteit", "/coordinator/verdelen"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "Geen toegang" in page.get_data(as_text=True) and b"jan@schiedam.nl" not in page.data
    assert client.get("/coordinator/redactie").status_code == 200
    api = client.post("/api/v1/match", json=MATCH)
    assert api.status_code == 403 and api.get_json() == {"error": "alleen voor coördinatoren", "status": 403}
    basic = base64.b64encode(f"redacteur:{PASSWORD}".encode()).decode()
    anonymous = app.test_client()
    api = anonymous.post("/api/v1/match", json=MATCH, headers={"Authorization": f"Basic {basic}"})
    assert api.status_code == 403
    basic = base64.b64encode(f"coord:{PASSWORD}".encode()).decode()
    api = anonymous.post("/api/v1/match", json=MATCH, headers={"Authorization": f"Basic {basic}"})
    assert api.status_code == 200 and api.get_json()["matches"]


def test_actions_on_an_unknown_request_answer_404(app):
    client = app.test_client()
    log_in(client)
    token = csrf(client, "/coordinator/")
    for action, data in (("wissen", {"confirm": "ja"}), ("wissen", {}), ("status", {"status": "afgewezen"}),
                         ("status", {"status": "in behandeling"}), ("koppelen", {"member_id": "x"})):
        response = client.post(f"/coordinator/aanvraag/987654/{action}", data={**data, "csrf_token": token})
        assert response.status_code == 404, (action, data)
        assert "Pagina niet gevonden" in response.get_data(as_text=True)


# -- password guesses ------------------------------------------------------------------------------------------
def basic(username: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_http_basic_guesses_are_throttled_like_the_login_form(app):
    client = app.test_client()
    codes = [client.post("/api/v1/match", json=MATCH, headers=basic("coord", f"fout-{n}")).status_code
             for n in range(11)]
    assert codes == [401] * 10 + [429]
    # Past the limit even the right password is not checked: the guessing stops there.
    refused = client.post("/api/v1/match", json=MATCH, headers=basic("coord", PASSWORD))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["status"] == 429
    # The same account from another address is refused too (per account) ...
    elsewhere = client.post("/api/v1/match", json=MATCH, headers=basic("coord", PASSWORD),
                            environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert elsewhere.status_code == 429
    # ... and the login form counts the same guesses: it is the same password.
    form = app.test_client()
    form.environ_base["REMOTE_ADDR"] = "198.51.100.21"
    page = log_in(form)
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
    assert "te veel verzoeken" in page.get_data(as_text=True)
    # Another account from a fresh address still works; a session needs no password check at all.
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("tweede", "Tweede", PASSWORD)
    fresh = client.post("/api/v1/match", json=MATCH, headers=basic("tweede", PASSWORD),
                        environ_base={"REMOTE_ADDR": "198.51.100.22"})
    assert fresh.status_code == 200


def test_guesses_per_address_are_counted_across_accounts(app):
    client = app.test_client()
    codes = [client.post("/api/v1/match", json=MATCH, headers=basic(f"naam{n}", "fout")).status_code
             for n in range(11)]
    assert codes == [401] * 10 + [429]
    assert log_in(client).status_code == 429  # the form, from the same address


def test_hourly_guess_limit(app):
    client = app.test_client()
    limiter = app.extensions["wijkwijzer.limiter"].limiter
    from limits import parse

    # 49 wrong guesses spread over the hour, recorded as the throttle records them; the 50th is still checked.
    for _ in range(49):
        limiter.hit(parse("50 per hour"), "guesses", "account", "coord")
    assert client.post("/api/v1/match", json=MATCH, headers=basic("coord", "fout")).status_code == 401
    assert client.post("/api/v1/match", json=MATCH, headers=basic("coord", PASSWORD),
                       environ_base={"REMOTE_ADDR": "198.51.100.30"}).status_code == 429


# -- the client address ----------------------------------------------------------------------------------------
def forwarded_app(tmp_path, proxies: int):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), trusted_proxies=proxies)
    return create_app(settings, sync=False, watch=False)


@pytest.mark.parametrize("proxies", [0, 1, 2])
def test_a_client_rotating_x_forwarded_for_cannot_escape_the_rate_limit(tmp_path, proxies):
    app = forwarded_app(tmp_path, proxies)
    try:
        client = app.test_client()
        token = csrf(client)
        codes = []
        for n in range(12):
            # What the client sends itself, then what each trusted proxy appends: the address it saw.
            chain = [f"10.0.{n}.{n}", "203.0.113.7", "192.0.2.1"][: 1 + proxies]
            response = client.post("/coordinator/inloggen",
                                   data={"username": "x", "password": "y", "csrf_token": token},
                                   headers={"X-Forwarded-For": ", ".join(chain)},
                                   environ_base={"REMOTE_ADDR": "127.0.0.1"})
            codes.append(response.status_code)
        assert codes == [401] * 10 + [429] * 2, proxies
    finally:
        app.extensions["wijkwijzer"].close()


def test_the_client_address_is_taken_as_far_as_the_trusted_proxies_reach(tmp_path):
    seen = {}
    for proxies, header, remote, expected in (
        (0, "203.0.113.9", "127.0.0.1", "127.0.0.1"),  # default: the header is ignored
        (1, "6.6.6.6, 203.0.113.9", "127.0.0.1", "203.0.113.9"),  # the rightmost entry: what our proxy saw
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "127.0.0.1", "203.0.113.9"),  # CDN, then our proxy
        (2, "203.0.113.9", "127.0.0.1", "127.0.0.1"),  # fewer entries than proxies: nothing to trust
    ):
        app = forwarded_app(tmp_path / f"p{len(seen)}", proxies)

        @app.get("/_adres")
        def address():
            from flask import request

            return f"{request.remote_addr} {request.scheme}"

        hops = header.count(",") + 1
        answer = app.test_client().get("/_adres", environ_base={"REMOTE_ADDR": remote}, headers={
            "X-Forwarded-For": header, "X-Forwarded-Proto": ", ".join(["https"] * hops)}).get_data(as_text=True)
        seen[(proxies, header)] = answer
        assert answer.split()[0] == expected, (proxies, header, answer)
        assert answer.split()[1] == ("https" if proxies and hops >= proxies else "http")
        app.extensions["wijkwijzer"].close()
