"""Pages for people: names instead of ids, hours and scores as people read them, plurals, Amsterdam time, and
the municipality as the submitter chose it (issue 13, point 8). The 390 px layout and focus: test_browser.py."""

from __future__ import annotations

import re

import pytest

from tests.test_helpdesk import login, submit, token
from wijkwijzer.storage import schema

DEN_HAAG = ("In onze wijk Transvaal willen we advies over selectieve woningtoewijzing en de "
            "huisvestingsverordening om de wijk te mengen.")


@pytest.fixture
def app(coordinator_app):
    return coordinator_app


def text(html: str) -> str:
    """The words a reader sees: tags out, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


@pytest.mark.parametrize(("typed", "shown"), [("Den Haag", "Den Haag"), ("den  haag", "Den Haag"),
                                              ("'s-Gravenhage", "'s-Gravenhage"), ("Den Bosch", "Den Bosch")])
def test_the_municipality_is_kept_as_the_submitter_chose_it(app, typed, shown):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    response = submit(client, municipality=typed, kind="expertpool", question=DEN_HAAG)
    assert response.status_code == 303, response.get_data(as_text=True)
    row = svc.requests.queue()[0]
    assert row["municipality"] in {"'s-Gravenhage", "'s-Hertogenbosch"}  # matching keeps the official name
    assert row["municipality_display"] == shown
    status = text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert f"Gemeente {shown} " in status
    login(client)
    assert shown in text(client.get("/coordinator/").get_data(as_text=True))
    detail = text(client.get(f"/coordinator/aanvraag/{row['id']}").get_data(as_text=True))
    assert f"Aanvraag {row['reference']}: {shown}" in detail
    if shown == "Den Haag":
        assert "'s-Gravenhage" not in status and "'s-Gravenhage" not in detail


def test_conflicts_still_match_on_the_official_name(app):
    """Hamid Rahimi lists 'Den Haag' as a conflict; a request typed as "'s-Gravenhage" or "Den Haag" rules him
    out either way, and the reason names the municipality as the submitter wrote it."""
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    for typed in ("'s-Gravenhage", "Den Haag"):
        submit(client, municipality=typed, kind="expertpool", question=DEN_HAAG)
    for row in svc.requests.queue():
        excluded = {e["id"]: e["reason"] for e in svc.suggestions(row["id"], limit=20)["excluded"]}
        assert "belangenconflict" in excluded["expertpool/hamid-rahimi"]


def test_requests_stored_before_the_display_name_show_the_everyday_name(tmp_path):
    """A database from before the schema step: the step adds the column; old rows show 'Den Haag'."""
    import sqlite_utils

    from wijkwijzer.storage.db import Store

    path = tmp_path / "oud.db"
    store = Store(path)
    with store.transaction() as db:
        db.execute("UPDATE help_requests SET status = status")  # the store is migrated on open
    assert schema.version(store.db) == len(schema.STEPS)
    store.close()
    raw = sqlite_utils.Database(path)
    raw.execute("PRAGMA user_version = 2")
    raw.conn.commit()
    columns = [c.name for c in raw["help_requests"].columns if c.name != "municipality_display"]
    raw.execute("CREATE TABLE old AS SELECT " + ", ".join(columns) + " FROM help_requests")
    raw.execute("DROP TABLE help_requests")
    raw.execute("ALTER TABLE old RENAME TO help_requests")
    raw.conn.commit()
    raw.close()
    store = Store(path)  # opening migrates again: only the new step runs
    assert "municipality_display" in store.db["help_requests"].columns_dict
    store.close()

    from flask import Flask

    from wijkwijzer.web import formats

    flask_app = Flask(__name__)
    formats.register(flask_app)
    with flask_app.test_request_context():
        assert formats.municipality({"municipality": "'s-Gravenhage", "municipality_display": None}) == "Den Haag"
        assert formats.municipality({"municipality": "Schiedam"}) == "Schiedam"


def test_coordinator_pages_speak_in_names_hours_scores_and_local_time(app):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)
    login(client)
    request_id = svc.requests.queue()[0]["id"]
    # Stored in UTC: 13:05 on 3 December is 14:05 in Amsterdam; 23:30 on 3 July is 01:30 on 4 July.
    svc.store.db.execute("UPDATE help_requests SET created = '2026-12-03T13:05:00+00:00' WHERE id = ?", [request_id])
    svc.store.db.execute("UPDATE request_events SET at = '2026-07-03T23:30:00+00:00' WHERE request_id = ?",
                         [request_id])
    svc.store.conn.commit()
    html = client.get(f"/coordinator/aanvraag/{request_id}").get_data(as_text=True)
    page = text(html)
    assert "Ingediend 3 december 2026, 14:05" in page
    assert re.search(r"4 juli 2026, 01:30 ?: nieuw", page) and 'datetime="2026-12-03T14:05:00+01:00"' in html
    assert "16 uur per week, 12 maanden" in page
    assert "Pool: Flexpool-woningbouw" in page and "Route:" not in page
    scores = re.findall(r"(sterke|goede|matige) match \((\d+)%\)", page)
    assert scores and all(0 <= int(p) <= 100 for _, p in scores)
    assert not re.search(r"score \d\.\d\d", page)
    assert re.search(r"\d+ (van \d+ )?uur per week vrij", page) and "u/week" not in page

    best = svc.suggestions(request_id)["matches"][0]
    member = next(m for m in svc.pool.members() if m.id == best["id"])
    csrf = token(client, f"/coordinator/aanvraag/{request_id}")
    answer = client.post(f"/coordinator/aanvraag/{request_id}/koppelen",
                         data={"member_id": member.id, "csrf_token": csrf}, follow_redirects=True)
    page = text(answer.get_data(as_text=True))
    assert f"{member.name} is uitgenodigd." in page
    assert member.id not in page  # not in the message, the team, the history or the audit trail
    assert re.search(rf"{member.name} ?: uitgenodigd, wacht op antwoord", page) and "16 uur per week, van " in page

    capacity = text(client.get("/coordinator/capaciteit").get_data(as_text=True))
    assert f"van {member.hours_per_week:g} uur vrij" in capacity or "te veel" in capacity
    assert not re.search(r"\d\.\d vrij", capacity)


def test_batch_page_and_plurals(app):
    client = app.test_client()
    submit(client)
    login(client)
    page = text(client.get("/coordinator/verdelen").get_data(as_text=True))
    assert re.search(r"Voorstel voor (1 open plek|\d+ open plekken) in de teams van de open aanvragen: \d+ "
                     r"(krijgt|krijgen) iemand, met een gemiddelde matchscore van", page), page
    assert "eerst-de-beste" not in page and not re.search(r"\d\.\d\d", page)
    assert "Flexpool-woningbouw" in page and "flexpool" not in page.replace("Flexpool-woningbouw", "")
    pairs = re.findall(r'name="pair" value="([^"]+)"',
                       client.get("/coordinator/verdelen").get_data(as_text=True))
    csrf = token(client, "/coordinator/verdelen")
    done = client.post("/coordinator/verdelen", data={"pair": pairs, "csrf_token": csrf}, follow_redirects=True)
    sent = text(done.get_data(as_text=True))
    assert f"{len(pairs)} uitnodiging{'' if len(pairs) == 1 else 'en'} verstuurd." in sent
    assert len(pairs) >= 1 and not re.search(r"\b1 uitnodigingen\b", sent)
    editor = text(client.get("/coordinator/redactie").get_data(as_text=True))
    assert "Problemen in bestanden" in editor
    assert not re.search(r"\b1 (fouten|waarschuwingen|passages)\b", editor)


def test_the_queue_shows_how_far_each_team_is(app):
    """The queue says per request how many places are filled and how many invitations wait (issue 13)."""
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)  # two project leaders and a plan economist: three places
    request_id = svc.requests.queue()[0]["id"]
    slots = svc.team.ensure(request_id)
    assert len(slots) == 3
    team: list[str] = []
    tokens = []
    for slot in slots[:2]:
        member = svc.team.suggestions(request_id, slot, team)[0].id
        team.append(member)
        tokens.append(svc.team.link(slot["id"], member, actor="coord"))
    svc.team.accept(tokens[0])
    login(client)
    page = text(client.get("/coordinator/").get_data(as_text=True))
    assert "1 van 3 plekken bezet, 1 uitnodiging open" in page
    svc.team.accept(tokens[1])
    page = text(client.get("/coordinator/").get_data(as_text=True))
    assert "2 van 3 plekken bezet" in page and "uitnodiging open" not in page
