"""The harness of tests/servers.py: real production servers as subprocesses, started healthy, stopped cleanly."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.servers import ServerFailed, running_servers

FAST = {"WIJKWIJZER_WATCH_INTERVAL": "0", "WIJKWIJZER_JOBS_INTERVAL": "0", "WIJKWIJZER_RATELIMITS": "off"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _submit(base: str, question: str) -> str:
    """Submit a help request through the form; the path of its status page."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                         _NoRedirect)
    with opener.open(f"{base}/hulpvraag", timeout=30) as response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode()).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "municipality": "Delft", "contact_name": "Test Persoon",
                                   "email": "t@delft.nl", "role": "beleidsadviseur", "kind": "weet ik niet",
                                   "question": question}).encode()
    try:
        opener.open(f"{base}/hulpvraag", data=body, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc.read()[-2000:]
        return urllib.parse.urlsplit(exc.headers["Location"]).path
    raise AssertionError("the form was not acknowledged with 303")


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


@pytest.mark.slow
def test_one_server_starts_healthy_with_its_own_folder_and_the_given_environment_and_stops_cleanly(tmp_path):
    env = {**FAST, "WIJKWIJZER_EMBEDDING_MODEL": str(tmp_path / "geen-model"), "WIJKWIJZER_RESULTS_PER_PAGE": "3"}
    with running_servers(1, tmp_path, env=env, workers=1, threads=2) as (server,):
        assert server.healthy() and server.status()["documents"] > 0
        assert server.data_dir == tmp_path / "data-1" and (server.data_dir / "wijkwijzer.db").is_file()
        _, text = _get(f"{server.url}/api/v1/search?q=wijk")
        assert len(json.loads(text)["results"]) == 3  # WIJKWIJZER_RESULTS_PER_PAGE reached the server
    assert server.process.returncode == 0  # SIGTERM: a graceful stop
    assert not server.healthy()


@pytest.mark.slow
def test_two_servers_on_one_data_folder_share_one_sqlite_file_and_one_writer(tmp_path):
    env = {**FAST, "WIJKWIJZER_EMBEDDING_MODEL": str(tmp_path / "geen-model")}
    with running_servers(2, tmp_path, env=env, shared_data=True, workers=1, threads=2) as servers:
        first, second = servers
        assert first.port != second.port and first.data_dir == second.data_dir == tmp_path / "data"
        status_path = _submit(first.url, "Wij zoeken hulp bij schuldhulp in de wijk, kenmerk GEDEELD-1.")
        code, page = _get(f"{second.url}{status_path}")  # the other server reads the same database
        assert code == 200 and "GEDEELD-1" in page
        holder = (tmp_path / "data" / "writer.lock").read_text().strip()
        assert holder.isdigit()  # one process of the two servers holds the writer lease
    assert [s.process.returncode for s in servers] == [0, 0]


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    failing = running_servers(1, tmp_path, env={"WIJKWIJZER_HEADER_TIMEOUT": "0"})
    expected = r"(?s)server 1 .*exited with 2.*WIJKWIJZER_HEADER_TIMEOUT=0: expected a number above 0"
    with pytest.raises(ServerFailed, match=expected), failing:
        pass
