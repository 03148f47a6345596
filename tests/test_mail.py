"""Mail end to end through a real SMTP server in the test process (aiosmtpd): the receipt, status changes with
the linked expert, coordinators' notices at once and as a digest, a server that refuses a recipient, an outage
that loses nothing, and two senders that never send one mail twice."""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings, run_threads
from tests.smtp import Server, parts
from tests.test_helpdesk import login, submit, token
from wijkwijzer import create_app
from wijkwijzer.domain.mail import FAILED, PENDING, SENT, Message
from wijkwijzer.mail.sender import SmtpSender
from wijkwijzer.storage.db import Store
from wijkwijzer.storage.outbox import Outbox

BASE = "https://wijkwijzer.example.nl"
PASSWORD = "lang-genoeg-wachtwoord"


@pytest.fixture
def app(tmp_path, smtp):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts",
                       smtp_url=f"smtp://127.0.0.1:{smtp.port}?timeout=5",
                       mail_from="Wijkwijzer <noreply@nplv.example.nl>", base_url=BASE,
                       mail_reply_to="programmabureau@nplv.example.nl")
    app = create_app(settings, watch=False)
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator Één", PASSWORD)
    svc.accounts.set_mail("coord", email="coord@nplv.example.nl", notify="direct")
    yield app
    svc.close()


def test_receipt_and_coordinator_notice_arrive_with_reference_and_link(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    response = submit(client)
    assert response.status_code == 303
    status_path = response.headers["Location"].split("?")[0]
    row = svc.requests.queue()[0]
    assert re.fullmatch(r"WW-\d{4}-0001", row["reference"])
    report = svc.send_mail()
    assert len(report.sent) == 2 and not report.retry and not report.failed

    (receipt,) = smtp.mailbox.to("j.jansen@schiedam.nl")
    assert receipt["Subject"] == f"Uw hulpvraag is ontvangen ({row['reference']})"
    assert receipt["From"] == "Wijkwijzer <noreply@nplv.example.nl>"
    assert receipt["Message-ID"].endswith("@nplv.example.nl>") and receipt["Date"]
    assert receipt["Auto-Submitted"] == "auto-generated"
    assert receipt["Reply-To"] == "programmabureau@nplv.example.nl"
    text, html = parts(receipt)
    link = f"{BASE}{status_path}"
    assert row["reference"] in text and link in text and "Beste Jan Jansen" in text
    assert f'href="{link}"' in html and '<html lang="nl">' in html and row["reference"] in html
    assert "portiekwoningen" in text  # a copy of the question, to the submitter only
    assert "mail naar programmabureau@nplv.example.nl" in text and "mailto:programmabureau@nplv.example.nl" in html
    page = client.get(status_path).get_data(as_text=True)  # the link in the mail opens the status page
    assert row["reference"] in page and f'value="{link}"' in page and "Kopieer link" in page

    (notice,) = smtp.mailbox.to("coord@nplv.example.nl")
    assert notice["Subject"] == f"Nieuwe hulpvraag {row['reference']} uit Schiedam"
    text, html = parts(notice)
    assert "Beste Coördinator Één" in text and f"{BASE}/coordinator/aanvraag/{row['id']}" in text
    assert "Jan Jansen" not in text + html and "portiekwoningen" not in text + html  # no personal data
    assert smtp.mailbox.envelopes[0][0] == "noreply@nplv.example.nl"
    assert all(m["status"] == SENT for m in svc.outbox.list())
    assert svc.send_mail().sent == []  # nothing twice


def test_every_status_change_mails_the_submitter_with_the_linked_expert(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client, hours_per_week="2", kind="expertpool")
    row = svc.requests.queue()[0]
    svc.send_mail()
    login(client)
    csrf = token(client, f"/coordinator/aanvraag/{row['id']}")
    client.post(f"/coordinator/aanvraag/{row['id']}/status", data={"status": "in behandeling", "csrf_token": csrf})
    member_id = svc.suggestions(row["id"])["matches"][0]["id"]
    member = next(m for m in svc.pool.members() if m.id == member_id)
    response = client.post(f"/coordinator/aanvraag/{row['id']}/koppelen",
                           data={"member_id": member_id, "csrf_token": csrf})
    # Linking invites; the request is 'gekoppeld' once the member accepts (here with a fresh invitation's token).
    assert response.status_code == 303 and svc.requests.get(row["id"])["status"] == "in behandeling"
    slot, *others = svc.team.ensure(row["id"])
    for extra in others:  # the question names three roles; this coordinator wants one expert
        svc.team.remove_slot(extra["id"], "coord")
    svc.team.accept(svc.team.link(slot["id"], member_id, "coord"))
    assert svc.requests.get(row["id"])["status"] == "gekoppeld"
    svc.send_mail()
    mails = smtp.mailbox.to("j.jansen@schiedam.nl")
    assert [m["Subject"] for m in mails] == [
        f"Uw hulpvraag is ontvangen ({row['reference']})",
        f"{row['reference']}: Uw aanvraag is in behandeling",
        f"{row['reference']}: Er is een deskundige voor uw aanvraag",
    ]
    text, html = parts(mails[-1])
    assert member.name in text and member.role in text
    assert (member.email in text and f"mailto:{member.email}" in html) if member.email else "coördinator" in text
    assert "2 uur per week" in text and f"{BASE}/hulpvraag/status/" in text  # the link again, derived
    status_link = re.search(rf"{BASE}(/hulpvraag/status/\S+)", text).group(1)
    assert client.get(status_link).status_code == 200
    assert member_id not in text  # names, not ids

    client.post(f"/coordinator/aanvraag/{row['id']}/plek/{slot['id']}/vrijgeven", data={"csrf_token": csrf})
    assert svc.requests.get(row["id"])["status"] == "in behandeling"
    svc.send_mail()
    text, _ = parts(smtp.mailbox.to("j.jansen@schiedam.nl")[-1])
    assert member.name not in text  # released: no longer named as the expert


def test_a_decline_gives_the_reason(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    submit(client)
    row = svc.requests.queue()[0]
    login(client)
    csrf = token(client, f"/coordinator/aanvraag/{row['id']}")
    client.post(f"/coordinator/aanvraag/{row['id']}/status",
                data={"status": "afgewezen", "note": "Dit valt buiten de focusgebieden.", "csrf_token": csrf})
    svc.send_mail()
    mail = smtp.mailbox.to("j.jansen@schiedam.nl")[-1]
    assert mail["Subject"] == f"{row['reference']}: Wij kunnen uw aanvraag niet oppakken"
    assert "Dit valt buiten de focusgebieden." in parts(mail)[0]


def test_daily_digest_once_per_day_per_coordinator(app, smtp):
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("dagelijks", "Dag Overzicht", PASSWORD)
    svc.accounts.set_mail("dagelijks", email="dag@nplv.example.nl", notify="daily")
    svc.accounts.add("stil", "Geen Mail", PASSWORD)
    svc.accounts.set_mail("stil", email="stil@nplv.example.nl", notify="off")
    chose = dt.datetime.fromisoformat(svc.accounts.mail_recipients("daily")[0]["digest_until"])
    assert abs(chose - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)  # not since the account was made
    with svc.store.transaction() as db:  # the choice was made before these requests came in
        db.execute("UPDATE users SET digest_until = '2026-01-01T00:00:00+00:00' WHERE username = 'dagelijks'")
    client = app.test_client()
    submit(client)
    submit(client, municipality="Den Haag")
    references = [r["reference"] for r in svc.requests.queue()]
    created = dt.datetime.fromisoformat(svc.requests.queue()[-1]["created"])
    next_morning = (created + dt.timedelta(days=1)).replace(hour=9)  # 10:00 in Amsterdam, past the digest hour
    svc.run_due_jobs(next_morning, force=True)
    svc.run_due_jobs(next_morning + dt.timedelta(hours=3), force=True)  # later that day: nothing new
    svc.send_mail()
    (digest,) = smtp.mailbox.to("dag@nplv.example.nl")
    assert digest["Subject"].startswith("2 nieuwe hulpvragen sinds ")
    text, html = parts(digest)
    assert all(ref in text and ref in html for ref in references) and "Den Haag" in text
    assert len(smtp.mailbox.to("coord@nplv.example.nl")) == 2  # at once: one per request
    assert smtp.mailbox.to("stil@nplv.example.nl") == []
    submit(client, municipality="Delft")
    with svc.store.transaction() as db:  # it came in after that digest (test time runs ahead of the clock)
        db.execute("UPDATE help_requests SET created = ? WHERE municipality = 'Delft'",
                   [(next_morning + dt.timedelta(hours=4)).isoformat(timespec="seconds")])
    svc.run_due_jobs(next_morning + dt.timedelta(days=1), force=True)
    svc.send_mail()
    latest = smtp.mailbox.to("dag@nplv.example.nl")[-1]
    assert latest["Subject"].startswith("1 nieuwe hulpvraag sinds ") and "Delft" in parts(latest)[0]


def test_a_refused_recipient_is_marked_failed_not_lost_and_can_be_retried(app, smtp):
    svc = app.extensions["wijkwijzer"]
    smtp.mailbox.refuse.add("onbekend@schiedam.nl")
    client = app.test_client()
    assert submit(client, email="onbekend@schiedam.nl").status_code == 303
    report = svc.send_mail()
    assert len(report.failed) == 1 and len(report.sent) == 1  # the coordinator's notice still went
    (failed,) = svc.outbox.list(FAILED)
    assert failed["recipient"] == "onbekend@schiedam.nl" and failed["last_error"].startswith(
        "onbekend@schiedam.nl: 550 5.1.1") and failed["attempts"] == 1
    login(client)
    page = client.get("/coordinator/uitgaande-mail?status=mislukt").get_data(as_text=True)
    assert "Mislukt" in page and "550 5.1.1" in page and "Opnieuw versturen" in page
    smtp.mailbox.refuse.clear()  # the address was fixed on the server's side
    csrf = token(client, "/coordinator/uitgaande-mail")
    response = client.post(f"/coordinator/uitgaande-mail/{failed['id']}/opnieuw", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert svc.send_mail().sent == [failed["id"]]
    assert len(smtp.mailbox.to("onbekend@schiedam.nl")) == 1


def test_an_outage_loses_nothing_blocks_nothing_and_backs_off(app, smtp):
    svc = app.extensions["wijkwijzer"]
    smtp.stop()
    client = app.test_client()
    response = submit(client)
    assert response.status_code == 303  # stored and acknowledged while the server is down
    t0 = dt.datetime.now(dt.UTC)
    report = svc.send_mail(now=t0)
    assert report.error and report.sent == [] and len(report.retry) == 2
    assert all(m["status"] == PENDING and m["attempts"] == 1 and m["last_error"] for m in svc.outbox.list())
    second = svc.send_mail(now=t0 + dt.timedelta(seconds=59)).retry  # not due yet: no attempt at all
    assert second == []
    assert len(svc.send_mail(now=t0 + dt.timedelta(seconds=61)).retry) == 2  # still down: second attempt
    due = dt.datetime.fromisoformat(svc.outbox.list()[0]["next_attempt"])
    assert due == (t0 + dt.timedelta(seconds=61) + dt.timedelta(minutes=2)).replace(microsecond=0)
    smtp.start()
    assert svc.send_mail(now=due - dt.timedelta(seconds=1)).sent == []
    assert len(svc.send_mail(now=due).sent) == 2
    assert len(smtp.mailbox.messages) == 2 and svc.outbox.counts()[SENT] == 2


def test_two_senders_on_one_database_never_send_a_mail_twice(tmp_path, smtp):
    path = tmp_path / "gedeeld.sqlite"
    with Store(path).transaction():
        pass
    setup = Outbox(Store(path))
    for n in range(60):
        setup.enqueue(Message(to=f"lid{n}@example.nl", subject=f"Bericht {n}", text=f"Tekst {n}",
                              html=f"<p>Tekst {n}</p>", kind="test"))
    from wijkwijzer.config import parse_smtp_url

    config = parse_smtp_url(f"smtp://127.0.0.1:{smtp.port}")
    reports = []

    def sender() -> None:  # its own Store, as a second process would have
        reports.append(SmtpSender(config, "noreply@example.nl").deliver(Outbox(Store(path)), limit=1000))

    run_threads([threading.Thread(target=sender) for _ in range(3)])
    subjects = [m["Subject"] for m in smtp.mailbox.messages]
    assert sorted(subjects) == sorted(f"Bericht {n}" for n in range(60))  # each exactly once
    assert sum(len(r.sent) for r in reports) == 60 and setup.counts()[SENT] == 60


def test_without_smtp_the_outbox_page_shows_what_would_be_sent(tmp_path):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts")
    app = create_app(settings, watch=False)
    try:
        svc = app.extensions["wijkwijzer"]
        svc.accounts.add("coord", "Coördinator Een", PASSWORD)
        client = app.test_client()
        submit(client)
        assert svc.send_mail() is None and "mail versturen" not in [j.name for j in svc.periodic_jobs()]
        login(client)
        page = client.get("/coordinator/uitgaande-mail").get_data(as_text=True)
        reference = svc.requests.queue()[0]["reference"]
        assert "Er is geen mailserver ingesteld" in page and "Wacht op verzending" in page
        assert f"Uw hulpvraag is ontvangen ({reference})" in page and "j.jansen@schiedam.nl" in page
        assert "Ontvangstbevestiging aan de aanvrager" in page and "http://127.0.0.1:5000/hulpvraag/status/" in page
        assert client.get("/coordinator/uitgaande-mail?status=zoiets").status_code == 404
    finally:
        app.extensions["wijkwijzer"].close()


def test_erasing_a_request_deletes_its_mails(app, smtp):
    svc = app.extensions["wijkwijzer"]
    submit(app.test_client())
    row = svc.requests.queue()[0]
    assert any(m["request_id"] == row["id"] for m in svc.outbox.list())
    svc.erase_request(row["id"], "coord")
    assert [m["kind"] for m in svc.outbox.list()] == ["new_request"]  # holds no personal data


def test_mail_commands(tmp_path, smtp, monkeypatch):
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    monkeypatch.setenv("WIJKWIJZER_EXPERTS_DIR", str(ROOT / "experts"))
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    from wijkwijzer.cli import main

    def run(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    result = run("user", "add", "coord", "--email", "geen-adres", "--password", PASSWORD)
    assert result.exit_code == 2 and "geen e-mailadres" in result.output
    assert run("user", "add", "coord", "--email", "c@nplv.example.nl", "--password", PASSWORD).exit_code == 0
    assert run("user", "set", "coord", "--notify", "daily").exit_code == 0
    assert "c@nplv.example.nl (daily)" in run("user", "list").output
    outbox = Outbox(Store(tmp_path / "data" / "wijkwijzer.db"))
    first = outbox.enqueue(Message("a@example.nl", "Eerste", "tekst", "<p>tekst</p>", "test"))
    outbox.enqueue(Message("b@example.nl", "Tweede", "tekst", "<p>tekst</p>", "test"))
    smtp.mailbox.refuse.add("a@example.nl")
    result = run("mail", "send")
    assert result.exit_code == 2 and "WIJKWIJZER_SMTP_URL" in result.output and "2 mails wachten" in result.output
    monkeypatch.setenv("WIJKWIJZER_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")
    monkeypatch.setenv("WIJKWIJZER_MAIL_FROM", "noreply@nplv.example.nl")
    monkeypatch.setenv("WIJKWIJZER_BASE_URL", BASE)
    result = run("mail", "send")
    assert result.exit_code == 0 and "1 verzonden, 0 later opnieuw, 1 mislukt" in result.output
    listed = run("mail", "list", "--status", "mislukt").output
    assert f"{first}\tmislukt\t1x" in listed and "550 5.1.1" in listed
    assert "Tweede" not in listed
    assert "Onderwerp: Eerste" in run("mail", "show", str(first)).output
    assert run("mail", "retry").exit_code == 2
    smtp.mailbox.refuse.clear()
    assert "1 mails opnieuw" in run("mail", "retry", "--all-failed").output
    assert "1 verzonden" in run("mail", "send").output
    smtp.stop()
    outbox.enqueue(Message("c@example.nl", "Derde", "tekst", "<p>tekst</p>", "test"))
    result = run("mail", "send")
    assert result.exit_code == 1 and "niet bereikbaar" in result.output


def test_the_running_site_sends_in_its_background_thread(tmp_path, smtp):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts", jobs_interval=0.2,
                       smtp_url=f"smtp://127.0.0.1:{smtp.port}", mail_from="noreply@nplv.example.nl", base_url=BASE)
    app = create_app(settings, watch=True)  # as `serve` and every gunicorn worker start it
    try:
        assert submit(app.test_client()).status_code == 303
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while not smtp.mailbox.messages and dt.datetime.now() < deadline:
            threading.Event().wait(0.1)
        assert [m["To"] for m in smtp.mailbox.messages] == ["j.jansen@schiedam.nl"]
    finally:
        app.extensions["wijkwijzer"].close()


def test_an_unsendable_mail_fails_alone_and_the_export_lists_the_mails(app, smtp):
    svc = app.extensions["wijkwijzer"]
    submit(app.test_client())
    row = svc.requests.queue()[0]
    bad = svc.outbox.enqueue(Message(to="x@example.nl\r\nBcc: y@example.nl", subject="Kapot", text="t", html="",
                                     kind="test"))
    report = svc.send_mail()
    assert report.failed == [bad] and len(report.sent) == 2
    assert svc.outbox.get(bad)["last_error"].startswith("ongeldige e-mail")
    exported = svc.export_request(row["id"])
    assert [m["kind"] for m in exported["mails"]] == ["receipt"] and exported["mails"][0]["status"] == SENT


def test_non_ascii_travels_encoded_and_arrives_intact(app, smtp):
    svc = app.extensions["wijkwijzer"]
    assert submit(app.test_client(), municipality="Súdwest-Fryslân", contact_name="Sjoukje Hoekstra-Ôf").status_code \
        == 303
    svc.send_mail()
    (notice,) = smtp.mailbox.to("coord@nplv.example.nl")
    reference = svc.requests.queue()[0]["reference"]
    assert notice["Subject"] == f"Nieuwe hulpvraag {reference} uit Súdwest-Fryslân"
    raw = b"".join(smtp.mailbox.raw)
    assert raw.isascii() and b"=?utf-8?" in raw.lower()  # headers encoded (RFC 2047), bodies transfer-encoded
    (receipt,) = smtp.mailbox.to("j.jansen@schiedam.nl")
    assert "Beste Sjoukje Hoekstra-Ôf" in parts(receipt)[0] and "Súdwest-Fryslân" in parts(receipt)[1]


# The test server takes a password without TLS (on loopback only); aiosmtpd rightly warns about that.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_wrong_password_is_the_servers_trouble_retried_not_a_failed_mail(tmp_path):
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == b"mailer" and auth_data.password == b"juist", handled=False)

    server = Server(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    server.start()
    try:
        from wijkwijzer.config import parse_smtp_url

        outbox = Outbox(Store(tmp_path / "db.sqlite"))
        mail_id = outbox.enqueue(Message("a@example.nl", "Onderwerp", "tekst", "<p>tekst</p>", "test"))
        wrong = SmtpSender(parse_smtp_url(f"smtp://mailer:fout@localhost:{server.port}"), "noreply@example.nl")
        t0 = dt.datetime.now(dt.UTC)
        report = wrong.deliver(outbox, now=t0)
        assert report.retry == [mail_id] and report.error.startswith("535")
        assert outbox.get(mail_id)["status"] == PENDING
        right = SmtpSender(parse_smtp_url(f"smtp://mailer:juist@localhost:{server.port}"), "noreply@example.nl")
        assert right.deliver(outbox, now=t0 + dt.timedelta(minutes=1)).sent == [mail_id]
        assert len(server.mailbox.messages) == 1
    finally:
        server.stop()
