"""Two real app servers (gunicorn, each its own data folder and port) on one PostgreSQL: what a deployment with a
load balancer in front relies on. A request submitted on one is seen and linked on the other, a login on one is
valid on the other and a removed account is out on both, the last free hours of a member cannot be booked twice
from two servers at once, every mail of the outbox is sent once, and an outage of the database loses nothing that
was acknowledged. The storage-level guarantees behind this are tested in test_postgres.py and, on both
databases, in test_transactions.py."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from tests.conftest import make_settings, run_threads
from tests.servers import running_servers
from tests.smtp import Server as SmtpServer
from tests.test_postgres import own_postgres  # noqa: F401 (a fixture: a cluster this module may stop)
from tests.test_transactions import write_member
from wijkwijzer.services import Services

pytestmark = pytest.mark.slow

PASSWORD = "lang-genoeg-wachtwoord"
FAST = {"WIJKWIJZER_WATCH_INTERVAL": "0", "WIJKWIJZER_RATELIMITS": "off", "WIJKWIJZER_SECRET_KEY": "cluster-test",
        "WIJKWIJZER_BASE_URL": "https://wijkwijzer.example.nl"}


class Browser:
    """One visitor: a cookie jar shared by every server it talks to (as behind a load balancer), no redirects
    followed, so each answer's status is seen."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), self._NoRedirect)

    def get(self, url: str) -> tuple[int, str, str]:
        """Status, body and Location of a GET."""
        return self._open(urllib.request.Request(url))

    def post(self, url: str, form: dict, token_from: str) -> tuple[int, str, str]:
        """POST a form with the CSRF token of the page at `token_from`."""
        _, page, _ = self.get(token_from)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"csrf_token": token, **form}, doseq=True).encode()
        return self._open(urllib.request.Request(url, data=body))

    def _open(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), exc.headers.get("Location", "")


def _form(marker: str) -> dict:
    start = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    return {"municipality": "Delft", "contact_name": "Test Persoon", "email": "t@delft.nl",
            "role": "projectleider", "kind": "flexpool", "start": start, "months": "6", "hours_per_week": "3",
            "question": f"Voor de sloop-nieuwbouw zoeken we tijdelijk een projectleider woningbouw ({marker})."}


def _submit(server_url: str, marker: str) -> tuple[int, str]:
    """Submit through the form as a new visitor; the answer's status and the status-page path (on 303)."""
    status, body, location = Browser().post(f"{server_url}/hulpvraag", _form(marker), f"{server_url}/hulpvraag")
    return status, (urllib.parse.urlsplit(location).path if status == 303 else body)


def _rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def experts(tmp_path: Path) -> Path:
    folder = tmp_path / "experts"
    write_member(folder, "kim-klein", 3)  # room for exactly one 3-hour request
    return folder


def _services(tmp_path: Path, content_dir: Path, experts: Path, url: str) -> Services:
    """The composition root on the cluster's database, as `wijkwijzer user ...` on an admin machine uses it."""
    return Services.build(replace(make_settings(tmp_path / "admin", content_dir, url), experts_dir=experts))


def test_two_servers_share_requests_logins_and_never_overbook(pg_url, tmp_path, content_dir, experts):
    admin = _services(tmp_path, content_dir, experts, pg_url)
    admin.accounts.add("coord", "Coördinator Een", PASSWORD)
    smtp = SmtpServer()
    smtp.start()
    env = {**FAST, "WIJKWIJZER_DATABASE_URL": pg_url, "WIJKWIJZER_JOBS_INTERVAL": "1",
           "WIJKWIJZER_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "WIJKWIJZER_MAIL_FROM": "wijkwijzer@example.nl",
           "WIJKWIJZER_EMBEDDING_MODEL": str(tmp_path / "geen-model")}
    try:
        with running_servers(2, tmp_path / "servers", env=env, content_dir=content_dir, experts_dir=experts,
                             workers=1, threads=4) as (first, second):
            assert first.data_dir != second.data_dir
            # Submitted on one server, seen on the other (the submitter's status page, by its token).
            code, status_path = _submit(first.url, "EERSTE")
            assert code == 303
            code, page = Browser().get(f"{second.url}{status_path}")[:2]
            assert code == 200 and "EERSTE" in page
            assert _submit(second.url, "TWEEDE")[0] == 303
            ids = [row[0] for row in _rows(pg_url, "SELECT id FROM help_requests ORDER BY id")]
            assert len(ids) == 2

            # Logged in on one server, the session is valid on the other.
            coordinator = Browser()
            login = f"{first.url}/coordinator/inloggen"
            assert coordinator.post(login, {"username": "coord", "password": PASSWORD}, login)[0] == 302
            code, queue, _ = coordinator.get(f"{second.url}/coordinator/")
            assert code == 200 and "TWEEDE" in queue

            # Both servers link the member's last 3 free hours at the same moment: exactly one succeeds, the
            # other hears why in Dutch.
            answers: list[str] = []

            def link(server_url: str, request_id: int) -> None:
                detail = f"{server_url}/coordinator/aanvraag/{request_id}"
                code, _, location = coordinator.post(f"{detail}/koppelen", {"member_id": "flexpool/kim-klein"},
                                                     detail)
                assert code == 303, code
                answers.append(coordinator.get(urllib.parse.urljoin(server_url, location))[1])

            run_threads([threading.Thread(target=link, args=(first.url, ids[0])),
                         threading.Thread(target=link, args=(second.url, ids[1]))])
            invited = [page for page in answers if "Kim Klein is uitgenodigd" in page]
            refused = [page for page in answers if "Kan niet: volgeboekt" in page]
            assert len(invited) == 1 and len(refused) == 1, [re.findall(r"(Kan niet[^<]*|[^>]*uitgenodigd)", a)
                                                              for a in answers]
            booked = _rows(pg_url, "SELECT count(*) FROM assignments WHERE member_id = %s AND state IN "
                                   "('uitgenodigd', 'geaccepteerd') AND active = 1", ("flexpool/kim-klein",))
            assert booked == [(1,)]

            # Every mail the outbox holds is delivered once, although both servers run the sending job.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                pending = _rows(pg_url, "SELECT count(*) FROM outbox WHERE sent IS NULL")[0][0]
                if pending == 0:
                    break
                time.sleep(1)
            stored = _rows(pg_url, "SELECT count(*) FROM outbox")[0][0]
            assert stored >= 3 and pending == 0  # two receipts and an invitation at least
            time.sleep(3)  # a second delivery, if there were one, would come within a job interval or two
            ids_seen = Counter(message["Message-ID"] for message in smtp.mailbox.messages)
            assert len(smtp.mailbox.messages) == stored and max(ids_seen.values()) == 1, ids_seen

            # A removed account is out on both servers at once.
            admin.accounts.remove("coord")
            for server in (first, second):
                code, _, location = coordinator.get(f"{server.url}/coordinator/")
                assert code in (302, 303) and "/coordinator/inloggen" in location
    finally:
        smtp.stop()
        admin.close()


def test_an_outage_of_the_database_during_a_burst_loses_nothing_acknowledged(own_postgres, tmp_path,  # noqa: F811
                                                                              content_dir, experts):
    url = own_postgres.url("wijkwijzer")
    env = {**FAST, "WIJKWIJZER_DATABASE_URL": url, "WIJKWIJZER_JOBS_INTERVAL": "0",
           "WIJKWIJZER_EMBEDDING_MODEL": str(tmp_path / "geen-model")}
    acknowledged: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    with running_servers(2, tmp_path / "servers", env=env, content_dir=content_dir, experts_dir=experts,
                         workers=1, threads=4) as servers:
        stop = threading.Event()

        def burst(worker: int) -> None:
            number = 0
            while not stop.is_set():
                number += 1
                marker = f"M{worker}-{number}"
                code, body = _submit(servers[number % 2].url, marker)
                with lock:
                    if code == 303:
                        acknowledged.append(marker)
                    else:
                        assert code == 503, (code, body[-500:])
                        assert "Opslaan lukt op dit moment niet" in body and 'lang="nl"' in body
                        refused.append(marker)

        threads = [threading.Thread(target=burst, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        try:
            while len(acknowledged) < 10:
                time.sleep(0.1)
            own_postgres.stop()
            while len(refused) < 8:
                time.sleep(0.1)
            for server in servers:  # searching needs no database
                code, page, _ = Browser().get(f"{server.url}/zoeken?q=wijk")
                assert code == 200 and "resultaten" in page.lower()
            own_postgres.start()
            before = len(acknowledged)
            deadline = time.monotonic() + 60
            while len(acknowledged) < before + 10 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(acknowledged) >= before + 10, "the servers did not recover after the database came back"
        finally:
            stop.set()
            for thread in threads:
                thread.join(120)
    stored = Counter(re.search(r"\((M\d+-\d+)\)", question).group(1)
                     for (question,) in _rows(url, "SELECT question FROM help_requests"))
    assert all(stored[marker] == 1 for marker in acknowledged), "an acknowledged submission is missing"
    assert max(stored.values()) == 1, "a submission was stored twice"
    assert set(stored) - set(acknowledged) <= set(refused)  # a 503 may still have committed: never silently
