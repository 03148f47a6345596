"""The matcher's dev set (tests/eval/match_dev.yml) against the pool files in experts/: the set refers only to
members that exist, and the matcher never breaks a hard rule on it (scripts/eval_match reports the quality).

The similarity is term overlap (no model), so this runs in seconds; the hard rules do not depend on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
import yaml

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer.domain.helprequests import request_from_json
from wijkwijzer.domain.matching import exclusion
from wijkwijzer.domain.pool import POOLS
from wijkwijzer.services import Services

DEV = yaml.safe_load((ROOT / "tests" / "eval" / "match_dev.yml").read_text(encoding="utf-8"))["requests"]
TODAY = dt.date(2026, 11, 23)  # the set's "today" (scripts/eval_match --today)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    settings = replace(make_settings(tmp_path_factory.mktemp("eval"), SAMPLE_CONTENT), experts_dir=ROOT / "experts")
    svc = Services.build(settings)
    svc.knowledge.check()  # loads the taxonomy the pool validates themes against
    svc.pool.embedder = None  # term overlap: fast, and the hard rules are the same
    yield svc.pool
    svc.close()


def test_dev_set_is_well_formed():
    ids = [item["id"] for item in DEV]
    assert len(ids) == len(set(ids)) and len(ids) >= 30
    for item in DEV:
        assert item["expected_pool"] in POOLS, item["id"]
        assert item["request"].strip() and item["municipality"].strip(), item["id"]
        assert item.get("good"), f"{item['id']}: no graded matches"
        assert all(1 <= int(grade) <= 3 for grade in item["good"].values()), item["id"]


def test_every_member_the_dev_set_names_exists_and_is_valid(pool):
    members = {m.id for m in pool.members()}
    assert len(members) >= 40
    named = {(item["id"], member) for item in DEV for member in [*item["good"], *(item.get("forbidden") or [])]}
    missing = sorted(f"{request}: {member}" for request, member in named if member not in members)
    assert missing == [], "members in match_dev.yml that experts/ lacks (or that have errors)"


def test_graded_members_satisfy_the_hard_rules(pool):
    """The set promises that every member under `good` may serve the request; `forbidden` ones may not."""
    members = {m.id: m for m in pool.members()}
    wrong = []
    for item in DEV:
        request = pool.normalise_request(request_from_json(item))
        for member in item["good"]:
            if member in members and (reason := exclusion(members[member], request, 0.0, TODAY)):
                wrong.append(f"{item['id']}: good {member} is excluded ({reason})")
        for member in item.get("forbidden") or []:
            if member in members and not exclusion(members[member], request, 0.0, TODAY):
                wrong.append(f"{item['id']}: forbidden {member} breaks no hard rule")
    assert wrong == []


def test_matcher_breaks_no_hard_rule_on_the_dev_set(pool):
    members = {m.id: m for m in pool.members()}
    violations = []
    for item in DEV:
        request = pool.normalise_request(request_from_json(item))
        result = pool.match(request, today=TODAY, limit=5)
        assert result.routing.pool in POOLS, item["id"]
        for match in result.matches:
            if match.id in (item.get("forbidden") or []):
                violations.append(f"{item['id']}: {match.id} is forbidden for this request")
            elif reason := exclusion(members[match.id], request, 0.0, TODAY):
                violations.append(f"{item['id']}: {match.id} ({reason})")
    assert violations == []
