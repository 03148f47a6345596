"""Highlighted snippets: the sentences of a text that hold the most query terms, with the matches marked.

Whoosh can highlight too, but it either re-analyses every hit's whole text or needs character offsets in the
postings, which nearly doubles indexing time. Our analysis is cached per word, so scanning a body once for the
query's stems is cheap.

What a reader sees: each fragment starts where a sentence starts (a long sentence is shortened in its middle,
never at its start); a match is marked as the whole word, also when a compound part matched
("<mark>jeugdcriminaliteit</mark>" for "criminaliteit"); stop words and filler words (FILLER_STEMS: "houd", "mee")
are never marked, since they say nothing about why a document was found.
"""

from __future__ import annotations

import html
import itertools
import re
from functools import lru_cache

from wijkwijzer.text.dutch import FILLER_STEMS, TOKEN_PATTERN, acronym, analyse_word

_WORD = re.compile(TOKEN_PATTERN)
# A sentence ends where the whitespace after [.!?:] (and a closing quote or bracket) ends, when no lowercase
# letter follows ("bijv. een", "Voor wie: ouders" go on), or after newlines. Starting with the character instead
# of a lookbehind lets the regex engine skip ahead: a third faster on long bodies.
_SENTENCE_END = re.compile(r"[.!?:][\"'”’)]?\s+(?![a-zà-ÿ])|\n+")


# Accented letters a prefix may meet in lowercased text (the index folds them, the text keeps them).
_ACCENTS = {"a": "aáàäâ", "e": "eéèëê", "i": "iíìïî", "o": "oóòöô", "u": "uúùüû", "c": "cç", "n": "nñ"}


@lru_cache(maxsize=1024)
def _prefix_pattern(terms: frozenset[str]) -> re.Pattern:
    """A regex for the start of every query stem, accent-tolerant, for lowercased text."""
    prefixes = sorted({t[: max(3, len(t) - 2)].lower() for t in terms}, key=len, reverse=True)
    alternatives = ["".join(f"[{_ACCENTS[c]}]" if c in _ACCENTS else re.escape(c) for c in p) for p in prefixes]
    return re.compile("|".join(alternatives))


def _matches(text: str, terms: frozenset[str]) -> list[tuple[int, int, str]]:
    """(start, end, term) of every whole word of `text` that matched a query term, itself or by a compound part.

    A term with a capital is an acronym as written ("VvE"): it matches that acronym only, not "VVE".
    """
    terms = frozenset(t for t in terms if t not in FILLER_STEMS)
    if not terms:
        return []
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
        word = match.group()
        letters = acronym(word) if not word.islower() else None
        if letters is not None and letters in terms:
            found.append((match.start(), match.start() + len(letters), letters))
            continue
        analysed = analyse_word(word)
        if analysed is None:
            continue
        stem, runs = analysed
        hit = stem if stem in terms else next((run for run, _, _ in runs if run in terms), None)
        if hit is not None:
            found.append((match.start(), match.end(), hit))
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
    joined = " … ".join(part.removesuffix(" …") for part in parts)
    return joined + (" …" if parts[-1].endswith(" …") else "")


def _fragment(text: str, start: int, end: int, inside: list[tuple[int, int, str]], limit: int) -> str:
    """One sentence in about `limit` characters, escaped, matches marked. It always opens with the sentence's
    start; when the first match lies further on, the middle is left out ("Opening words … match …")."""
    end = len(text[:end].rstrip())
    pieces: list[tuple[int, int]] = []
    first = inside[0][0]
    if end - start <= limit or inside[0][1] - start <= limit * 2 // 3:
        pieces.append((start, _cut_end(text, start, end, limit, inside[0][1])))
    else:
        head = _cut_end(text, start, end, limit // 3, start + 1)
        window = text.rfind(" ", head, max(head, first - limit // 6))
        window = window + 1 if window != -1 else first
        pieces += [(start, head), (window, _cut_end(text, window, end, limit - (head - start), inside[0][1]))]
    out = []
    for piece_start, piece_end in pieces:
        part, pos = [], piece_start
        for m_start, m_end, _ in inside:
            if m_start < pos or m_end > piece_end:
                continue
            part.append(html.escape(text[pos:m_start]))
            part.append(f"<mark>{html.escape(text[m_start:m_end])}</mark>")
            pos = m_end
        part.append(html.escape(text[pos:piece_end]))
        out.append("".join(part).strip())
    joined = " … ".join(out)
    return joined + (" …" if pieces[-1][1] < end else "")


def _cut_end(text: str, start: int, end: int, limit: int, keep: int) -> int:
    """Where to end a piece that starts at `start`: at `end` if that is near enough, else at the last space
    before `start + limit` (but not before `keep`, the end of the match that must be shown)."""
    if end - start <= limit:
        return end
    space = text.rfind(" ", keep, start + limit)
    return space if space != -1 else min(end, max(keep, start + limit))
