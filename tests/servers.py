"""Real app servers as subprocesses, for tests and scripts (scripts/stress.py, scripts/bench_slowloris.py).

`running_servers(n, tmp)` starts N production servers (`wijkwijzer serve --prod`, gunicorn) side by side, each
with its own port and, by default, its own data folder, on one shared content and experts folder, with the
environment you give (so `WIJKWIJZER_DATABASE_URL` can point them all at one database). It waits until every
server answers `/api/v1/status`, and stops them all with SIGTERM afterwards (SIGKILL after a grace period).

Two servers on one data folder (`shared_data=True`) is the same arrangement as one server with two worker
processes: one SQLite file in WAL mode, one writer lease (`data/writer.lock`, flock) among all processes of
both servers, each reader on the newest index generation. It works on one machine only (flock and SQLite's
locks need a local file system shared by the processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just had free on `host` (another process could take it before we bind: rare)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """One running `wijkwijzer serve --prod` process and where it keeps things."""

    number: int
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """Base address, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def status(self, timeout: float = 5.0) -> dict:
        """The JSON of `/api/v1/status` (raises OSError when the server does not answer)."""
        request = urllib.request.Request(f"{self.url}/api/v1/status", headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def healthy(self) -> bool:
        """True when the server answers its health check with a status document."""
        try:
            return "documents" in self.status(timeout=2.0)
        except (OSError, ValueError):
            return False

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, grace: float = 30.0) -> int:
        """Stop gracefully (SIGTERM: gunicorn finishes running requests), kill after `grace` seconds; the exit
        status (0 after a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class ServerFailed(RuntimeError):
    """A server exited or did not become healthy in time; the message holds the end of its log."""


def start_server(number: int, tmp: Path, *, env: Mapping[str, str], data_dir: Path | None = None,
                 workers: int = 1, threads: int = 8, host: str = "127.0.0.1",
                 extra_args: tuple[str, ...] = ()) -> AppServer:
    """Start one server (without waiting for it); its log goes to `tmp/server-N.log`."""
    port = free_port(host)
    data_dir = data_dir or tmp / f"data-{number}"
    log_path = tmp / f"server-{number}.log"
    environment = {**env, "WIJKWIJZER_DATA_DIR": str(data_dir), "WIJKWIJZER_HOST": host,
                   "WIJKWIJZER_PORT": str(port)}
    command = [sys.executable, "-m", "wijkwijzer.cli", "serve", "--prod", "--workers", str(workers),
               "--threads", str(threads), *extra_args]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return AppServer(number, port, data_dir, log_path, process, host)


def wait_until_healthy(servers: list[AppServer], timeout: float = 180.0) -> None:
    """Wait until every server answers its health check; ServerFailed names the first that exits or is late."""
    deadline = time.monotonic() + timeout
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.healthy():
                waiting.remove(server)
            elif server.process.poll() is not None:
                raise ServerFailed(f"server {server.number} (port {server.port}) exited with "
                                   f"{server.process.returncode}:\n{server.log()[-3000:]}")
        if waiting and time.monotonic() > deadline:
            late = waiting[0]
            raise ServerFailed(f"server {late.number} (port {late.port}) not healthy after {timeout:.0f} s:\n"
                               f"{late.log()[-3000:]}")
        if waiting:
            time.sleep(0.3)


def server_environment(env: Mapping[str, str] | None = None, *, content_dir: Path | None = None,
                       experts_dir: Path | None = None) -> dict[str, str]:
    """This process's environment with the shared content and experts folders and `env` on top."""
    return {**os.environ, "WIJKWIJZER_CONTENT_DIR": str(content_dir or ROOT / "content"),
            "WIJKWIJZER_EXPERTS_DIR": str(experts_dir or ROOT / "experts"), **(env or {})}


@contextlib.contextmanager
def running_servers(count: int, tmp: Path, *, env: Mapping[str, str] | None = None,
                    content_dir: Path | None = None, experts_dir: Path | None = None,
                    shared_data: bool = False, workers: int = 1, threads: int = 8,
                    ready_timeout: float = 180.0) -> Iterator[list[AppServer]]:
    """Start `count` servers, wait until all are healthy, yield them, and stop them all afterwards.

    `env` is laid over this process's environment (e.g. `{"WIJKWIJZER_DATABASE_URL": ...}`); each server gets
    `tmp/data-N` as its data folder, or all of them `tmp/data` with `shared_data`. Servers start one after
    the other, each once the previous one is healthy: the first indexes the shared content (and with
    `shared_data` the others find it done), and on a small machine parallel starts only compete for the CPU.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    environment = server_environment(env, content_dir=content_dir, experts_dir=experts_dir)
    servers: list[AppServer] = []
    try:
        for number in range(1, count + 1):
            servers.append(start_server(number, tmp, env=environment, workers=workers, threads=threads,
                                        data_dir=tmp / "data" if shared_data else None))
            wait_until_healthy(servers[-1:], ready_timeout)
        yield servers
    finally:
        for server in servers:  # all at once, then wait for each: stopping takes a few seconds per server
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in servers:
            server.stop()
