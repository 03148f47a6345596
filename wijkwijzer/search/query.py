"""From typed text to what the index matches: cleaning, plain words as term groups, Whoosh's parser for syntax.

Two things the index alone cannot decide are settled here:
- Acronyms. The index holds each acronym as written ("VvE", "VVE") beside its folded stem ("vve"). A typed
  acronym matches as written when the collection (or the acronym list) uses another case form of the same
  letters, so "VvE" finds owners' associations and "VVE" early-childhood education; otherwise its folded stem
  matches too, so "GGD" also finds "ggd". Lowercase typing carries no case, and matches every form.
- Phrases. The index drops stop words, so "preventie met gezag" cannot be matched on positions alone. A quoted
  phrase is matched by Whoosh on its other words with room for the stop words between them, and each candidate
  is then checked on the stored text, where the stop words still are (`VerifiedPhrase`): the words as written,
  case, accents and punctuation aside, so a phrase finds exactly the documents that contain it. Indexing stop words
  instead would make every document's postings about half again as large and change BM25's field lengths,
  hence the ranking of every other query, for the sake of the few queries that quote a phrase.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product

import numpy as np
from whoosh import qparser
from whoosh.fields import Schema
from whoosh.matching import FilterMatcher, NullMatcher
from whoosh.qparser.plugins import PhrasePlugin
from whoosh.qparser.syntax import attach
from whoosh.qparser.taggers import RegexTagger
from whoosh.query import Every, NullQuery, Phrase, Query, Term

from wijkwijzer.search.models import MAX_QUERY_CHARS
from wijkwijzer.text.dutch import TOKEN_PATTERN, acronym, analyse_word, fold

SEARCH_FIELDS = ("title", "lead", "body")
MAX_QUERY_WORDS = 32


@dataclass
class Match:
    """What a query matched in one index generation."""

    matched: np.ndarray  # bool per document
    scores: np.ndarray | None  # None: rank with Whoosh's matchers (phrases, AND/NOT, wildcards)
    body_terms: frozenset[str]
    query: Query | None
    coverage: np.ndarray | None = None  # idf-weighted share of the query words each document has, 0-1


# Query syntax the parser must see. A hyphen inside a word (Nieuw-West), an apostrophe inside one (auto's) and
# the question mark that ends a typed question are plain text, not operators.
_SYNTAX = re.compile(r"[\"()*?~^:\[\]{}]|(?<!\w)['+\-]|'(?!\w)|\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
_QUESTION_MARK = re.compile(r"(?<=\w)\?+(?=\s|$)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: str) -> str:
    """Strip control characters and cut overlong input; the rest goes to the parser as typed."""
    text = _CONTROL.sub(" ", text or "")[:MAX_QUERY_CHARS]
    return " ".join(_QUESTION_MARK.sub("", text).split())


def has_syntax(text: str) -> bool:
    """Whether cleaned text holds query syntax (quotes, operators, wildcards) that needs Whoosh's parser."""
    return bool(_SYNTAX.search(text))


CaseForms = Callable[[str], set[str]]  # acronym letters, lowercased -> the case forms in use ({"VvE", "VVE"})


def plain_groups(text: str, case_forms: CaseForms | None = None) -> list[list[tuple[str, str]]] | None:
    """Query words as OR-groups over the searched fields, without Whoosh's parser, for text without syntax.

    The parser costs milliseconds per query and yields the same terms for plain words; quotes, operators,
    wildcards and the like still go through it. `case_forms` tells which case forms of an acronym are in use
    (see the module docstring); without it acronyms match by their folded stem only.
    """
    if has_syntax(text):
        return None
    groups: dict[str, list[tuple[str, str]]] = {}
    for word in re.findall(TOKEN_PATTERN, text)[:MAX_QUERY_WORDS]:
        analysed = analyse_word(word)
        letters = acronym(word) if case_forms is not None else None
        terms: list[str] = []
        if letters is not None:
            terms.append(letters)
            if analysed is not None and not case_forms(letters.lower()) - {letters}:
                terms.append(analysed[0])  # no other case form in use: the folded stem means the same
        elif analysed is not None:
            terms.append(analysed[0])
        if terms and terms[0] not in groups:
            groups[terms[0]] = [(field, term) for term in terms for field in SEARCH_FIELDS]
    return list(groups.values())


def case_variants(letters: str) -> Iterable[str]:
    """Every way to write lowercase `letters` in upper and lower case with at least two capitals (at most 32)."""
    for form in product(*((c, c.upper()) for c in letters)):
        word = "".join(form)
        if sum(c.isupper() for c in word) >= 2:
            yield word


def phrase_keys(text: str, stemmed: bool = False) -> list[str]:
    """The words of `text` as a phrase compares them: folded (case and accents ignored, and what stands between
    the words), stop words included, since they are what tells phrases apart. `stemmed` compares stems of the
    other words instead ("verenigingen van eigenaars" then holds "vereniging van eigenaars")."""
    words = [fold(w) for w in re.findall(r"\w+", text)]
    if not stemmed:
        return words
    return [analysed[0] if (analysed := analyse_word(w)) else w for w in words]


def contains_phrase(keys: list[str], phrase: list[str]) -> bool:
    """Whether `phrase` occurs as a run of `keys`."""
    n = len(phrase)
    if not n:
        return False
    first = phrase[0]
    return any(keys[i] == first and keys[i:i + n] == phrase for i in range(len(keys) - n + 1))


StoredTexts = Callable[[dict, str], list[str]]  # (stored fields, field name) -> the texts of that field


class VerifiedPhrase(Phrase):
    """A phrase matched on the stored text, stop words included (see the module docstring).

    Whoosh finds candidates by the phrase's indexed words in order, allowing a gap for every stop word between
    them; a candidate counts only when one of its texts of this field holds the whole phrase.
    """

    def __init__(self, fieldname: str, words: list[str], text: str, texts: StoredTexts, boost: float = 1.0,
                 char_ranges=None) -> None:
        keys = phrase_keys(text)
        inner_stops = max(0, len(keys) - len(words))
        super().__init__(fieldname, list(words), slop=1 + inner_stops, boost=boost, char_ranges=char_ranges)
        self.text, self.keys, self.texts = text, keys, texts

    def __eq__(self, other) -> bool:
        return super().__eq__(other) and self.text == other.text

    def __hash__(self) -> int:
        return super().__hash__() ^ hash(self.text)

    def normalize(self) -> Query:
        return self if self.words else NullQuery

    def __deepcopy__(self, memo) -> VerifiedPhrase:
        # Whoosh copies queries while parsing; `texts` belongs to the index (locks and all) and is shared.
        clone = copy.copy(self)
        clone.words, clone.keys = list(self.words), list(self.keys)
        return clone

    def matcher(self, searcher, context=None):
        """Whoosh's candidates, kept where the stored text holds the phrase."""
        if len(self.words) == 1:
            candidates = Term(self.fieldname, self.words[0], boost=self.boost)
        else:
            candidates = Phrase(self.fieldname, self.words, slop=self.slop, boost=self.boost)
        found = candidates.matcher(searcher, context)
        if not found.is_active():
            return NullMatcher()
        verified = {
            docnum for docnum in found.all_ids()
            if any(contains_phrase(phrase_keys(text), self.keys)
                   for text in self.texts(searcher.stored_fields(docnum), self.fieldname))
        }
        return FilterMatcher(candidates.matcher(searcher, context), verified) if verified else NullMatcher()


class _PhrasePlugin(PhrasePlugin):
    """Whoosh's phrase syntax ("...") producing VerifiedPhrase queries over `texts`."""

    def __init__(self, texts: StoredTexts) -> None:
        super().__init__()
        self.stored_texts = texts

    def taggers(self, parser):
        plugin = self

        class Node(PhrasePlugin.PhraseNode):
            def query(self, parser):
                phrase = PhrasePlugin.PhraseNode.query(self, parser)
                if not isinstance(phrase, Phrase):
                    return phrase
                verified = VerifiedPhrase(phrase.fieldname, phrase.words, self.text, plugin.stored_texts,
                                          boost=phrase.boost, char_ranges=phrase.char_ranges)
                return attach(verified, self)

        class Tagger(RegexTagger):
            def create(self, parser, match):
                return Node(match.group("text"), match.start("text"))

        return [(Tagger(self.expr), 0)]


def parse(text: str, schema: Schema, texts: StoredTexts | None = None) -> Query:
    """Whoosh's parser over the searched fields, with +/- and without field, range and boost syntax; queries
    that would expand over the whole vocabulary are reduced to their words. With `texts`, quoted phrases are
    checked on the stored text (VerifiedPhrase)."""
    if not text:
        return Every()
    parser = qparser.MultifieldParser(SEARCH_FIELDS, schema, group=qparser.OrGroup.factory(0.9))
    for plugin in (qparser.FieldsPlugin, qparser.RangePlugin, qparser.BoostPlugin, qparser.EveryPlugin):
        parser.remove_plugin_class(plugin)
    if texts is not None:
        parser.remove_plugin_class(PhrasePlugin)
        parser.add_plugin(_PhrasePlugin(texts))
    # "schulden -wonen" excludes, "+jongeren" requires, as on every search engine people know.
    parser.add_plugin(qparser.PlusMinusPlugin())
    try:
        query = parser.parse(text)
    except Exception:
        query = None
    if query is None or _too_broad(query):
        words = [w for w in re.findall(r"\w+", text)][:MAX_QUERY_WORDS]
        query = parser.parse(" ".join(words)) if words else Every()
    return query


def _too_broad(query: Query) -> bool:
    """Queries that would expand over the whole vocabulary (a bare '*', 'a*') or are huge are simplified."""
    terms = list(query.leaves())
    if len(terms) > MAX_QUERY_WORDS * len(SEARCH_FIELDS):
        return True
    for leaf in terms:
        name = type(leaf).__name__
        if name == "Every":
            return True
        if name in ("Wildcard", "Prefix", "Regex") and len(str(getattr(leaf, "text", "")).rstrip("*?")) < 3:
            return True
    return False
