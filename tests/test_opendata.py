"""Open data: the harvesting API, exports, JSON-LD, canonical URLs, sitemap, robots.txt and the DCAT catalogue,
over real content folders, a real SQLite file and Whoosh index, through the Flask test client and the CLI."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from wijkwijzer import create_app
from wijkwijzer.cli import main
from wijkwijzer.opendata.records import CSV_COLUMNS, MAX_LIMIT, decode_cursor, encode_cursor
from wijkwijzer.storage import changes as changes_module

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def harvest(client, url: str) -> list[dict]:
    """Every item of a listing, following `next` to the end."""
    items: list[dict] = []
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        items += body["items"]
        url = body["next"]
        if url:
            assert answer.headers["Link"] == f'<{url}>; rel="next"'
    return items


class Clock:
    """The time the change table stamps, moved by the test."""

    def __init__(self) -> None:
        self.value = "2026-01-01T09:00:00+00:00"

    def __call__(self) -> str:
        return self.value


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(changes_module, "now", clock)
    return clock


@pytest.fixture
def small_app(tmp_path, content_dir, clock):
    """An app over a content folder of three case studies, indexed at 2026-01-01 09:00 UTC."""
    write_case(content_dir, "utrecht-overvecht/een.md", "title: Een\nthemes: [wonen]\nfocus_area: utrecht-overvecht\n"
               "contact: Piet Jansen, 06-12345678\ndate: 2025-05-01")
    write_case(content_dir, "utrecht-overvecht/twee.md", "title: Twee\nthemes: [duurzaamheid]")
    write_case(content_dir, "utrecht-overvecht/drie.md", "title: Drie\nsummary: '=1+2 in een cel'")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    yield app
    app.extensions["wijkwijzer"].close()


def test_listing_pages_through_every_case_once_in_a_stable_order(client):
    first = client.get("/api/v1/cases?limit=7")
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    items = harvest(client, "/api/v1/cases?limit=7")
    documents = client.get("/api/v1/status").get_json()["documents"]
    assert len(items) == documents == first.get_json()["total"]
    slugs = [item["slug"] for item in items]
    assert len(set(slugs)) == len(slugs)
    assert [(i["modified"], i["slug"]) for i in items] == sorted((i["modified"], i["slug"]) for i in items)
    assert harvest(client, "/api/v1/cases?limit=7") == items  # the same pages again
    assert harvest(client, f"/api/v1/cases?limit={MAX_LIMIT}") == items  # one page holds them all
    one = items[0]
    assert one["url"] == f"http://localhost/casus/{one['slug']}"
    assert one["removed"] is None and one["published"] and one["modified"]
    assert client.get(one["url"]).status_code == 200


def test_listing_leaves_out_contact_details_and_body(client):
    case = client.get("/api/v1/cases/den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie").get_json()
    assert case["contact"]  # the page shows it; the harvestable records do not
    items = harvest(client, "/api/v1/cases?limit=50")
    assert all("contact" not in item and "body" not in item for item in items)
    assert case["contact"] not in json.dumps(items, ensure_ascii=False)


@pytest.mark.parametrize(("query", "message"), [
    ("since=gisteren", "since moet een datum of tijdstip in ISO 8601"),
    ("since=2026-13-01", "since moet een datum of tijdstip in ISO 8601"),
    ("limit=0", f"limit moet een geheel getal van 1 tot en met {MAX_LIMIT}"),
    (f"limit={MAX_LIMIT + 1}", f"limit moet een geheel getal van 1 tot en met {MAX_LIMIT}"),
    ("limit=tien", "limit moet een geheel getal"),
    ("cursor=bestaat-niet", "cursor is ongeldig"),
    (f"cursor={encode_cursor('gisteren', 'a/b')}", "cursor is ongeldig"),
    ("page=2", "onbekende parameter 'page'"),
])
def test_listing_rejects_bad_parameters_in_json(client, query, message):
    answer = client.get(f"/api/v1/cases?{query}")
    assert answer.status_code == 400
    assert answer.is_json and answer.get_json()["status"] == 400
    assert message in answer.get_json()["error"]


def test_csv_header_is_stable():
    """Consumers map columns by position or name: a change here breaks them (add new columns at the end only)."""
    assert ",".join(CSV_COLUMNS) == (
        "slug,url,title,summary,type,type_label,themes,theme_labels,action_lines,action_line_labels,focus_area,"
        "focus_area_name,municipality,organisations,evidence,evidence_label,tags,date,source_url,published,modified,"
        "attachments")


def test_cursor_round_trip():
    assert decode_cursor(encode_cursor("2026-01-01T09:00:00+00:00", "a/b-c")) == ("2026-01-01T09:00:00+00:00", "a/b-c")


def test_since_harvests_changes_and_removals(small_app, content_dir, clock):
    client = small_app.test_client()
    svc = small_app.extensions["wijkwijzer"]
    assert {i["modified"] for i in harvest(client, "/api/v1/cases")} == {"2026-01-01T09:00:00+00:00"}
    assert harvest(client, "/api/v1/cases?since=2026-01-02") == []

    clock.value = "2026-02-03T10:00:00+00:00"
    write_case(content_dir, "utrecht-overvecht/twee.md", "title: Twee, herzien\nthemes: [duurzaamheid]")
    (content_dir / "utrecht-overvecht" / "drie.md").unlink()
    write_case(content_dir, "utrecht-overvecht/vier.md", "title: Vier")
    svc.sync()
    changed = harvest(client, "/api/v1/cases?since=2026-02-03T11:00:00%2B01:00&limit=1")
    assert [(i["slug"].split("/")[1], i["removed"]) for i in changed] == [
        ("drie", "2026-02-03T10:00:00+00:00"), ("twee", None), ("vier", None)]
    assert changed[1]["title"] == "Twee, herzien" and changed[1]["published"] == "2026-01-01T09:00:00+00:00"
    assert set(changed[0]) == {"slug", "url", "published", "modified", "removed"}
    # Without since, only what is on the site; a date-time without offset is UTC.
    assert "utrecht-overvecht/drie" not in {i["slug"] for i in harvest(client, "/api/v1/cases")}
    assert len(harvest(client, "/api/v1/cases?since=2026-02-03T10:00:01")) == 0

    clock.value = "2026-03-01T08:00:00+00:00"
    write_case(content_dir, "utrecht-overvecht/drie.md", "title: Drie\nsummary: '=1+2 in een cel'")
    svc.sync()
    back = harvest(client, "/api/v1/cases?since=2026-03-01")
    assert [(i["slug"], i["removed"], i["published"]) for i in back] == [
        ("utrecht-overvecht/drie", None, "2026-01-01T09:00:00+00:00")]


def test_reindexing_without_a_visible_change_keeps_the_dates(small_app, clock):
    svc = small_app.extensions["wijkwijzer"]
    clock.value = "2026-05-05T05:00:00+00:00"
    report = svc.sync(full=True)  # every document written again (as after a new analysis version)
    assert report.written == 3
    client = small_app.test_client()
    assert {i["modified"] for i in harvest(client, "/api/v1/cases")} == {"2026-01-01T09:00:00+00:00"}


def test_export_command_writes_the_api_records(small_app, tmp_path, content_dir, monkeypatch):
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WIJKWIJZER_BASE_URL", "https://wijkwijzer.example.nl/")
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--format", "jsonl"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout_bytes.decode("utf-8").splitlines()]
    based = create_app(replace(make_settings(tmp_path, content_dir), base_url="https://wijkwijzer.example.nl"),
                       watch=False)
    try:
        assert lines == harvest(based.test_client(), "/api/v1/cases")
    finally:
        based.extensions["wijkwijzer"].close()
    assert lines[0]["url"].startswith("https://wijkwijzer.example.nl/casus/utrecht-overvecht/")
    assert all("contact" not in line for line in lines)

    target = tmp_path / "uit" / "casussen.csv"
    target.parent.mkdir()
    target.write_text("vorige export", encoding="utf-8")
    result = runner.invoke(main, ["export", "--format", "csv", "--output", str(target)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    assert raw.startswith(b"slug,url,title,") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["slug"] for r in rows] == [line["slug"] for line in lines]
    drie = next(r for r in rows if r["slug"].endswith("drie"))
    assert drie["summary"] == "'=1+2 in een cel"  # a spreadsheet must not run it as a formula
    een = next(r for r in rows if r["slug"].endswith("een"))
    assert (een["themes"], een["theme_labels"], een["focus_area_name"], een["date"]) == (
        "wonen", "Wonen", "Utrecht Overvecht", "2025-05-01")
    assert [p.name for p in target.parent.iterdir()] == ["casussen.csv"]  # no temporary file left behind


def test_export_command_errors_are_specific(tmp_path, content_dir, monkeypatch):
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    bad = runner.invoke(main, ["export", "--format", "xml"])
    assert bad.exit_code == 2 and "'xml' is not one of 'jsonl', 'csv'" in bad.output
    bad = runner.invoke(main, ["export", "--format", "csv", "--since", "morgen"])
    assert bad.exit_code == 2 and "since moet een datum of tijdstip" in bad.output
    bad = runner.invoke(main, ["export", "--format", "csv", "--output", str(tmp_path / "geen-map" / "x.csv")])
    assert bad.exit_code == 1 and "kan " in bad.output and "x.csv niet schrijven" in bad.output
    empty = runner.invoke(main, ["export", "--format", "csv"], catch_exceptions=False)
    assert empty.stdout_bytes == (",".join(CSV_COLUMNS) + "\r\n").encode()  # no case studies: the header alone


def test_export_downloads(client):
    csv_answer = client.get("/api/v1/cases.csv")
    assert csv_answer.status_code == 200
    assert csv_answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_answer.headers["Content-Disposition"].startswith('attachment; filename="wijkwijzer-')
    rows = list(csv.DictReader(io.StringIO(csv_answer.get_data(as_text=True), newline="")))
    jsonl = [json.loads(line) for line in client.get("/api/v1/cases.jsonl").get_data(as_text=True).splitlines()]
    assert [r["slug"] for r in rows] == [j["slug"] for j in jsonl] == [
        i["slug"] for i in harvest(client, "/api/v1/cases?limit=500")]


class _Scripts(HTMLParser):
    """Collects the <script> elements of a page with their type and text, as a browser's parser splits them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[str | None, str]] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script" and "src" not in dict(attrs):  # our own script files (src=...) hold no page data
            self._open = dict(attrs).get("type")
            self.scripts.append((self._open, ""))

    def handle_data(self, data):
        if self._open is not None:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def _jsonld(html: str) -> list[dict]:
    parser = _Scripts()
    parser.feed(html)
    return [json.loads(text) for kind, text in parser.scripts if kind == "application/ld+json"]


def test_case_page_has_schema_org_article_and_canonical_url(client):
    slug = "den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie"
    html = client.get(f"/casus/{slug}").get_data(as_text=True)
    [article] = _jsonld(html)
    record = next(i for i in harvest(client, "/api/v1/cases?limit=500") if i["slug"] == slug)
    assert article["@context"] == "https://schema.org" and article["@type"] == "Article"
    assert article["headline"] == record["title"] and article["inLanguage"] == "nl"
    assert article["url"] == f"http://localhost/casus/{slug}"
    assert {a["name"] for a in article["about"]} >= {"Veiligheid en criminaliteit", "Onderwijs en opvoeding"}
    assert article["spatialCoverage"][0] == {"@type": "Place", "name": "Den Haag Zuidwest", "containedInPlace":
                                             {"@type": "AdministrativeArea", "name": "Den Haag"}}
    assert article["datePublished"] == "2025-06-24" and article["dateModified"] == record["modified"]
    assert article["publisher"]["@type"] == "Organization"
    assert "Leefbaarheid en Veiligheid" in article["publisher"]["name"]
    assert f'<link rel="canonical" href="http://localhost/casus/{slug}">' in html
    assert "Team Jeugd" not in json.dumps(article)  # the contact line is on the page, not in the data


def test_jsonld_cannot_be_broken_out_of(tmp_path, content_dir):
    title = "Wonen </script><script>alert(1)</script> & <!-- meer"
    write_case(content_dir, "a/listig.md", f"title: '{title}'\nsummary: '</SCRIPT > en \u2028 daarna'")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    try:
        html = app.test_client().get("/casus/a/listig").get_data(as_text=True)
        summary = app.test_client().get("/api/v1/cases/a/listig").get_json()["summary"]
    finally:
        app.extensions["wijkwijzer"].close()
    parser = _Scripts()
    parser.feed(html)
    assert [kind for kind, _ in parser.scripts] == ["application/ld+json"]  # no second script element
    [article] = _jsonld(html)
    assert article["headline"] == title and article["description"] == summary
    assert "</SCRIPT" in summary and "\u2028" in summary
    assert "<!--" not in parser.scripts[0][1] and "</" not in parser.scripts[0][1]


def test_canonical_urls_follow_the_base_url(tmp_path):
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), base_url="https://wijkwijzer.example.nl")
    app = create_app(settings, watch=False)
    try:
        client = app.test_client()
        slug = "den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie"
        html = client.get(f"/casus/{slug}", headers={"Host": "elders.example.com"}).get_data(as_text=True)
        assert f'<link rel="canonical" href="https://wijkwijzer.example.nl/casus/{slug}">' in html
        assert _jsonld(html)[0]["url"] == f"https://wijkwijzer.example.nl/casus/{slug}"
        home = client.get("/?q=x").get_data(as_text=True)
        assert '<link rel="canonical" href="https://wijkwijzer.example.nl/">' in home
        browse = client.get("/thema/wonen?page=2").get_data(as_text=True)
        assert '<link rel="canonical" href="https://wijkwijzer.example.nl/thema/wonen">' in browse
        assert 'rel="canonical"' not in client.get("/zoeken?q=wonen").get_data(as_text=True)
        hit = client.get("/api/v1/search?q=wonen").get_json()["results"][0]
        assert hit["url"] == f"https://wijkwijzer.example.nl/casus/{hit['slug']}"
        assert client.get("/api/v1/cases?limit=1").get_json()["next"].startswith(
            "https://wijkwijzer.example.nl/api/v1/cases?cursor=")
        assert "Sitemap: https://wijkwijzer.example.nl/sitemap.xml" in client.get("/robots.txt").get_data(as_text=True)
    finally:
        app.extensions["wijkwijzer"].close()


def test_sitemap_lists_every_case_page_with_its_last_change(client):
    answer = client.get("/sitemap.xml")
    assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(answer.data)
    entries = {u.find(f"{SITEMAP}loc").text: u.findtext(f"{SITEMAP}lastmod") for u in root.iter(f"{SITEMAP}url")}
    for item in harvest(client, "/api/v1/cases?limit=500"):
        assert entries[item["url"]] == item["modified"]
    assert "http://localhost/" in entries and "http://localhost/thema/wonen" in entries
    assert all(client.get(url).status_code == 200 for url in list(entries)[:12])
    assert not any("?" in url for url in entries)


def test_robots_txt_closes_private_pages_and_parameters(client):
    answer = client.get("/robots.txt")
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = answer.get_data(as_text=True).splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    for path in ("/coordinator/", "/hulpvraag/status/", "/uitnodiging/", "/api/v1/match", "/zoeken?", "/*?"):
        assert f"Disallow: {path}" in lines
    assert "Sitemap: http://localhost/sitemap.xml" in lines


def test_catalogue_describes_the_collection_as_a_dcat_dataset(client):
    answer = client.get("/api/v1/catalogus")
    assert answer.headers["Content-Type"] == "application/ld+json; charset=utf-8"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    catalogue = json.loads(answer.data)
    assert catalogue["@type"] == "dcat:Catalog" and catalogue["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    [dataset] = catalogue["dcat:dataset"]
    assert dataset["@type"] == "dcat:Dataset"
    assert dataset["dct:title"]["@language"] == "nl" and "praktijkvoorbeelden" in dataset["dct:title"]["@value"]
    assert dataset["dct:description"]["@value"].startswith("40 praktijkvoorbeelden")
    assert "Leefbaarheid en Veiligheid" in dataset["dct:publisher"]["foaf:name"]
    assert dataset["dct:license"]["@id"] == "https://creativecommons.org/licenses/by/4.0/"
    assert dataset["dcat:theme"]["@id"].endswith("/data-theme/REGI")
    assert any("Utrecht Overvecht" in s.get("rdfs:label", {}).get("@value", "") for s in dataset["dct:spatial"])
    modified = max(i["modified"] for i in harvest(client, "/api/v1/cases?limit=500"))
    assert dataset["dct:modified"] == {"@value": modified, "@type": "xsd:dateTime"}
    kinds = {d["dcat:mediaType"]["@id"].rsplit("/", 2)[-2] + "/" + d["dcat:mediaType"]["@id"].rsplit("/", 1)[-1]:
             d["dcat:accessURL"]["@id"] for d in dataset["dcat:distribution"]}
    assert kinds == {"application/json": "http://localhost/api/v1/cases",
                     "application/jsonl": "http://localhost/api/v1/cases.jsonl",
                     "text/csv": "http://localhost/api/v1/cases.csv",
                     "application/atom+xml": "http://localhost/feed.atom"}
    for url in kinds.values():
        assert client.get(url.removeprefix("http://localhost")).status_code == 200


def test_public_api_allows_other_sites_but_not_the_match_api(client):
    for path in ("/api/v1/search?q=wonen", "/api/v1/status", "/api/v1/openapi.json", "/api/v1/cases.csv"):
        assert client.get(path).headers.get("Access-Control-Allow-Origin") == "*", path
    assert "Access-Control-Allow-Origin" not in client.post("/api/v1/match", json={}).headers
    assert "Access-Control-Allow-Origin" not in client.get("/zoeken").headers


READ_ONLY_PROBE = """
import json, sys
from pathlib import Path
from wijkwijzer import create_app
from wijkwijzer.config import Settings
app = create_app(Settings(content_dir=Path(sys.argv[2]), experts_dir=Path(sys.argv[3]), data_dir=Path(sys.argv[1]),
                          watch_interval=0, testing=True), watch=False)
client = app.test_client()
page = client.get("/casus/den-haag-zuidwest/preventie-met-gezag-school-jongerenwerk-politie")
listing = client.get("/api/v1/cases?limit=500")
print(json.dumps({"page": page.status_code, "html": page.get_data(as_text=True), "listing": listing.status_code,
                  "items": listing.get_json()["items"], "sitemap": client.get("/sitemap.xml").status_code,
                  "writable": app.extensions["wijkwijzer"].store.read_only is None}))
"""


def test_read_only_database_from_before_the_change_table_still_serves(tmp_path):
    """An upgrade onto a read-only data folder: the schema step cannot run, and the pages and the listing still
    answer, dated by the last index run."""
    import sqlite3
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.test_readonly import _set_writable, _unprivileged
    from wijkwijzer.storage.schema import STEPS, _step_case_changes

    settings = make_settings(tmp_path, SAMPLE_CONTENT)
    app = create_app(settings, watch=False)
    finished = app.extensions["wijkwijzer"].runs.last(with_changes=True)["finished"]
    app.extensions["wijkwijzer"].close()
    db = sqlite3.connect(settings.database_path)
    db.execute("DROP TABLE case_changes")
    db.execute(f"PRAGMA user_version = {STEPS.index(_step_case_changes)}")
    db.commit()
    db.close()
    _set_writable(settings.data_dir, False)
    try:
        result = subprocess.run([*_unprivileged(), sys.executable, "-c", READ_ONLY_PROBE, str(settings.data_dir),
                                 str(SAMPLE_CONTENT), str(settings.experts_dir)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        _set_writable(settings.data_dir, True)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["writable"] is False
    assert (answer["page"], answer["listing"], answer["sitemap"]) == (200, 200, 200)
    assert len(answer["items"]) == 40 and {i["modified"] for i in answer["items"]} == {finished}
    assert _jsonld(answer["html"])[0]["dateModified"] == finished


def test_a_reading_process_fills_in_missing_rows_without_touching_recorded_ones(small_app, clock):
    svc = small_app.extensions["wijkwijzer"]
    svc.store.db.execute("DELETE FROM case_changes WHERE slug = 'utrecht-overvecht/twee'")
    clock.value = "2026-04-04T04:00:00+00:00"
    client = small_app.test_client()
    page = client.get("/casus/utrecht-overvecht/twee").get_data(as_text=True)
    assert _jsonld(page)[0]["dateModified"] == "2026-04-04T04:00:00+00:00"
    dates = {i["slug"]: i["modified"] for i in harvest(client, "/api/v1/cases")}
    assert dates == {"utrecht-overvecht/een": "2026-01-01T09:00:00+00:00",
                     "utrecht-overvecht/drie": "2026-01-01T09:00:00+00:00",
                     "utrecht-overvecht/twee": "2026-04-04T04:00:00+00:00"}


def test_the_running_site_records_an_edit_it_picks_up(tmp_path, content_dir, clock):
    """The watcher of the running site re-indexes an edited file and dates the change for harvesters."""
    import time

    write_case(content_dir, "a/een.md", "title: Een")
    settings = replace(make_settings(tmp_path, content_dir), watch_interval=0.1)
    app = create_app(settings, watch=False)
    svc = app.extensions["wijkwijzer"]
    try:
        clock.value = "2026-06-06T06:00:00+00:00"
        write_case(content_dir, "a/een.md", "title: Een, bijgewerkt")
        svc.start_watching()
        client = app.test_client()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            [item] = client.get("/api/v1/cases").get_json()["items"]
            if item["title"] == "Een, bijgewerkt":
                break
            time.sleep(0.1)
        assert item["title"] == "Een, bijgewerkt"
        for _ in range(50):  # the change row is written right after the index commit
            if client.get("/api/v1/cases?since=2026-06-01").get_json()["items"]:
                break
            time.sleep(0.1)
        [changed] = client.get("/api/v1/cases?since=2026-06-01").get_json()["items"]
        assert (changed["title"], changed["modified"]) == ("Een, bijgewerkt", "2026-06-06T06:00:00+00:00")
    finally:
        svc.close()


def test_records_link_the_case_attachments(client):
    slug = "arnhem-oost/bereik-voor-en-vroegschoolse-educatie-vergroten"
    record = next(i for i in harvest(client, "/api/v1/cases?limit=500") if i["slug"] == slug)
    assert record["attachments"] == [{
        "title": "Afsprakenkader warme verwijzing naar de voorschool",
        "url": f"http://localhost/casus/{slug}/_bestanden/afsprakenkader-warme-verwijzing.pdf"}]
    with client.get(record["attachments"][0]["url"].removeprefix("http://localhost")) as download:
        assert download.status_code == 200 and download.headers["Content-Type"] == "application/pdf"
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/cases.csv").get_data(as_text=True), newline="")))
    assert next(r for r in rows if r["slug"] == slug)["attachments"] == record["attachments"][0]["url"]
