"""Slow and idle clients (slowloris) against real servers: the production server (gunicorn) and the development
server keep answering others, and close the held connections themselves. Timings are generous bounds only."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.servers import free_port, running_servers, server_environment
from wijkwijzer import timeouts
from wijkwijzer.config import Settings, SettingsError
from wijkwijzer.timeouts import TimedSocket, _body_length

THREADS = 2
# The request limit leaves room for 16 complete requests queued on 2 threads of a busy 2-core machine: a request
# still waiting for a thread when it runs out is closed, which the "linger" case would read as a failure.
FAST = {"WIJKWIJZER_HEADER_TIMEOUT": "2", "WIJKWIJZER_REQUEST_TIMEOUT": "10", "WIJKWIJZER_KEEPALIVE": "2",
        "WIJKWIJZER_RATELIMITS": "off", "WIJKWIJZER_WATCH_INTERVAL": "0", "WIJKWIJZER_JOBS_INTERVAL": "0"}
OPENINGS = {
    "idle": b"",
    "head": b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nX-Traag: ",
    "body": (b"POST /hulpvraag HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 5000\r\n\r\nquestion="),
    # A whole request, then the client neither reads the answer nor closes.
    "linger": b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
}


def _hold(port: int, kind: str, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if OPENINGS[kind]:
            s.sendall(OPENINGS[kind])
        held.append(s)
    return held


def _trickle(held: list[socket.socket]) -> None:
    """One more byte on every held connection that is still open (a slowloris client keeps sending)."""
    for s in held:
        try:
            s.send(b"a")
        except OSError:
            pass


def _closed_by_server(s: socket.socket, received: bytearray | None = None) -> bytes | None:
    """What the server sent before closing, or None while the connection is still open.

    Bytes read while the connection is still open are kept in `received` across calls: the server writes its
    answer and closes a moment later, and a poll between the two must not lose the answer.
    """
    received = bytearray() if received is None else received
    s.setblocking(False)
    try:
        while chunk := s.recv(4096):
            received += chunk
    except BlockingIOError:
        return None
    except OSError:
        pass
    return bytes(received)


def _status(port: int, timeout: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/api/v1/status", headers={"Connection": "close"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def prod_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow")
    env = {**FAST, "WIJKWIJZER_EMBEDDING_MODEL": str(tmp / "geen-model")}  # keyword search only: fast start
    with running_servers(1, tmp, env=env, threads=THREADS) as (server,):
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["idle", "head", "body", "linger"])
def test_held_connections_neither_block_others_nor_stay_open(prod_server, kind):
    held = _hold(prod_server.port, kind, 8 * THREADS)  # four times as many as the worker has threads
    trickle = _trickle if kind in ("head", "body") else (lambda held: None)
    try:
        trickle(held)
        # Before: a one-worker server with THREADS threads answered nobody while they were held.
        assert _status(prod_server.port, timeout=15) == 200
        deadline = time.monotonic() + 30  # the limits are 2 s (head) and 10 s (request)
        answers: dict[int, bytes] = {}
        partial = [bytearray() for _ in held]  # what each connection sent so far, until it closes
        while time.monotonic() < deadline and len(answers) < len(held):
            trickle([s for i, s in enumerate(held) if i not in answers])
            for i, s in enumerate(held):
                if i not in answers and (received := _closed_by_server(s, partial[i])) is not None:
                    answers[i] = received
            time.sleep(0.5)
        assert len(answers) == len(held), f"{len(held) - len(answers)} of {len(held)} still open after 30 s"
        if kind == "idle":
            assert set(answers.values()) == {b""}  # nothing asked, nothing answered: just closed
        elif kind == "linger":
            firsts = {a.split(b"\r\n", 1)[0] for a in answers.values()}
            assert firsts == {b"HTTP/1.1 200 OK"}, firsts
        else:
            assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers.values()), set(answers.values())
        assert _status(prod_server.port, timeout=15) == 200
    finally:
        for s in held:
            s.close()
    assert prod_server.process.poll() is None


@pytest.mark.slow
def test_kept_alive_connections_serve_several_requests_then_close_when_idle(prod_server):
    conn = http.client.HTTPConnection("127.0.0.1", prod_server.port, timeout=15)
    try:
        conn.request("GET", "/api/v1/status")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        for path in ("/api/v1/status", "/hulpvraag"):
            time.sleep(0.5)  # the connection waits in the poller between requests
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            assert conn.sock is sock  # the same connection, kept alive
        # A form post with a body, on the same connection.
        conn.request("POST", "/hulpvraag", body=b"question=x", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        assert response.status == 400  # no session or CSRF token: refused, but answered
        deadline = time.monotonic() + 20  # keep-alive is 2 s
        while time.monotonic() < deadline and _closed_by_server(sock) is None:
            time.sleep(0.25)
        assert _closed_by_server(sock) is not None, "kept-alive connection still open after 20 s"
    finally:
        conn.close()


@pytest.mark.slow
def test_a_request_whose_bytes_are_all_there_is_served_even_when_it_waited(prod_server):
    """Requests sent whole in one go (head and body, pipelined) are served, not cut off by the limits."""
    with socket.create_connection(("127.0.0.1", prod_server.port), timeout=15) as s:
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/status HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 ") == 2


@pytest.mark.slow
def test_a_body_over_the_limit_is_refused_with_413(prod_server):
    conn = http.client.HTTPConnection("127.0.0.1", prod_server.port, timeout=15)
    try:
        conn.request("POST", "/hulpvraag", body=b"q=" + b"a" * 200_000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert conn.getresponse().status == 413
    finally:
        conn.close()


@pytest.mark.slow
def test_the_development_server_closes_silent_connections(tmp_path):
    port = free_port()
    env = server_environment({**FAST, "WIJKWIJZER_DATA_DIR": str(tmp_path / "data"),
                              "WIJKWIJZER_EMBEDDING_MODEL": str(tmp_path / "geen-model"),
                              "WIJKWIJZER_PORT": str(port)})
    subprocess.run([sys.executable, "-m", "wijkwijzer.cli", "index"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "wijkwijzer.cli", "serve"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _status(port, timeout=5) == 200
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "development server did not start"
                time.sleep(0.3)
        held = _hold(port, "head", 16)
        assert _status(port, timeout=15) == 200
        deadline = time.monotonic() + 30  # the limit is 10 s per read (FAST)
        while time.monotonic() < deadline and any(_closed_by_server(s) is None for s in held):
            time.sleep(0.5)
        assert all(_closed_by_server(s) is not None for s in held)
        for s in held:
            s.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_time_limits_are_settings_with_clear_errors():
    settings = Settings.from_env({})
    assert (settings.keepalive, settings.header_timeout, settings.request_timeout) == (5, 10.0, 30.0)
    settings = Settings.from_env({"WIJKWIJZER_KEEPALIVE": "0", "WIJKWIJZER_HEADER_TIMEOUT": "5",
                                  "WIJKWIJZER_REQUEST_TIMEOUT": "60"})
    assert (settings.keepalive, settings.header_timeout, settings.request_timeout) == (0, 5.0, 60.0)
    with pytest.raises(SettingsError, match="WIJKWIJZER_REQUEST_TIMEOUT=5 is shorter than "
                                            "WIJKWIJZER_HEADER_TIMEOUT=10"):
        Settings.from_env({"WIJKWIJZER_REQUEST_TIMEOUT": "5"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_HEADER_TIMEOUT=0: expected a number above 0"):
        Settings.from_env({"WIJKWIJZER_HEADER_TIMEOUT": "0"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_KEEPALIVE='vijf': expected a int number"):
        Settings.from_env({"WIJKWIJZER_KEEPALIVE": "vijf"})


@pytest.mark.parametrize(("head", "length"), [
    (b"GET / HTTP/1.1\r\nHost: x", 0),
    (b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length:  12 ", 12),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 2000\r\nExpect: 100-continue", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4", None),
    (b"POST / HTTP/1.1\r\nContent-Length: -3", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999", None),
])
def test_how_long_the_poller_keeps_reading_a_body(head, length):
    assert _body_length(head) == length


def test_the_installed_gunicorn_has_what_the_time_limits_rely_on():
    """Else `serve --prod` falls back to stock gthread (with a warning): a gunicorn upgrade must not do so unseen."""
    assert timeouts.supported()
    worker = timeouts.timed_worker_class(10, 30)
    assert worker.__mro__[1].__name__ == "ThreadWorker"


def test_a_timed_socket_reads_what_came_then_stops_at_its_deadline():
    ours, theirs = socket.socketpair()
    sock = TimedSocket(ours, write_timeout=0.5)
    try:
        theirs.sendall(b"GET / HTTP/1.1\r\n")
        sock.setblocking(False)
        assert sock.fill() is False and sock.buffered == b"GET / HTTP/1.1\r\n"  # the head is not complete
        theirs.sendall(b"Host: x\r\n\r\n")
        assert sock.fill() is True and sock.head_complete
        sock.deadline = time.monotonic() + 0.3
        assert sock.recv(5) == b"GET /" and sock.recv(100) == b" HTTP/1.1\r\nHost: x\r\n\r\n"  # buffered first
        assert sock.recv(100) == b"" and sock.expired  # nothing more before the deadline: end of stream
        assert sock.recv(100) == b""
    finally:
        sock.close()
        theirs.close()


def test_a_timed_socket_stops_writing_to_a_client_that_does_not_read_and_closes_without_waiting():
    ours, theirs = socket.socketpair()
    sock = TimedSocket(ours, write_timeout=0.3)
    try:
        with pytest.raises(ConnectionResetError, match=r"did not take the answer within 0\.3 s"):
            sock.sendall(b"x" * 50_000_000)  # far more than the socket buffers hold
        assert sock.expired
    finally:
        sock.close()
        theirs.close()
    ours, theirs = socket.socketpair()
    sock = TimedSocket(ours, write_timeout=0.3)
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)  # what gunicorn's graceful close sets before draining
        assert sock.recv(100) == b""  # returns at once although the client has not closed
    finally:
        sock.close()
        theirs.close()
