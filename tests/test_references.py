"""Reference numbers (WW-2026-0042): a sequence per year in Dutch time, unique under concurrent submissions, and
given to requests stored before the numbers existed."""

import sqlite3
import threading

import sqlite_utils

from tests.conftest import run_threads
from wijkwijzer.storage import schema
from wijkwijzer.storage.db import Store, now, open_store
from wijkwijzer.storage.references import format_reference, local_year
from wijkwijzer.storage.requests import RequestStore

DATA = {"municipality": "Schiedam", "contact_name": "Jan", "email": "jan@example.nl", "role": "r", "question": "v",
        "kind": "vraagbaak", "themes": []}


def test_year_is_the_dutch_one_and_numbers_have_four_digits_at_least():
    assert local_year("2026-12-31T22:59:59+00:00") == 2026
    assert local_year("2026-12-31T23:00:00+00:00") == 2027  # midnight in Amsterdam
    assert format_reference(2026, 42) == "WW-2026-0042" and format_reference(2026, 12345) == "WW-2026-12345"


def test_concurrent_submissions_get_unique_consecutive_numbers(tmp_path, database_url):
    url = database_url or f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_store(url).close()
    references, errors = [], []

    def submit() -> None:
        requests = RequestStore(open_store(url))  # its own connections, as another server would have
        for _ in range(15):
            try:
                request_id, _ = requests.submit(dict(DATA))
                references.append(requests.get(request_id)["reference"])
            except Exception as exc:  # any failure is the finding
                errors.append(exc)

    run_threads([threading.Thread(target=submit) for _ in range(4)])
    assert errors == []
    year = references[0][3:7]
    assert sorted(references) == [f"WW-{year}-{n:04d}" for n in range(1, 61)]


def test_requests_stored_before_the_step_get_numbers_in_order_per_year(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    schema._step_1(db)
    schema._step_2(db)
    db.execute("PRAGMA user_version = 2")
    for created in ["2025-03-01T10:00:00+00:00", "2026-01-05T10:00:00+00:00", "2025-12-31T23:30:00+00:00",
                    "2025-01-02T10:00:00+00:00"]:
        db["help_requests"].insert({**DATA, "themes": "[]", "created": created, "updated": created,
                                    "status": "nieuw", "token_hash": created})
    db.conn.close()
    store = Store(path)  # migrates
    rows = {r["created"]: r["reference"] for r in store.db["help_requests"].rows}
    assert rows == {"2025-01-02T10:00:00+00:00": "WW-2025-0001", "2025-03-01T10:00:00+00:00": "WW-2025-0002",
                    "2025-12-31T23:30:00+00:00": "WW-2026-0001", "2026-01-05T10:00:00+00:00": "WW-2026-0002"}
    request_id, _ = RequestStore(store).submit(dict(DATA))
    year = local_year(now())
    expected = "WW-2026-0003" if year == 2026 else f"WW-{year}-0001"  # the sequence goes on
    assert RequestStore(store).get(request_id)["reference"] == expected
