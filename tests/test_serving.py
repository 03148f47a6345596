"""The production server with several worker processes: one writer at a time, every reader sees new generations.

Runs `wijkwijzer serve --prod --workers 2` (gunicorn) in a subprocess over a temporary copy of a few case studies.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_CONTENT
from tests.servers import free_port
from wijkwijzer.storage.lease import WriterLease


def test_the_writer_lease_is_exclusive_across_processes_and_freed_when_its_holder_dies(tmp_path):
    lock = tmp_path / "writer.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from wijkwijzer.storage.lease import WriterLease
        assert WriterLease(Path({str(lock)!r})).try_acquire()
        print("held", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        lease = WriterLease(lock)
        assert not lease.try_acquire() and not lease.held
        assert lock.read_text().strip() == str(holder.pid)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert lease.try_acquire() and lease.held
        assert WriterLease(lock).try_acquire() is False  # a second lease, even in the same process
        lease.release()
        assert WriterLease(lock).try_acquire()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def _get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Connection": "close"})  # a new connection: any worker
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _workers(pid: int) -> set[int]:
    """The gunicorn workers among the children (not a fork server or resource tracker of multiprocessing)."""
    found = set()
    for child in _children(pid):
        try:
            if b"wijkwijzer.cli" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except OSError:
            continue
    return found


def _wait_for(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _found_by_every_request(base: str, query: str, slug: str, n: int = 16) -> bool:
    return all(any(hit["slug"] == slug for hit in _get_json(f"{base}/api/v1/search?q={query}")["results"])
               for _ in range(n))


@pytest.mark.slow
def test_several_workers_share_one_index_with_one_writer(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    shutil.copytree(SAMPLE_CONTENT / "vlaardingen-west", content / "vlaardingen-west")
    data, port = tmp_path / "data", free_port()
    env = {**os.environ, "WIJKWIJZER_CONTENT_DIR": str(content), "WIJKWIJZER_DATA_DIR": str(data),
           "WIJKWIJZER_EXPERTS_DIR": str(ROOT / "experts"), "WIJKWIJZER_WATCH_INTERVAL": "0.5",
           "WIJKWIJZER_EMBEDDING_MODEL": str(tmp_path / "geen-model")}  # keyword search only: fast start
    server = subprocess.Popen([sys.executable, "-m", "wijkwijzer.cli", "serve", "--prod", "--workers", "2",
                               "--threads", "2", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: len(_children(server.pid)) == 2 and _status_ok(base), 60, "two workers answering")
        lease = data / "writer.lock"
        _wait_for(lambda: lease.exists() and lease.read_text().strip().isdigit(), 15, "a worker taking the lease")
        writer = int(lease.read_text())
        assert writer in _children(server.pid)

        def runs() -> int:
            with sqlite3.connect(data / "wijkwijzer.db") as db:
                return db.execute("SELECT count(*) FROM index_runs WHERE written > 0").fetchone()[0]

        before = runs()
        (content / "vlaardingen-west" / "zwerfkatten.md").write_text(
            "---\ntitle: Zwerfkatten in de portiekflats\n---\nBewoners vangen zwerfkatten met de dierenambulance.\n",
            encoding="utf-8")
        _wait_for(lambda: _found_by_every_request(base, "zwerfkatten", "vlaardingen-west/zwerfkatten"), 30,
                  "every worker finding the new case study")
        time.sleep(2)  # give a second writer, if there were one, time to index the same file again
        assert runs() == before + 1  # indexed once, by the lease holder

        # The writer dies: gunicorn starts a new worker, and one of the workers takes the lease over.
        os.kill(writer, signal.SIGKILL)
        _wait_for(lambda: lease.read_text().strip().isdigit() and int(lease.read_text()) != writer
                  and int(lease.read_text()) in _children(server.pid), 60, "another worker taking over the lease")
        (content / "vlaardingen-west" / "zwerfkatten.md").unlink()
        _wait_for(lambda: _status_ok(base) and not any(
            hit["slug"] == "vlaardingen-west/zwerfkatten"
            for _ in range(8) for hit in _get_json(f"{base}/api/v1/search?q=zwerfkatten")["results"]), 30,
            "the removal reaching every worker")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0


def _status_ok(base: str) -> bool:
    try:
        return _get_json(f"{base}/api/v1/status")["documents"] > 0
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.model
def test_workers_that_loaded_the_model_stop_cleanly_on_sigterm(tmp_path, built_model):
    """SIGTERM after semantic queries: exit status 0 and no worker killed by a signal (they used to abort in
    their teardown: the master had imported onnxruntime, whose native thread the forked workers inherited)."""
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    shutil.copytree(SAMPLE_CONTENT / "vlaardingen-west", content / "vlaardingen-west")
    port, log = free_port(), tmp_path / "server.log"
    env = {**os.environ, "WIJKWIJZER_CONTENT_DIR": str(content), "WIJKWIJZER_DATA_DIR": str(tmp_path / "data"),
           "WIJKWIJZER_EXPERTS_DIR": str(ROOT / "experts"), "WIJKWIJZER_EMBEDDING_MODEL": str(built_model.path)}
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "wijkwijzer.cli", "serve", "--prod", "--workers", "2",
                                   "--threads", "2", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: len(_workers(server.pid)) == 2 and _status_ok(base), 90, "two workers answering")
        for _ in range(8):  # new connections: both workers get some and load the model
            assert _get_json(f"{base}/api/v1/search?q=hoe+help+ik+jongeren+in+de+wijk&mode=semantic")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    text = log.read_text(errors="replace")
    assert server.returncode == 0, text[-3000:]
    assert "was sent" not in text and "terminate called" not in text, text[-3000:]  # gunicorn: "was sent SIGABRT!"
