"""Parsing and validating case-study files: every problem names the file, the line and the field."""

import datetime as dt
from pathlib import Path

from wijkwijzer.domain.content import parse_case
from wijkwijzer.domain.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY, _ = load_taxonomy(ROOT / "content")


def parse(text: str, path: str = "rotterdam-zuid/voorbeeld.md"):
    return parse_case(path, text.encode("utf-8"), TAXONOMY)


def test_title_and_body_are_enough():
    result = parse("---\ntitle: Alleen een titel\n---\nEn een tekst.\n")
    assert result.ok and result.problems == []
    assert result.case.slug == "rotterdam-zuid/voorbeeld"
    assert result.case.summary == "En een tekst."


def test_full_frontmatter_resolves_labels_and_derives_municipality():
    result = parse(
        "---\ntitle: T\ntype: Praktijkvoorbeeld\nthemes: [Armoede en schulden, wonen]\n"
        "action_lines: meedoen\nfocus_area: Rotterdam-Zuid\ndate: 2024-05-14\nevidence: effectief\n"
        "tags: [Vroegsignalering]\n---\nBody\n"
    )
    case = result.case
    assert result.problems == []
    assert case.type == "praktijkvoorbeeld"
    assert case.themes == ("armoede-en-schulden", "wonen")
    assert case.action_lines == ("meedoen",)
    assert case.focus_area == "rotterdam-zuid" and case.municipality == "Rotterdam"
    assert case.date == dt.date(2024, 5, 14) and case.year == "2024"
    assert case.tags == ("vroegsignalering",)


def test_missing_title_is_an_error_with_location():
    result = parse("---\nsummary: geen titel\n---\nBody\n")
    assert not result.ok
    assert [p.format() for p in result.problems] == [
        "rotterdam-zuid/voorbeeld.md:1: title: verplicht veld ontbreekt: geef de casus een titel"
    ]


def test_broken_yaml_reports_the_line():
    result = parse("---\ntitle: Goed\nthemes: [wonen\nsummary: x\n---\nBody\n")
    assert not result.ok
    (problem,) = result.problems
    assert problem.field == "frontmatter" and problem.line in (3, 4, 5)
    assert problem.path == "rotterdam-zuid/voorbeeld.md"


def test_wrong_types_are_errors_on_their_line():
    result = parse("---\ntitle: T\ndate: morgen\nthemes: {a: 1}\n---\nBody\n")
    fields = {(p.field, p.line, p.severity) for p in result.problems}
    assert ("date", 3, "error") in fields and ("themes", 4, "error") in fields
    assert not result.ok


def test_unknown_field_and_taxonomy_values_are_warnings_with_hints():
    result = parse("---\ntitle: T\nthemse: [wonen]\nthemes: [wonen, armoede-schulden, ruimtevaart]\n---\nB\n")
    assert result.ok
    messages = [p.format() for p in result.problems]
    assert any("themse" in m and "waarschuwing" in m and "'themes'" in m for m in messages)
    assert any("armoede-schulden" in m and "armoede-en-schulden" in m for m in messages)
    assert any("ruimtevaart" in m for m in messages)
    assert result.case.themes == ("wonen",)


def test_non_utf8_file_is_reported():
    result = parse_case("landelijk/oud.md", "---\ntitle: Caf\xe9\n---\n".encode("latin-1"), TAXONOMY)
    assert not result.ok
    assert result.problems[0].field == "codering" and result.problems[0].line == 2


def test_bad_file_names_and_javascript_source_urls_are_refused():
    assert not parse("---\ntitle: T\n---\n", path="Map Met Spaties/x.md").ok
    result = parse("---\ntitle: T\nsource_url: javascript:alert(1)\n---\nB\n")
    assert result.ok and result.case.source_url == ""
    assert result.problems[0].field == "source_url"


def test_sample_content_is_clean_and_covers_the_taxonomy():
    cases = []
    for path in sorted((ROOT / "content").rglob("*.md")):
        result = parse_case(path.relative_to(ROOT / "content").as_posix(), path.read_bytes(), TAXONOMY)
        assert result.problems == [], [p.format() for p in result.problems]
        cases.append(result.case)
    assert len(cases) >= 40
    assert {t for c in cases for t in c.themes} == set(TAXONOMY.themes)
    assert {a for c in cases for a in c.action_lines} == set(TAXONOMY.action_lines)
    assert len({c.focus_area for c in cases if c.focus_area}) >= 15
    assert {c.type for c in cases} == set(TAXONOMY.types)
    for case in cases:
        assert 300 <= len(case.body.split()) <= 1500, case.slug
