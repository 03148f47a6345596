"""Habit 10: parsing one file has a time budget; a file past it is an error naming the file, and is skipped."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from tests.conftest import make_settings, write_case
from wijkwijzer import create_app, parsing
from wijkwijzer.cli import main
from wijkwijzer.parsing import OverBudget, ParseWorker


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _fail() -> None:
    raise ValueError("kapot")


def test_worker_stops_a_call_past_the_budget_and_carries_on():
    worker = ParseWorker(budget=0.5)
    try:
        assert worker.call(_sleep, 0.0) == 0.0
        with pytest.raises(OverBudget, match=r"langer dan 0\.5 s"):
            worker.call(_sleep, 30.0)
        assert worker.call(_sleep, 0.0) == 0.0  # a fresh worker took over
        with pytest.raises(ValueError, match="kapot"):
            worker.call(_fail)  # the parse's own exceptions arrive as they are
    finally:
        worker.close()


def _slow_case(content_dir) -> None:
    """A file whose YAML head takes seconds to read: 200,000 tags (a normal file takes a millisecond)."""
    tags = ", ".join(["a"] * 200_000)
    write_case(content_dir, "zwaar/traag.md", f"title: Traag\ntags: [{tags}]")


@pytest.fixture
def budget(monkeypatch):
    monkeypatch.setattr(parsing, "PARSE_BUDGET", 0.5)


def test_slow_file_is_reported_and_skipped_and_the_site_serves(tmp_path, content_dir, budget):
    write_case(content_dir, "goed/snel.md", "title: Snelle casus over jeugdoverlast")
    _slow_case(content_dir)
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    try:
        svc = app.extensions["wijkwijzer"]
        problems = [p for p in svc.knowledge.last_report.problems if p.path == "zwaar/traag.md"]
        assert [(p.field, p.severity) for p in problems] == [("bestand", "error")]
        assert "langer dan 0.5 s" in problems[0].message
        client = app.test_client()
        assert client.get("/").status_code == 200
        assert "Snelle casus" in client.get("/zoeken?q=jeugdoverlast").get_data(as_text=True)
        assert client.get("/casus/zwaar/traag").status_code == 404

        svc.accounts.add("redacteur", "Redacteur", "ook-lang-genoeg-wachtwoord", role="editor")
        page = client.get("/coordinator/inloggen").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/coordinator/inloggen", data={"username": "redacteur", "password": "ook-lang-genoeg-wachtwoord",
                                                   "csrf_token": token})
        editors = client.get("/coordinator/redactie").get_data(as_text=True)
        assert "zwaar/traag.md" in editors and "langer dan 0.5 s" in editors
    finally:
        app.extensions["wijkwijzer"].close()


def test_check_names_the_slow_file(tmp_path, content_dir, budget, monkeypatch):
    _slow_case(content_dir)
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["check"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "zwaar/traag.md:1: bestand: het inlezen duurde langer dan 0.5 s" in result.output


def test_slow_pool_file_is_reported(tmp_path, content_dir, budget):

    experts = tmp_path / "experts" / "expertpool"
    experts.mkdir(parents=True)
    tags = ", ".join(["a"] * 200_000)
    (experts / "traag.md").write_text(f"---\nname: T\nrole: R\nhours_per_week: 4\nexpertise: [{tags}]\n---\nx\n")
    (experts / "snel.md").write_text("---\nname: S\nrole: R\nhours_per_week: 4\n---\nProfiel.\n")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    try:
        svc = app.extensions["wijkwijzer"]
        assert [m.id for m in svc.pool.members()] == ["expertpool/snel"]
        assert any(p.path.endswith("expertpool/traag.md") and "langer dan 0.5 s" in p.message
                   for p in svc.pool_problems())
    finally:
        app.extensions["wijkwijzer"].close()


def test_a_forked_child_starts_its_own_worker_and_leaves_the_parents_alone():
    """gunicorn's master indexes, then forks workers: each must parse with its own worker under a budget."""
    import os

    worker = ParseWorker(budget=5)
    try:
        assert worker.call(_sleep, 0.0) == 0.0
        parent_process = worker._process
        pid = os.fork()
        if pid == 0:  # the child: its own worker (a different process), with the budget
            code = 1
            try:
                if worker._process is None and worker.call(os.getpid) != os.getpid():
                    code = 0 if worker._process is not parent_process else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert worker._process is parent_process and worker.call(_sleep, 0.0) == 0.0  # the parent's still works
    finally:
        worker.close()
