"""Concurrent submissions against real production servers (gunicorn): none lost, none doubled, no 5xx.

Runs scripts/stress.py as a library: one server with two worker processes, and two servers on one data folder
(one SQLite file, one writer lease: the one-machine mode with several servers).
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _stress():
    spec = importlib.util.spec_from_file_location("stress", ROOT / "scripts" / "stress.py")
    stress = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = stress  # its dataclass looks itself up there
    spec.loader.exec_module(stress)
    return stress


@pytest.mark.slow
def test_concurrent_requests_are_stored_exactly_once(capsys):
    problems = _stress().run(200, 8)
    output = capsys.readouterr().out
    assert problems == 0, output
    assert "acknowledged 200, stored 200, lost 0, stored twice 0, 5xx 0, unanswered 0" in output


@pytest.mark.slow
def test_requests_spread_over_two_servers_on_one_sqlite_file(capsys):
    problems = _stress().run(120, 6, servers=2, workers=1, server_threads=4)
    output = capsys.readouterr().out
    assert problems == 0, output
    assert "acknowledged 120, stored 120, lost 0, stored twice 0, 5xx 0, unanswered 0" in output
    assert "per server: 1: 60, 2: 60" in output
