"""Help requests end to end: the public form, the status link, coordinator pages, assignments, the match API."""

import base64
import datetime as dt
import itertools
import re

import pytest

from tests.conftest import SAMPLE_CONTENT
from wijkwijzer.text.formats import format_hours, format_number

FORM = {
    "municipality": "Schiedam", "contact_name": "Jan Jansen", "email": "j.jansen@schiedam.nl",
    "role": "Programmamanager wijkaanpak", "kind": "weet ik niet", "hours_per_week": "16", "months": "12",
    "question": "Voor de sloop-nieuwbouw van 300 portiekwoningen in Nieuwland zoeken we tijdelijk twee "
                "projectleiders en een planeconoom, zestien uur per week.",
}


@pytest.fixture
def app(coordinator_app):
    return coordinator_app


def token(client, path="/hulpvraag") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def submit(client, **changes):
    return client.post("/hulpvraag", data={**FORM, "csrf_token": token(client), **changes})


def login(client):
    response = client.post("/coordinator/inloggen", data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                                          "csrf_token": token(client, "/coordinator/inloggen")})
    assert response.status_code == 302


def test_form_is_plain_dutch_and_asks_only_what_is_needed(app):
    html = app.test_client().get("/hulpvraag").get_data(as_text=True)
    assert '<html lang="nl"' in html and "persoonsgegevens van inwoners" in html
    form = html.split('class="stacked-form"', 1)[1].split("</form>", 1)[0]
    names = set(re.findall(r'name="([a-z_]+)"', form)) - {"csrf_token"}
    assert names == {"municipality", "focus_area", "contact_name", "email", "role", "question", "themes", "kind",
                     "start", "months", "hours_per_week"}
    assert "Utrechtse Heuvelrug" in html and "Den Haag" in html  # the municipalities, as data


def test_bad_input_gets_specific_messages_and_keeps_what_was_typed(app):
    client = app.test_client()
    response = submit(client, municipality="Atlantis", email="geen-adres", hours_per_week="90",
                      question="BSN 123456789 van mevrouw, geboren op 12-03-1970, heeft hulp nodig bij schulden.")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Kies een Nederlandse gemeente" in html and "geldig e-mailadres" in html
    assert "van 1 tot en met 40" in html and "persoonsgegevens van inwoners" in html
    assert 'aria-invalid="true"' in html and 'href="#veld-email"' in html
    assert 'value="Jan Jansen"' in html  # nothing typed is lost
    assert app.extensions["wijkwijzer"].requests.queue() == []


def test_form_without_csrf_token_is_refused(app):
    assert app.test_client().post("/hulpvraag", data=FORM).status_code == 400


def test_submitted_request_is_followed_by_its_link(app):
    client = app.test_client()
    response = submit(client)
    assert response.status_code == 303
    link = response.headers["Location"]
    page = client.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Uw aanvraag is verstuurd" in html and "nieuw" in html
    assert "j.jansen@schiedam.nl" not in html and page.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/hulpvraag/status/" + "x" * 32).status_code == 404
    stored = app.extensions["wijkwijzer"].store.db.execute("SELECT token_hash FROM help_requests").fetchone()[0]
    assert link.split("/")[-1].split("?")[0] not in stored  # only a hash of the token is kept


def test_coordinator_pages_need_a_login(app):
    client = app.test_client()
    response = client.get("/coordinator/")
    assert response.status_code == 302 and "/coordinator/inloggen" in response.headers["Location"]
    bad = client.post("/coordinator/inloggen", data={"username": "coord", "password": "fout",
                                                     "csrf_token": token(client, "/coordinator/inloggen")})
    assert bad.status_code == 401 and "klopt niet" in bad.get_data(as_text=True)
    outside = client.post("/coordinator/inloggen?volgende=https://evil.example/",
                          data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                "csrf_token": token(client, "/coordinator/inloggen")})
    assert outside.headers["Location"] == "/coordinator/"


def test_request_shows_up_for_a_coordinator_with_explained_matches(app):
    client = app.test_client()
    submit(client)
    login(client)
    queue = client.get("/coordinator/").get_data(as_text=True)
    assert "Schiedam" in queue and "nieuw" in queue
    request_id = int(re.search(r"/coordinator/aanvraag/(\d+)", queue).group(1))
    html = client.get(f"/coordinator/aanvraag/{request_id}").get_data(as_text=True)
    assert "Pool: <strong>Flexpool-woningbouw</strong>" in html
    assert "Rol: Projectleider" in html and "uur per week vrij" in html
    assert "j.jansen@schiedam.nl" in html and "Praktijkvoorbeelden bij deze vraag" in html


def test_team_invite_replace_accept_close_and_history(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)
    login(client)
    request_id = svc.requests.queue()[0]["id"]
    slots = svc.team.ensure(request_id)
    assert [s["role"] for s in slots] == ["projectleider", "projectleider", "planeconoom"]
    first = svc.team.suggestions(request_id, slots[0], [])[0].id
    csrf = token(client, f"/coordinator/aanvraag/{request_id}")
    page = client.post(f"/coordinator/aanvraag/{request_id}/koppelen", follow_redirects=True,
                       data={"member_id": first, "slot_id": slots[0]["id"], "csrf_token": csrf})
    assert "is uitgenodigd" in page.get_data(as_text=True)
    assert svc.requests.get(request_id)["status"] == "in behandeling"  # invited, not yet accepted
    member = next(m for m in svc.pool.members() if m.id == first)
    start = dt.date.fromisoformat(svc.requests.assignments(request_id)[0]["start"])
    assert svc.requests.booked_hours(start)[first] == 16.0  # an invitation holds the hours
    # A second request for the same period no longer sees that member with all hours free.
    submit(client)
    other = svc.requests.queue("nieuw")[0]["id"]
    listed = {m["id"]: m for m in svc.suggestions(other, limit=20)["matches"]}
    if member.hours_per_week <= 16:
        assert first not in listed
    else:
        free = format_number(member.hours_per_week - 16, 2)
        assert f"{free} van {format_hours(member.hours_per_week)} per week vrij" in " ".join(listed[first]["reasons"])
    team: list[str] = []
    tokens = []
    for slot in svc.team.ensure(request_id):  # replaces the first invitation in slot 1
        pick = next(m.id for m in svc.team.suggestions(request_id, {**slot, "past": []}, team, limit=10)
                    if m.id != first)
        team.append(pick)
        tokens.append(svc.team.link(slot["id"], pick, actor="coord"))
    assert first not in [a["member_id"] for a in svc.requests.assignments(request_id)]
    for invitation in tokens:
        svc.team.accept(invitation)
    assert svc.requests.get(request_id)["status"] == "gekoppeld"
    html = client.get(f"/coordinator/aanvraag/{request_id}").get_data(as_text=True)
    assert html.count("heeft geaccepteerd") == 3 and "vrijgeven" in html
    no_reason = client.post(f"/coordinator/aanvraag/{request_id}/status",
                            data={"status": "afgewezen", "note": "", "csrf_token": csrf}, follow_redirects=True)
    assert "Geef een reden op" in no_reason.get_data(as_text=True)
    client.post(f"/coordinator/aanvraag/{request_id}/status", data={"status": "afgerond", "csrf_token": csrf})
    assert svc.requests.get(request_id)["status"] == "afgerond" and svc.requests.assignments(request_id) == []
    refused = client.post(f"/coordinator/aanvraag/{request_id}/status",
                          data={"status": "in behandeling", "csrf_token": csrf}, follow_redirects=True)
    assert "Kan niet" in refused.get_data(as_text=True)
    statuses = [e["status"] for e in svc.requests.history(request_id)]
    assert [s for s, _ in itertools.groupby(statuses)] == ["nieuw", "in behandeling", "gekoppeld", "afgerond"]
    assert "Capaciteit per poollid" in client.get("/coordinator/capaciteit").get_data(as_text=True)


def test_match_api_for_coordinators(app):
    client = app.test_client()
    body = {"municipality": "Rotterdam", "request": "Welke termijn geldt voor bezwaar tegen een besluit over "
                                                    "bijzondere bijstand?"}
    assert client.post("/api/v1/match", json=body).status_code == 401
    auth = {"Authorization": "Basic " + base64.b64encode(b"coord:lang-genoeg-wachtwoord").decode()}
    data = client.post("/api/v1/match", json=body, headers=auth).get_json()
    assert data["pool"] == "vraagbaak" and data["routing_reason"]
    assert {"id", "name", "pool", "score", "reasons"} <= set(data["matches"][0]) and len(data["cases"]) == 3
    bad = client.post("/api/v1/match", json={"municipality": "Rotterdam"}, headers=auth)
    assert bad.status_code == 400 and "request" in bad.get_json()["error"]
    wrong_type = client.post("/api/v1/match", data="x", headers={**auth, "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_user_add_command(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wijkwijzer.cli import main

    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    short = CliRunner().invoke(main, ["user", "add", "piet", "--password", "kort"])
    assert short.exit_code == 2 and "12 tekens" in short.output
    ok = CliRunner().invoke(main, ["user", "add", "piet", "--password", "een-lang-wachtwoord"])
    assert ok.exit_code == 0 and "opgeslagen" in ok.output


def test_batch_proposal_assigns_open_requests(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)
    submit(client, question="Welke termijn geldt voor bezwaar tegen een besluit over de bijzondere bijstand?",
           hours_per_week="", months="")
    login(client)
    html = client.get("/coordinator/verdelen").get_data(as_text=True)
    pairs = re.findall(r'name="pair" value="([^"]+)"', html)
    assert len(pairs) == 4 and "Telkens de beste match eerst" in html  # three slots and one
    client.post("/coordinator/verdelen", data={"pair": pairs, "csrf_token": token(client, "/coordinator/verdelen")})
    assert {r["status"] for r in svc.requests.queue()} == {"in behandeling"}
    assert len(svc.requests.assignments()) == 4


def test_roles_and_account_commands(app, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wijkwijzer.cli import main

    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("redacteur", "Redacteur", "ook-lang-genoeg-wachtwoord", role="editor")
    client = app.test_client()
    response = client.post("/coordinator/inloggen", data={
        "username": "redacteur", "password": "ook-lang-genoeg-wachtwoord",
        "csrf_token": token(client, "/coordinator/inloggen")})
    assert response.headers["Location"] == "/coordinator/redactie"
    assert "Problemen in bestanden" in client.get("/coordinator/redactie").get_data(as_text=True)
    assert client.get("/coordinator/").status_code == 403  # editors do not see help requests

    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    run = CliRunner()
    assert run.invoke(main, ["user", "add", "an", "--role", "editor", "--password", "x" * 12]).exit_code == 0
    assert "an\teditor" in run.invoke(main, ["user", "list"]).output
    assert run.invoke(main, ["user", "passwd", "an", "--password", "y" * 12]).exit_code == 0
    assert run.invoke(main, ["user", "passwd", "niemand", "--password", "y" * 12]).exit_code == 2
    assert run.invoke(main, ["user", "remove", "an"]).exit_code == 0
    assert "an\t" not in run.invoke(main, ["user", "list"]).output


def test_export_erase_purge_and_audit(app, tmp_path, monkeypatch):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)
    submit(client)
    login(client)
    first, second = (r["id"] for r in svc.requests.queue())
    client.get(f"/coordinator/aanvraag/{first}")
    exported = client.get(f"/coordinator/aanvraag/{first}/export")
    assert exported.get_json()["request"]["email"] == "j.jansen@schiedam.nl"
    assert "token_hash" not in exported.get_json()["request"]
    csrf = token(client, f"/coordinator/aanvraag/{first}")
    client.post(f"/coordinator/aanvraag/{first}/wissen", data={"csrf_token": csrf})  # not confirmed: nothing
    assert svc.requests.get(first)["email"]
    client.post(f"/coordinator/aanvraag/{first}/wissen", data={"csrf_token": csrf, "confirm": "ja"})
    erased = svc.requests.get(first)
    assert erased["email"] == "" and erased["question"] == "[verwijderd]" and erased["municipality"] == "Schiedam"
    actions = [a["action"] for a in svc.audit.trail(first)]
    assert "bekeken" in actions and "geëxporteerd" in actions and "Persoonsgegevens gewist" in actions

    # Retention: only closed requests older than the period lose their personal data; a rerun changes nothing.
    svc.requests.set_status(second, "afgewezen", "coord", "buiten het programma")
    svc.store.db.execute("UPDATE help_requests SET updated = '2024-01-01T00:00:00+00:00' WHERE id = ?", [second])
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(svc.settings.data_dir))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    from click.testing import CliRunner

    from wijkwijzer.cli import main

    result = CliRunner().invoke(main, ["purge"])
    assert result.exit_code == 0 and "1 aanvragen gewist" in result.output
    assert svc.requests.get(second)["email"] == ""
    assert [e["note"] for e in svc.requests.history(second)] == ["", ""]
    assert "0 aanvragen gewist" in CliRunner().invoke(main, ["purge"]).output


def test_dashboard_figures(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)
    submit(client, question="Welke termijn geldt voor bezwaar tegen een besluit over de bijzondere bijstand?",
           hours_per_week="", months="", focus_area="rotterdam-zuid", municipality="Rotterdam")
    login(client)
    first = svc.requests.queue()[0]["id"]
    svc.assign(first, svc.suggestions(first)["matches"][0]["id"], actor="coord")
    html = client.get("/coordinator/dashboard").get_data(as_text=True)
    assert "Aanvragen per maand" in html and "Mediane tijd tot koppeling" in html
    assert re.search(r"<th scope=\"row\">Flexpool-woningbouw</th><td>1</td>", html)
    assert re.search(r"<th scope=\"row\">Vraagbaak</th><td>1</td>", html)
    assert "Rotterdam-Zuid" in html and "<meter" in html and "heat-" in html
    assert "Praktijkvoorbeelden per focusgebied" in html


def test_a_link_that_breaks_a_hard_rule_is_refused_in_plain_dutch(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)  # from Schiedam
    login(client)
    request_id = svc.requests.queue()[0]["id"]
    csrf = token(client, f"/coordinator/aanvraag/{request_id}")
    page = client.post(f"/coordinator/aanvraag/{request_id}/koppelen",
                       data={"member_id": "flexpool/wouter-scheepmaker", "csrf_token": csrf}, follow_redirects=True)
    assert "Kan niet: belangenconflict met de gemeente Schiedam" in page.get_data(as_text=True)
    assert svc.requests.get(request_id)["status"] == "nieuw" and svc.requests.assignments(request_id) == []
    assert not any("wouter" in a["action"] for a in svc.audit.trail(request_id))
