"""The reading list (leeslijst): its page and its print view, both built from `?cases=slug1,slug2`.

No account and nothing stored on the server: the visitor's browser keeps the list (static/leeslijst.js) and
asks these pages for it by that URL, which is also the link to share and what the plain links use without
JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, make_response, render_template, request, url_for

from wijkwijzer.domain.readinglist import MAX_CASES, ReadingList, parse_cases
from wijkwijzer.text.markup import render_markdown
from wijkwijzer.web.params import services

bp = Blueprint("readlist", __name__)
# Any mix of slugs makes a list page: search engines index the case pages themselves, not these.
NOT_INDEXED = {"X-Robots-Tag": "noindex"}


def list_url(reading: ReadingList, endpoint: str = "readlist.page", *, external: bool = False) -> str:
    """Link to a reading list, commas left readable (slugs hold only letters, digits, '-', '_' and '/')."""
    base = url_for(endpoint, _external=external)
    return f"{base}?cases={reading.query()}" if reading.slugs else base


def _context(reading: ReadingList) -> dict:
    """What both pages show: the cases found, what could not be shown and why, and the links."""
    cases, missing = services().reading_list(reading.slugs)
    found = ReadingList(tuple(case["slug"] for case in cases))
    return {
        "cases": cases, "missing": missing, "invalid": reading.invalid, "over_limit": reading.over_limit,
        "limit": MAX_CASES, "reading": found, "asked": bool(reading.slugs or reading.invalid),
        "remove_urls": {slug: list_url(found.without(slug)) for slug in found.slugs},
        "share_url": list_url(found, external=True), "print_url": list_url(found, "readlist.print_view"),
        "taxonomy": services().knowledge.taxonomy,
    }


@bp.get("/leeslijst")
def page():
    """The saved (or shared) case studies with title, summary and facts, a link to share and to print."""
    reading = parse_cases(request.args.getlist("cases"))
    return make_response(render_template("leeslijst.html", **_context(reading)), NOT_INDEXED)


@bp.get("/leeslijst/afdrukken")
def print_view():
    """Every case study of the list in full (facts, text, source, address), one after another, for paper."""
    reading = parse_cases(request.args.getlist("cases"))
    context = _context(reading)
    bodies = {case["slug"]: render_markdown(case["body"]) for case in context["cases"]}
    return make_response(render_template("leeslijst_afdrukken.html", bodies=bodies, **context), NOT_INDEXED)
