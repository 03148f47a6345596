"""Slow and idle clients against the production server: how long does a normal request wait?

Starts one `wijkwijzer serve --prod --workers 1 --threads 8` (the `scripts/run` shape) on a copy of nothing but
the sample content, opens N connections that misbehave, and times a normal `GET /api/v1/status` on a fresh
connection while they are held open. Kinds of misbehaving connection:

- idle:     connects and sends nothing;
- headers:  sends a request line and one header, then one more header byte every few seconds (slowloris);
- body:     sends complete headers announcing a body, then a byte of the body every few seconds;
- linger:   sends a whole request with `Connection: close`, then neither reads the answer nor closes.

Afterwards it reports how many of the held connections the server closed, and after how long.
Run through `scripts/bench_slowloris [--connections 8 32] [--kinds idle headers body linger] [--hold 60]`.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import running_servers

OPENINGS = {
    "idle": b"",
    "headers": b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nX-a: ",
    "body": (b"POST /hulpvraag HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 10000\r\n\r\nq="),
    "linger": b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
}


class Holder:
    """N misbehaving connections, trickled by one thread; notes when the server closes each."""

    def __init__(self, port: int, kind: str, count: int, trickle: float = 3.0) -> None:
        self.kind, self.trickle = kind, trickle
        self.sockets = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if OPENINGS[kind]:
                s.sendall(OPENINGS[kind])
            s.setblocking(False)
            self.sockets.append(s)
        self.opened = time.monotonic()
        self.closed_after: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for i, s in enumerate(self.sockets):
                if i in self.closed_after:
                    continue
                try:
                    data = s.recv(4096)
                    if data == b"":
                        self.closed_after[i] = time.monotonic() - self.opened
                        continue
                    if data:  # an answer (408, 400) ends it too: the server closes after it
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_after[i] = time.monotonic() - self.opened
                    continue
                if self.kind in ("headers", "body") and int((time.monotonic() - self.opened) / self.trickle) != int(
                        (time.monotonic() - self.opened - 0.2) / self.trickle):
                    try:
                        s.send(b"a")
                    except OSError:
                        self.closed_after[i] = time.monotonic() - self.opened

    def close(self) -> None:
        """Stop trickling and close every connection."""
        self._stop.set()
        self._thread.join()
        for s in self.sockets:
            s.close()


def timed_request(url: str, limit: float) -> float | None:
    """Seconds until a normal request is answered, or None if it is not within `limit`."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Connection": "close"}),
                                    timeout=limit) as response:
            response.read()
    except OSError:
        return None
    return time.monotonic() - t0


def measure(port: int, kind: str, count: int, hold: float) -> None:
    holder = Holder(port, kind, count)
    try:
        time.sleep(0.5)  # let the worker take the held connections first
        waited = timed_request(f"http://127.0.0.1:{port}/api/v1/status", hold)
        deadline = holder.opened + hold
        while time.monotonic() < deadline and len(holder.closed_after) < count:
            time.sleep(0.5)
        closed = sorted(holder.closed_after.values())
    finally:
        holder.close()
    answer = f"{waited:.2f} s" if waited is not None else f"no answer within {hold:.0f} s"
    closing = (f"server closed {len(closed)} of {count} (after {closed[0]:.0f}-{closed[-1]:.0f} s)" if closed
               else f"server closed 0 of {count} within {hold:.0f} s")
    print(f"{kind:8} x{count:3}: normal request answered in {answer}; {closing}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--kinds", nargs="+", choices=sorted(OPENINGS), default=["idle", "headers", "body", "linger"])
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold the connections at most")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ww-slowloris-") as tmp:
        env = {"WIJKWIJZER_EMBEDDING_MODEL": str(Path(tmp) / "geen-model"), "WIJKWIJZER_RATELIMITS": "off"}
        with running_servers(1, Path(tmp), env=env, threads=args.threads) as (server,):
            for kind in args.kinds:
                for count in args.connections:
                    measure(server.port, kind, count, args.hold)
                    time.sleep(1)


if __name__ == "__main__":
    main()
