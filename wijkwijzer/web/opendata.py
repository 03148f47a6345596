"""Open data and the wider web: the case listing for harvesters, exports, the OpenAPI description, the DCAT
catalogue, sitemap.xml, robots.txt, canonical URLs and the JSON-LD of case pages. The work is in opendata/."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context, url_for

from wijkwijzer.opendata import linked, openapi, records
from wijkwijzer.web.params import services

bp = Blueprint("opendata", __name__)

# Public GET endpoints of the JSON API: readable from any site's scripts (no cookies are involved: the answers
# are the same for everyone, so `*` exposes nothing). The coordinators' match API is not among them.
CORS_ENDPOINTS = {"api.search", "api.case", "api.status", "opendata.cases", "opendata.export", "opendata.openapi",
                  "opendata.catalogue"}
LIMITS = {  # per client address, on top of the limits in security.py
    "opendata.cases": "120 per minute",
    "opendata.export": "10 per minute",
}
# Pages with a canonical address (their path, without the query string).
CANONICAL_ENDPOINTS = {"site.home", "site.case", "site.browse"}
# Not for crawlers: coordinators' and editors' pages, the status pages of help requests, invitation answers, the
# write API, and every address with parameters (search results and filtered lists: endless combinations of the
# same case studies, which the sitemap lists once each).
DISALLOW = ("/coordinator/", "/hulpvraag/status/", "/uitnodiging/", "/api/v1/match", "/zoeken?", "/*?")
EXPORT_TYPES = {"jsonl": "application/jsonl; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def canonical_url(endpoint: str, **values) -> str:
    """The absolute address of a page: from WIJKWIJZER_BASE_URL when set, else from this request's host."""
    base = services().settings.base_url
    if not base:
        return url_for(endpoint, _external=True, **values)
    path = url_for(endpoint, **values)
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root):]  # the base URL already holds where the site is mounted
    return base + path


def case_url(slug: str) -> str:
    """The canonical address of a case page."""
    return canonical_url("site.case", slug=slug)


def site_root() -> str:
    """The canonical address of the home page, without the trailing slash."""
    return canonical_url("site.home").rstrip("/")


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


@bp.get("/api/v1/cases")
def cases():
    """`GET /api/v1/cases?since=&limit=&cursor=`: every case study's public record, in harvesting order."""
    unknown = sorted(set(request.args) - {"since", "limit", "cursor"})
    if unknown:
        return _error(400, f"onbekende parameter '{unknown[0][:40]}': gebruik since, limit of cursor")
    try:
        since = records.parse_since(request.args["since"]) if request.args.get("since") else None
        limit = records.parse_limit(request.args.get("limit"))
        after = records.decode_cursor(request.args["cursor"]) if request.args.get("cursor") else None
    except records.BadListing as exc:
        return _error(400, str(exc))
    page = services().open_cases(case_url, since=since, after=after, limit=limit)
    params = {"since": request.args.get("since") or None, "limit": request.args.get("limit") or None}
    next_url = (canonical_url("opendata.cases", cursor=page.next_cursor, **{k: v for k, v in params.items() if v})
                if page.next_cursor else None)
    response = jsonify({"items": page.items, "total": page.total, "limit": limit, "next": next_url})
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.get("/api/v1/cases.<any(jsonl, csv):fmt>")
def export(fmt: str):
    """`GET /api/v1/cases.jsonl` and `/api/v1/cases.csv`: every public record as a download."""
    page = services().open_cases(case_url, limit=None)
    body = stream_with_context(records.export_lines(page.items, fmt))
    stamp = dt.date.today().isoformat()
    return Response(body, headers={
        "Content-Type": EXPORT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="wijkwijzer-praktijkvoorbeelden-{stamp}.{fmt}"',
    })


@bp.get("/api/v1/openapi.json", endpoint="openapi")
def openapi_document():
    """`GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the public JSON API."""
    return jsonify(openapi.document(canonical_url("site.home").rstrip("/") + "/api/v1"))


@bp.get("/api/v1/catalogus")
def catalogue():
    """`GET /api/v1/catalogus`: the collection as a DCAT-AP dataset (JSON-LD), for data portals."""
    svc = services()
    dates = svc.case_dates()  # a removal changes the dataset too
    taxonomy = svc.knowledge.taxonomy
    urls = {"api": canonical_url("opendata.cases"), "api_docs": canonical_url("opendata.openapi"),
            "jsonl": canonical_url("opendata.export", fmt="jsonl"), "csv": canonical_url("opendata.export", fmt="csv"),
            "feed": canonical_url("site.feed"), "catalogue": canonical_url("opendata.catalogue"),
            "home": canonical_url("site.home")}
    body = linked.catalogue(
        site_url=site_root(), urls=urls, count=len([s for s in svc.live_slugs() if s in dates]),
        modified=max((row["modified"] for row in dates.values()), default=None),
        issued=min((row["published"] for row in dates.values()), default=None),
        themes=list(taxonomy.themes.values()),
        areas=[{"name": a.name, "municipality": a.municipality} for a in taxonomy.focus_areas.values()],
    )
    response = jsonify(body)
    response.headers["Content-Type"] = "application/ld+json; charset=utf-8"
    return response


@bp.get("/sitemap.xml")
def sitemap():
    """`GET /sitemap.xml`: the home page, the browse pages and every case page, with its last change."""
    svc = services()
    dates = svc.case_dates()
    live = sorted(slug for slug in svc.live_slugs() if slug in dates)
    newest = max((dates[slug]["modified"] for slug in live), default=None)
    entries: list[tuple[str, str | None]] = [(canonical_url("site.home"), newest)]
    taxonomy = svc.knowledge.taxonomy
    for kind, facet in (("thema", "themes"), ("actielijn", "action_lines"), ("focusgebied", "focus_area")):
        entries += [(canonical_url("site.browse", kind=kind, key=key), None) for key in taxonomy.vocabulary(facet)]
    entries += [(case_url(slug), dates[slug]["modified"]) for slug in live]
    return Response(linked.sitemap(entries), content_type="application/xml; charset=utf-8")


@bp.get("/robots.txt")
def robots():
    """`GET /robots.txt`: public pages open to crawlers, the rest closed; where the sitemap is."""
    return Response(linked.robots(canonical_url("opendata.sitemap"), DISALLOW),
                    content_type="text/plain; charset=utf-8")


def case_jsonld(case: dict) -> str:
    """The schema.org Article of a case page, as JSON safe inside a `<script>` element."""
    svc = services()
    change = svc.case_changes([case])[case["slug"]]
    record = records.public_record(case, svc.knowledge.taxonomy, change, case_url(case["slug"]))
    return linked.script_json(linked.article(record, site_root()))


def page_canonical() -> str | None:
    """The canonical address of the page being rendered, or None for pages without one."""
    if request.endpoint not in CANONICAL_ENDPOINTS or request.view_args is None:
        return None
    return canonical_url(request.endpoint, **request.view_args)


def register(app: Flask) -> None:
    """Add the blueprint, its rate limits, CORS on the public API and the template helpers."""
    app.register_blueprint(bp)
    limiter = app.extensions["wijkwijzer.limiter"]
    for endpoint, limit in LIMITS.items():
        app.view_functions[endpoint] = limiter.limit(limit)(app.view_functions[endpoint])
    app.add_template_global(case_jsonld, "case_jsonld")
    app.add_template_global(page_canonical, "page_canonical")
    app.add_template_global(canonical_url, "canonical_url")

    @app.after_request
    def cors(response: Response) -> Response:
        if request.method in ("GET", "HEAD") and request.endpoint in CORS_ENDPOINTS:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Expose-Headers"] = "Link, Content-Disposition"
        return response
