"""Concurrent submissions against the production server (gunicorn, two worker processes): none lost, none doubled."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_concurrent_requests_are_stored_exactly_once(capsys):
    spec = importlib.util.spec_from_file_location("stress", ROOT / "scripts" / "stress.py")
    stress = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stress)
    problems = stress.run(200, 8)
    output = capsys.readouterr().out
    assert problems == 0, output
    assert "stored 200, lost 0, stored twice 0, 5xx 0" in output
