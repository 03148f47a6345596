"""The member's page for an invitation: reached by the unguessable link in the mail, no login. It shows what is
asked and takes the answer (accept, or decline with a reason) as a POST with the form's CSRF token."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from wijkwijzer.domain.helprequests import RefusedChange
from wijkwijzer.domain.pool import POOLS
from wijkwijzer.domain.teams import STATE_LABELS
from wijkwijzer.web.params import services

bp = Blueprint("invitations", __name__)
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _found(token: str) -> dict:
    found = services().team.invitation(token)
    if found is None:
        abort(404)
    return found


@bp.get("/uitnodiging/<token>")
def show(token: str):
    """What the invitation asks, and the two answers while it is open; the submitter's contact once accepted."""
    found = _found(token)
    return render_template("uitnodiging.html", token=token, states=STATE_LABELS, pools=POOLS, **found,
                           errors={}), 200, PRIVATE


@bp.post("/uitnodiging/<token>")
def answer(token: str):
    """Accept, or decline with a reason (CSRF-protected like every form of the site)."""
    svc = services()
    found = _found(token)
    decision = request.form.get("decision", "")
    reason = request.form.get("reason", "").strip()
    try:
        if decision == "accepteren":
            svc.team.accept(token)
            flash("Bedankt: u doet mee. De uren staan voor u geboekt.", "success")
        elif decision == "afslaan":
            if not reason:
                errors = {"reason": "Geef kort aan waarom u niet kunt, zodat de coördinator iemand anders zoekt."}
                return render_template("uitnodiging.html", token=token, states=STATE_LABELS, pools=POOLS, **found,
                                       errors=errors), 422, PRIVATE
            svc.team.decline(token, reason)
            flash("Bedankt voor uw antwoord. De coördinator zoekt iemand anders.", "success")
        else:
            abort(400)
    except RefusedChange as exc:
        flash(f"Dat kan niet meer: {exc}.", "error")
    return redirect(url_for("invitations.show", token=token), code=303)
