"""The OpenAPI 3.1 description of the public JSON API (`/api/v1/openapi.json`).

Every object schema lists all its properties as required and allows no others, so tests/test_openapi.py, which
validates the real answers against it, fails when an answer gains, loses or changes a field the document does not.
The coordinators' `POST /api/v1/match` is left out: it is not open data (it shows members' free hours and needs
a coordinator's login); the README documents it.
"""

from __future__ import annotations

from wijkwijzer.domain.taxonomy import FACETS
from wijkwijzer.opendata.records import DEFAULT_LIMIT, MAX_LIMIT
from wijkwijzer.search.hybrid import MODES
from wijkwijzer.search.models import MAX_PAGE, SORTS

VERSION = "1.0.0"
STRING = {"type": "string"}
TEXT_OR_NULL = {"type": ["string", "null"]}
MOMENT = {"type": "string", "format": "date-time"}
STRINGS = {"type": "array", "items": STRING}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return {"description": description, **schema} if description else schema


def _or_null(name: str) -> dict:
    return {"oneOf": [_ref(name), {"type": "null"}]}


def _schemas() -> dict:
    return {
        "Error": _object({"error": {**STRING, "description": "Wat er mis is, in het Nederlands."},
                          "status": {"type": "integer"}}),
        "Term": _object({"key": STRING, "label": STRING}, "Een waarde uit de taxonomie: sleutel en label."),
        "FocusArea": _object({"key": STRING, "name": STRING, "municipality": STRING, "province": STRING}),
        "Case": _object({
            "slug": STRING, "url": {**STRING, "format": "uri"}, "title": STRING, "summary": STRING,
            "type": _or_null("Term"), "themes": {"type": "array", "items": _ref("Term")},
            "action_lines": {"type": "array", "items": _ref("Term")}, "focus_area": _or_null("FocusArea"),
            "municipality": TEXT_OR_NULL, "organisations": STRINGS, "evidence": _or_null("Term"), "tags": STRINGS,
            "date": {"type": ["string", "null"], "format": "date", "description": "De datum van de casus."},
            "source_url": TEXT_OR_NULL,
            "published": {**MOMENT, "description": "Sinds wanneer de casus op de site staat (UTC)."},
            "modified": {**MOMENT, "description": "Laatste wijziging van wat de casus toont (UTC)."},
            "removed": {"type": "null"},
            "attachments": {"type": "array", "description": "Bijlagen: titel en downloadadres.",
                            "items": _object({"title": STRING, "url": {**STRING, "format": "uri"}})},
        }, "De openbare gegevens van een praktijkvoorbeeld (zonder contactgegevens en zonder tekst)."),
        "RemovedCase": _object({
            "slug": STRING, "url": {**STRING, "format": "uri"}, "published": MOMENT, "modified": MOMENT,
            "removed": {**MOMENT, "description": "Wanneer de casus van de site is gehaald."},
        }, "Een verwijderde casus; alleen in een lijst met since."),
        "CaseList": _object({
            "items": {"type": "array", "items": {"oneOf": [_ref("Case"), _ref("RemovedCase")]}},
            "total": {"type": "integer", "description": "Aantal in de hele lijst (alle pagina's)."},
            "limit": {"type": "integer"},
            "next": {"type": ["string", "null"], "format": "uri", "description": "De volgende pagina; null op "
                                                                                   "de laatste."},
        }),
        "CaseDetail": _object({
            "slug": STRING, "url": {**STRING, "format": "uri"}, "title": STRING, "summary": STRING,
            "body": {**STRING, "description": "De tekst in markdown."}, "type": STRING, "themes": STRINGS,
            "action_lines": STRINGS, "municipality": STRING, "focus_area": STRING, "organisations": STRINGS,
            "date": STRING, "evidence": STRING, "tags": STRINGS, "contact": STRING, "source_url": STRING,
            "hash": STRING, "contact_email": STRING, "contact_phone": STRING, "contact_url": STRING,
            "attachments": {"type": "array", "items": _object({
                "file": {**STRING, "description": "Pad naast de casus; te downloaden onder "
                                                  "/casus/{slug}/_bestanden/{file}."},
                "title": STRING})},
            "images": {**STRINGS, "description": "Afbeeldingen in de tekst, als paden naast de casus."},
        }, "Eén praktijkvoorbeeld met de tekst; taxonomiewaarden als sleutels, lege velden als \"\"."),
        "Hit": _object({
            "slug": STRING, "title": STRING, "summary": STRING, "url": {**STRING, "format": "uri"},
            "score": {"type": "number"}, "snippet": {**STRING, "description": "Veilige HTML met <mark>."},
            "themes": STRINGS, "municipality": STRING, "focus_area": {**STRING, "description": "Naam"},
            "type": STRING, "date": STRING,
        }),
        "FacetValue": _object({"value": STRING, "label": STRING, "count": {"type": "integer"},
                               "selected": {"type": "boolean"}}),
        "SearchResponse": _object({
            "query": STRING, "mode": {"enum": list(MODES)}, "total": {"type": "integer"},
            "page": {"type": "integer"}, "pages": {"type": "integer"},
            "results": {"type": "array", "items": _ref("Hit")},
            "facets": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("FacetValue")}},
            "suggestion": TEXT_OR_NULL, "corrected_from": TEXT_OR_NULL,
            "sources": {"type": "object", "additionalProperties": {"type": "integer"}},
        }),
        "Problem": _object({"path": STRING, "line": {"type": "integer"}, "field": STRING, "message": STRING,
                            "severity": {"enum": ["error", "warning"]}}),
        "Status": _object({
            "documents": {"type": "integer"}, "last_indexed": {"type": ["string", "null"], "format": "date-time"},
            "errors": {"type": "array", "items": _ref("Problem")}, "warnings": {"type": "integer"},
            "semantic": _object({
                "enabled": {"type": "boolean"}, "ready": {"type": "boolean"}, "model": STRING,
                "passages": {"type": "integer"}, "pending": {"type": "integer"}, "error": TEXT_OR_NULL,
                "failed_attempts": {"type": "integer"}, "retry_at": TEXT_OR_NULL,
                "floor": {"type": ["number", "null"]},
            }),
            "storage": _object({"writable": {"type": "boolean"}, "error": TEXT_OR_NULL,
                                "vectors": {**STRING, "enum": ["pgvector", "memory"]}}),
        }),
        "Catalogue": {
            "type": "object", "description": "DCAT-AP (JSON-LD): een dcat:Catalog met één dcat:Dataset.",
            "required": ["@context", "@id", "@type", "dct:title", "dct:description", "dct:publisher",
                         "dct:license", "dcat:dataset"],
            "properties": {
                "@context": {"type": "object"}, "@id": STRING, "@type": {"const": "dcat:Catalog"},
                "dct:title": {"type": "object"}, "dct:description": {"type": "object"},
                "dct:publisher": {"type": "object"}, "dct:license": {"type": "object"},
                "dcat:dataset": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                    "type": "object",
                    "required": ["@id", "@type", "dct:title", "dct:description", "dct:publisher", "dct:license",
                                 "dcat:theme", "dct:spatial", "dcat:distribution"],
                    "properties": {"@type": {"const": "dcat:Dataset"},
                                   "dcat:distribution": {"type": "array", "minItems": 4, "items": {
                                       "type": "object", "required": ["@type", "dcat:accessURL", "dcat:mediaType"],
                                       "properties": {"@type": {"const": "dcat:Distribution"}}}}},
                }},
            },
        },
    }


def _param(name: str, description: str, schema: dict, where: str = "query", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


def _answer(description: str, schema: str, media: str = "application/json") -> dict:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


def _paths() -> dict:
    bad = {"$ref": "#/components/responses/BadRequest"}
    too_many = {"$ref": "#/components/responses/TooManyRequests"}
    facets = [_param(name, f"Filter op {label.lower()} (sleutel; herhaal voor meer waarden).",
                     {"type": "array", "items": STRING}) | {"style": "form", "explode": True}
              for name, label in FACETS.items()]
    return {
        "/cases": {"get": {
            "operationId": "listCases", "summary": "Alle praktijkvoorbeelden, per pagina (om te oogsten)",
            "description": "Volgorde: laatste wijziging, dan slug. Met since alleen wat vanaf dat moment is "
                           "gewijzigd, verwijderde casussen inbegrepen; volg next tot die null is.",
            "parameters": [
                _param("since", "ISO 8601-datum of -tijdstip (zonder tijdzone: UTC); vanaf en met.", STRING),
                _param("limit", "Aantal per pagina.", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                                       "default": DEFAULT_LIMIT}),
                _param("cursor", "De waarde uit next van de vorige pagina.", STRING),
            ],
            "responses": {"200": _answer("Een pagina.", "CaseList"), "400": bad, "429": too_many},
        }},
        "/cases.jsonl": {"get": {
            "operationId": "downloadCasesJsonl", "summary": "Download: alle praktijkvoorbeelden, één per regel",
            "responses": {"200": {"description": "JSON Lines (UTF-8): per regel een Case, zoals in /cases.",
                                  "content": {"application/jsonl": {"x-line-schema": _ref("Case"),
                                                                    "schema": STRING}}},
                          "429": too_many},
        }},
        "/cases.csv": {"get": {
            "operationId": "downloadCasesCsv", "summary": "Download: alle praktijkvoorbeelden als CSV",
            "responses": {"200": {"description": "CSV (UTF-8, RFC 4180) met een vaste kopregel; lijsten gescheiden "
                                                 "door ' | '; een cel die met = + - @ begint krijgt een '.",
                                  "content": {"text/csv": {"schema": STRING}}},
                          "429": too_many},
        }},
        "/cases/{slug}": {"get": {
            "operationId": "getCase", "summary": "Eén praktijkvoorbeeld met de tekst",
            "parameters": [_param("slug", "Map en bestandsnaam zonder .md.", STRING, "path", True)],
            "responses": {"200": _answer("De casus.", "CaseDetail"),
                          "404": {"$ref": "#/components/responses/NotFound"}},
        }},
        "/search": {"get": {
            "operationId": "search", "summary": "Zoeken in de praktijkvoorbeelden",
            "parameters": [
                _param("q", "Zoekvraag.", STRING),
                _param("mode", "Zoekwijze (standaard hybrid zodra het taalmodel klaar is).", {"enum": list(MODES)}),
                _param("limit", "Resultaten per pagina.", {"type": "integer", "minimum": 1, "maximum": 50}),
                _param("page", "Pagina.", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                _param("sort", "Volgorde.", {"enum": list(SORTS)}),
                _param("semantic_ratio", "Aandeel van betekenis in hybride zoeken.",
                       {"type": "number", "minimum": 0, "maximum": 1}),
                _param("exact", "1: zoek zoals getypt, zonder tikfoutcorrectie.", {"enum": ["1"]}),
                *facets,
            ],
            "responses": {"200": _answer("Resultaten met facetten.", "SearchResponse"), "400": bad},
        }},
        "/status": {"get": {
            "operationId": "status", "summary": "Toestand van de index",
            "responses": {"200": _answer("De toestand.", "Status")},
        }},
        "/catalogus": {"get": {
            "operationId": "catalogue", "summary": "De verzameling als DCAT-AP-dataset (JSON-LD)",
            "responses": {"200": _answer("De catalogus.", "Catalogue", "application/ld+json")},
        }},
    }


def document(server_url: str) -> dict:
    """The OpenAPI 3.1 document, with `server_url` (the API's absolute address, .../api/v1) as its server."""
    error = {"content": {"application/json": {"schema": _ref("Error")}}}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Wijkwijzer open data API", "version": VERSION,
            "summary": "Praktijkvoorbeelden van het Nationaal Programma Leefbaarheid en Veiligheid",
            "description": "Openbare, alleen-lezen JSON-API: oogsten (cases), zoeken, status en de DCAT-catalogus."
                           " Downloads: cases.jsonl en cases.csv. Zonder persoonsgegevens in de lijst.",
            "license": {"name": "CC BY 4.0", "identifier": "CC-BY-4.0"},
        },
        "servers": [{"url": server_url}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": {
                "BadRequest": {"description": "Een parameter is ongeldig; error zegt welke en wat mag.", **error},
                "NotFound": {"description": "Niet gevonden.", **error},
                "TooManyRequests": {"description": "Te veel verzoeken; zie Retry-After.", **error},
            },
        },
    }
