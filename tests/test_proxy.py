"""Debian's nginx in front of a real app server, with the example configuration of the README's *Deployment*.

The nginx block is taken from the README as written; only what a test must change is changed (loopback ports
instead of the upstream addresses, plain HTTP instead of the certificate). Skipped without nginx, except in CI
(WIJKWIJZER_REQUIRE_NGINX=1, set by .ci/run; scripts/test installs Debian's nginx-light when it is missing).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import ROOT
from tests.servers import free_port, running_servers

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def readme_nginx_block() -> str:
    """The ```nginx block of the README."""
    found = re.search(r"```nginx\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert found, "README: no ```nginx block under Deployment"
    return found.group(1)


def test_config(block: str, app_port: int, proxy_port: int) -> str:
    """The README block made runnable on loopback: one upstream server, plain HTTP on `proxy_port`."""
    block, upstreams = re.subn(r"\n    server 10\.0\.0\.11:8000", f"\n    server 127.0.0.1:{app_port}", block)
    block, others = re.subn(r"\n    server 10\.0\.0\.12:8000[^\n]*", "", block)
    block, listens = re.subn(r"listen 443 ssl http2;", f"listen 127.0.0.1:{proxy_port};", block)
    block, certificates = re.subn(r"\n    ssl_certificate[^\n]*", "", block)
    block, redirects = re.subn(r"(?s)\nserver \{\n    listen 80;.*?\n\}\n", "\n", block)
    assert (upstreams, others, listens, certificates, redirects) == (1, 1, 1, 2, 1), "README nginx block changed"
    return block


test_config.__test__ = False  # a helper, not a test


def _nginx_conf(tmp, block: str) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must reach the temporary folders in tmp
    temp = "\n".join(f"    {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                          "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log info;\n"
            f"events {{ worker_connections 256; }}\nhttp {{\n{temp}\n{block}\n}}\n")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    if NGINX is None:
        if os.environ.get("WIJKWIJZER_REQUIRE_NGINX"):
            pytest.fail("nginx is missing (apt-get install nginx-light)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    tmp = tmp_path_factory.mktemp("proxy")
    env = {"WIJKWIJZER_TRUSTED_PROXIES": "1", "WIJKWIJZER_EMBEDDING_MODEL": str(tmp / "geen-model"),
           "WIJKWIJZER_WATCH_INTERVAL": "0", "WIJKWIJZER_JOBS_INTERVAL": "0"}
    with running_servers(1, tmp, env=env, threads=4) as (server,):
        proxy_port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(_nginx_conf(tmp, test_config(readme_nginx_block(), server.port, proxy_port)))
        checked = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(tmp)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
                    break
                except OSError:
                    assert nginx.poll() is None and time.monotonic() < deadline, (tmp / "error.log").read_text()
                    time.sleep(0.2)
            yield server, proxy_port
        finally:
            nginx.send_signal(signal.SIGQUIT)  # graceful stop
            try:
                nginx.wait(timeout=20)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()


def _request(port: int, method: str, path: str, *, source: str = "127.0.0.1", headers: dict | None = None,
             body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def _form_session(port: int, source: str) -> tuple[str, str]:
    """A session cookie and its form token, fetched through `port` from the address `source`."""
    status, headers, body = _request(port, "GET", "/hulpvraag", source=source)
    assert status == 200
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
    return cookie, token


def _submit(port: int, source: str, cookie: str, token: str, spoofed: str) -> int:
    body = (f"csrf_token={token}&municipality=Delft&contact_name=Test+Persoon&email=t%40delft.nl"
            "&role=beleidsadviseur&kind=weet+ik+niet&question=Wij+zoeken+advies+over+schulden+in+de+wijk.").encode()
    status, _, _ = _request(port, "POST", "/hulpvraag", source=source, body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": spoofed})
    return status


@pytest.mark.slow
def test_the_health_check_and_pages_answer_through_the_proxy(proxied):
    _, port = proxied
    status, _, body = _request(port, "GET", "/api/v1/status")
    assert status == 200 and b'"documents"' in body
    status, headers, _ = _request(port, "GET", "/")
    assert status == 200 and headers["Server"].startswith("nginx")


@pytest.mark.slow
def test_rate_limits_count_the_address_nginx_saw_not_the_one_the_client_wrote(proxied):
    _, port = proxied
    cookie, token = _form_session(port, "127.0.0.2")
    answers = [_submit(port, "127.0.0.2", cookie, token, spoofed=f"198.51.100.{i}") for i in range(11)]
    assert answers[:10] == [303] * 10 and answers[10] == 429  # 10 per minute, whatever the header said
    cookie, token = _form_session(port, "127.0.0.3")
    assert _submit(port, "127.0.0.3", cookie, token, spoofed="127.0.0.2") == 303  # another client: its own count


@pytest.mark.slow
def test_the_scheme_comes_from_nginx_and_a_client_cannot_claim_https(proxied):
    server, port = proxied
    _, headers, _ = _request(port, "GET", "/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in headers  # nginx replaced the header with its own scheme, http
    # The app itself trusts one proxy: what that proxy says counts (here we play the proxy).
    _, headers, _ = _request(server.port, "GET", "/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in headers


@pytest.mark.slow
def test_nginx_refuses_bodies_over_the_apps_limit_and_absorbs_slow_clients(proxied):
    _, port = proxied
    status, _, body = _request(port, "POST", "/hulpvraag", body=b"q=" + b"a" * 70_000,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413 and b"nginx" in body  # refused by nginx, before the app server saw it
    held = []
    try:
        for _ in range(40):  # more than the app server has threads; nginx holds them, not the app
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Traag: ")
            held.append(s)
        t0 = time.monotonic()
        status, _, _ = _request(port, "GET", "/api/v1/status")
        assert status == 200 and time.monotonic() - t0 < 10
    finally:
        for s in held:
            s.close()
