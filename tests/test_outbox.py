"""The outbox core: mails written in the transaction of their cause, claimed by one sender, retried with backoff,
and the settings that configure sending."""

import datetime as dt

import pytest

from wijkwijzer.config import Settings, SettingsError, mail_settings, parse_smtp_url
from wijkwijzer.domain.mail import FAILED, MAX_ATTEMPTS, PENDING, SENT, Message, retry_delay
from wijkwijzer.mail import compose
from wijkwijzer.storage.db import open_store
from wijkwijzer.storage.outbox import CLAIM_LEASE, Outbox

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def mail(to="a@example.nl", request_id=None) -> Message:
    return Message(to=to, subject="Onderwerp", text="Tekst", html="<p>Tekst</p>", kind="test", request_id=request_id)


@pytest.fixture
def outbox(tmp_path, database_url) -> Outbox:
    store = open_store(database_url or f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield Outbox(store)
    store.close()


def test_a_mail_is_stored_with_its_cause_or_not_at_all(outbox):
    with outbox.store.transaction() as db:
        db.execute("INSERT INTO audit_log (at, actor, action) VALUES ('x', 'y', 'kept')")
        outbox.enqueue(mail())
    with pytest.raises(RuntimeError), outbox.store.transaction() as db:
        db.execute("INSERT INTO audit_log (at, actor, action) VALUES ('x', 'y', 'rolled back')")
        outbox.enqueue(mail("b@example.nl"))
        raise RuntimeError("the change fails after the mail was queued")
    assert [m["recipient"] for m in outbox.list()] == ["a@example.nl"]
    assert outbox.counts() == {PENDING: 1, "bezig": 0, SENT: 0, FAILED: 0}


def test_a_claimed_mail_is_not_claimed_again_until_its_lease_expires(outbox):
    first = outbox.enqueue(mail(), now=T0)
    token, rows = outbox.claim(now=T0)
    assert [r["id"] for r in rows] == [first]
    assert outbox.claim(now=T0)[1] == []
    assert outbox.claim(now=T0 + CLAIM_LEASE - dt.timedelta(seconds=1))[1] == []
    other, again = outbox.claim(now=T0 + CLAIM_LEASE)  # the first sender died: its mail is not stranded
    assert [r["id"] for r in again] == [first]
    assert not outbox.mark_sent(first, token)  # the first sender no longer owns it
    assert outbox.mark_sent(first, other, "<id@example.nl>", now=T0 + CLAIM_LEASE)
    assert outbox.get(first)["status"] == SENT and outbox.get(first)["message_id"] == "<id@example.nl>"


def test_temporary_failures_back_off_and_permanent_ones_stop(outbox):
    temporary, permanent = outbox.enqueue(mail(), now=T0), outbox.enqueue(mail("x@example.nl"), now=T0)
    token, _ = outbox.claim(now=T0)
    assert outbox.mark_failed(temporary, token, "421 try later", now=T0) == PENDING
    assert outbox.mark_failed(permanent, token, "550 no such user", permanent=True, now=T0) == FAILED
    row = outbox.get(temporary)
    assert row["attempts"] == 1 and row["next_attempt"] == (T0 + dt.timedelta(minutes=1)).isoformat()
    assert outbox.claim(now=T0 + dt.timedelta(seconds=59))[1] == []
    assert outbox.get(permanent)["last_error"] == "550 no such user"
    assert [retry_delay(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert retry_delay(30) == dt.timedelta(hours=6)
    assert outbox.retry(permanent, now=T0) == 1 and outbox.get(permanent)["status"] == PENDING


def test_a_mail_is_given_up_after_the_last_attempt(outbox):
    mail_id = outbox.enqueue(mail(), now=T0)
    now = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        token, rows = outbox.claim(now=now)
        assert [r["id"] for r in rows] == [mail_id]
        state = outbox.mark_failed(mail_id, token, "timeout", now=now)
        assert state == (FAILED if attempt == MAX_ATTEMPTS else PENDING)
        now += retry_delay(attempt)
    assert outbox.claim(now=now + dt.timedelta(days=10))[1] == []


def test_mails_about_an_erased_request_are_deleted(outbox):
    outbox.enqueue(mail(request_id=7))
    outbox.enqueue(mail(request_id=8))
    assert outbox.forget_request(7) == 1
    assert [m["request_id"] for m in outbox.list()] == [8]


def test_compose_renders_text_and_escaped_html_in_dutch():
    message = compose("status", "jan@example.nl", request_id=3, site_url="https://ww.example.nl",
                      request={"id": 3, "reference": "WW-2026-0003", "municipality": "Den Haag",
                               "kind_label": "Vraagbaak", "created": "2026-03-01T23:30:00+00:00",
                               "contact_name": "Jan <b>Jansen</b>", "question": "", "url": ""},
                      status="afgewezen", status_label="afgewezen", headline="Wij kunnen uw aanvraag niet oppakken",
                      explanation="Uitleg.", note="Buiten het programma & te groot", status_url=None,
                      experts=[{"name": "Anna", "role": "Jurist", "organisation": "", "email": "anna@example.nl",
                                "hours": 2.5, "start": "2026-03-02", "end": "2026-06-01"}])
    assert message.subject == "WW-2026-0003: Wij kunnen uw aanvraag niet oppakken"
    assert "Jan <b>Jansen</b>" in message.text and "Jan &lt;b&gt;Jansen&lt;/b&gt;" in message.html
    assert "Buiten het programma &amp; te groot" in message.html
    assert "2 maart 2026 om 00:30" in message.text  # Dutch time, Dutch month
    assert "2,5 uur per week" in message.text and "1 juni 2026" in message.text
    assert message.html.startswith("<!DOCTYPE html>") and '<html lang="nl">' in message.html


def test_smtp_settings_are_checked_with_specific_messages():
    config = parse_smtp_url("smtp://mailer:ge%40heim@mail.example.nl:587")
    assert (config.host, config.port, config.tls, config.username, config.password) == (
        "mail.example.nl", 587, "starttls", "mailer", "ge@heim")
    assert parse_smtp_url("smtps://u:p@mail.example.nl").port == 465
    assert parse_smtp_url("smtp://localhost:2525").tls == "none"
    for url, part in [("http://mail.example.nl", "scheme"), ("smtp://:25", "host"),
                      ("smtp://mail.example.nl:99999", "port"), ("smtp://u:p@mail.example.nl:25", "unencrypted"),
                      ("smtp://mail.example.nl?starttls=misschien", "starttls"),
                      ("smtp://mail.example.nl?tls=1", "unknown option"), ("smtps://h?starttls=yes", "smtps")]:
        with pytest.raises(SettingsError, match=part):
            parse_smtp_url(url)
    with pytest.raises(SettingsError, match="WIJKWIJZER_MAIL_FROM is needed"):
        mail_settings({"WIJKWIJZER_SMTP_URL": "smtp://localhost", "WIJKWIJZER_BASE_URL": "https://x.nl"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_BASE_URL is needed"):
        mail_settings({"WIJKWIJZER_SMTP_URL": "smtp://localhost", "WIJKWIJZER_MAIL_FROM": "a@b.nl"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_MAIL_FROM='geen adres'"):
        mail_settings({"WIJKWIJZER_MAIL_FROM": "geen adres"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_BASE_URL"):
        mail_settings({"WIJKWIJZER_BASE_URL": "wijkwijzer.nl"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_MAIL_REPLY_TO"):
        mail_settings({"WIJKWIJZER_MAIL_REPLY_TO": "Bureau <a@b.nl>"})
    settings = Settings.from_env({"WIJKWIJZER_SMTP_URL": "smtp://localhost:2525", "WIJKWIJZER_MAIL_FROM":
                                  "Wijkwijzer <noreply@gemeente.nl>", "WIJKWIJZER_BASE_URL": "https://ww.nl/"})
    assert settings.site_url == "https://ww.nl" and settings.smtp.port == 2525
    assert "2525" not in repr(settings)  # the URL may hold a password
    assert Settings(port=5050).site_url == "http://127.0.0.1:5050" and Settings().smtp is None


def test_jobs_run_when_due_and_a_failing_job_does_not_stop_the_others():
    from wijkwijzer.jobs import Jobs

    jobs, ran = Jobs(), []
    jobs.add("slow", 60, lambda now: ran.append(("slow", now)))
    jobs.add("broken", 1, lambda now: 1 / 0)
    assert jobs.run_due(T0) == ["slow", "broken"]
    assert jobs.run_due(T0 + dt.timedelta(seconds=30)) == ["broken"]
    assert jobs.run_due(T0 + dt.timedelta(seconds=60)) == ["slow", "broken"]
    assert ran == [("slow", T0), ("slow", T0 + dt.timedelta(seconds=60))]
