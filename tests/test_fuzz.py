"""Property-based tests: whatever comes in, the parser and the web answer cleanly (2xx or a clear 4xx)."""

import base64
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
PASSWORD = "lang-genoeg-wachtwoord"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"coord:{PASSWORD}".encode()).decode()}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
yaml_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                        st.lists(st.text(max_size=10), max_size=4), st.dates().map(str))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # Rate limits off: the fuzzer sends far more requests per minute than the limits allow a person.
    app = create_app(replace(make_settings(tmp_path_factory.mktemp("fuzz"), SAMPLE_CONTENT), ratelimits=False),
                     watch=False)
    app.extensions["wijkwijzer"].accounts.add("coord", "C", PASSWORD)
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
    token = csrf_token(client, "/hulpvraag")
    data = {k: v for k, v in form.items() if "\x00" not in str(v)}
    response = client.post("/hulpvraag", data={**data, "csrf_token": token})
    # The form's own validation answered: stored (303 to the status page) or the form again with its errors.
    # Not a 400, which is also what a refused form token gives.
    if response.status_code == 303:
        assert response.headers["Location"].startswith("/hulpvraag/status/")
    else:
        assert response.status_code == 422, response.status_code
        assert "Fout in uw aanvraag" in response.get_data(as_text=True)


def csrf_token(client, path: str) -> str:
    """The form token of the page at `path`, in this client's session."""
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def login(client, target: str = ""):
    return client.post("/coordinator/inloggen", query_string={"volgende": target} if target else None,
                       data={"username": "coord", "password": PASSWORD,
                             "csrf_token": csrf_token(client, "/coordinator/inloggen")})


@FUZZ
@given(depth=st.integers(min_value=1, max_value=20_000), opener=st.sampled_from(["[", '{"a":']))
def test_match_api_answers_deep_json_with_400(app, depth, opener):
    closer = "]" if opener == "[" else "}"
    body = opener * depth + "1" + closer * depth
    response = app.test_client().post("/api/v1/match", data=body, content_type="application/json", headers=BASIC)
    assert response.status_code in (400, 413), response.status_code  # 413: past the 64 KB request limit
    assert response.is_json and response.get_json()["error"]


COORDINATOR_ROUTES = [("GET", "/coordinator/aanvraag/{}"), ("GET", "/coordinator/aanvraag/{}/export"),
                      ("POST", "/coordinator/aanvraag/{}/koppelen"), ("POST", "/coordinator/aanvraag/{}/status"),
                      ("POST", "/coordinator/aanvraag/{}/wissen")]


@FUZZ
@given(request_id=st.one_of(st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
                            st.integers(min_value=2**63, max_value=10**40), st.integers(min_value=0, max_value=10)))
def test_coordinator_routes_answer_any_request_id_with_4xx(app, request_id):
    client = app.test_client()
    assert login(client).status_code == 302
    token = csrf_token(client, "/coordinator/")  # so that a POST reaches the route, not the form-token check
    for method, route in COORDINATOR_ROUTES:
        response = client.open(route.format(request_id), method=method, data={"csrf_token": token})
        if request_id >= 2**63:  # past SQLite's integers: the URL matches no route, a plain Dutch 404 page
            assert response.status_code == 404, (method, route, response.status_code)
            assert "Deze pagina bestaat niet" in response.get_data(as_text=True)
        else:  # each route's own answer for a request that does not exist
            assert response.status_code < 500, (method, route, response.status_code)


@FUZZ
@given(target=st.one_of(st.text(max_size=40).map(lambda t: "/coordinator/" + t),
                        st.sampled_from(["/coordinator/%0D%0ASet-Cookie:x=1", "/coordinator/\r\nX: y",
                                         "//evil.example/coordinator/", "/coordinator/../../x", "/\\evil.example",
                                         "https://evil.example/coordinator/", "/coordinator/aanvraag/1?x=2"]),
                        st.text(max_size=40)))
def test_login_follows_only_safe_paths(app, target):
    response = login(app.test_client(), target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location in (target, "/coordinator/"), location
    if location == target:
        assert re.fullmatch(r"/(coordinator/|redactie)[A-Za-z0-9/_.~%?&=+-]*", location)
        assert "//" not in location and ".." not in location
