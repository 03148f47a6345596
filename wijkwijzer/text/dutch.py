"""Dutch word analysis, shared by the full-text index and the matcher.

Dutch glues words together ("jeugdcriminaliteit", "schuldhulpverlening"), so a plain stemming analyser cannot
find a compound by one of its parts. At index time we split compounds into parts that are themselves Dutch words
(from pyspellchecker's Dutch word list) and index every contiguous run of parts at the token's position. Queries
are not split: "taalachterstand" then matches only documents whose compounds contain exactly that run of parts,
so it never hits "betaalachterstand" (be|taal|achterstand is not a split: "be" is too short to be a part).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.support.charset import accent_map

# Words of at least 3 characters, letters and digits, with inner hyphens or apostrophes kept ("Zuid-Holland").
TOKEN_PATTERN = r"\w+(?:[-'’]\w+)*"
MIN_PART = 4  # shorter parts ("be", "ver", "on") split too eagerly and give false hits
MIN_COMPOUND = 8
MAX_COMPOUND = 40
# Linking sounds between the parts of a Dutch compound: woning-s-corporatie, ziekte-n-huis.
LINKERS = ("", "s", "e", "en", "er")

DUTCH_STOPWORDS = frozenset(stopwords_for_language("nl"))


def dutch_lexicon() -> dict[str, int]:
    """Return the Dutch word list used to recognise compound parts: folded word -> corpus frequency."""
    return _word_lists()[0]


def dutch_words() -> frozenset[str]:
    """Every word of pyspellchecker's Dutch list, folded, however rare.

    The list is a subtitle count merged with a dictionary: some 300,000 of its 344,000 words carry the
    dictionary's floor count of 50 ("aanslagen", "verruimen", "statushouders"). `dutch_lexicon` leaves those out,
    as compound parts must be common; to tell a real word from a typo they count as much as any other.
    """
    return _word_lists()[1]


@lru_cache(maxsize=1)
def _word_lists() -> tuple[dict[str, int], frozenset[str]]:
    """`dutch_lexicon` and `dutch_words` from one reading of the list (parsing it takes most of a second)."""
    ref = resources.files("spellchecker").joinpath("resources", "nl.json.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        words: dict[str, int] = json.load(fh)
    lexicon: dict[str, int] = {}
    for word, freq in words.items():
        if len(word) >= MIN_PART and word.isalpha() and freq > 50:
            key = fold(word)
            lexicon[key] = max(freq, lexicon.get(key, 0))
    for word in EXTRA_PARTS:
        lexicon.setdefault(word, 1000)
    for word in NO_PARTS:
        lexicon.pop(word, None)
    # Most words are plain lowercase ASCII already: folding only the others saves most of the time.
    every = frozenset(w if w.isascii() and w.islower() else fold(w) for w in words if w.isalpha()) | EXTRA_PARTS
    return lexicon, every


# Inflectional endings of Dutch nouns, adjectives and verbs: plural, genitive, adjective -e, past tense and participle.
INFLECTIONS = ("s", "n", "e", "en", "es", "t", "d", "te", "de", "ten", "den", "er", "ers", "ere", "st", "ste")


def is_dutch_word(word: str) -> bool:
    """Whether a folded word is Dutch: in the word list (`dutch_words`), an inflected form of a listed word with
    the same stem ("buurtbemiddelaars" beside "buurtbemiddelaar"), or the singular of a listed plural
    ("statushouder" beside "statushouders").

    Only a plural -s is added to the word: other endings would make a word of a typo that dropped a letter where
    the spelling of the inflected form changes ("aanvrag" + "en" is "aanvragen", but "aanvrag" is no word).
    """
    words = dutch_words()
    if word in words:
        return True
    base = stem(word)
    forms = {word[:-len(ending)] for ending in INFLECTIONS if word.endswith(ending) and len(word) > len(ending) + 3}
    forms.add(word + "s")
    return any(form in words and stem(form) == base for form in forms)


# Parts common in policy Dutch that the general (subtitle-based) word list lacks or lists as rare; they are
# never split themselves ("achterstand" is no "achter" + "stand" to a reader).
EXTRA_PARTS = frozenset(
    {
        "signalering", "verlening", "ondermijning", "corporatie", "corporaties", "participatie",
        "herstructurering", "verduurzaming", "leefbaarheid", "wijkaanpak", "achterstand", "achterstanden",
        "jongeren", "bewoners", "energie", "armoede", "criminaliteit", "preventie", "educatie",
    }
)
# Word endings that look like words but are suffixes: splitting there gives nonsense parts.
NO_PARTS = frozenset(
    {"lijk", "lijke", "lijks", "heid", "heden", "baar", "bare", "schap", "ling", "lingen", "isch", "tanden"}
    | {"schappelijk", "schappelijke"}
)


def fold(text: str) -> str:
    """Lowercase and strip accents, as the index does ("geïnvesteerd" -> "geinvesteerd")."""
    return text.lower().translate(accent_map)


@lru_cache(maxsize=200_000)
def split_compound(word: str) -> tuple[tuple[int, int], ...]:
    """Split a folded word into compound parts; return their (start, end) offsets, or () if it is no compound.

    The word is cut in two where both sides are lexicon words (at least MIN_PART long; the left side may end
    in a linking sound), choosing the cut with the highest geometric mean of the parts' frequencies. A cut
    wins only over a more frequent whole word when its parts are more common still (Koehn and Knight's
    frequency rule), so "belangrijk" stays whole while "hulpverlening" splits. Parts are split again.
    """
    lex = dutch_lexicon()
    n = len(word)
    if n < MIN_COMPOUND or n > MAX_COMPOUND or not word.isalpha() or word in EXTRA_PARTS:
        return ()
    best_score, best_cut = float(lex.get(word, 0)), None
    for j in range(MIN_PART, n - MIN_PART + 1):
        right = lex.get(word[j:])
        if not right:
            continue
        for link in LINKERS:
            i = j - len(link)
            if i >= MIN_PART and word[i:j] == link and word[:i] in lex:
                score = math.sqrt(lex[word[:i]] * right)
                if score > best_score:
                    best_score, best_cut = score, (i, j)
    if best_cut is None:
        return ()
    i, j = best_cut
    left = split_compound(word[:i]) or ((0, i),)
    right_parts = tuple((j + a, j + b) for a, b in split_compound(word[j:])) or ((j, n),)
    return left + right_parts


def compound_runs(word: str) -> list[tuple[int, int]]:
    """All contiguous runs of a compound's parts, except the whole word: the extra terms to index."""
    return [(start, end) for start, end, _ in _runs(word)]


def _runs(word: str) -> list[tuple[int, int, int]]:
    """(start, end, end including the linking sound after it) of every run of parts, except the whole word."""
    parts = split_compound(word)
    runs = []
    for a in range(len(parts)):
        for b in range(a, len(parts)):
            start, end = parts[a][0], parts[b][1]
            if (start, end) != (0, len(word)):
                runs.append((start, end, parts[b + 1][0] if b + 1 < len(parts) else end))
    return runs


# Words the Snowball stemmer merges with a word of another meaning, each mapped to a stem of its own: every form
# listed here gets the stem given, every other form keeps Snowball's. "ouderen" (the elderly) and "ouders"
# (parents) both stem to "ouder" otherwise, so a search for "eenzaamheid ouderen" found texts about parents.
# Forms that mean the same stay merged ("wijk" and "wijken"). The same list serves the index, the query and the
# matcher; after changing it, bump search.fulltext.ANALYSIS_VERSION so every document is indexed again.
PROTECTED_STEMS: dict[str, str] = {
    # the elderly, not parents ("ouder", "ouders") nor "older"
    "ouderen": "ouderen", "oudere": "ouderen",
    # young people, not "younger" ("jonger")
    "jongeren": "jongeren", "jongere": "jongeren",
    # a boy, not "young" ("jong", "jonge")
    "jongen": "jongen", "jongens": "jongen",
    # buying ("koopwoning", "kopen"), not a head or headline ("kop")
    "koop": "koop", "kopen": "koop",
}


# Words a question is phrased with that say nothing of its subject ("hoe houd je jongeren erbij", "wat kunnen we
# ermee"), beyond Whoosh's stop words: never marked in a snippet.
FILLER_WORDS = (
    "mee", "houd", "houden", "kun", "kunt", "ga", "gaan", "gaat", "krijg", "krijgen", "maak", "maken", "welke",
    "waar", "waarom", "wanneer", "echt", "erbij", "ermee", "erin", "eraan", "ervoor", "graag", "even", "gewoon",
    "ding", "dingen", "zit", "zitten", "staat", "staan", "komt", "komen", "willen", "wil", "moeten",
)


def stem(word: str) -> str:
    """The stem of a folded word: Snowball's Dutch stemmer, except for PROTECTED_STEMS."""
    return PROTECTED_STEMS.get(word) or _stem(word)


_stem = stemmer_for_language("nl")
FILLER_STEMS = frozenset(stem(word) for word in FILLER_WORDS)


@lru_cache(maxsize=500_000)
def analyse_word(raw: str) -> tuple[str, tuple[tuple[str, int, int], ...]] | None:
    """One word as the index sees it: its stem and its compound runs (stem, start, end), or None (stop word).

    Cached per distinct spelling: the same few thousand words make up most of any text, so the index spends
    its time on postings instead of on lowercasing, folding and stemming the same words again.
    """
    word = fold(raw)
    if len(word) < 2 or word in DUTCH_STOPWORDS:
        return None
    # A part followed by a linking sound may be a protected word: "ouderen|zorg" is about the elderly.
    runs = tuple((stem(word[a:linked]) if word[a:linked] in PROTECTED_STEMS else stem(word[a:b]), a, b)
                 for a, b, linked in _runs(word))
    return stem(word), runs




# An acronym as written: 2-5 letters, at least two of them capitals ("GGD", "VvE", "DigiD"), optionally followed by a
# plural or possessive ending ("VvE's") or by the rest of a hyphenated word ("VVE-indicatie").
_ACRONYM = re.compile(r"([A-Za-z]{2,5})(?:['’]s?|-[\w-]+)?")


def acronym(token: str) -> str | None:
    """The acronym a token is or starts with, case kept ("VvE's" -> "VvE"), or None.

    Dutch writes different things with the same letters in different case (VvE: an owners' association; VVE:
    early-childhood education), so the index keeps each acronym as written beside its folded stem.
    """
    m = _ACRONYM.fullmatch(token)
    if m is None:
        return None
    letters = m.group(1)
    return letters if sum(c.isupper() for c in letters) >= 2 else None


def terms(text: str) -> set[str]:
    """Stems of the words of `text` and of their compound parts ("schuldhulpverlening" gives "schuld" too)."""
    out: set[str] = set()
    for word in re.findall(r"\w+", text):
        analysed = analyse_word(word)
        if analysed:
            out.add(analysed[0])
            out.update(run for run, _, _ in analysed[1])
    return out


def compound_parts(text: str) -> set[str]:
    """Stems of the compound parts of the words of `text`, not of the words themselves ("drugshandel" gives
    "drug" and "handel"; a plain "handel" gives nothing)."""
    out: set[str] = set()
    for word in re.findall(r"\w+", text):
        analysed = analyse_word(word)
        if analysed:
            out.update(run for run, _, _ in analysed[1])
    return out


def stems(text: str) -> list[str]:
    """Stems of the words of `text`, in order (stop words left out, compounds not split)."""
    return [a[0] for a in (analyse_word(w) for w in re.findall(r"\w+", text)) if a]


def expand_synonyms(words: set[str], synonyms: Iterable[Iterable[str]]) -> set[str]:
    """Add the synonyms of every stem in `words` (groups of words or phrases that mean the same)."""
    out = set(words)
    for group in synonyms:
        phrases = [set(stems(phrase)) for phrase in group]
        # A phrase counts when all its words occur: "achterstallige huur" is not triggered by "huur" alone.
        if any(phrase and phrase <= words for phrase in phrases):
            out.update(*phrases)
    return out
