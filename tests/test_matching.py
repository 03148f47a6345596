"""The matcher: routing, every hard rule, scores with reasons, several roles, batch assignment, pool files."""

import datetime as dt
import json
import textwrap

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer.cli import main
from wijkwijzer.domain.gemeenten import load_gemeenten
from wijkwijzer.domain.helprequests import HelpRequest, request_from_json
from wijkwijzer.domain.matching import (
    asked,
    assign_batch,
    assign_greedy,
    exclusion,
    expertise_hits,
    match,
    requested_roles,
    route,
)
from wijkwijzer.domain.pool import PoolMember, parse_member, read_pool
from wijkwijzer.domain.taxonomy import load_taxonomy
from wijkwijzer.services import Services

TODAY = dt.date(2026, 11, 23)
TAXONOMY, _ = load_taxonomy(SAMPLE_CONTENT)
GEMEENTEN = load_gemeenten()


def member(id="flexpool/a", **fields) -> PoolMember:
    values = {"name": "A", "pool": id.split("/")[0], "role": "Projectleider woningbouw", "hours_per_week": 16.0,
              "available_from": dt.date(2026, 1, 1), "available_until": dt.date(2027, 12, 31)}
    values.update(fields)
    return PoolMember(id=id, **values)


def request(text="Wij zoeken een projectleider voor sloop-nieuwbouw, 16 uur per week.", **fields) -> HelpRequest:
    return HelpRequest(municipality=fields.pop("municipality", "Schiedam"), text=text, **fields)


# -- routing -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "pool"), [
    ("Welke termijn geldt voor bezwaar tegen een besluit over de bijzondere bijstand?", "vraagbaak"),
    ("Mag een gemeente gegevens over huurachterstanden delen met de woningcorporatie?", "vraagbaak"),
    ("We zoeken tijdelijk twee projectleiders voor de herstructurering van 400 portiekwoningen, voor een jaar.",
     "flexpool"),
    ("Voor de grondexploitatie van ons nieuwbouwplan hebben we zes maanden een planeconoom nodig.", "flexpool"),
    ("Wij willen sparren over onze aanpak van jongeren die afglijden naar de criminaliteit.", "expertpool"),
    ("Hoe krijgen we scholen, zorg en wijkteams in Overvecht in één aanpak? Graag iemand die meedenkt.",
     "expertpool"),
])
def test_weet_ik_niet_is_routed_by_the_wording(text, pool):
    routing = route(request(text))
    assert routing.pool == pool and routing.reason


def test_an_explicit_choice_is_honoured():
    routing = route(request("Welke termijn geldt voor bezwaar?", kind="expertpool"))
    assert routing.pool == "expertpool" and "zelf" in routing.reason


# -- hard rules ----------------------------------------------------------------------------------------------
def test_conflicts_compare_whole_municipality_names():
    heuvelrug = member(conflicts=("Utrechtse Heuvelrug",))
    assert exclusion(heuvelrug, request(municipality="Utrecht"), 0, TODAY) is None
    assert "belangenconflict" in exclusion(heuvelrug, request(municipality="utrechtse  heuvelrug"), 0, TODAY)


def test_no_capacity_no_match():
    assert exclusion(member(hours_per_week=0.0), request(), 0, TODAY) == "geen uren beschikbaar"
    assert "volgeboekt" in exclusion(member(hours_per_week=16.0), request(), 16.0, TODAY)
    assert exclusion(member(hours_per_week=16.0), request(), 8.0, TODAY) is None


def test_availability_must_overlap_the_desired_period():
    ended = member(available_until=dt.date(2026, 6, 30))
    assert "beschikbaar tot" in exclusion(ended, request(), 0, TODAY)
    later = member(available_from=dt.date(2027, 6, 1))
    assert "pas beschikbaar" in exclusion(later, request(start=dt.date(2027, 1, 1), months=3), 0, TODAY)
    assert exclusion(later, request(start=dt.date(2027, 1, 1), months=12), 0, TODAY) is None


def test_excluded_members_never_appear_and_say_why():
    members = [member("flexpool/vrij"), member("flexpool/conflict", conflicts=("Schiedam",)),
               member("flexpool/nul", hours_per_week=0.0), member("flexpool/weg", available_until=dt.date(2025, 1, 1))]
    result = match(request(), members, {m.id: 0.9 for m in members}, today=TODAY)
    assert [m.id for m in result.matches] == ["flexpool/vrij"]
    assert set(result.excluded) == {"flexpool/conflict", "flexpool/nul", "flexpool/weg"}


# -- scores and reasons --------------------------------------------------------------------------------------
def test_expertise_survives_inflection_and_compounds():
    m = member(expertise=("VvE-activering", "schuldhulpverlening", "huurdersbegeleiding"))
    hits = expertise_hits(m, asked("Hoe activeren we slapende VvE's en wat doet schuldhulp voor huurders?"))
    assert "schuldhulpverlening" in hits and "VvE-activering" in hits


def test_a_shared_compound_part_names_no_expertise():
    # "buurtbudgetten" holds "budget", but a request about neighbourhood budgets does not ask for budget coaching;
    # the bare word "bewoners" does not name a residents' committee either.
    m = member(expertise=("budgetcoaching", "bewonerscommissies", "gebiedsbudgetten"))
    request = asked("Er is subsidie voor buurtbudgetten; hoe betrekken we bewoners?")
    assert expertise_hits(m, request, common=frozenset({"bewoner"})) == []
    assert expertise_hits(m, request) == ["bewonerscommissies"]  # a specific word of the pool would name it
    assert expertise_hits(m, asked("Wie helpt met budgetcoaching en een gebiedsbudget?")) == [
        "budgetcoaching", "gebiedsbudgetten"]


def test_better_fitting_member_ranks_first_with_dutch_reasons():
    fit = member("expertpool/fit", role="Adviseur schulden", expertise=("vroegsignalering", "schuldhulpverlening"),
                 themes=("armoede-en-schulden",), regions=("Zuid-Holland",), hours_per_week=8.0)
    other = member("expertpool/ander", role="Adviseur onderwijs", expertise=("taalachterstand",),
                   regions=("Groningen",), hours_per_week=8.0)
    req = request("Wij willen advies over onze aanpak van vroegsignalering van schulden.",
                  themes=("armoede-en-schulden",), province="Zuid-Holland")
    result = match(req, [other, fit], {"expertpool/fit": 0.85, "expertpool/ander": 0.80}, today=TODAY)
    top = result.matches[0]
    assert top.id == "expertpool/fit" and top.score > result.matches[1].score
    text = " · ".join(top.reasons)
    assert "Expertise: vroegsignalering" in text and "8 uur per week vrij" in text and "Zuid-Holland" in text
    assert "Thema: armoede-en-schulden" in text


def test_several_roles_get_a_member_each():
    roles = requested_roles("Wij zoeken twee projectleiders en een planeconoom voor de herstructurering.")
    assert roles == [("projectleider", 2), ("planeconom", 1)]
    members = [member(f"flexpool/pl{i}") for i in range(3)] + [
        member("flexpool/eco", role="Planeconoom"), member("flexpool/jur", role="Planjurist")]
    sims = {m.id: 0.8 for m in members} | {"flexpool/jur": 0.95}
    result = match(request("Wij zoeken twee projectleiders en een planeconoom voor de herstructurering, "
                           "16 uur per week."), members, sims, today=TODAY, limit=3)
    slots = [m.slot for m in result.matches]
    assert slots.count("projectleider") == 2 and slots.count("planeconom") == 1
    assert all(m.reasons[0].startswith("Rol: ") for m in result.matches)
    wider = match(request("Wij zoeken twee projectleiders en een planeconoom voor de herstructurering, "
                          "16 uur per week."), members, sims, today=TODAY, limit=5).matches
    # every slot is filled, but the list still reads best first: the planjurist is no slot's but fits best
    assert [m.score for m in wider] == sorted((m.score for m in wider), reverse=True)
    assert wider[0].id == "flexpool/jur" and wider[0].slot is None


def test_specific_words_shared_with_the_profile_weigh_more_than_common_ones():
    body = "Ik werk als adviseur in wijken en met bewoners. "
    members = [member(f"flexpool/m{i}", profile=body) for i in range(4)] + [
        member("flexpool/vakman", profile=body + "Ik beoordeel funderingen van oude panden.")]
    sims = {m.id: 0.8 for m in members}
    result = match(request("De funderingen van de panden in onze wijk verzakken; wie helpt de bewoners?",
                           kind="flexpool"),
                   members, sims, today=TODAY)
    assert result.matches[0].id == "flexpool/vakman"  # ties on meaning: by id it would come last
    assert not any("Expertise" in r for r in result.matches[0].reasons)  # shared words claim no expertise


# -- batch ---------------------------------------------------------------------------------------------------
def test_batch_assignment_beats_greedy_and_respects_capacity():
    # Greedy gives A to request 0 (0.9) and leaves request 1 without anyone; optimal gives both.
    candidates = [[("A", 0.9), ("B", 0.8)], [("A", 0.85)]]
    hours, capacity = [8.0, 8.0], {"A": 8.0, "B": 8.0}
    greedy = assign_greedy(candidates, hours, capacity)
    optimal = assign_batch(candidates, hours, capacity)
    assert greedy.members == ["A", None] and greedy.total == pytest.approx(0.9)
    assert optimal.members == ["B", "A"] and optimal.total == pytest.approx(1.65)
    shared = assign_batch([[("A", 0.9)], [("A", 0.9)], [("A", 0.9)]], [8.0, 8.0, 8.0], {"A": 16.0})
    assert shared.members.count("A") == 2  # 16 free hours hold two 8-hour requests, not three


# -- pool files ----------------------------------------------------------------------------------------------
def parse(text: str, path="flexpool/iemand.md"):
    return parse_member(path, textwrap.dedent(text).encode(), TAXONOMY, GEMEENTEN)


def test_member_file_problems_name_the_field_and_line():
    result = parse("""\
        ---
        name: Iemand
        pool: expertpool
        role: Projectleider
        hours_per_week: veel
        regions: [Zuid-Hollnd]
        conflicts: [Rozendal]
        kleur: blauw
        available_from: 2027-01-01
        available_until: 2026-01-01
        ---
        Profiel.
        """)
    assert result.member is None
    found = {(p.field, p.line, p.severity) for p in result.problems}
    assert ("pool", 3, "error") in found and ("hours_per_week", 5, "error") in found
    assert ("available_until", 10, "error") in found and ("kleur", 8, "warning") in found
    messages = " ".join(p.message for p in result.problems)
    assert "Zuid-Holland" in messages and "Rozendaal" in messages  # hints


def test_sample_pool_is_valid_and_varied():
    members, problems = read_pool(ROOT / "experts", TAXONOMY, GEMEENTEN)
    assert not [p for p in problems if p.severity == "error"]
    assert len(members) >= 40
    assert {m.pool for m in members} == {"expertpool", "flexpool", "vraagbaak"}


def test_request_json_errors_name_the_field():
    with pytest.raises(ValueError, match="municipality"):
        request_from_json({"request": "x"})
    with pytest.raises(ValueError, match="kind"):
        request_from_json({"municipality": "Delft", "request": "x", "kind": "iets"})
    with pytest.raises(ValueError, match="start"):
        request_from_json({"municipality": "Delft", "request": "x", "start": "morgen"})


# -- services and CLI ----------------------------------------------------------------------------------------
def test_unknown_municipality_is_a_clear_error(tmp_path):
    from wijkwijzer.domain.helprequests import BadRequest

    svc = Services.build(make_settings(tmp_path, SAMPLE_CONTENT))
    with pytest.raises(BadRequest, match="Utrecht"):
        svc.pool.match(HelpRequest(municipality="Utrect", text="Hulp gevraagd"))
    svc.close()


def test_match_cli_reads_and_writes_json_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))  # no model there: term overlap
    monkeypatch.setenv("WIJKWIJZER_EXPERTS_DIR", str(ROOT / "experts"))
    lines = [
        {"id": "a", "municipality": "Schiedam", "request": "Twee projectleiders voor de sloop-nieuwbouw van "
         "portiekflats in Nieuwland, 16 uur per week, een jaar.", "hours_per_week": 16, "months": 12},
        {"id": "b", "municipality": "Atlantis", "request": "Iets"},
        {"id": "c", "municipality": "Den Haag", "request": "Welke termijn geldt voor een bezwaar?"},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\nniet-json\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["match", "--input", str(source), "--json"], catch_exceptions=False)
    out = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [o["id"] for o in out] == ["a", "b", "c", 4]
    assert out[0]["pool"] == "flexpool" and out[0]["matches"] and out[0]["routing_reason"]
    assert {"id", "name", "pool", "score", "reasons"} <= set(out[0]["matches"][0])
    assert len(out[0]["cases"]) == 3
    assert "onbekende gemeente" in out[1]["error"] and out[2]["pool"] == "vraagbaak"
    assert "regel 4" in out[3]["error"]
    assert result.exit_code == 1


def test_check_validates_pool_files(tmp_path, monkeypatch):
    experts = tmp_path / "experts" / "flexpool"
    experts.mkdir(parents=True)
    (experts / "fout.md").write_text("---\nname: X\nrole: Planjurist\nhours_per_week: -3\n---\n", encoding="utf-8")
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WIJKWIJZER_EXPERTS_DIR", str(tmp_path / "experts"))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "experts/flexpool/fout.md:4: hours_per_week:" in result.output


@pytest.mark.model
def test_real_model_matches_a_request(tmp_path, built_model):
    from dataclasses import replace

    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts",
                       embedding_model=str(built_model.path))
    svc = Services.build(settings)
    svc.knowledge.check()
    result = svc.pool.match(HelpRequest(
        municipality="Rotterdam", text="Wij willen inwoners met geldzorgen eerder bereiken, voordat de schulden "
        "oplopen. Wie kan meedenken over onze aanpak?"), today=TODAY)
    assert result.routing.pool == "expertpool"
    assert result.matches and result.matches[0].score >= result.matches[-1].score
    assert any("schuld" in " ".join(m.reasons).lower() for m in result.matches[:3])
    svc.close()
