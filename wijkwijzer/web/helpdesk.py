"""The public help-request form and the submitter's status page (reached only by its unguessable link)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from wijkwijzer.domain.helprequests import KIND_LABELS, MAX_QUESTION, STATUSES, RefusedChange
from wijkwijzer.domain.pool import POOLS
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
def status(token: str, feedback_errors: dict | None = None, code: int = 200):
    """Where a request stands, for whoever holds the link: the team (who, their role and pool, and how to reach
    them once they accepted), what happens next, and after closing a short feedback form."""
    svc = services()
    found = svc.requests.by_token(token) if 16 <= len(token) <= 64 else None
    if found is None:
        abort(404)
    # Team events repeat the status; the submitter reads each status once.
    events = svc.requests.history(found["id"])
    history = [e for i, e in enumerate(events) if i == 0 or e["status"] != events[i - 1]["status"]]
    members = svc.team.members()
    team = []
    for slot in svc.team.teams.slots(found["id"]):
        link = slot["link"]
        member = members.get(link["member_id"]) if link else None
        team.append({"role": slot["role"], "member": member, "accepted": bool(link and link["state"] == "geaccepteerd"),
                     "pool": POOLS.get(member.pool, member.pool) if member else ""})
    # The link as the mails give it when the site's address is configured, else as this request reached us.
    status_url = (svc.notifier.status_url(token) if svc.settings.base_url
                  else url_for("helpdesk.status", token=token, _external=True))
    return render_template("hulpvraag_status.html", item=found, history=history, statuses=STATUSES,
                           status_url=status_url,
                           new=request.args.get("nieuw") == "1", taxonomy=svc.knowledge.taxonomy,
                           kinds=KIND_LABELS, team=team, next_step=next_step(found["status"], team), token=token,
                           feedback=svc.team.feedback.get(found["id"]), feedback_errors=feedback_errors or {},
                           ), code, {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@bp.post("/hulpvraag/status/<token>/beoordeling")
def feedback(token: str):
    """The two-question feedback after closing, stored once."""
    svc = services()
    found = svc.requests.by_token(token) if 16 <= len(token) <= 64 else None
    if found is None:
        abort(404)
    useful = request.form.get("useful", "")
    try:
        svc.team.give_feedback(found["id"], useful, request.form.get("why", ""))
    except RefusedChange as exc:
        field = "useful" if useful not in {"1", "2", "3", "4", "5"} else "why"
        return status(token, {field: f"{str(exc)[0].upper()}{str(exc)[1:]}."}, 422)
    return redirect(url_for("helpdesk.status", token=token) + "#beoordeling", code=303)


def next_step(status: str, team: list[dict]) -> str:
    """What happens next, in the submitter's words."""
    waiting = sum(1 for place in team if place["member"] and not place["accepted"])
    if status == "nieuw":
        return ("Een coördinator bekijkt uw vraag binnen vijf werkdagen en zoekt de deskundigen die erbij passen. "
                "U krijgt een e-mail zodra er iets verandert.")
    if status == "in behandeling":
        if waiting:
            return (f"We hebben {waiting} {'deskundige' if waiting == 1 else 'deskundigen'} gevraagd mee te werken "
                    "en wachten op antwoord. Zodra iedereen ja heeft gezegd, krijgt u een e-mail met de namen en "
                    "hoe u ze bereikt.")
        return ("Een coördinator zoekt de deskundigen die bij uw vraag passen. U krijgt een e-mail zodra het "
                "team compleet is.")
    if status == "gekoppeld":
        return ("Uw team is compleet. De deskundigen nemen binnen enkele werkdagen contact met u op; u kunt ook zelf "
                "mailen. Noem dan uw kenmerk.")
    if status == "afgerond":
        return "De hulp bij uw vraag is afgerond. Wilt u hieronder laten weten hoe nuttig die was?"
    return "Het programma kan u met deze vraag niet helpen; de reden staat in de e-mail die u kreeg."


@bp.get("/privacy")
def privacy():
    """What we do with the personal data in help requests (AVG)."""
    return render_template("privacy.html")


@bp.get("/toegankelijkheid")
def accessibility():
    """The accessibility statement."""
    return render_template("toegankelijkheid.html")
