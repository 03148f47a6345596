"""The public help-request form and the submitter's status page (reached only by its unguessable link)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from wijkwijzer.domain.helprequests import KIND_LABELS, MAX_QUESTION, STATUSES
from wijkwijzer.web.params import services

bp = Blueprint("helpdesk", __name__)


def _form_context(svc) -> dict:
    gemeenten = svc.pool.gemeenten
    names = sorted((gemeenten.display(n) for n in gemeenten.names), key=lambda n: n.lower().removeprefix("'s-"))
    taxonomy = svc.knowledge.taxonomy
    return {"municipalities": names, "taxonomy": taxonomy, "kinds": KIND_LABELS}


@bp.route("/hulpvraag", methods=["GET", "POST"])
def form():
    """Ask the programme for help: a short form, nothing beyond what matching and a reply need."""
    svc = services()
    if request.method == "GET":
        return render_template("hulpvraag.html", values=prefill(request.args), errors={}, **_form_context(svc))
    values = {key: request.form.get(key, "") for key in request.form if key != "csrf_token"}
    values["themes"] = request.form.getlist("themes")
    result, token = svc.submit_request(values)
    if token is None:
        return render_template("hulpvraag.html", values=values, errors=result.errors, **_form_context(svc)), 422
    return redirect(url_for("helpdesk.status", token=token, nieuw=1), code=303)


def prefill(args) -> dict:
    """Start values from the link that led here: `question` (a search, a case page) and `kind` (e.g. vraagbaak).
    Nothing is stored until the form is sent; an unknown kind falls back to "weet ik niet"."""
    kind = args.get("kind", "")
    return {"kind": kind if kind in KIND_LABELS else "weet ik niet",
            "question": " ".join(args.get("question", "").split())[:MAX_QUESTION]}


@bp.get("/hulpvraag/status/<token>")
def status(token: str):
    """Where a request stands, for whoever holds the link (no contact data is shown)."""
    svc = services()
    found = svc.requests.by_token(token) if 16 <= len(token) <= 64 else None
    if found is None:
        abort(404)
    history = svc.requests.history(found["id"])
    return render_template("hulpvraag_status.html", item=found, history=history, statuses=STATUSES,
                           new=request.args.get("nieuw") == "1", taxonomy=svc.knowledge.taxonomy,
                           kinds=KIND_LABELS), 200, {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@bp.get("/privacy")
def privacy():
    """What we do with the personal data in help requests (AVG)."""
    return render_template("privacy.html")


@bp.get("/toegankelijkheid")
def accessibility():
    """The accessibility statement."""
    return render_template("toegankelijkheid.html")
