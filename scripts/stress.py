"""Stress test on loopback: N help requests submitted concurrently by T client threads to the production server.

Starts `wijkwijzer serve --prod` on a free port with a fresh data folder (rate limits off: one address sends
everything), then each client fetches the form (its own session and CSRF token) and posts requests with a
unique marker. Afterwards every marker must be stored exactly once, and no answer may be a 5xx.
Run through `scripts/stress [--requests 1000] [--threads 8]`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "WIJKWIJZER_DATA_DIR": str(data), "WIJKWIJZER_PORT": str(port),
           "WIJKWIJZER_RATELIMITS": "off", "WIJKWIJZER_CONTENT_DIR": str(ROOT / "content"),
           "WIJKWIJZER_EXPERTS_DIR": str(ROOT / "experts")}
    command = [sys.executable, "-m", "wijkwijzer.cli", "serve", "--prod", "--workers", "2", "--threads", "4"]
    server = subprocess.Popen(command,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hulpvraag", timeout=2) as response:
                response.read()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(server.stdout.read().decode(errors="replace")) from None
            time.sleep(0.5)
    server.kill()
    raise SystemExit("server did not start within 120 s")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def client(base: str, markers: list[str], latencies: list[float], statuses: list[int]) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(f"{base}/hulpvraag", timeout=30) as response:
        form = response.read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    for marker in markers:
        body = urllib.parse.urlencode({
            "csrf_token": token, "municipality": "Delft", "contact_name": "Test Persoon", "email": "t@delft.nl",
            "role": "beleidsadviseur", "kind": "weet ik niet",
            "question": f"Wij zoeken advies over de aanpak van schulden in de wijk. Kenmerk {marker}.",
        }).encode()
        t0 = time.perf_counter()
        try:
            with opener.open(f"{base}/hulpvraag", data=body, timeout=60) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
            exc.close()
        latencies.append(time.perf_counter() - t0)


def run(n: int, threads: int) -> int:
    """Submit, check and print; returns the number of problems (lost, duplicated, 5xx)."""
    with tempfile.TemporaryDirectory(prefix="ww-stress-") as tmp:
        data, port = Path(tmp) / "data", free_port()
        server = start_server(data, port)
        try:
            markers = [f"STRESS-{i:05d}" for i in range(n)]
            latencies: list[float] = []
            statuses: list[int] = []
            workers = [threading.Thread(target=client, args=(f"http://127.0.0.1:{port}", markers[t::threads],
                                                             latencies, statuses)) for t in range(threads)]
            t0 = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - t0
        finally:
            server.terminate()
            server.wait(timeout=30)
            server.stdout.close()
        with contextlib.closing(sqlite3.connect(data / "wijkwijzer.db")) as db:
            stored = [m for (q,) in db.execute("SELECT question FROM help_requests")
                      for m in re.findall(r"STRESS-\d{5}", q)]
        counts: dict[str, int] = {}
        for m in stored:
            counts[m] = counts.get(m, 0) + 1
    lost = [m for m in markers if m not in counts]
    duplicated = [m for m, c in counts.items() if c > 1]
    errors = [s for s in statuses if s >= 500]
    ms = sorted(x * 1000 for x in latencies)
    print(f"{n} requests by {threads} threads in {elapsed:.1f} s: {n / elapsed:.0f} requests/s")
    print(f"latency p50 {statistics.median(ms):.0f} ms, p95 {ms[round(0.95 * (len(ms) - 1))]:.0f} ms, "
          f"max {ms[-1]:.0f} ms")
    print(f"answers: {sorted({s: statuses.count(s) for s in set(statuses)}.items())}")
    print(f"stored {len(stored)}, lost {len(lost)}, stored twice {len(duplicated)}, 5xx {len(errors)}")
    return len(lost) + len(duplicated) + len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    sys.exit(1 if run(args.requests, args.threads) else 0)


if __name__ == "__main__":
    main()
