"""Spelling: words the index lacks replaced by the nearest indexed word, remembered per index generation."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from whoosh.query import Term

from wijkwijzer.search.query import SEARCH_FIELDS, clean
from wijkwijzer.text.dutch import TOKEN_PATTERN, analyse_word, dutch_lexicon, fold

if TYPE_CHECKING:
    from wijkwijzer.search.fulltext import FulltextIndex


class Spelling:
    """Corrections against one full-text index's vocabulary."""

    def __init__(self, index: FulltextIndex, cache_size: int = 2048) -> None:
        self.index = index
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[int, str], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def correct(self, text: str) -> str | None:
        """The query with words the index lacks replaced by the nearest indexed word, or None if none changed."""
        text = clean(text)
        return self.suggest(text) if text else None

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


def find_suggestion(searcher, text: str) -> str | None:
    """Replace words the index does not know by the nearest indexed word (edit distance 1-2).

    Works on the body's stems, so no extra spelling field is indexed; the stem found is turned back into a
    readable word by looking it up in a document that contains it.
    """
    reader = searcher.reader()
    changed = False
    out: list[str] = []
    for token in re.findall(r"\w+|\W+", text):
        word = fold(token)
        analysed = analyse_word(token) if len(word) >= 4 and word.isalpha() else None
        # Known to the index, or a real Dutch word the corpus happens to lack ("weghouden"): no correction.
        if analysed is None or word in ("and", "or", "not") or word in dutch_lexicon():
            out.append(token)
            continue
        stem = analysed[0]
        if any(reader.doc_frequency(f, stem) for f in SEARCH_FIELDS):
            out.append(token)
            continue
        maxdist = 1 if len(stem) < 6 else 2
        candidates = [c for c in reader.terms_within("body", stem, maxdist, prefix=1) if c != stem]
        surface = None
        if candidates:
            best = max(candidates, key=lambda c: (reader.doc_frequency("body", c), c))
            surface = surface_word(searcher, best)
        if surface is None:
            out.append(token)
            continue
        out.append(surface)
        changed = True
    return "".join(out) if changed else None


def surface_word(searcher, stem: str) -> str | None:
    """A word as written in the texts whose stem is `stem` (the most common form in one document)."""
    docnum = next(iter(searcher.docs_for_query(Term("body", stem))), None)
    if docnum is None:
        return None
    forms: dict[str, int] = {}
    for match in re.finditer(TOKEN_PATTERN, searcher.stored_fields(docnum)["body"]):
        analysed = analyse_word(match.group())
        if analysed and analysed[0] == stem:
            form = fold(match.group())
            forms[form] = forms.get(form, 0) + 1
    return max(forms, key=lambda f: (forms[f], -len(f))) if forms else None
