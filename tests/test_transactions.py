"""Writes are atomic: racing coordinators cannot double-link a request, overbook a member, or break the status flow.

Each trial starts threads at one barrier, all acting on the same few requests through the services a web worker
uses (each thread has its own SQLite connection, as gunicorn's threads do). Before the storage layer ran every
read-check-write in one `BEGIN IMMEDIATE` transaction, these trials ended with two active assignments for one
request, hours booked beyond a member's capacity and event histories such as nieuw -> afgewezen -> gekoppeld.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import make_settings, run_threads
from wijkwijzer.domain.helprequests import MATCHED, TRANSITIONS, AssignmentRefused
from wijkwijzer.services import Services

TODAY = dt.date(2026, 3, 2)


def write_member(experts: Path, slug: str, hours: float, conflicts: str = "[]", until: str = "2030-12-31",
                 role: str = "Projectleider woningbouw", expertise: str = "[woningbouw, projectleiding]",
                 body: str = "Projectleider voor sloop en nieuwbouw.") -> None:
    folder = experts / "flexpool"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{slug}.md").write_text(
        f"---\nname: {slug.replace('-', ' ').title()}\npool: flexpool\nrole: {role}\n"
        f"expertise: {expertise}\nthemes: [wonen]\nregions: [landelijk]\n"
        f"hours_per_week: {hours}\navailable_from: 2025-01-01\navailable_until: {until}\n"
        f"conflicts: {conflicts}\nemail: {slug}@example.nl\n---\n{body}\n",
        encoding="utf-8")


@pytest.fixture
def svc(tmp_path: Path, content_dir: Path, database_url: str):
    experts = tmp_path / "experts"
    write_member(experts, "kim-klein", 3)
    write_member(experts, "ruud-ruim", 40)
    write_member(experts, "wil-weg", 8, until="2025-06-30")
    write_member(experts, "co-conflict", 8, conflicts="[Schiedam]")
    services = Services.build(make_settings(tmp_path, content_dir, database_url))
    yield services
    services.close()


def new_request(svc: Services, hours: float = 3) -> int:
    request_id, _ = svc.requests.submit({
        "municipality": "Schiedam", "focus_area": "", "contact_name": "Jan", "email": "jan@schiedam.nl",
        "role": "projectleider", "question": "Tijdelijk een projectleider woningbouw voor de sloop-nieuwbouw.",
        "themes": [], "kind": "flexpool", "start": "2026-04-01", "months": 6, "hours_per_week": hours})
    return request_id


def race(actions: list) -> list[BaseException]:
    """Run the actions at the same moment in threads; the refusals (ValueError, KeyError) they raise."""
    barrier = threading.Barrier(len(actions))
    refused: list[BaseException] = []

    def run(action) -> None:
        barrier.wait()
        try:
            action()
        except (ValueError, KeyError) as exc:  # a refusal is fine; anything else fails the test below
            refused.append(exc)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    run_threads(threads)
    return refused


def check_invariants(svc: Services, capacities: dict[str, float]) -> None:
    active = svc.requests.assignments()
    per_slot: dict[int, int] = {}
    for row in active:
        per_slot[row["slot_id"]] = per_slot.get(row["slot_id"], 0) + 1
    assert max(per_slot.values(), default=0) <= 1, f"two active links for one slot: {per_slot}"
    for member, capacity in capacities.items():
        booked = svc.requests.booked_hours(dt.date(2026, 5, 1)).get(f"flexpool/{member}", 0.0)
        assert booked <= capacity, f"{member}: {booked} h booked of {capacity}"
    for item in svc.requests.queue():
        events = svc.requests.history(item["id"])
        assert events[-1]["status"] == item["status"], "the status disagrees with its last event"
        # Team events (an invitation, an answer) repeat the current status; the status changes must follow the flow.
        statuses = [status for status, _ in itertools.groupby(e["status"] for e in events)]
        for before, after in itertools.pairwise(statuses):
            assert after in TRANSITIONS[before], f"{before} -> {after} in the history"
        linked = [row for row in active if row["request_id"] == item["id"]]
        slots = svc.team.teams.slots(item["id"])
        complete = bool(slots) and all(s["link"] and s["link"]["state"] == "geaccepteerd" for s in slots)
        assert complete == (item["status"] == MATCHED), "'gekoppeld' without a complete team, or back"
        if item["status"] in ("afgerond", "afgewezen"):
            assert not linked, "a closed request still holds members' hours"


def test_racing_coordinators_never_double_link_overbook_or_break_the_flow(svc):
    capacities = {"kim-klein": 3, "ruud-ruim": 40}
    for _ in range(25):
        first, second, third = new_request(svc), new_request(svc), new_request(svc)
        race([
            partial(svc.assign, first, "flexpool/kim-klein", actor="a", today=TODAY),
            partial(svc.assign, second, "flexpool/kim-klein", actor="b", today=TODAY),
            partial(svc.assign, third, "flexpool/kim-klein", actor="c", today=TODAY),
            partial(svc.assign, first, "flexpool/ruud-ruim", actor="d", today=TODAY),
            partial(svc.requests.set_status, first, "afgewezen", "e", "dubbel"),
            partial(svc.requests.set_status, second, "in behandeling", "f"),
            partial(svc.requests.set_status, third, "afgerond", "g"),
        ])
        check_invariants(svc, capacities)


def test_a_link_is_refused_when_it_breaks_a_hard_rule(svc):
    request_id = new_request(svc)
    for member, reason in [("flexpool/co-conflict", "belangenconflict"), ("flexpool/wil-weg", "beschikbaar tot")]:
        with pytest.raises(AssignmentRefused, match=reason):
            svc.assign(request_id, member, actor="a", today=TODAY)
    svc.assign(request_id, "flexpool/kim-klein", actor="a", today=TODAY)
    other = new_request(svc)
    with pytest.raises(AssignmentRefused, match="volgeboekt"):
        svc.assign(other, "flexpool/kim-klein", actor="a", today=TODAY)
    # Reassigning a request to the member it already has does not count its own hours twice.
    svc.assign(request_id, "flexpool/kim-klein", actor="a", today=TODAY)
    assert svc.requests.get(other)["status"] == "nieuw" and len(svc.requests.history(other)) == 1


def test_a_failed_write_leaves_nothing_half_done(svc, monkeypatch):
    request_id = new_request(svc)
    store = svc.requests

    def broken(*args, **kwargs):
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(type(store), "_add_event", broken)
    with pytest.raises(RuntimeError):
        svc.assign(request_id, "flexpool/ruud-ruim", actor="a", today=TODAY)
    with pytest.raises(RuntimeError):
        new_request(svc)
    monkeypatch.undo()
    assert store.get(request_id)["status"] == "nieuw"
    assert store.assignments(request_id) == []
    assert [item["id"] for item in store.queue()] == [request_id]  # the second submission left no row
    assert [e["status"] for e in store.history(request_id)] == ["nieuw"]


def test_transactions_are_immediate_and_nest_into_one(svc):
    store = svc.store
    if store.backend != "sqlite":
        with store.transaction():
            with store.transaction():
                assert store.in_transaction()
            assert store.in_transaction()
        assert not store.in_transaction()
        return
    with store.transaction():
        assert store.conn.in_transaction
        with store.transaction():  # a use case calling another joins its transaction
            assert store.conn.in_transaction
        assert store.conn.in_transaction
    assert not store.conn.in_transaction


def _link_in_process(settings, request_id: int, barrier, results) -> None:
    """A second server process: its own services and connection, linking at the barrier."""
    services = Services.build(settings)
    try:
        barrier.wait()
        services.assign(request_id, "flexpool/kim-klein", actor=f"proces-{request_id}", today=TODAY)
        results.put("gekoppeld")
    except AssignmentRefused as exc:
        results.put(str(exc))
    finally:
        services.close()


@pytest.mark.slow
def test_server_processes_cannot_both_book_the_last_hours(svc):
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as gunicorn's workers are
    for _ in range(3):
        requests = [new_request(svc) for _ in range(3)]
        barrier, results = context.Barrier(len(requests)), context.Queue()
        processes = [context.Process(target=_link_in_process, args=(svc.settings, rid, barrier, results))
                     for rid in requests]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        answers = sorted(results.get(timeout=5) for _ in requests)
        assert answers.count("gekoppeld") == 1, answers
        assert all(a.startswith("volgeboekt") for a in answers if a != "gekoppeld")
        check_invariants(svc, {"kim-klein": 3})
        for rid in requests:  # free the member for the next trial (an invitation holds the hours too)
            if svc.requests.get(rid)["status"] != "afgewezen":
                svc.requests.set_status(rid, "afgewezen", "test", "volgende ronde")


def _submit_and_hang(database: str, started) -> None:
    """Insert a request inside a transaction, then hang before its event (killed there by the test)."""
    from wijkwijzer.storage.db import open_store
    from wijkwijzer.storage.requests import RequestStore

    store = open_store(database)
    requests = RequestStore(store)

    def hang(*args, **kwargs) -> None:
        started.set()
        threading.Event().wait()

    requests._add_event = hang
    requests.submit({"municipality": "Schiedam", "question": "Half opgeslagen?", "kind": "vraagbaak"})


@pytest.mark.slow
def test_a_process_killed_mid_write_leaves_no_half_request_and_no_lock(svc):
    import multiprocessing
    import os
    import signal

    kept = new_request(svc)
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    process = context.Process(target=_submit_and_hang, args=(svc.settings.database, started))
    process.start()
    assert started.wait(60), "the writer never reached the point between its two inserts"
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    assert [item["id"] for item in svc.requests.queue()] == [kept]  # the half-written request is gone
    assert new_request(svc) > kept  # and the write lock went with the process
