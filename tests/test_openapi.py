"""The OpenAPI 3.1 description at /api/v1/openapi.json: a sound document, and true of the real answers.

Each documented operation is called through the Flask test client; its answer must validate (JSON Schema Draft
2020-12, the dialect of OpenAPI 3.1) against the schema the document gives for that status and media type, and
every field the document names must be in it.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import make_settings, write_case
from wijkwijzer import create_app

BASE = "urn:wijkwijzer:openapi"
OPERATION_KEYS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SLUG = "den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie"


@pytest.fixture(scope="module")
def document(sample_app) -> dict:
    answer = sample_app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.is_json
    return answer.get_json()


def _walk(node, path="#"):
    """Every (JSON pointer, value) in a document."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _resolve(document: dict, ref: str):
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (at {part!r})"
        node = node[part]
    return node


def test_document_is_structurally_openapi_3_1(document, sample_app):
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"][0]["url"] == "http://localhost/api/v1"
    assert set(document) <= {"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components",
                             "security", "tags", "externalDocs"}
    refs = [(where, node["$ref"]) for where, node in _walk(document) if isinstance(node, dict) and "$ref" in node]
    assert refs
    for _, ref in refs:
        _resolve(document, ref)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    routes = {re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule) for rule in sample_app.url_map.iter_rules()}
    routes |= {"/api/v1/cases.jsonl", "/api/v1/cases.csv"}  # one rule, <any(jsonl, csv):fmt>
    for path, item in document["paths"].items():
        assert path.startswith("/") and "/api/v1" + path in routes, path
        for method, operation in item.items():
            assert method in OPERATION_KEYS and operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in ("query", "path", "header", "cookie") and parameter["name"]
                if parameter["in"] == "path":
                    assert parameter["required"] is True and "{" + parameter["name"] + "}" in path
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5](\d\d|XX)|default", status)
                response = _resolve(document, response["$ref"]) if "$ref" in response else response
                assert response["description"]


def test_every_public_api_route_is_documented(document, sample_app):
    documented = {"/api/v1" + path for path in document["paths"]}
    left_out = {"/api/v1/match", "/api/v1/openapi.json", "/api/v1/{anything}"}  # coordinators; itself; 404s
    for rule in sample_app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if path.startswith("/api/v1/") and path not in left_out and "{fmt}" not in path:
            assert path in documented, path


def test_object_schemas_name_every_field_as_required(document):
    """So validating an answer also proves each documented field is present, and no undocumented one."""
    for name, schema in document["components"]["schemas"].items():
        for _, node in _walk(schema):
            if isinstance(node, dict) and "properties" in node and name != "Catalogue":
                assert sorted(node["required"]) == sorted(node["properties"]), name
                assert node["additionalProperties"] is False, name


def _validator(document: dict, schema: dict) -> Draft202012Validator:
    registry = Registry().with_resource(BASE, Resource.from_contents(document, default_specification=DRAFT202012))
    if "$ref" in schema:
        schema = {"$ref": BASE + schema["$ref"]}
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _fields_present(document: dict, schema: dict, instance, where: str = "") -> None:
    """Every property a schema names is in the answer (following refs, into arrays and oneOf branches)."""
    if "$ref" in schema:
        schema = _resolve(document, schema["$ref"])
    _check_format(schema.get("format"), instance, where)
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if _validator(document, s).is_valid(instance)]
        assert len(matching) == 1, where
        return _fields_present(document, matching[0], instance, where)
    if isinstance(instance, dict) and "properties" in schema:
        for name in schema.get("required", []):
            assert name in instance, f"{where}.{name} is documented but missing"
        for name, sub in schema["properties"].items():
            if name in instance:
                _fields_present(document, sub, instance[name], f"{where}.{name}")
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            _fields_present(document, schema["items"], item, f"{where}[{index}]")


def _check_format(kind: str | None, instance, where: str) -> None:
    """The formats we use, checked here: jsonschema checks date-time only with an extra package installed."""
    if not isinstance(instance, str) or kind is None:
        return
    if kind == "date-time":
        assert dt.datetime.fromisoformat(instance).tzinfo is not None, f"{where}: {instance} has no offset"
    elif kind == "date":
        dt.date.fromisoformat(instance)
    elif kind == "uri":
        assert re.match(r"https?://[^\s/]+", instance), f"{where}: {instance}"


def check_answer(document: dict, path: str, answer, url: str) -> None:
    """The answer matches what the document says `GET path` gives for its status and media type."""
    operation = document["paths"][path]["get"]
    status = str(answer.status_code)
    assert status in operation["responses"], f"{url}: status {status} is not documented"
    response = operation["responses"][status]
    response = _resolve(document, response["$ref"]) if "$ref" in response else response
    media = answer.headers["Content-Type"].split(";")[0]
    assert media in response["content"], f"{url}: {media} is not documented for {status}"
    content = response["content"][media]
    if media == "application/jsonl":
        lines = answer.get_data(as_text=True).splitlines()
        assert lines
        for line in lines:
            _validator(document, content["x-line-schema"]).validate(json.loads(line))
            _fields_present(document, content["x-line-schema"], json.loads(line), url)
        return
    body = json.loads(answer.data) if media.endswith("json") else answer.get_data(as_text=True)
    errors = sorted(_validator(document, content["schema"]).iter_errors(body), key=str)
    assert not errors, f"{url}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    _fields_present(document, content["schema"], body, url)


@pytest.mark.parametrize(("path", "url"), [
    ("/cases", "/api/v1/cases?limit=3"),
    ("/cases", "/api/v1/cases?since=2000-01-01&limit=500"),
    ("/cases", "/api/v1/cases?limit=0"),
    ("/cases", "/api/v1/cases?cursor=nee"),
    ("/cases.jsonl", "/api/v1/cases.jsonl"),
    ("/cases.csv", "/api/v1/cases.csv"),
    ("/cases/{slug}", f"/api/v1/cases/{SLUG}"),
    ("/cases/{slug}", "/api/v1/cases/bestaat/niet"),
    ("/search", "/api/v1/search?q=jongeren&themes=veiligheid-en-criminaliteit"),
    ("/search", "/api/v1/search?q=jongerne&sort=date&limit=2&page=1"),
    ("/search", "/api/v1/search?q=laaggeletterdheid&mode=keyword&exact=1"),
    ("/search", "/api/v1/search?limit=500"),
    ("/status", "/api/v1/status"),
    ("/catalogus", "/api/v1/catalogus"),
])
def test_real_answers_validate_against_the_document(document, client, path, url):
    check_answer(document, path, client.get(url), url)


def test_removed_cases_in_a_listing_validate(tmp_path, content_dir):
    write_case(content_dir, "a/blijft.md", "title: Blijft\nthemes: [wonen]\nfocus_area: utrecht-overvecht")
    gone = write_case(content_dir, "a/gaat.md", "title: Gaat")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    try:
        gone.unlink()
        app.extensions["wijkwijzer"].sync()
        client = app.test_client()
        document = client.get("/api/v1/openapi.json").get_json()
        answer = client.get("/api/v1/cases?since=2000-01-01")
        assert {item["removed"] is None for item in answer.get_json()["items"]} == {True, False}
        check_answer(document, "/cases", answer, "since with a removal")
    finally:
        app.extensions["wijkwijzer"].close()


def test_validation_would_catch_a_wrong_answer(document, client):
    """The check above can fail: an answer missing a documented field, or with an undocumented one, is caught."""
    case = client.get(f"/api/v1/cases/{SLUG}").get_json()
    validator = _validator(document, {"$ref": "#/components/schemas/CaseDetail"})
    assert validator.is_valid(case)
    assert not validator.is_valid({k: v for k, v in case.items() if k != "title"})
    assert not validator.is_valid(case | {"extra": 1})
    assert not validator.is_valid(case | {"themes": "wonen"})
