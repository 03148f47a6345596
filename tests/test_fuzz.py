"""Property-based tests: whatever comes in, the parser and the web answer cleanly (2xx or a clear 4xx)."""

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app
from wijkwijzer.domain.content import parse_case
from wijkwijzer.domain.taxonomy import load_taxonomy

TAXONOMY, _ = load_taxonomy(SAMPLE_CONTENT)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
yaml_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                        st.lists(st.text(max_size=10), max_size=4), st.dates().map(str))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # Rate limits off: the fuzzer sends far more requests per minute than the limits allow a person.
    app = create_app(replace(make_settings(tmp_path_factory.mktemp("fuzz"), SAMPLE_CONTENT), ratelimits=False),
                     watch=False)
    yield app
    app.extensions["wijkwijzer"].close()


@FUZZ
@given(st.binary(max_size=400))
def test_parser_survives_any_bytes(raw):
    result = parse_case("fuzz/bestand.md", raw, TAXONOMY)
    assert result.case is not None or any(p.severity == "error" for p in result.problems)


@FUZZ
@given(st.dictionaries(st.sampled_from(["title", "themes", "date", "type", "tags", "focus_area", "x"]),
                       yaml_values, max_size=6), st.text(max_size=200))
def test_parser_reports_instead_of_crashing(fields, body):
    import yaml

    head = yaml.safe_dump(fields, allow_unicode=True)
    result = parse_case("fuzz/bestand.md", f"---\n{head}---\n{body}".encode(), TAXONOMY)
    for problem in result.problems:
        assert problem.path == "fuzz/bestand.md" and problem.line >= 1 and problem.message


@FUZZ
@given(q=st.text(max_size=80), page=st.text(max_size=6), limit=st.text(max_size=4),
       sort=st.sampled_from(["", "date", "relevance", "x"]), mode=st.sampled_from(["", "keyword", "hybrid", "x"]),
       themes=st.text(max_size=20))
def test_search_api_answers_200_or_400(app, q, page, limit, sort, mode, themes):
    response = app.test_client().get("/api/v1/search", query_string={
        "q": q, "page": page, "limit": limit, "sort": sort, "mode": mode, "themes": themes})
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:200]
    assert response.is_json
    page_response = app.test_client().get("/zoeken", query_string={"q": q, "page": page, "themes": themes})
    assert page_response.status_code == 200


@FUZZ
@given(st.fixed_dictionaries({
    "municipality": st.one_of(st.just("Delft"), st.text(max_size=30)),
    "contact_name": st.text(max_size=40), "email": st.one_of(st.just("a@b.nl"), st.text(max_size=30)),
    "role": st.text(max_size=30), "question": st.text(max_size=300),
    "kind": st.one_of(st.sampled_from(["expertpool", "weet ik niet"]), st.text(max_size=10)),
    "start": st.one_of(st.just(""), st.dates().map(str), st.text(max_size=12)),
    "months": st.text(max_size=4), "hours_per_week": st.text(max_size=5),
    "themes": st.lists(st.text(max_size=12), max_size=3)}))
def test_request_form_answers_303_or_422(app, form):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/hulpvraag").get_data(as_text=True)).group(1)
    data = {k: v for k, v in form.items() if "\x00" not in str(v)}
    response = client.post("/hulpvraag", data={**data, "csrf_token": token})
    assert response.status_code in (303, 400, 422), response.status_code
