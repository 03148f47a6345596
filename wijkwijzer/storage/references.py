"""Reference numbers of help requests (WW-2026-0042): one sequence per calendar year in Dutch time, handed out
inside the transaction that stores the request, so two submissions never get the same number."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from wijkwijzer.storage.engine import Database

PREFIX = "WW"
LOCAL = ZoneInfo("Europe/Amsterdam")


def local_year(stamp: str) -> int:
    """The year in the Netherlands of a stored UTC time (a request at 00:30 on 1 January counts in the new year)."""
    moment = dt.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(LOCAL).year


def format_reference(year: int, number: int) -> str:
    """WW-<year>-<number, at least four digits>."""
    return f"{PREFIX}-{year}-{number:04d}"


def next_reference(db: Database, stamp: str) -> str:
    """The next number of the year of `stamp`; call inside the transaction that stores the request."""
    year = local_year(stamp)
    db.execute("INSERT INTO request_numbers (year, last) VALUES (?, 1) "
               "ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + 1", [year])
    number = db.execute("SELECT last FROM request_numbers WHERE year = ?", [year]).fetchone()[0]
    return format_reference(year, int(number))
