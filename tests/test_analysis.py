"""Dutch analysis: compounds, accents, stop words, stemming."""

from wijkwijzer.search.analysis import dutch_analyzer
from wijkwijzer.text.dutch import compound_runs, split_compound


def index_terms(text: str) -> set[str]:
    return {t.text for t in dutch_analyzer()(text, mode="index")}


def query_terms(text: str) -> list[str]:
    return [t.text for t in dutch_analyzer()(text, mode="query")]


def parts(word: str) -> list[str]:
    return [word[a:b] for a, b in split_compound(word)]


def test_compounds_split_into_dutch_words():
    assert parts("jeugdcriminaliteit") == ["jeugd", "criminaliteit"]
    assert parts("schuldhulpverlening") == ["schuld", "hulp", "verlening"]
    assert parts("ondermijningscriminaliteit") == ["ondermijning", "criminaliteit"]  # linking -s-
    assert parts("woningcorporaties") == ["woning", "corporaties"]


def test_ordinary_words_stay_whole():
    for word in ("belangrijk", "verantwoordelijk", "gemeenten", "ondersteuning", "criminaliteit", "verlening"):
        assert parts(word) == [], word


def test_index_terms_hold_parts_and_runs_but_queries_do_not_split():
    terms = index_terms("schuldhulpverlening")
    assert {"schuldhulp", "hulpverlen", "schuld"} <= terms
    assert query_terms("schuldhulp") == ["schuldhulp"]


def test_no_match_across_a_word_boundary():
    # "betaalachterstand" is betaal|achterstand: "taalachterstand" is not one of its runs.
    assert "taalachterstand" not in {run for run in (("betaalachterstand"[a:b]) for a, b in
                                                      compound_runs("betaalachterstand"))}
    assert not set(query_terms("taalachterstand")) & index_terms("betaalachterstand")


def test_accents_stop_words_and_stemming():
    assert query_terms("De geïnvesteerde woningen van het Rijk") == ["geinvesteerd", "woning", "rijk"]
