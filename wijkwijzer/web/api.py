"""JSON API, version 1: search, one case study, and the index status."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from wijkwijzer.domain.helprequests import BadRequest, request_from_json
from wijkwijzer.search.hybrid import UnknownMode
from wijkwijzer.web.opendata import case_url
from wijkwijzer.web.params import BadParameter, search_request, services
from wijkwijzer.web.public import public_status
from wijkwijzer.web.security import check_password, current_user

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _error(status: int, message: str):
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


@bp.get("/search")
def search():
    """`GET /api/v1/search?q=&mode=&limit=&page=&sort=&<facet>=`: ranked results with facets and a suggestion."""
    svc = services()
    mode = request.args.get("mode") or None
    try:
        req = search_request(request.args, svc.settings.results_per_page, strict=True)
        response = svc.search(req, mode=mode)
    except (BadParameter, UnknownMode) as exc:
        return _error(400, str(exc))
    taxonomy = svc.knowledge.taxonomy
    return jsonify(
        {
            "query": response.request.text,
            "mode": response.mode,
            "total": response.total,
            "page": req.page,
            "pages": response.pages,
            "results": [
                {
                    "slug": hit.slug,
                    "title": hit.title,
                    "summary": hit.summary,
                    "url": case_url(hit.slug),
                    "score": hit.score,
                    "snippet": hit.snippet,
                    "themes": hit.themes,
                    "municipality": hit.municipality,
                    "focus_area": taxonomy.label("focus_area", hit.focus_area) if hit.focus_area else "",
                    "type": hit.type,
                    "date": hit.date,
                }
                for hit in response.hits
            ],
            "facets": {
                name: [{"value": v.key, "label": v.label, "count": v.count, "selected": v.selected} for v in values]
                for name, values in response.facets.items()
            },
            "suggestion": response.suggestion,
            "corrected_from": response.corrected_from,
            "sources": response.sources,
        }
    )


@bp.get("/cases/<path:slug>")
def case(slug: str):
    """`GET /api/v1/cases/<slug>`: one case study with its markdown body and metadata."""
    found = services().case(slug)
    if found is None:
        return _error(404, f"geen casus met slug '{slug[:200]}'")
    return jsonify(found | {"url": case_url(slug)})


@bp.get("/status")
def status():
    """`GET /api/v1/status`: documents in the index, time of the last change, and current file errors."""
    return jsonify(public_status(services().status()))


@bp.route("/<path:anything>")
def not_found(anything: str):
    """Unknown API paths answer JSON, not the HTML 404 page."""
    abort(404)


def _account() -> dict | None:
    """The logged-in account: by session cookie, or by HTTP Basic credentials for scripts (wrong passwords are
    throttled as on the login form: 429 once an address or an account has had too many)."""
    account = current_user()
    if account is None:
        auth = request.authorization
        if auth and auth.type == "basic" and auth.username and auth.password:
            account = check_password(auth.username, auth.password)
    return account


@bp.post("/match")
def match():
    """`POST /api/v1/match` (coordinators): routing, explained matches and three case studies for a request."""
    account = _account()
    if account is None:
        response = _error(401, "log in als coördinator (sessie of HTTP Basic)")
        response.headers["WWW-Authenticate"] = 'Basic realm="Wijkwijzer", charset="UTF-8"'
        return response
    if account["role"] != "coordinator":  # the answer shows members' free hours and conflicts
        return _error(403, "alleen voor coördinatoren")
    if not request.is_json:
        return _error(415, "stuur JSON met Content-Type: application/json")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the JSON decoder recurses per nesting level; silent= covers only ValueError
        return _error(400, "de JSON is te diep genest")
    try:
        help_request = request_from_json(data)
        answer = services().match(help_request, limit=5)
    except (ValueError, BadRequest) as exc:
        return _error(400, str(exc))
    return jsonify(answer)
