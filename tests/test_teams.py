"""Teams: slots from the request, links that pass the hard rules in the booking's transaction (or are booked with
an override and a reason, logged), invitations members accept or decline, reminder and expiry on a driven clock,
batch filling of slots, and racing actions that never leave a forbidden sequence."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import make_settings, run_threads
from tests.test_transactions import race, write_member
from wijkwijzer.domain.helprequests import MATCHED, TRANSITIONS, AssignmentRefused, RefusedChange
from wijkwijzer.domain.teams import add_working_days, derive_slots, requested_team, working_days_between
from wijkwijzer.services import Services

MONDAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TODAY = MONDAY.date()
TEAM_QUESTION = ("Voor de sloop-nieuwbouw van onze wijk zoeken we tijdelijk twee projectleiders en een planeconoom "
                 "voor woningbouw.")


@pytest.fixture
def svc(tmp_path: Path, content_dir: Path, database_url: str):
    experts = tmp_path / "experts"
    write_member(experts, "kim-klein", 3)
    write_member(experts, "ruud-ruim", 40)
    write_member(experts, "pim-plan", 40)
    write_member(experts, "wil-weg", 8, until="2025-06-30")
    write_member(experts, "ka-kort", 40, until="2026-04-15")
    write_member(experts, "co-conflict", 8, conflicts="[Schiedam]")
    write_member(experts, "nul-uren", 0)
    write_member(experts, "eva-econoom", 20, role="Planeconoom", expertise="[grondexploitatie, woningbouw]",
                 body="Planeconoom voor grondexploitaties bij sloop en nieuwbouw.")
    services = Services.build(make_settings(tmp_path, content_dir, database_url))
    yield services
    services.close()


def submit(svc: Services, question: str = TEAM_QUESTION, hours: float = 3) -> int:
    result, token = svc.submit_request({
        "municipality": "Schiedam", "contact_name": "Jan", "email": "jan@schiedam.nl", "role": "projectleider",
        "question": question, "kind": "flexpool", "start": "2026-04-01", "months": "6",
        "hours_per_week": str(hours)}, today=TODAY)
    assert token, result.errors
    return svc.requests.by_token(token)["id"]


def test_slots_come_from_the_request_as_the_matcher_reads_it():
    from wijkwijzer.domain.helprequests import HelpRequest
    from wijkwijzer.domain.matching import requested_roles

    assert requested_team("twee projectleiders en een planeconoom") == [("projectleider", 2), ("planeconoom", 1)]
    assert [n for _, n in requested_team(TEAM_QUESTION)] == [n for _, n in requested_roles(TEAM_QUESTION)]
    assert requested_team("drie juristen") == [("jurist", 3)]
    slots = derive_slots(HelpRequest("Schiedam", TEAM_QUESTION, kind="flexpool", hours_per_week=16, months=6), TODAY)
    assert [s.role for s in slots] == ["projectleider", "projectleider", "planeconoom"]
    assert {(s.hours_per_week, s.start, s.end) for s in slots} == {(16, TODAY, dt.date(2026, 9, 2))}
    single = derive_slots(HelpRequest("Schiedam", "Hoe pakken we de wijkaanpak aan?", kind="expertpool"), TODAY)
    assert [(s.role, s.hours_per_week) for s in single] == [("", 4.0)]


def test_working_days_skip_weekends():
    friday = dt.date(2026, 3, 6)
    assert add_working_days(friday, 1) == dt.date(2026, 3, 9)
    assert add_working_days(friday, 10) == dt.date(2026, 3, 20)
    assert working_days_between(friday, dt.date(2026, 3, 8)) == 0
    assert working_days_between(friday, dt.date(2026, 3, 11)) == 3
    assert all(working_days_between(friday, add_working_days(friday, n)) == n for n in range(30))


def test_each_hard_rule_is_refused_in_dutch_and_nothing_is_booked(svc):
    request_id = submit(svc)
    slot = svc.team.ensure(request_id)[0]
    for member, rule in [("co-conflict", "belangenconflict met de gemeente Schiedam"),
                         ("wil-weg", "beschikbaar tot 30 juni 2025"), ("nul-uren", "geen uren beschikbaar")]:
        with pytest.raises(AssignmentRefused, match=rule):
            svc.team.link(slot["id"], f"flexpool/{member}", "a", at=MONDAY)
    svc.team.link(slot["id"], "flexpool/kim-klein", "a", at=MONDAY)
    other = submit(svc)
    with pytest.raises(AssignmentRefused, match="volgeboekt: in deze periode nog 0 van 3 uur per week vrij"):
        svc.team.link(svc.team.ensure(other)[0]["id"], "flexpool/kim-klein", "a", at=MONDAY)
    with pytest.raises(AssignmentRefused, match="staat al in het team"):
        svc.team.link(svc.team.ensure(request_id)[1]["id"], "flexpool/kim-klein", "a", at=MONDAY)
    assert svc.requests.get(other)["status"] == "nieuw" and svc.requests.assignments(other) == []
    assert not any("kim" in a["action"].lower() for a in svc.audit.trail(other))


def test_two_coordinators_racing_for_the_last_hours_one_is_refused(svc):
    for _ in range(10):
        first, second = submit(svc), submit(svc)
        slots = [svc.team.ensure(r)[0]["id"] for r in (first, second)]
        refused = race([partial(svc.team.link, slot, "flexpool/kim-klein", actor, at=MONDAY)
                        for slot, actor in zip(slots, "ab", strict=True)]
                       + [partial(svc.team.link, slot, "flexpool/co-conflict", "c", at=MONDAY) for slot in slots])
        messages = sorted(str(e).split(":")[0] for e in refused)
        assert messages == ["belangenconflict met de gemeente Schiedam"] * 2 + ["volgeboekt"], messages
        check_flow(svc)
        for request_id in (first, second):
            svc.change_status(request_id, "afgewezen", "test", "opruimen")


def test_an_override_books_with_the_reason_in_the_audit_log(svc):
    request_id = submit(svc)
    slot = svc.team.ensure(request_id)[0]
    svc.team.link(slot["id"], "flexpool/co-conflict", "anna", override="enige met deze kennis; conflict gemeld",
                  at=MONDAY)
    link = svc.team.ensure(request_id)[0]["link"]
    assert link["member_id"] == "flexpool/co-conflict" and link["override"].startswith("enige")
    logged = [a for a in svc.audit.trail(request_id) if "AFWIJKING" in a["action"]]
    assert len(logged) == 1 and logged[0]["actor"] == "anna"
    assert "belangenconflict" in logged[0]["action"] and "enige met deze kennis" in logged[0]["action"]


def test_a_team_of_three_filled_and_accepted_is_gekoppeld(svc):
    request_id = submit(svc, hours=16)
    slots = svc.team.ensure(request_id)
    assert [s["role"] for s in slots] == ["projectleider", "projectleider", "planeconoom"]
    # The economist is suggested first for the economist's slot; team members are not suggested again.
    assert svc.team.suggestions(request_id, slots[2], [])[0].id == "flexpool/eva-econoom"
    tokens = [svc.team.link(slots[0]["id"], "flexpool/ruud-ruim", "a", at=MONDAY)]
    first = svc.team.suggestions(request_id, svc.team.ensure(request_id)[1], ["flexpool/ruud-ruim"])
    assert "flexpool/ruud-ruim" not in [m.id for m in first]
    assert "flexpool/kim-klein" not in [m.id for m in first]  # 3 h free, the slot asks 16: not fully free
    assert "flexpool/ka-kort" not in [m.id for m in first]  # gone before the slot's period ends
    tokens.append(svc.team.link(slots[1]["id"], "flexpool/pim-plan", "a", at=MONDAY))
    tokens.append(svc.team.link(slots[2]["id"], "flexpool/eva-econoom", "a", at=MONDAY))
    assert svc.requests.get(request_id)["status"] == "in behandeling"
    for token in tokens[:2]:
        svc.team.accept(token, at=MONDAY)
        assert svc.requests.get(request_id)["status"] == "in behandeling"
    svc.team.accept(tokens[2], at=MONDAY)
    assert svc.requests.get(request_id)["status"] == MATCHED
    with pytest.raises(RefusedChange, match="al beantwoord"):
        svc.team.accept(tokens[0], at=MONDAY)
    # Releasing one puts the request back to work; its hours are free again.
    svc.team.release(slots[2]["id"], "a", at=MONDAY)
    assert svc.requests.get(request_id)["status"] == "in behandeling"
    assert "flexpool/eva-econoom" not in svc.requests.booked_hours(dt.date(2026, 5, 1))


def test_decline_returns_the_slot_with_the_next_suggestion(svc):
    request_id = submit(svc, question="Wij zoeken tijdelijk een planeconoom voor de woningbouw na sloop.", hours=8)
    slot = svc.team.ensure(request_id)[0]
    top = svc.team.suggestions(request_id, slot, [])[0].id
    token = svc.team.link(slot["id"], top, "a", at=MONDAY)
    with pytest.raises(RefusedChange, match="waarom"):
        svc.team.decline(token, "  ", at=MONDAY)
    svc.team.decline(token, "te druk tot de zomer", at=MONDAY)
    slot = svc.team.ensure(request_id)[0]
    assert slot["link"] is None and slot["past"][-1]["reason"] == "te druk tot de zomer"
    following = svc.team.suggestions(request_id, slot, [])
    assert following and top not in [m.id for m in following]
    assert top not in svc.requests.booked_hours(dt.date(2026, 5, 1))


def test_reminder_after_three_working_days_and_expiry_after_ten(svc):
    request_id = submit(svc)
    slot = svc.team.ensure(request_id)[0]
    told: list[tuple[str, str]] = []
    svc.team.notify = lambda kind, link, row, member: told.append((kind, link["member_id"]))
    token = svc.team.link(slot["id"], "flexpool/ruud-ruim", "a", at=MONDAY)
    friday_before = MONDAY + dt.timedelta(days=3)  # Thursday: 3 working days after Monday
    assert svc.team.run_clock(MONDAY + dt.timedelta(days=2)) == {"reminded": 0, "expired": 0}
    assert svc.team.run_clock(friday_before) == {"reminded": 1, "expired": 0}
    assert svc.team.run_clock(friday_before + dt.timedelta(hours=1)) == {"reminded": 0, "expired": 0}
    last_day = MONDAY + dt.timedelta(days=14)  # ten working days after Monday: the Monday two weeks on
    assert svc.team.run_clock(last_day) == {"reminded": 0, "expired": 0}
    assert svc.team.run_clock(last_day + dt.timedelta(days=1)) == {"reminded": 0, "expired": 1}
    slot = svc.team.ensure(request_id)[0]
    assert slot["link"] is None and slot["past"][-1]["state"] == "verlopen"
    with pytest.raises(RefusedChange):
        svc.team.accept(token, at=last_day + dt.timedelta(days=1))
    assert [k for k, _ in told] == ["uitnodiging", "herinnering", "verlopen"]


def test_batch_fills_slots_without_overbooking(svc):
    first = submit(svc, hours=16)
    second = submit(svc, hours=16)
    proposal = svc.propose_batch(today=TODAY)
    assert len(proposal["rows"]) == 6
    chosen = [(row["request"]["id"], row["member"].id) for row in proposal["rows"] if row["member"]]
    assert len(set(chosen)) == len(chosen)  # never one member twice in a team
    for row in proposal["rows"]:
        if row["member"]:
            svc.team.link(row["slot"]["id"], row["member"].id, "batch", at=MONDAY)
    booked = svc.requests.peak_booked(dt.date(2026, 4, 1), dt.date(2026, 10, 1))
    capacity = {m.id: m.hours_per_week for m in svc.pool.members()}
    assert all(hours <= capacity[member] for member, hours in booked.items())
    assert {svc.requests.get(r)["status"] for r in (first, second)} == {"in behandeling"}


def check_flow(svc: Services) -> None:
    """No forbidden sequence; 'gekoppeld' exactly when every slot holds an accepted member; one link per slot."""
    for item in svc.requests.queue():
        events = svc.requests.history(item["id"])
        assert events[-1]["status"] == item["status"]
        statuses = [k for k, _ in itertools.groupby(e["status"] for e in events)]
        for before, after in itertools.pairwise(statuses):
            assert after in TRANSITIONS[before], f"{before} -> {after} in the history"
        slots = svc.team.teams.slots(item["id"])
        complete = bool(slots) and all(s["link"] and s["link"]["state"] == "geaccepteerd" for s in slots)
        if item["status"] not in ("afgerond", "afgewezen"):
            assert complete == (item["status"] == MATCHED)
        else:
            assert not svc.requests.assignments(item["id"])
    capacity = {m.id: m.hours_per_week for m in svc.pool.members()}
    booked = svc.requests.peak_booked(dt.date(2026, 4, 1), dt.date(2026, 10, 1))
    assert all(hours <= capacity[member] for member, hours in booked.items()), booked


def test_racing_links_answers_and_status_changes_keep_the_flow(svc):
    for _ in range(8):
        one = submit(svc, question="Wij zoeken tijdelijk een projectleider voor de woningbouw na sloop.")
        two = submit(svc, question="Wij zoeken tijdelijk een projectleider voor de woningbouw na sloop.")
        slot_one, slot_two = svc.team.ensure(one)[0]["id"], svc.team.ensure(two)[0]["id"]
        token = svc.team.link(slot_one, "flexpool/ruud-ruim", "a", at=MONDAY)
        race([
            partial(svc.team.link, slot_two, "flexpool/kim-klein", "b", at=MONDAY),
            partial(svc.team.link, slot_two, "flexpool/co-conflict", "b", at=MONDAY),
            partial(svc.assign, two, "flexpool/kim-klein", "c"),
            partial(svc.team.accept, token, at=MONDAY),
            partial(svc.change_status, one, "afgewezen", "d", "dubbel"),
            partial(svc.change_status, one, "afgerond", "e"),
            partial(svc.team.release, slot_one, "f", at=MONDAY),
            partial(svc.change_status, two, "afgerond", "g"),
        ])
        check_flow(svc)


def test_an_active_assignment_of_an_older_database_becomes_one_accepted_slot(tmp_path):
    import sqlite3

    from wijkwijzer.storage import schema
    from wijkwijzer.storage.db import Store
    from wijkwijzer.storage.requests import RequestStore
    from wijkwijzer.storage.teams import TeamStore

    path = tmp_path / "old.db"
    old = Store.__new__(Store)  # the database as the two first steps left it
    old.path, old.read_only = path, None
    import threading

    old._local = threading.local()
    steps = schema.STEPS
    schema.STEPS = steps[:2]
    try:
        schema.migrate(old)
    finally:
        schema.STEPS = steps
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO help_requests (id, token_hash, created, updated, status, municipality, question, kind) "
                 "VALUES (1, 'x', '2026-01-05T10:00:00+00:00', '2026-01-06T10:00:00+00:00', 'gekoppeld', 'Schiedam', "
                 "'Een vraag over de wijkaanpak in Nieuwland.', 'expertpool')")
    conn.execute("INSERT INTO assignments (request_id, member_id, hours_per_week, start, end, active, created, actor) "
                 "VALUES (1, 'expertpool/a', 4, '2026-01-06', '2026-02-06', 0, '2026-01-06T10:00:00+00:00', 'c'), "
                 "(1, 'expertpool/b', 4, '2026-01-06', '2026-02-06', 1, '2026-01-06T11:00:00+00:00', 'c')")
    conn.commit()
    conn.close()
    old.close()
    store = Store(path)  # runs the remaining steps
    requests = RequestStore(store)
    slots = TeamStore(store, requests).slots(1)
    assert len(slots) == 1 and slots[0]["link"]["member_id"] == "expertpool/b"
    assert slots[0]["link"]["state"] == "geaccepteerd" and slots[0]["hours_per_week"] == 4
    assert [link["state"] for link in slots[0]["past"]] == [] and requests.get(1)["status"] == "gekoppeld"
    assert store.db.execute("SELECT state FROM assignments WHERE member_id = 'expertpool/a'").fetchone()[0] == \
        "vrijgegeven"
    store.close()


def test_a_refused_link_on_the_page_offers_an_override_that_is_logged(tmp_path):
    import re
    from dataclasses import replace

    from tests.conftest import ROOT, SAMPLE_CONTENT
    from wijkwijzer import create_app

    app = create_app(replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts"), watch=False)
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator Een", "lang-genoeg-wachtwoord")
    client = app.test_client()

    def token(path: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)

    client.post("/coordinator/inloggen", data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                               "csrf_token": token("/coordinator/inloggen")})
    request_id = submit(svc)
    slot = svc.team.ensure(request_id)[0]
    page = f"/coordinator/aanvraag/{request_id}"
    refused = client.post(f"{page}/koppelen", follow_redirects=True, data={
        "slot_id": slot["id"], "member_id": "flexpool/wouter-scheepmaker", "csrf_token": token(page)})
    html = refused.get_data(as_text=True)
    assert "Kan niet: belangenconflict met de gemeente Schiedam" in html
    assert "Reden voor de afwijking" in html and svc.requests.assignments(request_id) == []
    client.post(f"{page}/koppelen", data={"slot_id": slot["id"], "member_id": "flexpool/wouter-scheepmaker",
                                          "override": "Enige planjurist; conflict besproken met de gemeente",
                                          "csrf_token": token(page)})
    assert [a["member_id"] for a in svc.requests.assignments(request_id)] == ["flexpool/wouter-scheepmaker"]
    logged = [a for a in svc.audit.trail(request_id) if "AFWIJKING" in a["action"]]
    assert logged and "belangenconflict" in logged[0]["action"] and "Enige planjurist" in logged[0]["action"]
    assert "Gekoppeld met afwijking: Enige planjurist" in client.get(page).get_data(as_text=True)
    svc.close()


def test_the_invitations_command_runs_the_clock(svc, monkeypatch):
    from click.testing import CliRunner

    from wijkwijzer.cli import main

    request_id = submit(svc)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    svc.team.link(svc.team.ensure(request_id)[0]["id"], "flexpool/ruud-ruim", "a", at=long_ago)
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(svc.settings.data_dir))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(svc.settings.content_dir))
    monkeypatch.setenv("WIJKWIJZER_EXPERTS_DIR", str(svc.settings.experts_dir))
    monkeypatch.setenv("WIJKWIJZER_DATABASE_URL", svc.settings.database_url)
    result = CliRunner().invoke(main, ["invitations"])
    assert result.exit_code == 0 and "1 verlopen uitnodigingen" in result.output, result.output
    assert svc.team.ensure(request_id)[0]["link"] is None


def test_erasing_a_request_removes_the_free_text_of_decline_and_feedback(svc):
    request_id = submit(svc)
    slot = svc.team.ensure(request_id)[0]
    svc.team.decline(svc.team.link(slot["id"], "flexpool/ruud-ruim", "a", at=MONDAY), "Ik ken Jan Jansen privé",
                     at=MONDAY)
    svc.change_status(request_id, "afgewezen", "a", "buiten het programma")
    with pytest.raises(RefusedChange, match="afgerond"):
        svc.team.give_feedback(request_id, "4", "")
    other = submit(svc, question="Wij zoeken tijdelijk een projectleider voor de woningbouw na sloop.")
    svc.team.accept(svc.team.link(svc.team.ensure(other)[0]["id"], "flexpool/ruud-ruim", "a", at=MONDAY), at=MONDAY)
    svc.change_status(other, "afgerond", "a")
    assert svc.team.give_feedback(other, "5", "Jan Jansen was blij") is True
    assert svc.team.give_feedback(other, "1", "nog eens") is False
    for rid in (request_id, other):
        svc.erase_request(rid, "a")
    assert svc.team.feedback.get(other)["why"] == "" and svc.team.feedback.get(other)["useful"] == 5
    reasons = [row["reason"] for row in svc.requests.assignments(request_id, active_only=False)]
    assert "Ik ken Jan Jansen privé" not in reasons


def test_first_looks_at_an_older_request_at_once_make_one_team(svc):
    # A request stored before teams existed gets its slots at the first look; several at once must make one team
    # (on PostgreSQL the request's row lock orders them, on SQLite the write lock).
    for _ in range(3):
        request_id, _ = svc.requests.submit({
            "municipality": "Schiedam", "contact_name": "Jan", "email": "jan@schiedam.nl", "role": "projectleider",
            "question": TEAM_QUESTION, "themes": [], "kind": "flexpool", "start": "2026-04-01", "months": 6,
            "hours_per_week": 3})
        looks: list[list[dict]] = []
        run_threads([threading.Thread(target=lambda r=request_id, out=looks: out.append(svc.team.ensure(r)))
                     for _ in range(4)])
        positions = [slot["position"] for slot in svc.team.teams.slots(request_id)]
        assert positions == list(range(1, len(looks[0]) + 1)) and len(positions) >= 1
        assert all(len(look) == len(positions) for look in looks)

def test_the_whole_question_list_marks_who_cannot_take_it_on(tmp_path: Path, content_dir: Path):
    import html as html_lib

    from tests.test_helpdesk import login
    from wijkwijzer import create_app

    today = dt.date.today()
    experts = tmp_path / "experts"
    write_member(experts, "pim-plan", 40)
    write_member(experts, "eva-vrij", 24)
    write_member(experts, "kim-klein", 3)  # fewer hours than asked
    write_member(experts, "ka-kort", 40, until=(today + dt.timedelta(days=60)).isoformat())  # gone halfway
    write_member(experts, "ruud-ruim", 40)  # free at the start, fully booked from the third month
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator Een", "lang-genoeg-wachtwoord")

    def ask(start: dt.date, months: int, hours: int) -> int:
        result, token = svc.submit_request({
            "municipality": "Schiedam", "contact_name": "Jan", "email": "jan@schiedam.nl", "role": "projectleider",
            "question": "Voor de sloop-nieuwbouw zoeken we tijdelijk een projectleider woningbouw.",
            "kind": "flexpool", "start": start.isoformat(), "months": str(months), "hours_per_week": str(hours)},
            today=today)
        assert token, result.errors
        return svc.requests.by_token(token)["id"]

    try:
        first = ask(today + dt.timedelta(days=7), 6, 16)
        later = ask(today + dt.timedelta(days=90), 3, 40)
        svc.team.link(svc.team.ensure(later)[0]["id"], "flexpool/ruud-ruim", "coord", today=today)
        answer = svc.suggestions(first, limit=10, today=today)
        listed = {m["id"]: m for m in answer["matches"]}
        assert "flexpool/ruud-ruim" not in listed  # no free hours at the busiest point of the period
        assert any(e["id"] == "flexpool/ruud-ruim" and e["reason"].startswith("volgeboekt")
                   for e in answer["excluded"])
        assert listed["flexpool/kim-klein"]["shortfall"] == (
            "in deze periode 3 van 3 uur per week vrij, gevraagd 16 uur")
        assert listed["flexpool/ka-kort"]["shortfall"].startswith("beschikbaar tot ")
        assert listed["flexpool/pim-plan"]["shortfall"] is None and listed["flexpool/eva-vrij"]["shortfall"] is None
        order = [m["id"] for m in answer["matches"]]
        assert {order[0], order[1]} == {"flexpool/pim-plan", "flexpool/eva-vrij"}  # who can take it on first
        # The per-slot list leaves out the same members the whole-question list marks.
        slot_ids = {m.id for m in svc.team.suggestions(first, svc.team.ensure(first)[0], [], limit=10, today=today)}
        assert slot_ids == {"flexpool/pim-plan", "flexpool/eva-vrij"}
        client = app.test_client()
        login(client)
        page = html_lib.unescape(client.get(f"/coordinator/aanvraag/{first}").get_data(as_text=True))
        whole = page.split("Best passend bij de hele vraag")[1].split("</ol>")[0]
        assert "Past niet helemaal: in deze periode 3 van 3 uur per week vrij, gevraagd 16 uur" in whole
        assert whole.count("Past niet helemaal") == 2 and "Ruud Ruim" not in whole
    finally:
        svc.close()
