"""Routing by form and by likeness to the example requests, the confidence a coordinator sees, reasons that only
claim a fit above the calibrated similarity, and the examples file's validation."""

import datetime as dt
import re
import shutil
import textwrap
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app
from wijkwijzer.cli import main
from wijkwijzer.domain.helprequests import HelpRequest
from wijkwijzer.domain.matching import Calibration, asked, match, related_expertise
from wijkwijzer.domain.pool import POOLS, PoolMember
from wijkwijzer.domain.routing import parse_examples, request_form, route
from wijkwijzer.services import Services

TODAY = dt.date(2026, 11, 23)
THEMES = ["wonen", "armoede-en-schulden", "veiligheid-en-criminaliteit"]

# Each form, worded against the grain of the old word counts: a fact asked with words of advice, advice asked
# with words of rules, capacity for months asked without the word "capaciteit".
FACT_WITH_ADVICE_WORDS = ("Wij hebben een strategie voor vroegsignalering ontwikkeld en willen die aanpak uitbreiden. "
                          "Tot wanneer kunnen we daarvoor een aanvraag indienen bij het Volkshuisvestingsfonds?")
ADVICE_WITH_RULE_WORDS = ("Onze regels en voorwaarden voor de bijzondere bijstand sluiten slecht aan bij gezinnen "
                          "met schulden. Wie denkt met ons mee over een nieuwe opzet van de regeling?")
MONTHS_FOR_HOUSING = ("Voor de transformatie van twee kantoorpanden naar sociale huurwoningen hebben we acht "
                      "maanden een procesmanager nodig, drie dagen per week.")
FORMS = [(FACT_WITH_ADVICE_WORDS, "vraagbaak"), (ADVICE_WITH_RULE_WORDS, "expertpool"),
         (MONTHS_FOR_HOUSING, "flexpool")]


def ask(text: str, **fields) -> HelpRequest:
    return HelpRequest(municipality=fields.pop("municipality", "Rotterdam"), text=text, **fields)


def member(id: str, **fields) -> PoolMember:
    values = {"name": id.split("/")[1].title(), "pool": id.split("/")[0], "role": "Adviseur", "hours_per_week": 8.0,
              "available_from": dt.date(2026, 1, 1), "available_until": dt.date(2027, 12, 31)}
    return PoolMember(id=id, **(values | fields))


# -- the form ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "pool"), FORMS)
def test_the_form_routes_against_the_grain_of_the_words(text, pool):
    routing = route(ask(text))  # no examples: the form alone
    assert routing.pool == pool, routing


def test_form_reads_questions_after_a_conjunction_and_hoe_questions_by_who_acts():
    assert request_form(ask("Het gaat om een convenant. En mogen we daarin gegevens delen?")).fact == 1.0
    assert request_form(ask("Op welke grondslag mogen we gegevens delen?")).fact == 1.0
    how_rule = request_form(ask("Hoe wordt de uitkering verlaagd als een kind weer thuis woont?"))
    how_we = request_form(ask("Hoe krijgen we ouders eerder in beeld bij de voorschool?"))
    assert how_rule.fact == 1.0 and how_rule.think == 0.0
    assert how_we.fact == 0.0 and how_we.think >= 0.5


def test_a_fields_choice_is_sure_and_unrouted():
    routing = route(ask(MONTHS_FOR_HOUSING, kind="vraagbaak"))
    assert routing.pool == "vraagbaak" and routing.confidence == "zeker" and not routing.unsure


def test_likeness_to_examples_weighs_with_the_form_and_sets_the_confidence():
    text = "Wij zoeken iemand voor de wijk."  # no form to speak of
    near_flex = {"expertpool": [0.80, 0.79, 0.78], "flexpool": [0.90, 0.89, 0.88], "vraagbaak": [0.70, 0.70, 0.69]}
    even = {pool: [0.8, 0.8, 0.8] for pool in POOLS}
    by_form, by_flex = route(ask(text)), route(ask(text), near_flex)
    assert by_flex.shares["flexpool"] > by_form.shares["flexpool"] + 0.2
    assert set(by_flex.shares) == set(POOLS) and abs(sum(by_flex.shares.values()) - 1) < 1e-6
    unsure = route(ask(text), even)  # neither form nor examples say much: the coordinator decides
    assert unsure.confidence == "twijfel" and unsure.unsure and unsure.runner_up != unsure.pool
    sure = route(ask(MONTHS_FOR_HOUSING), even)
    assert sure.pool == "flexpool" and sure.confidence == "zeker"


def test_an_unsure_route_brings_the_next_pools_best():
    members = [member("expertpool/a"), member("expertpool/b"), member("vraagbaak/c"), member("flexpool/d")]
    even = {pool: [0.8, 0.8, 0.8] for pool in POOLS}
    result = match(ask("Wij zoeken iemand voor de wijk."), members, {m.id: 0.5 for m in members}, today=TODAY,
                   examples=even)
    assert result.routing.unsure
    assert {m.pool for m in result.alternatives} == {result.routing.runner_up}
    assert {m.pool for m in result.matches} == {result.routing.pool}


# -- reasons -------------------------------------------------------------------------------------------------
def test_sluit_aan_only_above_the_calibrated_similarity():
    members = [member(f"expertpool/{name}") for name in ("laag", "midden", "hoog")]
    sims = {"expertpool/laag": 0.40, "expertpool/midden": 0.60, "expertpool/hoog": 0.90}
    request = ask("Wij willen sparren over onze aanpak van schulden.", kind="expertpool")
    reasons = {m.id: " · ".join(m.reasons)
               for m in match(request, members, sims, today=TODAY,
                              calibration=Calibration(related=0.5, close=0.8)).matches}
    assert "sluit" not in reasons["expertpool/laag"]
    assert "Profiel sluit aan bij de vraag" in reasons["expertpool/midden"]
    assert "Profiel sluit goed aan bij de vraag" in reasons["expertpool/hoog"]
    uncalibrated = match(request, members, sims, today=TODAY).matches
    assert not any("sluit" in " ".join(m.reasons) for m in uncalibrated)  # nothing to claim a fit by


def test_compounds_link_related_expertise_but_common_parts_and_bare_words_do_not():
    drugs = member("expertpool/d", expertise=("drugscriminaliteit", "wijkveiligheid"))
    # "wijk" as a word of its own says nothing of the specialisation "wijkveiligheid" makes of it
    assert related_expertise(drugs, asked("In onze wijk neemt de drugshandel toe."), frozenset()) == [
        "drugscriminaliteit"]
    sibling = asked("De wijkagent ziet de drugshandel toenemen")  # two compounds share "wijk" and "drug"
    assert related_expertise(drugs, sibling, frozenset()) == ["drugscriminaliteit", "wijkveiligheid"]
    assert related_expertise(drugs, sibling, frozenset({"wijk"})) == ["drugscriminaliteit"]
    result = match(ask("In onze wijk neemt de drugshandel toe.", kind="expertpool"), [drugs], {drugs.id: 0.5},
                   today=TODAY, calibration=Calibration(0.9, 0.95, frozenset({"wijk"})))
    assert "Verwante expertise: drugscriminaliteit" in result.matches[0].reasons


# -- the examples file ---------------------------------------------------------------------------------------
def examples_yaml(per_pool: int = 5, extra: str = "") -> str:
    lines = ["examples:"]
    for pool in POOLS:
        lines.append(f"  {pool}:")
        lines += [f"    - text: \"Een voorbeeldvraag voor de {pool} nummer {i} over wonen\"\n      themes: [wonen]"
                  for i in range(per_pool)]
    return "\n".join(lines) + "\n" + extra


def test_examples_file_parses():
    examples, problems = parse_examples(examples_yaml(), THEMES)
    assert problems == [] and len(examples) == 3 * 5 and examples[0].themes == ("wonen",)


@pytest.mark.parametrize(("text", "where", "says"), [
    ("examples: [een, twee]", "examples", "per pool een lijst"),
    ("niets: 1", "examples", "verwacht 'examples:'"),
    ("examples:\n  vraagbaak: [\n", "examples", "niet leesbaar als YAML"),
    (examples_yaml(extra="  adviespool:\n    - text: \"Nog een vraag met genoeg woorden erin\"\n"), "examples",
     "onbekende pool 'adviespool'"),
    (examples_yaml(4), "examples.expertpool", "4 geldige voorbeelden; geef er minstens 5"),
    (examples_yaml(extra="  vraagbaak:\n    - text: te kort\n"), "examples.vraagbaak[1].text", "minstens 5 woorden"),
    (examples_yaml().replace("themes: [wonen]", "themes: [wonen, ruimte]", 1), "examples.expertpool[1].themes",
     "onbekend thema 'ruimte'"),
    (examples_yaml().replace("themes: [wonen]", "thema: [wonen]", 1), "examples.expertpool[1]",
     "onbekend veld 'thema'"),
    (examples_yaml().replace("nummer 1", "nummer 0", 1), "examples.expertpool[2].text", "staat al eerder"),
])
def test_examples_file_errors_name_line_field_and_what_is_allowed(text, where, says):
    examples, problems = parse_examples(text, THEMES)
    assert examples == []  # a file with errors routes nothing: the form alone decides
    assert any(p.field == where and says in p.message and p.line >= 1 for p in problems), problems


def test_check_reports_the_examples_file_and_the_site_picks_up_a_change(tmp_path, monkeypatch):
    experts = tmp_path / "experts"
    shutil.copytree(ROOT / "experts", experts)
    routing_file = experts / "_routing.yml"
    routing_file.write_text(textwrap.dedent("""\
        examples:
          vraagbaak:
            - text: kort
        """), encoding="utf-8")
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WIJKWIJZER_EXPERTS_DIR", str(experts))
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(SAMPLE_CONTENT))
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "experts/_routing.yml:3: examples.vraagbaak[1].text:" in result.output

    svc = Services.build(replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=experts), embedder=None)
    svc.knowledge.check()
    svc.pool.check_interval = 0
    assert svc.pool.state().examples == []
    shutil.copy(ROOT / "experts" / "_routing.yml", routing_file)
    assert len(svc.pool.state().examples) >= 3 * 5 and not [p for p in svc.pool.check() if "_routing" in p.path]
    svc.close()


# -- the coordinator's page ----------------------------------------------------------------------------------
def test_an_unsure_route_shows_both_pools_on_the_coordinator_page(tmp_path):
    app = create_app(replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts"), watch=False)
    svc = app.extensions["wijkwijzer"]
    svc.accounts.add("coord", "Coördinator Een", "lang-genoeg-wachtwoord")
    request_id, _ = svc.requests.submit({
        "municipality": "Rotterdam", "contact_name": "An", "email": "an@rotterdam.nl", "role": "Beleid",
        "kind": "weet ik niet", "question": "Kunnen jullie ons helpen met de regels voor woningtoewijzing in "
                                            "onze focuswijk?"})
    answer = svc.suggestions(request_id)
    assert answer["confidence"] == "twijfel" and answer["alternative_pool"] not in (None, answer["pool"])
    client = app.test_client()
    html = client.get("/coordinator/inloggen").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    client.post("/coordinator/inloggen", data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                               "csrf_token": csrf})
    page = client.get(f"/coordinator/aanvraag/{request_id}").get_data(as_text=True)
    from wijkwijzer.domain.pool import POOLS

    assert f"Pool: <strong>{POOLS[answer['pool']]}</strong> (twijfel)" in page
    assert "Twijfel over de pool: ook voorstellen uit de" in page
    for suggestion in answer["matches"][:1] + answer["alternatives"]:
        assert f'value="{suggestion["id"]}"' in page  # a button to link each, from either pool
    app.extensions["wijkwijzer"].close()


# -- with the real model -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_pool(tmp_path_factory, built_model):
    settings = replace(make_settings(tmp_path_factory.mktemp("routing"), SAMPLE_CONTENT),
                       experts_dir=ROOT / "experts", embedding_model=str(built_model.path))
    svc = Services.build(settings)
    svc.knowledge.check()
    yield svc.pool
    svc.close()


@pytest.mark.model
@pytest.mark.parametrize(("text", "pool"), FORMS)
def test_real_model_routes_by_form_and_examples(real_pool, text, pool):
    result = real_pool.match(ask(text), today=TODAY)
    assert result.routing.pool == pool, result.routing


@pytest.mark.model
def test_real_model_reasons_claim_a_fit_only_above_the_calibration(real_pool):
    hub, calibration = real_pool.reference()
    assert calibration is not None and calibration.close >= calibration.related
    request = ask("Op straat in onze wijk wordt openlijk gedeald; de drugshandel trekt jongeren aan als koerier. "
                  "Wie denkt mee over een aanpak?", kind="expertpool")
    result = real_pool.match(request, today=TODAY)
    raw = real_pool.similarities([request.text], real_pool.members())[0]
    for suggestion in result.matches:
        claims = any("sluit" in reason for reason in suggestion.reasons)
        assert claims == (raw[suggestion.id] - hub[suggestion.id] >= calibration.related), suggestion
    assert not all(any("sluit" in r for r in m.reasons) for m in result.matches)  # not every place claims a fit
    assert any("drugscriminaliteit" in " ".join(m.reasons) for m in result.matches[:3])


def test_a_pool_folder_without_examples_routes_by_the_built_in_ones(tmp_path):
    experts = tmp_path / "experts"
    shutil.copytree(ROOT / "experts" / "vraagbaak", experts / "vraagbaak")
    svc = Services.build(replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=experts), embedder=None)
    svc.knowledge.check()
    assert {e.pool for e in svc.pool.state().examples} == set(POOLS)
    [warning] = [p for p in svc.pool.check() if p.path == "_routing.yml"]
    assert warning.severity == "warning" and "ingebouwde voorbeeldvragen" in warning.message
    svc.close()


def test_someone_asked_to_work_with_us_is_thinking_along():
    assert request_form(ask("Welke spelregels horen bij een wijkbudget?")).think == 0.0
    assert request_form(ask("Welke spelregels horen bij een wijkbudget? Wie stelt ze met ons op?")).think >= 0.5
