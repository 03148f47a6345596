"""The public help-request form and the submitter's status page (reached only by its unguessable link)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from wijkwijzer.domain.helprequests import KIND_LABELS, STATUSES
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
        return render_template("hulpvraag.html", values={"kind": "weet ik niet"}, errors={}, **_form_context(svc))
    values = {key: request.form.get(key, "") for key in request.form if key != "csrf_token"}
    values["themes"] = request.form.getlist("themes")
    result, token = svc.submit_request(values)
    if token is None:
        return render_template("hulpvraag.html", values=values, errors=result.errors, **_form_context(svc)), 422
    return redirect(url_for("helpdesk.status", token=token, nieuw=1), code=303)


@bp.get("/hulpvraag/status/<token>")
def status(token: str):
    """Where a request stands, for whoever holds the link (no contact data is shown)."""
    svc = services()
    found = svc.requests.by_token(token) if 16 <= len(token) <= 64 else None
    if found is None:
        abort(404)
    history = svc.requests.history(found["id"])
    # The link as the mails give it when the site's address is configured, else as this request reached us.
    status_url = (svc.notifier.status_url(token) if svc.settings.base_url
                  else url_for("helpdesk.status", token=token, _external=True))
    return render_template("hulpvraag_status.html", item=found, history=history, statuses=STATUSES,
                           status_url=status_url,
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
