"""Highlighted snippets: the sentences of a text that hold the most query terms, with the matches marked.

Whoosh can highlight too, but it either re-analyses every hit's whole text or needs character offsets in the
postings, which nearly doubles indexing time. Our analysis is cached per word, so scanning a body once for the
query's stems is cheap, and we can mark the part of a compound that matched ("jeugd<mark>criminaliteit</mark>").
"""

from __future__ import annotations

import html
import itertools
import re
from functools import lru_cache

from wijkwijzer.text.dutch import TOKEN_PATTERN, analyse_word

_WORD = re.compile(TOKEN_PATTERN)
# Ends where the whitespace after [.!?:] ends, or after newlines. Starting with the character instead of a
# lookbehind gives the same ends and lets the regex engine skip ahead: a third faster on long bodies.
_SENTENCE_END = re.compile(r"[.!?:]\s+|\n+")


# Accented letters a prefix may meet in lowercased text (the index folds them, the text keeps them).
_ACCENTS = {"a": "aáàäâ", "e": "eéèëê", "i": "iíìïî", "o": "oóòöô", "u": "uúùüû", "c": "cç", "n": "nñ"}


@lru_cache(maxsize=1024)
def _prefix_pattern(terms: frozenset[str]) -> re.Pattern:
    """A regex for the start of every query stem, accent-tolerant, for lowercased text."""
    prefixes = sorted({t[: max(3, len(t) - 2)] for t in terms}, key=len, reverse=True)
    alternatives = ["".join(f"[{_ACCENTS[c]}]" if c in _ACCENTS else re.escape(c) for c in p) for p in prefixes]
    return re.compile("|".join(alternatives))


def _matches(text: str, terms: frozenset[str]) -> list[tuple[int, int, str]]:
    """(start, end, stem) of every word, or compound part, of `text` whose stem is a query term."""
    lowered = text.lower()
    if len(lowered) != len(text):  # lowercasing changed offsets (rare letters): check every word
        candidates = (m.start() for m in _WORD.finditer(text))
    else:
        candidates = (m.start() for m in _prefix_pattern(terms).finditer(lowered))
    found, seen = [], set()
    for position in candidates:
        match = _word_at(text, position)
        if match is None or match.start() in seen:
            continue
        seen.add(match.start())
        analysed = analyse_word(match.group())
        if analysed is None:
            continue
        stem, runs = analysed
        if stem in terms:
            found.append((match.start(), match.end(), stem))
            continue
        for run_stem, a, b in runs:
            if run_stem in terms:
                found.append((match.start() + a, match.start() + b, run_stem))
                break
    return found


def _word_at(text: str, position: int) -> re.Match | None:
    """The word that contains `position`."""
    start = position
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return _WORD.match(text, start)


def snippet(text: str, terms: frozenset[str], max_chars: int = 240, fragments: int = 2) -> str:
    """Safe HTML: up to `fragments` sentences with the most distinct query terms, matches in <mark>.

    Returns "" when no query term occurs in the text.
    """
    if not terms or not text:
        return ""
    matches = _matches(text, terms)
    if not matches:
        return ""
    bounds = [0]
    last = matches[-1][0]
    for m in _SENTENCE_END.finditer(text):  # sentences after the last match are never shown: stop there
        bounds.append(m.end())
        if m.end() > last:
            break
    else:
        bounds.append(len(text))
    sentences: list[tuple[int, int, list[tuple[int, int, str]]]] = []
    i = 0
    for start, end in itertools.pairwise(bounds):
        inside = []
        while i < len(matches) and matches[i][0] < end:
            if matches[i][0] >= start:
                inside.append(matches[i])
            i += 1
        if inside:
            sentences.append((start, end, inside))
    best = sorted(sentences, key=lambda s: (-len({m[2] for m in s[2]}), s[0]))[:fragments]
    per_fragment = max_chars // len(best)
    parts = [_fragment(text, start, end, inside, per_fragment) for start, end, inside in sorted(best)]
    joined = " … ".join(part.removeprefix("… ").removesuffix(" …") for part in parts)
    return ("… " if parts[0].startswith("… ") else "") + joined + (" …" if parts[-1].endswith(" …") else "")


def _fragment(text: str, start: int, end: int, inside: list[tuple[int, int, str]], limit: int) -> str:
    """One sentence cut to about `limit` characters around its first match, escaped, matches marked."""
    text_end = end
    cut_start = cut_end = False
    if end - start > limit:
        first = inside[0][0]
        new_start = max(start, first - limit // 3)
        if new_start > start:
            space = text.find(" ", new_start, first)
            start, cut_start = (space + 1 if space != -1 else new_start), True
        if end - start > limit:
            space = text.rfind(" ", inside[0][1], start + limit)
            end, cut_end = (space if space != -1 else start + limit), True
    out, pos = [], start
    for m_start, m_end, _ in inside:
        if m_start < pos or m_end > end:
            continue
        out.append(html.escape(text[pos:m_start]))
        out.append(f"<mark>{html.escape(text[m_start:m_end])}</mark>")
        pos = m_end
    out.append(html.escape(text[pos:min(end, text_end)]))
    return ("… " if cut_start else "") + "".join(out).strip() + (" …" if cut_end else "")
