"""Stress test on loopback: M help requests submitted concurrently by T client threads, spread over N servers.

Starts N production servers (`wijkwijzer serve --prod`, gunicorn, through tests/servers.py) with rate limits off
(one address sends everything) and one session key, then each client thread fetches the form (a session and a
CSRF token) and posts requests with a unique marker in the question, each to the next server in turn. Without
`--database-url` the servers share one data folder, so one SQLite file (the one-machine mode); with it, each
server has its own data folder and all of them use that database (WIJKWIJZER_DATABASE_URL).

Afterwards it reads the database: every acknowledged submission (303 to its status page) must be stored, no
marker stored twice, no answer a 5xx. Prints throughput, latency p50/p95/max, answers and errors by kind, per
server. Run through `scripts/stress [--servers 1] [--requests 1000] [--threads 8] [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.cookiejar
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import running_servers  # noqa: E402  (the harness lives with the tests)

MARKER = re.compile(r"STRESS-\d{6}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Tally:
    """What the clients saw; appended to from several threads (list.append is atomic)."""

    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[int, int]] = field(default_factory=list)  # (server number, HTTP status)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (server number, kind) without an answer
    acknowledged: list[str] = field(default_factory=list)


def _form_token(opener, base: str) -> str:
    with opener.open(f"{base}/hulpvraag", timeout=60) as response:
        form = response.read().decode()
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def client(bases: list[str], first: int, markers: list[str], tally: Tally) -> None:
    """Submit `markers` one by one, each to the next server from `first` on, with one session throughout."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    token = _form_token(opener, bases[first % len(bases)])
    for i, marker in enumerate(markers):
        number = (first + i) % len(bases)
        body = urllib.parse.urlencode({
            "csrf_token": token, "municipality": "Delft", "contact_name": "Test Persoon", "email": "t@delft.nl",
            "role": "beleidsadviseur", "kind": "weet ik niet",
            "question": f"Wij zoeken advies over de aanpak van schulden in de wijk. Kenmerk {marker}.",
        }).encode()
        t0 = time.perf_counter()
        try:
            with opener.open(f"{bases[number]}/hulpvraag", data=body, timeout=60) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, ValueError) as exc:  # no answer at all: refused, reset, timed out
            tally.errors.append((number + 1, type(getattr(exc, "reason", exc)).__name__))
            continue
        finally:
            tally.latencies.append(time.perf_counter() - t0)
        tally.answers.append((number + 1, status))
        if status == 303:
            tally.acknowledged.append(marker)


def stored_markers(database_url: str | None, sqlite_file: Path) -> list[str]:
    """Every marker in the stored help requests' questions (read-only; the servers have stopped)."""
    if database_url and database_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database_url) as db:
            rows = db.execute("SELECT question FROM help_requests").fetchall()
    else:
        if database_url:  # sqlite:///path
            sqlite_file = Path(urllib.parse.urlsplit(database_url).path)
        with contextlib.closing(sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT question FROM help_requests").fetchall()
    return [m for (question,) in rows for m in MARKER.findall(question or "")]


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[round(share * (len(sorted_values) - 1))]


def report(n: int, threads: int, servers: int, elapsed: float, tally: Tally, stored: list[str], label: str) -> int:
    """Print the figures; returns the number of problems (lost, stored twice, 5xx, unanswered)."""
    counts = collections.Counter(stored)
    acknowledged = set(tally.acknowledged)
    lost = [m for m in acknowledged if m not in counts]
    duplicated = [m for m, c in counts.items() if c > 1]
    unacknowledged_but_stored = [m for m in counts if m not in acknowledged]
    server_errors = [s for _, s in tally.answers if s >= 500]
    ms = sorted(x * 1000 for x in tally.latencies)
    print(f"{label}: {n} requests by {threads} threads over {servers} server(s) in {elapsed:.1f} s: "
          f"{n / elapsed:.0f} requests/s")
    if ms:
        print(f"latency p50 {statistics.median(ms):.0f} ms, p95 {_percentile(ms, 0.95):.0f} ms, max {ms[-1]:.0f} ms")
    print(f"answers: {sorted(collections.Counter(s for _, s in tally.answers).items())}")
    print("per server: " + ", ".join(
        f"{number}: {count}" for number, count in sorted(collections.Counter(n for n, _ in tally.answers).items())))
    errors = collections.Counter(kind for _, kind in tally.errors)
    print(f"errors without an answer: {sorted(errors.items()) if errors else 'none'}")
    if unacknowledged_but_stored:
        print(f"stored without acknowledgement (answer lost on the way): {len(unacknowledged_but_stored)}")
    print(f"acknowledged {len(acknowledged)}, stored {len(stored)}, lost {len(lost)}, stored twice "
          f"{len(duplicated)}, 5xx {len(server_errors)}, unanswered {len(tally.errors)}")
    return len(lost) + len(duplicated) + len(server_errors) + len(tally.errors)


def run(n: int, threads: int, servers: int = 1, database_url: str | None = None, workers: int = 2,
        server_threads: int = 4) -> int:
    """Start the servers, submit, stop them, check the database and print; returns the number of problems."""
    with tempfile.TemporaryDirectory(prefix="ww-stress-") as tmp:
        env = {"WIJKWIJZER_RATELIMITS": "off", "WIJKWIJZER_SECRET_KEY": secrets.token_hex(32)}
        if database_url:
            env["WIJKWIJZER_DATABASE_URL"] = database_url
        markers = [f"STRESS-{i:06d}" for i in range(n)]
        tally = Tally()
        with running_servers(servers, Path(tmp), env=env, shared_data=not database_url, workers=workers,
                             threads=server_threads) as running:
            bases = [server.url for server in running]
            clients = [threading.Thread(target=client, args=(bases, t, markers[t::threads], tally))
                       for t in range(threads)]
            t0 = time.perf_counter()
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            elapsed = time.perf_counter() - t0
            sqlite_file = running[0].data_dir / "wijkwijzer.db"
        stored = stored_markers(database_url, sqlite_file)
    label = "PostgreSQL" if database_url and database_url.startswith("postgresql") else "SQLite"
    return report(n, threads, servers, elapsed, tally, stored, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="help requests to submit (default 1000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--servers", type=int, default=1, help="production servers to spread them over (default 1)")
    parser.add_argument("--database-url", default=None,
                        help="WIJKWIJZER_DATABASE_URL for every server (postgresql://...); default: one SQLite "
                             "file in a data folder the servers share")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server (default 2)")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per worker process (default 4)")
    args = parser.parse_args()
    if args.requests < 1 or args.threads < 1 or args.servers < 1:
        parser.error("--requests, --threads and --servers must be at least 1")
    sys.exit(1 if run(args.requests, args.threads, args.servers, args.database_url, args.workers,
                      args.server_threads) else 0)


if __name__ == "__main__":
    main()
