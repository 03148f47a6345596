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


def _int(args: MultiDict, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} moet een geheel getal zijn, niet '{raw[:20]}'") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} moet tussen {low} en {high} liggen")
    return value


def _ratio(args: MultiDict) -> float | None:
    raw = args.get("semantic_ratio", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(f"semantic_ratio moet een getal van 0 tot en met 1 zijn, niet '{raw[:20]}'") from None
    if not 0 <= value <= 1:
        raise BadParameter("semantic_ratio moet een getal van 0 tot en met 1 zijn")
    return value


def search_request(args: MultiDict, per_page: int, *, strict: bool) -> SearchRequest:
    """Read q, sort, page, limit, semantic_ratio and values per facet. `strict` raises; otherwise bad values reset."""
    try:
        page = _int(args, "page", 1, 1, MAX_PAGE)
        limit = _int(args, "limit", per_page, 1, MAX_LIMIT)
        sort = args.get("sort", "relevance") or "relevance"
        if sort not in SORTS:
            raise BadParameter(f"sort moet een van {', '.join(SORTS)} zijn")
        ratio = _ratio(args)
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
        per_page=limit, semantic_ratio=ratio,
    )
