"""The Whoosh side of Dutch analysis: a token filter over `wijkwijzer.text.dutch` and the analyser of the
index's text fields. Compounds are split at index time only (see `wijkwijzer.text.dutch`).

At index time an acronym is also indexed as written ("VvE", "VVE", "GGD"), beside its folded stem, at the same
position. Stems are always lowercase, so a term with a capital is an acronym; `search.query` decides per query
whether to match the folded stem, the acronym as typed, or both.
"""

from __future__ import annotations

from collections.abc import Iterator

from whoosh.analysis import Filter, RegexTokenizer
from whoosh.analysis.acore import Token

from wijkwijzer.text.dutch import TOKEN_PATTERN, acronym, analyse_word


class DutchFilter(Filter):
    """Lowercase, fold accents, drop stop words and stem; at index time also add compound runs at the token's
    position. Queries are not split (see the module docstring)."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            original = t.text
            analysed = analyse_word(original)
            if t.mode == "index" and not original.islower() and (letters := acronym(original)) is not None:
                # Kept even when its folded form is a stop word ("WIJ", Groningen's neighbourhood teams).
                t.text = letters
                yield t
            if analysed is None:
                if t.removestops:
                    continue
                t.stopped = True
                yield t
                continue
            stem, runs = analysed
            start_char = getattr(t, "startchar", None)
            t.text = stem
            yield t
            if t.mode != "index":
                continue
            for text, start, end in runs:
                t.text = text
                if start_char is not None:
                    t.startchar, t.endchar = start_char + start, start_char + end
                yield t


def dutch_analyzer():
    """The analyser for Dutch text fields: tokenise, then DutchFilter."""
    return RegexTokenizer(TOKEN_PATTERN) | DutchFilter()
