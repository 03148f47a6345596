"""Turn query-string arguments into a SearchRequest, with clear messages for values we cannot use."""

from __future__ import annotations

from flask import current_app
from werkzeug.datastructures import MultiDict

from wijkwijzer.domain.taxonomy import FACETS
from wijkwijzer.search.models import MAX_PAGE, SORTS, SearchRequest
from wijkwijzer.services import Services

MAX_LIMIT = 50


class BadParameter(ValueError):
    """A query-string value is out of range; the message says which parameter and what is allowed."""


def services() -> Services:
    """The services of the current app."""
    return current_app.extensions["wijkwijzer"]


def _number(args: MultiDict, name: str, default, low, high, kind: type = int):
    """A number from the query string within [low, high]; BadParameter names the parameter and the range."""
    raw = args.get(name, "").strip()
    if not raw:
        return default
    what = "een geheel getal" if kind is int else "een getal"
    try:
        value = kind(raw)
    except ValueError:
        raise BadParameter(f"{name} moet {what} van {low} tot en met {high} zijn, niet '{raw[:20]}'") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} moet {what} van {low} tot en met {high} zijn")
    return value


def search_request(args: MultiDict, per_page: int, *, strict: bool) -> SearchRequest:
    """Read q, sort, page, limit, semantic_ratio, exact (1: no typo correction) and values per facet. `strict`
    raises; otherwise bad values reset."""
    try:
        page = _number(args, "page", 1, 1, MAX_PAGE)
        limit = _number(args, "limit", per_page, 1, MAX_LIMIT)
        sort = args.get("sort", "relevance") or "relevance"
        if sort not in SORTS:
            raise BadParameter(f"sort moet een van {', '.join(SORTS)} zijn")
        ratio = _number(args, "semantic_ratio", None, 0, 1, float)
    except BadParameter:
        if strict:
            raise
        page, limit, sort, ratio = 1, per_page, "relevance", None
    filters = {
        name: tuple(dict.fromkeys(v.strip()[:80] for v in args.getlist(name) if v.strip()))[:20]
        for name in FACETS
    }
    return SearchRequest(
        text=args.get("q", ""), filters={k: v for k, v in filters.items() if v}, sort=sort, page=page,
        per_page=limit, semantic_ratio=ratio, exact=args.get("exact") == "1",
    )
