"""From typed text to what the index matches: cleaning, plain words as term groups, Whoosh's parser for syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from whoosh import qparser
from whoosh.fields import Schema
from whoosh.query import Every, Query

from wijkwijzer.search.models import MAX_QUERY_CHARS
from wijkwijzer.text.dutch import TOKEN_PATTERN, analyse_word

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


def plain_groups(text: str) -> list[list[tuple[str, str]]] | None:
    """Query words as OR-groups over the searched fields, without Whoosh's parser, for text without syntax.

    The parser costs milliseconds per query and yields the same terms for plain words; quotes, operators,
    wildcards and the like still go through it.
    """
    if _SYNTAX.search(text):
        return None
    groups: dict[str, list[tuple[str, str]]] = {}
    for word in re.findall(TOKEN_PATTERN, text)[:MAX_QUERY_WORDS]:
        analysed = analyse_word(word)
        if analysed is not None and analysed[0] not in groups:
            groups[analysed[0]] = [(field, analysed[0]) for field in SEARCH_FIELDS]
    return list(groups.values())


def parse(text: str, schema: Schema) -> Query:
    """Whoosh's parser over the searched fields, with +/- and without field, range and boost syntax; queries
    that would expand over the whole vocabulary are reduced to their words."""
    if not text:
        return Every()
    parser = qparser.MultifieldParser(SEARCH_FIELDS, schema, group=qparser.OrGroup.factory(0.9))
    for plugin in (qparser.FieldsPlugin, qparser.RangePlugin, qparser.BoostPlugin, qparser.EveryPlugin):
        parser.remove_plugin_class(plugin)
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
