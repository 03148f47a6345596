"""Pages for practitioners: home, search results, case studies, browse pages and the Atom feed."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import PurePosixPath

from flask import Blueprint, Flask, abort, render_template, request, send_file, url_for
from werkzeug.datastructures import MultiDict

from wijkwijzer.domain.alerts import AlertError, UnknownValue, describe
from wijkwijzer.domain.contact import phone_uri
from wijkwijzer.domain.content import SLUG_PATTERN
from wijkwijzer.domain.taxonomy import FACETS
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.text.markup import render_markdown
from wijkwijzer.web.params import search_request, services
from wijkwijzer.web.public import without_paths

bp = Blueprint("site", __name__)

CASE_FILE_MAX_AGE = 3600  # seconds; a changed file gets a new ETag, so a stale copy is at most an hour old
BROWSE = {  # url segment -> (facet, Dutch heading)
    "thema": ("themes", "Thema"),
    "actielijn": ("action_lines", "Actielijn"),
    "focusgebied": ("focus_area", "Focusgebied"),
}


@bp.get("/")
def home():
    """Search box, the taxonomy to browse, and the newest case studies."""
    svc = services()
    everything = svc.search(SearchRequest(per_page=1))
    return render_template(
        "home.html", newest=svc.newest(6), facets=everything.facets, taxonomy=svc.knowledge.taxonomy,
        total=everything.total,
    )


@bp.get("/zoeken")
def search():
    """Results with facets as filters; every state is in the URL, so it can be shared."""
    svc = services()
    req = search_request(request.args, svc.settings.results_per_page, strict=False)
    response = svc.search(req)
    semantic = svc.semantic.status()
    semantic = replace(semantic, error=without_paths(semantic.error))  # public: the editors' page has paths
    return render_template("search.html", response=response, req=req, taxonomy=svc.knowledge.taxonomy,
                           semantic=semantic)


@bp.get("/casus/<path:slug>")
def case(slug: str):
    """One case study, rendered from sanitised markdown, with related case studies."""
    if not SLUG_PATTERN.match(slug):
        abort(404)
    svc = services()
    found = svc.case(slug)
    if found is None:
        abort(404)
    files = svc.case_files(slug, found)
    images = tuple((src, url_for("site.case_file", slug=slug, name=src), width, height)
                   for src, (width, height) in files.image_sizes.items())
    return render_template(
        "case.html", case=found, body=render_markdown(found["body"], images), related=svc.related(slug),
        taxonomy=svc.knowledge.taxonomy, attachments=files.attachments,
    )


@bp.get("/casus/<path:slug>/_bestanden/<path:name>")
def case_file(slug: str, name: str):
    """A file the case lists (attachment or image in its body); 404 for anything else.

    No slug has a segment starting with '_', so the route cannot be mistaken for a case. Office documents are
    downloaded, PDFs and images shown in the browser; the type comes from our allow-list, never from the file.
    """
    if not SLUG_PATTERN.match(slug):
        abort(404)
    opened = services().case_file(slug, name)
    if opened is None:
        abort(404)
    response = send_file(
        opened.fh, mimetype=opened.kind.media_type, as_attachment=not opened.kind.inline,
        download_name=PurePosixPath(name).name, conditional=False, last_modified=opened.mtime,
        etag=f"{opened.inode:x}-{int(opened.mtime * 1e6):x}-{opened.size:x}", max_age=CASE_FILE_MAX_AGE,
    )
    # send_file knows no length for an open file, so it cannot answer ranges (PDF viewers ask for them) itself.
    response.content_length = opened.size
    response.make_conditional(request.environ, accept_ranges=True, complete_length=opened.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<any(thema, actielijn, focusgebied):kind>/<key>")
def browse(kind: str, key: str):
    """All case studies of one theme, action line or focus area, newest first."""
    svc = services()
    facet, heading = BROWSE[kind]
    taxonomy = svc.knowledge.taxonomy
    if key not in taxonomy.vocabulary(facet):
        abort(404)
    args = MultiDict(request.args)
    args.setlist(facet, [key])
    req = search_request(args, svc.settings.results_per_page, strict=False)
    response = svc.search(req)
    return render_template(
        "browse.html", response=response, req=req, taxonomy=taxonomy, heading=heading,
        label=taxonomy.label(facet, key), facet=facet, key=key,
        area=taxonomy.focus_areas.get(key) if facet == "focus_area" else None,
    )


@bp.get("/feed.atom")
def feed():
    """Atom feed of the 20 newest case studies; with the search page's parameters (`?themes=veiligheid`,
    `?q=buurtpreventie&focus_area=...`) of those that search finds. An unknown theme, action line or focus area
    is a 404 that names it."""
    svc = services()
    query = request.query_string.decode("utf-8", "replace")
    label = None
    if request.args:
        try:
            followed = svc.alerts.followed(query)
        except UnknownValue as exc:
            abort(404, description=str(exc))
        except AlertError:
            followed = None  # only sort, page or other parameters: the whole collection
        if followed is not None:
            query, label = followed.query, describe(followed, svc.knowledge.taxonomy)
    if label is None:
        entries, query = svc.search(SearchRequest(sort="date", per_page=20)).hits, ""
    else:
        entries = svc.search(SearchRequest(text=followed.text, filters=followed.filter_dict(), exact=followed.exact,
                                           sort="date", per_page=20, strict=True)).hits
    updated = max((h.date for h in entries if h.date), default=dt.date.today().isoformat())
    body = render_template("feed.xml", entries=entries, updated=updated, label=label, query=query)
    return body, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}


def filter_url(endpoint_args: dict, req: SearchRequest, facet: str | None = None, value: str | None = None,
               **changes) -> str:
    """URL of the current search with one facet value toggled (or other parameters changed); page resets."""
    filters = {name: list(values) for name, values in req.filters.items()}
    if facet and value is not None:
        values = filters.setdefault(facet, [])
        if value in values:
            values.remove(value)
        else:
            values.append(value)
    params: dict = {"q": req.text or None, "sort": req.sort if req.sort != "relevance" else None,
                    "exact": "1" if req.exact else None}
    params.update({name: values for name, values in filters.items() if values})
    params.update(changes)
    params = {k: v for k, v in params.items() if v not in (None, "", [])}
    endpoint = endpoint_args.pop("endpoint", "site.search")
    for fixed in endpoint_args:
        params.pop(fixed, None)
    if endpoint == "site.browse":
        params.pop(BROWSE[endpoint_args["kind"]][0], None)
    return url_for(endpoint, **endpoint_args, **params)


def tag_url(tag: str) -> str:
    """The search for one tag, exactly as written (no typo correction). Tags are indexed in the lead field: a tag
    of several words is searched as a phrase; a hyphenated one as written, which the analyser keeps together."""
    return url_for("site.search", q=f'"{tag}"' if " " in tag else tag, exact="1")


def register_template_helpers(app: Flask) -> None:
    """Globals the search templates use (the filters for dates and numbers: web/formats.py)."""
    app.add_template_global(filter_url, "filter_url")
    app.add_template_global(tag_url, "tag_url")
    app.add_template_filter(phone_uri, "tel")
    app.add_template_global(FACETS, "FACETS")
