"""Search as a person expects it (issue 14, points 2-6): phrases with stop words, acronyms by case, protected
stems, typo correction that fires only when it should, and snippets that read well. Real Whoosh index in tmp_path,
the Flask test client for the page, the real model where the semantic side matters."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import pytest

from tests.conftest import SAMPLE_CONTENT, make_settings, write_case
from wijkwijzer import create_app
from wijkwijzer.domain.acronyms import load_acronyms
from wijkwijzer.search import spelling
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.snippets import snippet
from wijkwijzer.search.spelling import LETTERS_PER_EDIT, edits1, looks_foreign
from wijkwijzer.services import Services
from wijkwijzer.text.dutch import analyse_word, dutch_words, is_dutch_word, stems, terms


def case(content, slug: str, title: str, body: str, **meta: str) -> None:
    """One case study with the given title and body."""
    extra = "".join(f"\n{k}: {v}" for k, v in meta.items())
    write_case(content, f"landelijk/{slug}.md", f'title: "{title}"\ntype: praktijkvoorbeeld{extra}', body)


@pytest.fixture
def svc(tmp_path, content_dir):
    case(content_dir, "gezag", "Preventie met gezag in de wijk", "Het programma Preventie met gezag helpt scholen.")
    case(content_dir, "en-gezag", "Preventie en gezag", "Over preventie en gezag op straat, niet over het programma.")
    case(content_dir, "los", "Gezag op school", "Preventie is goed. Later sprak de rector met gezag over regels.")
    case(content_dir, "vve", "Slapende VvE's wakker maken",
         "Een VvE-coach hielp de eigenaren. De VvE kreeg een bestuur.")
    case(content_dir, "vve-voluit", "Verenigingen activeren", "Elke vereniging van eigenaars kreeg een coach.")
    case(content_dir, "voorschool", "Bereik van voor- en vroegschoolse educatie (VVE)",
         "Meer peuters naar de VVE. Het consultatiebureau geeft een VVE-indicatie.")
    case(content_dir, "ggd", "Gezondheid in de wijk", "De GGD meet de gezondheid van bewoners.")
    case(content_dir, "ouderen", "Eenzaamheid onder ouderen",
         "Veel ouderen zitten alleen thuis. Een oudere vrouw vertelt.")
    case(content_dir, "ouders", "Ouders betrekken bij school", "Ouders komen naar de ouderavond. Elke ouder telt.")
    case(content_dir, "leefbaar", "Leefbaarheid en veiligheid", "De leefbaarheid van de wijk ging vooruit. "
         "Ondermijning werd zichtbaar. Het onderwijs deed mee. Kansengelijkheid staat voorop.")
    (content_dir / "_acronyms.yml").write_text(
        "VvE: vereniging van eigenaars\nVVE: voor- en vroegschoolse educatie\nGGD: gemeentelijke gezondheidsdienst\n",
        encoding="utf-8")
    services = Services.build(make_settings(tmp_path, content_dir))
    assert not services.sync().errors
    yield services
    services.close()


def found(svc, text: str, **kw) -> set[str]:
    response = svc.search(SearchRequest(text=text, per_page=50, **kw), mode="keyword")
    return {hit.slug.split("/")[-1] for hit in response.hits}


# -- phrases -------------------------------------------------------------------------------------------------
def test_a_phrase_with_a_stop_word_matches_exactly_the_documents_that_hold_it(svc):
    assert found(svc, '"preventie met gezag"') == {"gezag"}
    assert found(svc, '"preventie en gezag"') == {"en-gezag"}
    assert found(svc, '"preventie met gezag" ouders') == {"gezag", "ouders"}  # a phrase beside a plain word
    assert found(svc, '"gezag met preventie"') == set()


# -- acronyms ------------------------------------------------------------------------------------------------
def test_acronyms_are_told_apart_by_case_where_both_forms_are_used(svc):
    assert found(svc, "VvE") == {"vve", "vve-voluit"}  # the expansion written out counts too
    assert found(svc, "VVE") == {"voorschool"}
    assert found(svc, "vve") == {"vve", "voorschool", "vve-voluit"}  # lowercase carries no case: every form
    assert found(svc, "vereniging van eigenaars") >= {"vve", "vve-voluit"}
    assert "voorschool" not in found(svc, "vereniging van eigenaars")
    # One case form only: any case finds it.
    assert found(svc, "GGD") == found(svc, "ggd") == {"ggd"}
    snippet_html = svc.search(SearchRequest(text="VvE"), mode="keyword").hits[0].snippet
    assert "<mark>VvE</mark>" in snippet_html and "<mark>VVE" not in snippet_html


def test_acronym_list_is_checked_with_specific_messages(tmp_path):
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "_acronyms.yml").write_text(
        "VvE: vereniging van eigenaars\nvve: klein geschreven\nVvE: nog eens\nGGD:\nRIEC: [ok, 12]\n", encoding="utf-8")
    acronyms, problems = load_acronyms(folder)
    assert acronyms.expansions == {"VvE": ("vereniging van eigenaars",)}
    messages = {(p.line, p.field): p.message for p in problems}
    assert "geen afkorting" in messages[(2, "vve")] and "2 tot 5 letters" in messages[(2, "vve")]
    assert "al eerder" in messages[(3, "VvE")]
    assert "betekenis" in messages[(4, "GGD")] and "betekenis" in messages[(5, "RIEC")]
    assert all(p.path == "content/_acronyms.yml" for p in problems)
    (folder / "_acronyms.yml").write_text("- VvE\n", encoding="utf-8")
    assert "VvE: vereniging van eigenaars" in load_acronyms(folder)[1][0].message


def test_an_edit_of_the_acronym_list_is_picked_up_like_a_content_change(svc, content_dir):
    assert found(svc, "gezondheidsdienst") == {"ggd"}  # through the list: the text only says GGD
    assert not found(svc, "geneeskundige")
    (content_dir / "_acronyms.yml").write_text("GGD: [geneeskundige dienst]\nVvE: 12\n", encoding="utf-8")
    report = svc.sync()
    assert found(svc, "geneeskundige") == {"ggd"} and not found(svc, "gezondheidsdienst")
    assert any(p.field == "VvE" and "_acronyms.yml" in p.path for p in report.problems)
    assert any(p.field == "VvE" for p in svc.knowledge.check())


# -- stemming ------------------------------------------------------------------------------------------------
def test_protected_stems_keep_the_elderly_apart_from_parents(svc):
    assert analyse_word("ouderen")[0] == analyse_word("oudere")[0] != analyse_word("ouders")[0]
    assert analyse_word("wijk")[0] == analyse_word("wijken")[0]  # same meaning: stays merged
    assert "ouderen" in {run for run, _, _ in analyse_word("ouderenzorg")[1]}  # a part before a linking sound
    assert found(svc, "ouderen") == {"ouderen"}
    assert found(svc, "ouders") == {"ouders"}
    top = svc.search(SearchRequest(text="eenzaamheid ouderen"), mode="keyword").hits[0]
    assert "<mark>ouderen</mark>" in top.snippet.lower() and "ouders" not in top.snippet.lower()
    # The matcher analyses with the same function: a request about the elderly no longer has parents' terms.
    assert "ouder" not in terms("eenzaamheid onder ouderen") and "ouderen" in terms("ouderenzorg")


# -- typo correction -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("typed", "meant"), [
    ("leefbaarhied wijk", "leefbaarheid wijk"),  # two neighbouring letters swapped
    ("ondermijnig wijk", "ondermijning wijk"),  # a letter dropped (its stem is known all the same)
    ("onderrwijs wijk", "onderwijs wijk"),  # a letter doubled
    ("kansengelijkheid onderwjis wijk", "kansengelijkheid onderwijs wijk"),
])
def test_typos_beside_correct_words_are_corrected(svc, typed, meant):
    response = svc.search(SearchRequest(text=typed), mode="keyword")
    assert (response.corrected_from, response.searched, response.suggestion) == (typed, meant, None)
    exact = svc.search(SearchRequest(text=typed, exact=True), mode="keyword")
    assert exact.corrected_from is None and exact.searched == typed


def test_no_correction_for_english_real_words_acronyms_or_into_stop_words(svc):
    for text in ("how to involve residents in neighbourhood safety", "ouders wijken", "RIEC wijk", "GGD"):
        response = svc.search(SearchRequest(text=text), mode="keyword")
        assert response.corrected_from is None and response.suggestion is None, text
    assert looks_foreign(["how", "to", "involve", "residents", "in", "neighbourhood", "safety"])
    assert not looks_foreign(["kansengelijkheid", "onderwjis", "wijk"])
    assert "leefbaarheid" in edits1("leefbaarhied") and "ondermijning" in edits1("ondermijnig")
    # "wordtt" is one edit from the stop word "wordt" only: it stays as typed.
    assert svc.search(SearchRequest(text="wordtt wijk"), mode="keyword").corrected_from is None


def test_real_words_the_collection_lacks_are_never_rewritten(tmp_path, content_dir, monkeypatch):
    # Each typed word below is one or two edits from a word these texts use, and none of them is in the texts.
    case(content_dir, "aanvraag", "De aanvraag van een uitkering", "Een aanvraag duurt acht weken. Aanvragen gaan "
         "via het wijkloket.")
    case(content_dir, "verzuim", "Schoolverzuim", "Leerlingen die lessen verzuimen krijgen een mentor.")
    case(content_dir, "onderwijs", "Leefbaarheid en onderwijs", "De leefbaarheid van de wijk en het onderwijs.")
    svc = Services.build(make_settings(tmp_path, content_dir))
    try:
        assert not svc.sync().errors
        for text in ("explosies en aanslagen bij woningen", "regels verruimen", "aanslag", "statushouder wijk"):
            response = svc.search(SearchRequest(text=text), mode="keyword")
            assert response.corrected_from is None and response.suggestion is None, text
        # Typos beside them are still corrected: a swap, a dropped and a doubled letter.
        for typed, meant in (("aanslagen leefbaarhied", "aanslagen leefbaarheid"),
                             ("verruimen aanvrag", "verruimen aanvraag"),
                             ("onderrwijs verzuimen", "onderwijs verzuimen"), ("aanvraagg", "aanvraag")):
            response = svc.search(SearchRequest(text=typed), mode="keyword")
            assert (response.corrected_from, response.searched) == (typed, meant)
        # A real word the list lacks is guarded by length too: two edits change a 7-letter word into another
        # word, so they count as a typo only from 2 * LETTERS_PER_EDIT letters on.
        monkeypatch.setattr(spelling, "is_dutch_word", lambda word: False)
        svc.hybrid.spelling._cache.clear()
        assert svc.search(SearchRequest(text="aanslag"), mode="keyword").corrected_from is None
        response = svc.search(SearchRequest(text="aanvraag wiklokett"), mode="keyword")  # j dropped, t doubled
        assert response.searched == "aanvraag wijkloket" and len("wijkloket") >= 2 * LETTERS_PER_EDIT
    finally:
        svc.close()


def test_a_real_word_is_one_in_the_word_list_in_any_form_and_however_rare():
    # The word list gives these its floor count (a dictionary word no subtitle used often): still words.
    assert all(is_dutch_word(w) for w in ("aanslagen", "verruimen", "statushouders", "taakstelling"))
    # Forms the list lacks, beside a listed form with the same stem: a plural, a singular.
    assert "buurtbemiddelaars" not in dutch_words() and is_dutch_word("buurtbemiddelaars")
    assert "statushouder" not in dutch_words() and is_dutch_word("statushouder")
    # Typos stay typos, also a dropped letter that looks like a stem ("aanvrag": "aanvragen" is listed).
    assert not any(is_dutch_word(w) for w in ("leefbaarhied", "ondermijnig", "onderrwijs", "onderwjis", "aanvrag"))


def test_the_page_says_what_was_searched_and_links_to_the_text_as_typed(tmp_path, content_dir, svc):
    app = create_app(make_settings(tmp_path, content_dir))
    client = app.test_client()
    page = client.get("/zoeken?q=leefbaarhied+wijk").get_data(as_text=True)
    assert "Resultaten voor ‘leefbaarheid wijk’; zoek in plaats daarvan naar" in page
    link = re.search(r'href="([^"]*exact=1[^"]*)">‘leefbaarhied wijk’</a>', page)
    assert link, page
    typed = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "zoek in plaats daarvan" not in typed and "leefbaarhied wijk" in typed
    app.extensions["wijkwijzer"].close()


def test_both_sides_search_the_correction_and_english_stays_as_typed_with_the_real_model(tmp_path, built_model):
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", content)
    for pattern in ("utrecht-overvecht/*", "den-haag-zuidwest/*", "amsterdam-nieuw-west/*"):
        for path in SAMPLE_CONTENT.glob(pattern + ".md"):
            (content / path.parent.name).mkdir(exist_ok=True)
            shutil.copy(path, content / path.parent.name / path.name)
    svc = Services.build(replace(make_settings(tmp_path, content), embedding_model=str(built_model.path)))
    try:
        svc.sync()
        svc.refresh_semantic()
        assert svc.semantic.ready
        typed = svc.search(SearchRequest(text="ondermijnig zichtbaar maken"), mode="semantic")
        meant = svc.search(SearchRequest(text="ondermijning zichtbaar maken"), mode="semantic")
        assert typed.corrected_from == "ondermijnig zichtbaar maken" and typed.mode == "semantic"
        assert [h.slug for h in typed.hits] == [h.slug for h in meant.hits]  # the embedding got the correction
        english = svc.search(SearchRequest(text="how to involve residents in neighbourhood safety"), mode="hybrid")
        assert english.corrected_from is None and english.suggestion is None and english.mode == "hybrid"
        phrase = svc.search(SearchRequest(text='"preventie met gezag"', per_page=50), mode="hybrid")
        assert phrase.mode == "hybrid" and phrase.hits
        for hit in phrase.hits:  # the semantic side adds nothing that lacks the phrase
            stored = svc.case(hit.slug)
            assert "preventie met gezag" in " ".join([stored["title"], stored["summary"], stored["body"]]).lower()
    finally:
        svc.close()


# -- snippets ------------------------------------------------------------------------------------------------
def test_snippets_open_at_a_sentence_mark_whole_words_and_skip_filler():
    text = ("Inleiding over de aanpak. Bewoners werkten mee aan een stappenplan, bijv. een lijst. "
            "Voor wie: jongerenwerkers en ouders in de wijk. Houd de jongeren erbij. "
            + "Een lange zin die maar doorgaat over van alles en nog wat " * 6 + "en eindigt bij de ouderen.")
    out = snippet(text, frozenset(stems("hoe houd je jongeren mee bij het stappenplan")))
    assert "<mark>jongerenwerkers</mark>" in out and "<mark>jonger</mark>" not in out
    assert "<mark>Houd</mark>" not in out and "<mark>mee</mark>" not in out and "<mark>de</mark>" not in out
    for fragment in out.split(" … "):
        assert fragment[0].isupper(), out  # every fragment opens a sentence
    long = snippet(text, frozenset(stems("ouderen")))
    assert long.startswith("Een lange zin") and "<mark>ouderen</mark>" in long
    assert not snippet("één twee", frozenset(stems("met")))  # a stop word is never a match
