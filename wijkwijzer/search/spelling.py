"""Spelling: words the index lacks replaced by the nearest indexed word, remembered per index generation.

`search.hybrid` searches the correction on both sides (keyword and embedding) and says so, with a link to search
the text as typed; see `find_suggestion` for when a word counts as misspelt.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from whoosh.query import Term

from wijkwijzer.search.query import SEARCH_FIELDS
from wijkwijzer.text.dutch import (
    DUTCH_STOPWORDS,
    TOKEN_PATTERN,
    acronym,
    analyse_word,
    dutch_lexicon,
    fold,
    is_dutch_word,
    stem,
)

if TYPE_CHECKING:
    from wijkwijzer.search.fulltext import FulltextIndex


class Spelling:
    """Corrections against one full-text index's vocabulary."""

    def __init__(self, index: FulltextIndex, cache_size: int = 2048) -> None:
        self.index = index
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[int, str], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def suggest(self, text: str) -> str | None:
        """`find_suggestion` for cleaned text, remembered per index generation: hybrid search asks twice (before
        embedding the query and while ranking), and the nearest-word search costs milliseconds."""
        key = (self.index.generation(), text)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        found = find_suggestion(self.index.searcher(), text)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found


# Which words pass for Dutch or English, from pyspellchecker's word lists (subtitle frequencies): each list keeps
# the words seen more than MIN_LIST_FREQ times, with their share of that language's list. A word counts for one
# language when its share there is LANGUAGE_MARGIN times its share in the other.
MIN_LIST_FREQ = 50
LANGUAGE_MARGIN = 4.0
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
# A correction may change one letter in this many of the typed stem, at most two: two edits turn a 7-letter stem
# into another word too easily ("aanslag" -> "aanvrag"), in a long one they are a typo ("vroegsignaleirng").
LETTERS_PER_EDIT = 4


@lru_cache(maxsize=2)
def word_shares(language: str) -> dict[str, float]:
    """pyspellchecker's word list for `language` ("nl", "en"): folded word -> share of all occurrences."""
    ref = resources.files("spellchecker").joinpath("resources", f"{language}.json.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        counts: dict[str, int] = json.load(fh)
    total = float(sum(counts.values())) or 1.0
    out: dict[str, float] = {}
    for word, count in counts.items():
        if count > MIN_LIST_FREQ:
            key = fold(word)
            out[key] = out.get(key, 0.0) + count / total
    return out


def language_of(word: str) -> str | None:
    """"nl" or "en" when a folded word is clearly more common in one of the two languages, else None."""
    nl, en = word_shares("nl").get(word, 0.0), word_shares("en").get(word, 0.0)
    if en > LANGUAGE_MARGIN * nl:
        return "en"
    if nl > LANGUAGE_MARGIN * en:
        return "nl"
    return None


def looks_foreign(words: list[str]) -> bool:
    """Whether folded query words read as English rather than Dutch: more words English than Dutch.

    The corrector only knows Dutch and the collection's words; rewriting another language gives nonsense
    ("how to involve residents" -> "how to invoeren residents"), while the semantic side understands it.
    """
    languages = [language_of(w) for w in words if w.isalpha()]
    english = languages.count("en")
    return english > 0 and english >= languages.count("nl")


def edits1(word: str) -> set[str]:
    """Every string one edit from `word`: a letter dropped, doubled or otherwise added, changed, or two
    neighbouring letters swapped ("leefbaarhied" -> "leefbaarheid" is one edit, as people type it)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    changes = {a + c + b[1:] for a, b in splits if b for c in ALPHABET}
    inserts = {a + c + b for a, b in splits for c in ALPHABET}
    return (deletes | swaps | changes | inserts) - {word}


def _indexed(reader, stem: str) -> int:
    """Documents that have `stem` in any searched field (the most of the fields)."""
    return max(reader.doc_frequency(field, stem) for field in SEARCH_FIELDS)


def find_suggestion(searcher, text: str) -> str | None:
    """The query with each misspelt word replaced by its nearest indexed word, or None if nothing changed.

    A word is corrected only when it matches nothing in the index, is no Dutch or English word of its own (in
    any form: `is_dutch_word`), is no acronym, and a word one edit away (two for words of at least
    LETTERS_PER_EDIT * 2 letters) does occur in the collection; the most frequent such word wins, and a stop word
    never does. A query that reads as English is left alone.
    """
    reader = searcher.reader()
    tokens = re.findall(r"\w+|\W+", text)
    words = [fold(t) for t in tokens if t[0].isalnum() or t[0] == "_"]
    if looks_foreign(words):
        return None
    changed = False
    out: list[str] = []
    for token in tokens:
        replacement = _correction(searcher, reader, token)
        out.append(replacement or token)
        changed = changed or replacement is not None
    return "".join(out) if changed else None


def _correction(searcher, reader, token: str) -> str | None:
    """The indexed word to put in place of one typed token, or None to keep it."""
    word = fold(token)
    if len(word) < 4 or not word.isalpha() or token in ("AND", "OR", "NOT") or acronym(token) is not None:
        return None
    analysed = analyse_word(token)
    # A stop word, or a real Dutch or English word the collection happens to lack ("weghouden", "aanslagen",
    # "community"): not a typo, however close to a word the texts use ("aanvraag").
    if analysed is None or is_dutch_word(word) or language_of(word) == "en":
        return None
    if _indexed(reader, analysed[0]):
        # The stem is known, the word may still be misspelt: "ondermijnig" stems like "ondermijning". Put the
        # form the texts use instead, when they never write this one; the documents found stay the same.
        forms = surface_forms(searcher, analysed[0])
        if not forms or word in forms:
            return None
        # Not a form plus an ending ("huurteams" beside "huurteam"): a plural no text uses is still no typo.
        near = [form for form in forms
                if form in edits1(word) and not (word.startswith(form) and len(word) == len(form) + 1)]
        return _as_typed(token, max(near, key=lambda f: (forms[f], f))) if near else None
    ranked = []
    for candidate in edits1(word):
        if candidate in DUTCH_STOPWORDS:
            continue  # never correct into a stop word
        df = _indexed(reader, stem(candidate))  # whole words: compound parts would not make a correction
        if df:
            ranked.append((df, candidate))
    # The most frequent that is a word as written, in the word list or in the texts ("mett" shares its stem
    # with "meten", but "mette" is no word).
    for _, candidate in sorted(ranked, reverse=True)[:5]:
        if candidate in dutch_lexicon() or candidate in surface_forms(searcher, stem(candidate)):
            return _as_typed(token, candidate)
    typed = analysed[0]
    if len(typed) < 2 * LETTERS_PER_EDIT:
        return None
    # Two edits, for long words: Whoosh's Levenshtein automaton over the body's stems.
    candidates = [c for c in reader.terms_within("body", typed, 2, prefix=1) if c != typed and c.islower()]
    if not candidates:
        return None
    surface = surface_word(searcher, max(candidates, key=lambda c: (reader.doc_frequency("body", c), c)))
    return _as_typed(token, surface) if surface else None


def _as_typed(token: str, word: str) -> str:
    """`word` capitalised like the typed token."""
    return word.capitalize() if token[:1].isupper() and token[1:].islower() else word


def surface_forms(searcher, stem: str, documents: int = 10) -> dict[str, int]:
    """How the texts write the words with stem `stem` (folded form -> occurrences), in the title, summary, tags
    and body of the first `documents` documents whose body has it (whole words, not compound parts)."""
    forms: dict[str, int] = {}
    for n, docnum in enumerate(searcher.docs_for_query(Term("body", stem))):
        if n == documents:
            break
        fields = searcher.stored_fields(docnum)
        text = "\n".join([fields["case"]["title"], fields["case"]["summary"], *fields["case"]["tags"], fields["body"]])
        for match in re.finditer(TOKEN_PATTERN, text):
            analysed = analyse_word(match.group())
            if analysed and analysed[0] == stem:
                form = fold(match.group())
                forms[form] = forms.get(form, 0) + 1
    return forms


def surface_word(searcher, stem: str) -> str | None:
    """A word as written in the texts whose stem is `stem` (the most common form in the first bodies)."""
    forms = surface_forms(searcher, stem, documents=1)
    return max(forms, key=lambda f: (forms[f], -len(f))) if forms else None
