"""Following a theme, action line, focus area or search by e-mail, end to end through a real SMTP server in the
test process (aiosmtpd): double opt-in, digests of new and changed case studies, unsubscribe by link and by
RFC 8058 one-click POST, nothing sent twice, an outage that loses nothing, purge, and the filtered Atom feeds."""

from __future__ import annotations

import datetime as dt
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, make_settings, run_threads, write_case
from tests.smtp import parts
from wijkwijzer import create_app
from wijkwijzer.domain.alerts import DAILY, WEEKLY, current_period, describe, parse_followed
from wijkwijzer.domain.mail import PENDING, SENT
from wijkwijzer.search.models import SearchRequest

BASE = "https://wijkwijzer.example.nl"
THEME = "armoede-en-schulden"
ADDRESS = "a.de.vries@zwolle.nl"
ATOM = "{http://www.w3.org/2005/Atom}"


def later(days: float = 1) -> dt.datetime:
    """A moment past the next digest: periods end at the configured hour, Dutch time."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


@pytest.fixture
def app(tmp_path, sample_content, smtp):
    settings = replace(make_settings(tmp_path, sample_content), experts_dir=ROOT / "experts",
                       smtp_url=f"smtp://127.0.0.1:{smtp.port}?timeout=5",
                       mail_from="Wijkwijzer <noreply@nplv.example.nl>", base_url=BASE)
    app = create_app(settings, watch=False)
    yield app
    app.extensions["wijkwijzer"].close()


def csrf(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def follow(client, query: str = f"themes={THEME}", email: str = ADDRESS, frequency: str = DAILY, page: str = ""):
    page = page or "/hulpvraag"  # any form gives the session's token; the pages' own forms are tested below
    return client.post("/volgen", data={"email": email, "frequency": frequency, "query": query,
                                        "csrf_token": csrf(client, page)})


def link(text: str, path: str) -> str:
    """The site-relative path of the first link to `path` in a mail's text."""
    return re.search(rf"{re.escape(BASE)}({re.escape(path)}\S+)", text).group(1)


def confirmed(app, client, smtp, query: str = f"themes={THEME}", email: str = ADDRESS) -> str:
    """Follow and confirm through the pages and the mail; returns the confirmation mail's text."""
    assert follow(client, query, email).status_code == 303
    app.extensions["wijkwijzer"].send_mail()
    text, _ = parts(smtp.mailbox.to(email)[-1])
    path = link(text, "/volgen/bevestigen/")
    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code == 200
    return text


def new_case(content, slug: str = "zwolle/nieuw-schuldenloket", theme: str = THEME, title: str = "") -> str:
    write_case(content, f"{slug}.md", f"""
        title: "{title or 'Een schuldenloket in de bibliotheek van Zwolle'}"
        summary: "Inwoners met geldzorgen vinden hulp op een plek waar ze toch al komen."
        type: praktijkervaring
        themes: [{theme}]
        action_lines: [meedoen]
        municipality: Zwolle
        date: 2020-03-01
        """, "Het loket is elke dinsdag open.")
    return slug


def test_follow_confirm_digest_and_unsubscribe_by_link(app, smtp, sample_content):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    html = client.get(f"/thema/{THEME}").get_data(as_text=True)
    assert "Volg thema Armoede en schulden" in html and "alleen uw e-mailadres en wat u volgt" in html
    response = follow(client, page=f"/thema/{THEME}")
    assert response.status_code == 303 and response.headers["Location"] == f"/volgen/verstuurd?themes={THEME}"
    assert ADDRESS not in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bevestig uw e-mailadres" in page and "thema Armoede en schulden" in page

    # Nothing but the confirmation before it is confirmed, whatever changes.
    slug = new_case(sample_content, "zwolle/eerder-loket", title="Een loket dat er al voor de bevestiging was")
    svc.sync()
    assert svc.alerts.queue_digests(later(2)) == []
    svc.send_mail()
    (mail,) = smtp.mailbox.to(ADDRESS)
    assert mail["Subject"] == "Bevestig dat u thema Armoede en schulden wilt volgen"
    assert mail["List-Unsubscribe"].startswith(f"<{BASE}/volgen/afmelden/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(mail)
    confirm_path = link(text, "/volgen/bevestigen/")
    assert f'href="{BASE}{confirm_path}"' in html and "wissen wij" in text and "7 dagen" in text

    # Opening the link shows a button; only pressing it confirms (a link checker opens links, it posts nothing).
    page = client.get(confirm_path).get_data(as_text=True)
    assert "Ja, ik wil dit volgen" in page and svc.alerts.store.confirmed() == []
    response = client.post(confirm_path, data={"csrf_token": csrf(client, confirm_path)})
    assert response.status_code == 200 and "U volgt dit nu" in response.get_data(as_text=True)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    (row,) = svc.alerts.store.confirmed()
    assert row["email"] == ADDRESS and row["query"] == f"themes={THEME}" and row["frequency"] == DAILY

    # New and changed after confirming: a new case in the theme, an edited one, and a new one elsewhere.
    added = new_case(sample_content)
    edited = sample_content / "amsterdam-nieuw-west" / "geldzorgen-bespreekbaar-via-sleutelfiguren.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Ervaringen uit twee jaar",
                                                                 "Ervaringen uit drie jaar"), encoding="utf-8")
    other = new_case(sample_content, "zwolle/sportpark", theme="leefomgeving-en-openbare-ruimte",
                     title="Een nieuw sportpark in Zwolle")
    svc.sync()
    moment = later()
    (digest,) = svc.alerts.queue_digests(moment)
    assert digest.mail_id is not None
    assert svc.alerts.queue_digests(moment) == []  # the same period again: nothing
    svc.send_mail(now=moment)
    mail = smtp.mailbox.to(ADDRESS)[-1]
    # (Python's e-mail folder puts a long subject on its own line; mail programs unfold it.)
    assert mail["Subject"].strip() == "2 praktijkvoorbeelden nieuw of bijgewerkt bij thema Armoede en schulden"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(mail)
    assert "Een schuldenloket in de bibliotheek van Zwolle (nieuw)" in text
    assert "Geldzorgen bespreekbaar maken" in text and "(bijgewerkt)" in text
    assert "sportpark" not in text.lower() and other not in text  # another theme
    assert slug not in text  # came in before the confirmation
    assert f"{BASE}/casus/{added}" in text and f'href="{BASE}/casus/{added}"' in html
    assert f"{BASE}/zoeken?themes={THEME}" in text and '<html lang="nl">' in html
    assert "U krijgt deze e-mail elke dag als er iets nieuws is" in text

    # The manage link opens the list of what this address follows.
    manage = link(text, "/volgen/beheer/")
    page = client.get(manage).get_data(as_text=True)
    assert ADDRESS in page and "Thema Armoede en schulden" in page

    # The unsubscribe link: a page with one button; pressing it stops the mail and wipes the address.
    unsubscribe = link(text, "/volgen/afmelden/")
    assert mail["List-Unsubscribe"] == f"<{BASE}{unsubscribe}>"
    page = client.get(unsubscribe).get_data(as_text=True)
    assert "Afmelden" in page and svc.alerts.store.confirmed()
    page = client.post(unsubscribe).get_data(as_text=True)
    assert "U bent afgemeld" in page and svc.alerts.store.confirmed() == []
    assert svc.store.db.execute("SELECT count(*) FROM alert_subscribers").fetchone()[0] == 0
    assert "U volgt dit niet meer" in client.get(unsubscribe).get_data(as_text=True)
    assert client.get(manage).status_code == 404


def test_one_click_unsubscribe_from_a_mail_program(app, smtp):
    """RFC 8058: the mail program POSTs List-Unsubscribe=One-Click to the header's URL, without a page or a
    form token, and the subscription is gone."""
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    text = confirmed(app, client, smtp)
    header = smtp.mailbox.to(ADDRESS)[-1]["List-Unsubscribe"]
    url = re.fullmatch(r"<(https://\S+)>", header).group(1)
    assert url.startswith(BASE) and url[len(BASE):] == link(text, "/volgen/afmelden/")
    bare = app.test_client()  # a mail program: no cookies, no form token
    response = bare.post(url[len(BASE):], data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and svc.alerts.store.confirmed() == []
    assert bare.post(url[len(BASE):], data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: fine
    forged = url[len(BASE):-4] + "0000"
    assert "U volgt dit niet meer" in bare.post(forged).get_data(as_text=True)


def test_nothing_is_sent_twice_in_one_period_by_two_workers(app, smtp, sample_content):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    confirmed(app, client, smtp)
    confirmed(app, client, smtp, query="action_lines=meedoen", email="b.jansen@deventer.nl")
    new_case(sample_content)
    svc.sync()
    moment = later()
    done: list = []
    lock = threading.Lock()

    def worker() -> None:
        result = svc.alerts.queue_digests(moment)
        with lock:
            done.extend(result)

    run_threads([threading.Thread(target=worker) for _ in range(4)])
    assert sorted(d.subscription["email"] for d in done) == [ADDRESS, "b.jansen@deventer.nl"]
    rows = svc.store.db.execute("SELECT subscription_id, period FROM alert_digests").fetchall()
    assert len(rows) == len(set(rows)) == 2
    # A restart (new services over the same data) in the same period does nothing either.
    again = create_app(app.extensions["wijkwijzer"].settings, watch=False)
    try:
        assert again.extensions["wijkwijzer"].alerts.queue_digests(moment + dt.timedelta(minutes=5)) == []
    finally:
        again.extensions["wijkwijzer"].close()
    svc.send_mail(now=moment)
    digests = [m for m in smtp.mailbox.messages if "nieuw of bijgewerkt" in m["Subject"]]
    assert sorted(m["To"] for m in digests) == sorted([ADDRESS, "b.jansen@deventer.nl"])
    # The next period without news: recorded, no mail.
    (empty, _) = svc.alerts.queue_digests(moment + dt.timedelta(days=1))
    assert empty.mail_id is None and empty.cases == []


def test_an_smtp_outage_loses_no_digest(app, smtp, sample_content):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    confirmed(app, client, smtp)
    new_case(sample_content)
    svc.sync()
    smtp.stop()
    moment = later()
    (digest,) = svc.alerts.queue_digests(moment)
    report = svc.send_mail(now=moment)
    assert report.error and report.retry == [digest.mail_id]
    assert svc.outbox.get(digest.mail_id)["status"] == PENDING
    assert svc.alerts.queue_digests(later()) == []  # queued once; the retry is the outbox's job
    smtp.start()
    report = svc.send_mail(now=later() + dt.timedelta(hours=1))
    assert report.sent == [digest.mail_id] and svc.outbox.get(digest.mail_id)["status"] == SENT
    assert len([m for m in smtp.mailbox.to(ADDRESS) if "nieuw of bijgewerkt" in m["Subject"]]) == 1


def test_weekly_digest_waits_for_its_weekday(app, smtp, sample_content):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    assert follow(client, frequency=WEEKLY).status_code == 303
    svc.send_mail()
    text, _ = parts(smtp.mailbox.to(ADDRESS)[-1])
    path = link(text, "/volgen/bevestigen/")
    client.post(path, data={"csrf_token": csrf(client, path)})
    new_case(sample_content)
    svc.sync()
    now = dt.datetime.now(dt.UTC)
    period = current_period(WEEKLY, now + dt.timedelta(days=8), svc.settings.alerts_hour, svc.settings.alerts_weekday)
    assert period.until > now and period.key.count("-W") == 1
    (digest,) = svc.alerts.queue_digests(now + dt.timedelta(days=8))
    assert digest.period == period and len(digest.cases) == 1
    assert svc.alerts.queue_digests(now + dt.timedelta(days=8, hours=1)) == []


def test_the_form_says_what_is_wrong_and_stores_nothing(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    response = follow(client, email="geen-adres")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "vul een geldig e-mailadres in" in html
    assert 'aria-invalid="true"' in html and 'value="geen-adres"' in html
    assert follow(client, query="themes=bestaat-niet").status_code == 404
    assert follow(client, query="sort=date").status_code == 404  # nothing to follow
    assert svc.alerts.store.counts() == {"adressen": 0, "bevestigd": 0, "onbevestigd": 0}
    assert svc.outbox.list() == []


def test_asking_again_sends_no_flood_and_tells_nobody_what_an_address_follows(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    first = follow(client)
    second = follow(client)  # a double click
    assert first.headers["Location"] == second.headers["Location"]
    assert len(svc.outbox.list()) == 1
    svc.send_mail()
    text, _ = parts(smtp.mailbox.to(ADDRESS)[-1])
    path = link(text, "/volgen/bevestigen/")
    client.post(path, data={"csrf_token": csrf(client, path)})
    # Half an hour later someone asks again for a confirmed subscription: same answer, a short notice by mail.
    svc.alerts.follow(ADDRESS, f"themes={THEME}", DAILY, now=later(1 / 48))
    svc.send_mail(now=later(1 / 48))
    notice = smtp.mailbox.to(ADDRESS)[-1]
    assert notice["Subject"] == "U volgt thema Armoede en schulden al"
    assert "/volgen/beheer/" in parts(notice)[0] and notice["List-Unsubscribe"]
    assert len(svc.alerts.store.confirmed()) == 1


def test_an_expired_or_unknown_confirmation_link(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    svc.alerts.follow(ADDRESS, f"themes={THEME}", DAILY, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
    svc.send_mail()
    text, _ = parts(smtp.mailbox.to(ADDRESS)[-1])
    path = link(text, "/volgen/bevestigen/")
    response = client.get(path)
    assert response.status_code == 404 and "Deze link werkt niet (meer)" in response.get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf(client, "/hulpvraag")}).status_code == 404
    assert client.get("/volgen/bevestigen/" + "x" * 32).status_code == 404
    assert svc.alerts.store.confirmed() == []


def test_purge_removes_unconfirmed_after_seven_days(app, smtp, tmp_path, monkeypatch):
    svc = app.extensions["wijkwijzer"]
    now = dt.datetime.now(dt.UTC)
    svc.alerts.follow("oud@zwolle.nl", f"themes={THEME}", DAILY, now=now - dt.timedelta(days=8))
    svc.alerts.follow("nieuw@zwolle.nl", f"themes={THEME}", DAILY, now=now - dt.timedelta(days=6))
    client = app.test_client()
    confirmed(app, client, smtp)
    store = svc.alerts.store
    store.store.db.execute("UPDATE alert_subscriptions SET created = ? WHERE confirmed IS NOT NULL",
                           [(now - dt.timedelta(days=30)).isoformat()])  # confirmed long ago: stays
    settings = svc.settings
    for name, value in (("CONTENT_DIR", settings.content_dir), ("EXPERTS_DIR", settings.experts_dir),
                        ("DATA_DIR", settings.data_dir), ("SECRET_KEY", settings.secret_key)):
        monkeypatch.setenv(f"WIJKWIJZER_{name}", str(value))
    from wijkwijzer.cli import main

    result = CliRunner().invoke(main, ["purge"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 aanmelding om te volgen gewist" in result.output
    emails = [r[0] for r in store.store.db.execute("SELECT email FROM alert_subscribers ORDER BY email")]
    assert emails == [ADDRESS, "nieuw@zwolle.nl"]


def test_manage_page_changes_frequency_stops_one_and_wipes_all(app, smtp):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    confirmed(app, client, smtp)
    text = confirmed(app, client, smtp, query="focus_area=amsterdam-nieuw-west")
    manage = link(text, "/volgen/beheer/")
    page = client.get(manage).get_data(as_text=True)
    assert "Thema Armoede en schulden" in page and "Focusgebied Amsterdam Nieuw-West" in page
    first, second = svc.alerts.store.confirmed()
    token = csrf(client, manage)
    response = client.post(manage, data={"action": "frequentie", "subscription": first["id"], "frequency": WEEKLY,
                                         "csrf_token": token}, follow_redirects=True)
    assert "één keer per week" in response.get_data(as_text=True)
    assert svc.alerts.store.get(first["id"])["frequency"] == WEEKLY
    client.post(manage, data={"action": "stoppen", "subscription": second["id"], "csrf_token": token})
    assert [r["id"] for r in svc.alerts.store.confirmed()] == [first["id"]]
    # Another address's subscription cannot be touched through this link.
    other = confirmed(app, client, smtp, email="ander@zwolle.nl")
    assert other
    theirs = next(r for r in svc.alerts.store.confirmed() if r["email"] == "ander@zwolle.nl")
    client.post(manage, data={"action": "stoppen", "subscription": theirs["id"], "csrf_token": token})
    assert svc.alerts.store.get(theirs["id"]) is not None
    page = client.post(manage, data={"action": "alles", "csrf_token": token}).get_data(as_text=True)
    assert "Uw e-mailadres is gewist" in page
    assert [r[0] for r in svc.store.db.execute("SELECT email FROM alert_subscribers")] == ["ander@zwolle.nl"]


def test_a_reindex_is_no_change_but_an_edit_is(app, sample_content):
    svc = app.extensions["wijkwijzer"]
    svc.sync(full=True)
    everything = svc.alerts.store.changed_between("", "9999")
    assert len(everything) == len(svc.index.all_cases())
    svc.store.db.execute("UPDATE case_changes SET published = '2020-01-01T00:00:00+00:00', "
                         "modified = '2020-01-01T00:00:00+00:00'")
    svc.sync(full=True)  # a re-index changes nothing a reader sees
    assert svc.alerts.store.changed_between("2020-06-01", "9999") == []
    slug = new_case(sample_content)
    svc.sync()
    changed = svc.alerts.store.changed_between("2020-06-01", "9999")
    assert [row["slug"] for row in changed] == [slug] and changed[0]["first_seen"] > "2020-06-01"


def test_the_command_for_cron(app, smtp, sample_content, monkeypatch):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    confirmed(app, client, smtp)
    new_case(sample_content)
    svc.sync()
    # The period ending at the configured hour today or yesterday must lie after the confirmation: move it back.
    svc.store.db.execute("UPDATE alert_subscriptions SET confirmed = ?",
                         [(dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).isoformat(timespec="microseconds")])
    svc.store.db.execute("UPDATE case_changes SET modified = ?",
                         [(dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat(timespec="microseconds")])
    settings = svc.settings
    for name, value in (("CONTENT_DIR", settings.content_dir), ("EXPERTS_DIR", settings.experts_dir),
                        ("DATA_DIR", settings.data_dir), ("SECRET_KEY", settings.secret_key),
                        ("SMTP_URL", settings.smtp_url), ("MAIL_FROM", settings.mail_from),
                        ("BASE_URL", settings.base_url)):
        monkeypatch.setenv(f"WIJKWIJZER_{name}", str(value))
    from wijkwijzer.cli import main

    dry = CliRunner().invoke(main, ["alerts", "send", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0 and ADDRESS in dry.output and "niets opgeslagen of verstuurd" in dry.output
    assert svc.store.db.execute("SELECT count(*) FROM alert_digests").fetchone()[0] == 0
    before = len(smtp.mailbox.messages)
    result = CliRunner().invoke(main, ["alerts", "send"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 overzicht in de wachtrij" in result.output and "1 verzonden" in result.output
    assert len(smtp.mailbox.messages) == before + 1
    text, _ = parts(smtp.mailbox.messages[-1])
    # Links made by the command work on the site (signed with the same key).
    assert client.get(link(text, "/volgen/beheer/")).status_code == 200
    again = CliRunner().invoke(main, ["alerts", "send"], catch_exceptions=False)
    assert "0 overzichten in de wachtrij" in again.output


def test_the_site_runs_the_digests_as_a_job(app):
    names = [job.name for job in app.extensions["wijkwijzer"].periodic_jobs()]
    assert "volgmails" in names and "volgen opruimen" in names


def _titles(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    return [e.find(f"{ATOM}title").text for e in ET.fromstring(response.data).iter(f"{ATOM}entry")]


def test_feeds_per_theme_action_line_focus_area_and_search(client, sample_app):
    svc = sample_app.extensions["wijkwijzer"]
    cases = {c["title"]: c for c in svc.index.all_cases()}
    for facet, key in (("themes", THEME), ("action_lines", "veiligheid"), ("focus_area", "amsterdam-nieuw-west")):
        titles = _titles(client, f"/feed.atom?{facet}={key}")
        assert titles, facet
        for title in titles:
            value = cases[title][facet]
            assert key in value if isinstance(value, list) else value == svc.knowledge.taxonomy.label(facet, key) \
                or key == value
        assert len(titles) < len(_titles(client, "/feed.atom")) or len(titles) == 20
    searched = _titles(client, f"/feed.atom?q=schulden&themes={THEME}")
    assert searched and set(searched) <= set(_titles(client, f"/feed.atom?themes={THEME}"))
    feed = ET.fromstring(client.get(f"/feed.atom?themes={THEME}").data)
    assert feed.find(f"{ATOM}title").text == "Wijkwijzer: praktijkvoorbeelden bij thema Armoede en schulden"
    assert feed.find(f"{ATOM}link[@rel='self']").get("href").endswith(f"/feed.atom?themes={THEME}")
    assert client.get("/feed.atom?themes=bestaat-niet").status_code == 404
    assert _titles(client, "/feed.atom?sort=date") == _titles(client, "/feed.atom")


def test_pages_link_their_feed_and_offer_to_follow(client):
    for path, query in ((f"/thema/{THEME}", f"themes={THEME}"), ("/actielijn/veiligheid", "action_lines=veiligheid"),
                        ("/focusgebied/amsterdam-nieuw-west", "focus_area=amsterdam-nieuw-west"),
                        ("/zoeken?q=schulden&sort=date&page=1", "q=schulden")):
        html = client.get(path).get_data(as_text=True)
        href = f"/feed.atom?{query}"
        assert '<link rel="alternate" type="application/atom+xml" title="Praktijkvoorbeelden bij' in html
        assert f'href="{href}"' in html and f'<a class="nl-link" href="{href}"' in html, path
        assert f'name="query" value="{query}"' in html and 'action="/volgen"' in html
    assert "follow-box" not in client.get("/zoeken").get_data(as_text=True)  # nothing chosen yet


def test_what_is_followed_is_named_and_kept_canonical(sample_app):
    taxonomy = sample_app.extensions["wijkwijzer"].knowledge.taxonomy
    followed = parse_followed(f"sort=date&page=3&themes={THEME}&q=+schulden++hulp&themes=wonen", taxonomy)
    assert followed.query == f"q=schulden+hulp&themes={THEME}&themes=wonen"
    assert describe(followed, taxonomy) == "zoekopdracht ‘schulden hulp’ in thema Armoede en schulden of Wonen"
    assert parse_followed(followed.query, taxonomy) == followed


def test_periods_end_at_the_hour_in_dutch_time():
    local = dt.timezone(dt.timedelta(hours=1))  # December: UTC+1
    before = dt.datetime(2026, 12, 4, 6, 59, tzinfo=local)
    assert current_period(DAILY, before, 7, 1).key == "2026-12-03"
    after = dt.datetime(2026, 12, 4, 7, 0, tzinfo=local)
    assert current_period(DAILY, after, 7, 1) == current_period(DAILY, after + dt.timedelta(hours=20), 7, 1)
    assert current_period(DAILY, after, 7, 1).until == dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.UTC)
    friday = current_period(WEEKLY, after, 7, 1)  # 4 December 2026 is a Friday: the week ended on Monday
    assert friday.key == "2026-W49" and friday.until == dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
    summer = current_period(DAILY, dt.datetime(2026, 3, 29, 12, 0, tzinfo=dt.UTC), 7, 1)  # the day clocks go forward
    assert summer.until == dt.datetime(2026, 3, 29, 5, 0, tzinfo=dt.UTC)


def test_unsubscribing_stops_a_digest_that_waits_to_be_sent(app, smtp, sample_content):
    svc = app.extensions["wijkwijzer"]
    client = app.test_client()
    text = confirmed(app, client, smtp)
    new_case(sample_content)
    svc.sync()
    smtp.stop()
    moment = later()
    (digest,) = svc.alerts.queue_digests(moment)
    svc.send_mail(now=moment)
    assert svc.outbox.get(digest.mail_id)["status"] == PENDING
    assert app.test_client().post(link(text, "/volgen/afmelden/")).status_code == 200
    assert svc.outbox.get(digest.mail_id) is None
    smtp.start()
    svc.send_mail(now=moment + dt.timedelta(hours=1))
    assert not [m for m in smtp.mailbox.to(ADDRESS) if "nieuw of bijgewerkt" in m["Subject"]]


def test_a_followed_search_matches_by_meaning_with_the_real_model(tmp_path, built_model):
    """A saved search with words runs in hybrid mode once the model is ready: a new case in other words about the
    same thing is in the digest, an unrelated one is not."""
    import shutil

    from tests.conftest import SAMPLE_CONTENT
    from wijkwijzer.services import Services

    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    for path in [*SAMPLE_CONTENT.glob("vlaardingen-west/*.md"), *SAMPLE_CONTENT.glob("rotterdam-zuid/vroeg*.md")]:
        (content / path.parent.name).mkdir(exist_ok=True)
        shutil.copy(path, content / path.parent.name / path.name)
    settings = replace(make_settings(tmp_path, content), embedding_model=str(built_model.path), base_url=BASE)
    svc = Services.build(settings)
    try:
        svc.sync()
        svc.refresh_semantic()
        assert svc.semantic.ready
        svc.alerts.follow(ADDRESS, "q=betalingsachterstanden+vroeg+opsporen", DAILY)
        token = re.search(r"/volgen/bevestigen/(\S+)", svc.outbox.list()[0]["text"]).group(1)
        assert svc.alerts.confirm(token) is not None
        write_case(content, "zwolle/geldzorgen.md", """
            title: "Huisbezoek bij de eerste gemiste huurbetaling"
            summary: "Corporatie en gemeente gaan langs zodra een huurder een betaling mist, voordat schulden oplopen."
            themes: [armoede-en-schulden]
            municipality: Zwolle
            """, "Bij de eerste gemiste huur belt de corporatie de gemeente; binnen een week volgt een huisbezoek. "
                 "Zo vinden we mensen met geldzorgen voordat de achterstand groot is.")
        write_case(content, "zwolle/sportpark.md", """
            title: "Een nieuw sportpark met kunstgras en een pannaveld"
            summary: "De gemeente legde een sportpark aan met een voetbalveld en een speelplek."
            themes: [leefomgeving-en-openbare-ruimte]
            municipality: Zwolle
            """, "Het sportpark heeft kunstgras, een pannaveld, verlichting en bankjes.")
        svc.sync()
        svc.refresh_semantic()
        request = SearchRequest(text="betalingsachterstanden vroeg opsporen", per_page=50)
        assert svc.search(request).mode == "hybrid"
        (digest,) = svc.alerts.queue_digests(later())
        slugs = [case["slug"] for case in digest.cases]
        assert "zwolle/geldzorgen" in slugs and "zwolle/sportpark" not in slugs
    finally:
        svc.close()
