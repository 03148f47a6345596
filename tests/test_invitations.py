"""Invitations end to end through a real SMTP server (aiosmtpd in this process): the member gets the mail with
a link, answers on the public page (no login, CSRF-protected POST), the submitter sees the team and what happens
next; a decline tells the coordinators with the next suggestion; a reminder carries a fresh link that works; a
release sends a cancellation; after closing, the feedback is stored once and shows on the dashboard."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from dataclasses import replace

import pytest

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app

aiosmtpd = pytest.importorskip("aiosmtpd.controller")

QUESTION = ("Voor de sloop-nieuwbouw van 300 portiekwoningen zoeken we tijdelijk een projectleider "
            "woningbouw, zestien uur per week.")


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    @staticmethod
    def text(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def smtp():
    import socket

    with socket.socket() as probe:  # a free port (the controller's own start-up check cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def app(tmp_path, smtp):
    _, port = smtp
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts",
                       smtp_url=f"smtp://127.0.0.1:{port}", mail_from="wijkwijzer@example.nl",
                       base_url="https://wijkwijzer.example.nl")
    app = create_app(settings, watch=False)
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator Een", "lang-genoeg-wachtwoord")
    svc.accounts.set_mail("coord", email="coord@example.nl", notify="direct")
    yield app
    svc.close()


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def submit(client) -> str:
    form = {"municipality": "Schiedam", "contact_name": "J. Jansen", "email": "j.jansen@schiedam.nl",
            "role": "Programmamanager", "question": QUESTION, "kind": "flexpool", "hours_per_week": "16",
            "months": "6", "csrf_token": csrf(client, "/hulpvraag")}
    response = client.post("/hulpvraag", data=form)
    return response.headers["Location"].split("/hulpvraag/status/")[1].split("?")[0]


def login(client) -> None:
    client.post("/coordinator/inloggen", data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                               "csrf_token": csrf(client, "/coordinator/inloggen")})


def link_url(message) -> str:
    return re.search(r"https://wijkwijzer\.example\.nl(/uitnodiging/[\w-]+)", Inbox.text(message)).group(1)


def test_invite_accept_close_and_feedback_through_real_mail(app, smtp):
    inbox, _ = smtp
    svc = app.extensions["wijkwijzer"]
    submitter, coordinator, member_page = app.test_client(), app.test_client(), app.test_client()
    token = submit(submitter)
    request_id = svc.requests.by_token(token)["id"]
    login(coordinator)
    slot = svc.team.ensure(request_id)[0]
    first = svc.team.suggestions(request_id, slot, [])[0]
    member = svc.team.members()[first.id]
    page_token = csrf(coordinator, f"/coordinator/aanvraag/{request_id}")
    coordinator.post(f"/coordinator/aanvraag/{request_id}/koppelen",
                     data={"slot_id": slot["id"], "member_id": first.id, "csrf_token": page_token})
    svc.send_mail()
    invitation = inbox.to(member.email)[-1]
    assert "wilt u meewerken" in invitation["Subject"] and "16 uur per week" in Inbox.text(invitation)
    assert invitation.get_body(preferencelist=("html",)) is not None
    page = member_page.get(link_url(invitation))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Ja, ik doe mee" in html and "j.jansen@schiedam.nl" not in html
    assert page.headers["Cache-Control"] == "no-store"
    # The submitter sees who was asked, and that the answer is awaited; no contact before the yes.
    status = submitter.get(f"/hulpvraag/status/{token}").get_data(as_text=True)
    assert member.name in status and "wachten op antwoord" in status and member.email not in status
    # Without the form's token the answer is refused; with it, accepted.
    assert member_page.post(link_url(invitation), data={"decision": "accepteren"}).status_code == 400
    answered = member_page.post(link_url(invitation), follow_redirects=True, data={
        "decision": "accepteren", "csrf_token": csrf(member_page, link_url(invitation))}).get_data(as_text=True)
    assert "De uren staan voor u geboekt" in answered and "j.jansen@schiedam.nl" in answered
    assert svc.requests.get(request_id)["status"] == "gekoppeld"
    svc.send_mail()
    accepted = inbox.to(member.email)[-1]
    assert "bedankt" in accepted["Subject"] and "j.jansen@schiedam.nl" in Inbox.text(accepted)
    status_mail = inbox.to("j.jansen@schiedam.nl")[-1]
    assert member.name in Inbox.text(status_mail) and member.email in Inbox.text(status_mail)
    status = submitter.get(f"/hulpvraag/status/{token}").get_data(as_text=True)
    assert f"mailto:{member.email}" in status and "Uw team is compleet" in status
    # Closing: the member hears the work is done; the submitter gets the feedback form, stored once.
    coordinator.post(f"/coordinator/aanvraag/{request_id}/status", data={
        "status": "afgerond", "csrf_token": csrf(coordinator, f"/coordinator/aanvraag/{request_id}")})
    svc.send_mail()
    assert "afgerond" in inbox.to(member.email)[-1]["Subject"]
    form_page = submitter.get(f"/hulpvraag/status/{token}").get_data(as_text=True)
    assert "Hoe nuttig was de hulp?" in form_page
    bad = submitter.post(f"/hulpvraag/status/{token}/beoordeling",
                         data={"useful": "9", "csrf_token": csrf(submitter, f"/hulpvraag/status/{token}")})
    assert bad.status_code == 422 and "kies een cijfer van 1" in bad.get_data(as_text=True).lower()
    form_token = csrf(submitter, f"/hulpvraag/status/{token}")
    for useful in ("4", "1"):  # the second is ignored: feedback is given once
        submitter.post(f"/hulpvraag/status/{token}/beoordeling", data={
            "useful": useful, "why": "Snel de juiste projectleider.", "csrf_token": form_token})
    assert svc.team.feedback.get(request_id)["useful"] == 4
    assert "Bedankt voor uw beoordeling (4 van 5)" in submitter.get(f"/hulpvraag/status/{token}").get_data(
        as_text=True)
    dashboard = coordinator.get("/coordinator/dashboard").get_data(as_text=True)
    row = re.search(r'<th scope="row">Flexpool-woningbouw</th><td>1</td><td>4</td>', dashboard)
    assert row and "Snel de juiste projectleider." in dashboard
    assert "Servicenormen per pool" in dashboard


def test_decline_reminder_release_and_expiry_mails(app, smtp):
    inbox, _ = smtp
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    token = submit(client)
    request_id = svc.requests.by_token(token)["id"]
    slot = svc.team.ensure(request_id)[0]
    first = svc.team.suggestions(request_id, slot, [])[0]
    monday = dt.datetime.now(dt.UTC).replace(hour=9)
    monday -= dt.timedelta(days=monday.weekday())
    svc.team.link(slot["id"], first.id, "coord", at=monday)
    svc.send_mail()
    url = link_url(inbox.to(svc.team.members()[first.id].email)[-1])
    empty = client.post(url, data={"decision": "afslaan", "reason": "", "csrf_token": csrf(client, url)})
    assert empty.status_code == 422 and "Geef kort aan waarom" in empty.get_data(as_text=True)
    client.post(url, data={"decision": "afslaan", "reason": "Geen tijd tot de zomer",
                           "csrf_token": csrf(client, url)})
    svc.send_mail()
    notice = inbox.to("coord@example.nl")[-1]
    body = Inbox.text(notice)
    assert "weer open" in notice["Subject"] and "Geen tijd tot de zomer" in body
    following = re.search(r"Volgende suggestie: ([^(]+) \(", body).group(1).strip()
    assert following != first.name
    assert "niet meer open" in client.get(url).get_data(as_text=True)
    # The next one: a reminder after three working days with a fresh link; then a release cancels.
    second = next(m for m in svc.team.suggestions(request_id, svc.team.ensure(request_id)[0], [])
                  if m.name == following)
    svc.team.link(slot["id"], second.id, "coord", at=monday)
    svc.team.run_clock(monday + dt.timedelta(days=3))
    svc.send_mail()
    address = svc.team.members()[second.id].email
    reminder = inbox.to(address)[-1]
    assert reminder["Subject"].startswith("Herinnering")
    assert "Ja, ik doe mee" in client.get(link_url(reminder)).get_data(as_text=True)
    svc.team.release(slot["id"], "coord", reason="De gemeente heeft het zelf opgelost", at=monday)
    svc.send_mail()
    cancelled = inbox.to(address)[-1]
    assert "niet meer nodig" in cancelled["Subject"] and "zelf opgelost" in Inbox.text(cancelled)
    # A third: no answer within ten working days: expired, the member is told and the slot is open again.
    third = svc.team.suggestions(request_id, svc.team.ensure(request_id)[0], [])[0]
    svc.team.link(slot["id"], third.id, "coord", at=monday)
    assert svc.team.run_clock(monday + dt.timedelta(days=15))["expired"] == 1
    svc.send_mail()
    assert "verlopen" in inbox.to(svc.team.members()[third.id].email)[-1]["Subject"]
    assert svc.team.ensure(request_id)[0]["link"] is None


def test_declines_and_expiries_reach_the_daily_digest_too(app, smtp):
    inbox, _ = smtp
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("dagelijks", "Dag Overzicht", "lang-genoeg-wachtwoord")
    svc.accounts.set_mail("dagelijks", email="dag@example.nl", notify="daily")
    client = app.test_client()
    request_id = svc.requests.by_token(submit(client))["id"]
    reference = svc.requests.get(request_id)["reference"]
    slot = svc.team.ensure(request_id)[0]
    first, second = svc.team.suggestions(request_id, slot, [])[:2]
    monday = dt.datetime.now(dt.UTC).replace(hour=9)
    monday -= dt.timedelta(days=monday.weekday())
    svc.team.link(slot["id"], first.id, "coord", at=monday)
    svc.send_mail()
    url = link_url(inbox.to(svc.team.members()[first.id].email)[-1])
    client.post(url, data={"decision": "afslaan", "reason": "Geen tijd tot de zomer", "csrf_token": csrf(client, url)})
    svc.team.link(slot["id"], second.id, "coord", at=monday)
    assert svc.team.run_clock(monday + dt.timedelta(days=15))["expired"] == 1
    svc.send_mail()
    assert len([m for m in inbox.to("coord@example.nl") if "weer open" in m["Subject"]]) == 2  # at once, as before
    assert not inbox.to("dag@example.nl")
    svc.run_due_jobs(monday + dt.timedelta(days=16), force=True)  # the next morning's digest
    svc.send_mail()
    (digest,) = inbox.to("dag@example.nl")
    assert "2 plekken weer open sinds" in digest["Subject"] and "nieuwe hulpvraag" in digest["Subject"]
    text = Inbox.text(digest)
    html = digest.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert f"{first.name} heeft afgeslagen (Geen tijd tot de zomer)" in body
        assert f"de uitnodiging aan {second.name} is verlopen" in body
        assert body.count(reference) >= 3 and "De plek is nog open." in body
    svc.team.link(slot["id"], first.id, "coord", at=monday + dt.timedelta(days=16))
    svc.run_due_jobs(monday + dt.timedelta(days=17), force=True)  # nothing came back open since: no digest
    svc.send_mail()
    assert len(inbox.to("dag@example.nl")) == 1
