"""PostgreSQL as the shared database of several servers: migrations, moving an installation, the guarantees
that need locks on PostgreSQL (a mail sent once, a job run once) and an outage of the database. The storage
tests that run on both databases (transactions, teams, outbox, references, sessions) use the `database_url`
fixture instead."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings, run_threads
from tests.postgres import PostgresServer, find_bin_dir
from tests.smtp import Server as SmtpServer
from wijkwijzer import create_app
from wijkwijzer.cli import main
from wijkwijzer.domain.mail import Message
from wijkwijzer.jobs import Jobs
from wijkwijzer.services import Services
from wijkwijzer.storage import schema
from wijkwijzer.storage.db import open_store
from wijkwijzer.storage.engine import StorageUnavailable
from wijkwijzer.storage.postgres import PostgresStore, redact
from wijkwijzer.storage.transfer import table_checksums

REQUEST = {"municipality": "Schiedam", "contact_name": "Jan Jansen", "email": "jan@schiedam.nl",
           "role": "projectleider", "question": "Wie helpt ons met de aanpak van schulden in Nieuwland?",
           "kind": "weet ik niet"}


def _cli(monkeypatch, tmp_path, url: str, *args: str):
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("WIJKWIJZER_DATABASE_URL", url)
    return CliRunner().invoke(main, list(args))


def test_db_migrate_on_an_empty_database_then_again_is_a_no_op(postgres, monkeypatch, tmp_path):
    url = postgres.fresh_database(migrated=False)
    try:
        first = _cli(monkeypatch, tmp_path, url, "db", "migrate")
        assert first.exit_code == 0, first.output
        assert f"{len(schema.STEPS)} schemastappen uitgevoerd" in first.output
        assert "postgres@127.0.0.1" in first.output
        store = PostgresStore(url, migrate_now=False)
        tables = set(store.db.table_names())
        assert {"help_requests", "assignments", "slots", "outbox", "sessions", "users", "embeddings"} <= tables
        assert store.db.schema_version() == len(schema.STEPS)
        store.close()
        again = _cli(monkeypatch, tmp_path, url, "db", "migrate")
        assert again.exit_code == 0 and again.output.startswith("0 schemastappen uitgevoerd"), again.output
    finally:
        postgres.drop_database(url)


def test_two_servers_starting_at_once_apply_each_step_once(postgres):
    url = postgres.fresh_database(migrated=False)
    stores = [PostgresStore(url, migrate_now=False) for _ in range(3)]
    ran: list[int] = []
    try:
        run_threads([threading.Thread(target=lambda s=s: ran.append(schema.migrate(s))) for s in stores])
        assert len(ran) == 3 and sum(ran) == len(schema.STEPS)  # every step applied by exactly one of them
        assert stores[0].db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    finally:
        for store in stores:
            store.close()
        postgres.drop_database(url)


def test_a_wrong_database_url_is_named_in_the_error(postgres, monkeypatch, tmp_path):
    result = _cli(monkeypatch, tmp_path, postgres.url("bestaat_niet").replace("postgres@", "postgres:geheim@"),
                  "db", "migrate")
    assert result.exit_code == 1
    assert "kan de database niet openen" in result.output and "bestaat_niet" in result.output
    assert "geheim" not in result.output  # the password never reaches a message
    assert redact("postgresql://u:pw@h:5/d") == "postgresql://u:***@h:5/d"


def _fill(services: Services) -> int:
    """An installation with something in every table that matters: a request with a team and a link, an
    account with a session, mail, audit records and vectors."""
    request_id, _ = services.requests.submit({**REQUEST, "themes": ["schulden"]})
    services.accounts.add("coord", "Coördinator", "lang-genoeg-wachtwoord")
    services.sessions.start("coord")
    services.audit.record("coord", "bekeken", request_id)
    services.outbox.enqueue(Message(to="a@example.nl", subject="Onderwerp", text="Tekst", html="<p>Tekst</p>",
                                    kind="test", request_id=request_id))
    import numpy as np

    from wijkwijzer.storage.vectors import VectorCache

    VectorCache(services.store).put("model", {"h1": np.arange(4, dtype=np.float32), "h2": np.ones(4, np.float32)})
    return request_id


def test_db_copy_moves_an_installation_checked_by_counts_and_checksums(postgres, monkeypatch, tmp_path, content_dir):
    source = Services.build(make_settings(tmp_path / "sqlite", content_dir))
    _fill(source)
    sqlite_url = f"sqlite:///{source.settings.database_path}"
    before = table_checksums(source.store)
    source.close()
    url = postgres.fresh_database(migrated=False)
    try:
        copied = _cli(monkeypatch, tmp_path, url, "db", "copy", "--from", sqlite_url, "--to", url)
        assert copied.exit_code == 0, copied.output
        assert "aantallen en controlegetallen kloppen" in copied.output
        target = open_store(url)
        assert table_checksums(target) == before  # every table: same rows, same checksum
        assert {t.table: t.rows for t in before}["help_requests"] == 1
        # The copy goes on working: new rows get the next numbers, the session and account are there.
        later = Services.build(make_settings(tmp_path / "pg", content_dir, url))
        second, _ = later.requests.submit(dict(REQUEST))
        assert later.requests.get(second)["reference"].endswith("0002") and second == 2
        assert later.accounts.check("coord", "lang-genoeg-wachtwoord") is not None
        later.close()
        target.close()

        refused = _cli(monkeypatch, tmp_path, url, "db", "copy", "--from", sqlite_url, "--to", url)
        assert refused.exit_code == 1 and "bevat al gegevens" in refused.output and "help_requests (2 rijen)" in \
            refused.output and "--replace" in refused.output, refused.output
        replaced = _cli(monkeypatch, tmp_path, url, "db", "copy", "--from", sqlite_url, "--to", url, "--replace")
        assert replaced.exit_code == 0, replaced.output
        target = open_store(url)
        assert table_checksums(target) == before
        target.close()

        back = tmp_path / "terug.db"  # and back from PostgreSQL to a new SQLite file
        returned = _cli(monkeypatch, tmp_path, url, "db", "copy", "--from", url, "--to", f"sqlite:///{back}")
        assert returned.exit_code == 0, returned.output
        assert table_checksums(open_store(f"sqlite:///{back}")) == before

        missing = _cli(monkeypatch, tmp_path, url, "db", "copy", "--from", f"sqlite:///{tmp_path}/geen.db", "--to", url)
        assert missing.exit_code == 2 and "geen.db bestaat niet" in missing.output
    finally:
        postgres.drop_database(url)


def test_a_mail_claimed_by_two_servers_is_sent_once(pg_url, tmp_path, content_dir):
    smtp = SmtpServer()
    smtp.start()
    servers = []
    try:
        for name in ("een", "twee"):
            settings = replace(make_settings(tmp_path / name, content_dir, pg_url),
                               smtp_url=f"smtp://127.0.0.1:{smtp.port}?timeout=5", mail_from="noreply@example.nl")
            servers.append(Services.build(settings))
        for i in range(30):
            servers[0].outbox.enqueue(Message(to=f"lid{i}@example.nl", subject=f"Mail {i}", text="Tekst",
                                              html="<p>Tekst</p>", kind="test"))
        reports = []
        barrier = threading.Barrier(4)

        def send(services: Services) -> None:
            barrier.wait()
            for _ in range(5):
                reports.append(services.send_mail(limit=4))

        run_threads([threading.Thread(target=send, args=(s,)) for s in servers * 2])
        received = sorted(message["To"] for message in smtp.mailbox.messages)
        assert received == sorted(f"lid{i}@example.nl" for i in range(30))  # each one, exactly once
        assert sum(len(r.sent) for r in reports) == 30
        assert servers[1].outbox.counts()["verzonden"] == 30
    finally:
        for services in servers:
            services.close()
        smtp.stop()


def test_a_job_with_two_servers_runs_on_one_at_a_time(pg_url):
    stores = [PostgresStore(pg_url) for _ in range(2)]
    inside, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def work(server: int):
        def run(now) -> None:
            runs.append(server)
            inside.set()
            release.wait(30)
        return run

    registries = []
    for number, store in enumerate(stores):
        jobs = Jobs(lock=store.job_lock)
        jobs.add("mail versturen", 60, work(number))
        registries.append(jobs)
    try:
        first = threading.Thread(target=registries[0].run_due)
        first.start()
        assert inside.wait(30)
        assert registries[1].run_due() == []  # the other server skips its turn while the first runs it
        release.set()
        first.join()
        assert registries[1].run_due(force=True) == ["mail versturen"]  # free again once the first finished
        assert runs == [0, 1]
    finally:
        release.set()
        for store in stores:
            store.close()


def test_on_sqlite_every_process_runs_its_jobs_as_before(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.job_lock("mail versturen") as first, store.job_lock("mail versturen") as second:
        assert first and second
    store.close()


@pytest.fixture
def own_postgres():
    """A cluster of its own: this test stops and restarts it."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer(bin_dir)
    server.init()
    server.start()
    server.admin("CREATE DATABASE wijkwijzer")
    yield server
    server.remove()


def test_a_stopped_database_gives_503_and_the_site_recovers_when_it_is_back(own_postgres, tmp_path, caplog):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT, own_postgres.url("wijkwijzer")),
                       experts_dir=ROOT / "experts")
    app = create_app(settings, watch=False)
    app.config["WTF_CSRF_ENABLED"] = False
    services = app.extensions["wijkwijzer"]
    services.store.timeout = 2  # a pool that waits shortly for a connection (the default is 10 seconds)
    services.store.close()
    client = app.test_client()
    try:
        assert client.post("/hulpvraag", data=REQUEST).status_code == 303
        own_postgres.stop()
        down = client.post("/hulpvraag", data=REQUEST)
        assert down.status_code == 503 and "Opslaan lukt op dit moment niet" in down.get_data(as_text=True)
        with pytest.raises(StorageUnavailable):
            services.requests.submit({"municipality": "Schiedam", "question": "Tijdens de storing?",
                                      "kind": "vraagbaak"})
        assert client.get("/api/v1/search?q=schulden").status_code == 200  # searching needs no database
        status = client.get("/api/v1/status")
        assert status.status_code == 200
        vectors = "pgvector" if services.store.pgvector else "memory"  # found out at start, not asked again
        assert status.get_json()["storage"] == {"writable": False, "error": "de database is niet bereikbaar",
                                                "vectors": vectors}
        jobs = Jobs(lock=services.store.job_lock)
        jobs.add("mail versturen", 60, lambda now: None)
        jobs.run_due()  # the job waits for the database: one warning, no traceback
        assert "mail versturen wacht op de database" in caplog.text and "Traceback" not in caplog.text
        own_postgres.start()
        # The same app, no restart: the pool reconnects in the background (its retries back off, so the first
        # requests after the restart may still get 503 for some seconds).
        deadline = time.monotonic() + 90
        while (answer := client.post("/hulpvraag", data=REQUEST).status_code) == 503 and time.monotonic() < deadline:
            time.sleep(1)
        assert answer == 303
        assert client.get("/api/v1/status").get_json()["storage"] == {"writable": True, "error": None,
                                                                      "vectors": vectors}
        assert [r["reference"][-4:] for r in services.requests.queue()] == ["0001", "0002"]
    finally:
        services.close()


def test_erased_text_is_in_no_table_file_of_postgres(postgres, pg_url, tmp_path):
    from tests.test_erasure import STRINGS, build, submit_and_work_on

    svc = build(tmp_path, database_url=pg_url)
    try:
        request_id, _ = submit_and_work_on(svc)

        def table_files() -> dict[str, bytes]:
            svc.store.db.execute("CHECKPOINT")  # the pages as they are on disk (the test cluster's superuser)
            files = {}
            for table in ("help_requests", "request_events", "assignments", "feedback", "outbox"):
                path = svc.store.db.execute("SELECT pg_relation_filepath(?)", [table]).fetchone()[0]
                files[table] = (postgres.data / path).read_bytes()
            return files

        assert any(s.encode() in data for data in table_files().values() for s in STRINGS)  # the check can fail
        assert svc.erase_request(request_id, "coord") is True
        files = table_files()
        assert [(t, s) for t, data in files.items() for s in STRINGS if s.encode() in data] == []
        assert svc.export_request(request_id)["request"]["email"] == ""
    finally:
        svc.close()


def test_a_server_on_another_machine_drops_its_cached_answers_after_an_erasure(pg_url, tmp_path, monkeypatch):
    from tests.test_erasure import QUESTION, build, cached_texts, submit_and_work_on
    from wijkwijzer import services as services_module
    from wijkwijzer.search.models import SearchRequest

    first = build(tmp_path / "een", database_url=pg_url)
    second = build(tmp_path / "twee", database_url=pg_url)  # its own data folder: no shared marker file
    try:
        request_id, _ = submit_and_work_on(first)
        second.search(SearchRequest(text=QUESTION))
        assert QUESTION in cached_texts(second)
        first.erase_request(request_id, "coord")
        second.search(SearchRequest(text="wonen"))
        monkeypatch.setattr(services_module, "ERASURE_POLL", 0.0)  # instead of waiting two seconds
        second.search(SearchRequest(text="wonen"))  # its next search after the poll interval, on any subject
        assert QUESTION not in cached_texts(second)
    finally:
        second.close()
        first.close()


def test_two_servers_queueing_the_daily_digest_at_once_queue_it_once(pg_url, tmp_path, content_dir):
    import datetime as dt

    servers = [Services.build(make_settings(tmp_path / name, content_dir, pg_url)) for name in ("een", "twee")]
    try:
        servers[0].accounts.add("coord", "Coördinator", "lang-genoeg-wachtwoord")
        servers[0].accounts.set_mail("coord", email="coord@example.nl", notify="daily")
        servers[0].requests.submit({**REQUEST, "themes": []})
        tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=2)
        queued: list[list[int]] = []
        run_threads([threading.Thread(target=lambda s=s: queued.append(s.notifier.queue_digests(tomorrow, 0)))
                     for s in servers * 2])
        assert sorted(len(ids) for ids in queued) == [0, 0, 0, 1]
        assert [m["kind"] for m in servers[1].outbox.list()] == ["digest"]
    finally:
        for services in servers:
            services.close()
