"""Following by e-mail, without an account: the follow form, the confirmation link, the manage page and the
unsubscribe link (also RFC 8058's one-click POST from a mail program). The use cases are in alerts.py."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from wijkwijzer.domain.alerts import (
    FREQUENCIES,
    FREQUENCY_PHRASES,
    WEEKLY,
    AlertError,
    Followed,
    describe,
    parse_followed,
)
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.web.params import services

bp = Blueprint("alerts", __name__)
# Pages reached by a secret link: the link must not leak to other sites, nor stay in a shared cache.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@bp.app_template_global()
def follow_query(req: SearchRequest) -> str:
    """The canonical query string that follows this search ("" when there is nothing to follow)."""
    followed = Followed(text=req.text.strip(), exact=req.exact,
                        filters=tuple((name, tuple(values)) for name, values in req.filters.items()))
    try:
        return parse_followed(followed.query, services().knowledge.taxonomy).query
    except AlertError:
        return ""


@bp.app_template_global()
def follow_label(query: str) -> str:
    """What a query string follows, in words."""
    return services().alerts.label(query)


def _followed_or_404(query: str) -> Followed:
    try:
        return services().alerts.followed(query)
    except AlertError as exc:
        abort(404, description=str(exc))


@bp.route("/volgen", methods=["GET", "POST"])
def follow():
    """The follow form on its own page (GET, with what to follow in the query string), and its answer (POST)."""
    svc = services()
    if request.method == "GET":
        followed = _followed_or_404(request.query_string.decode("utf-8", "replace"))
        return render_template("volgen.html", query=followed.query, label=describe(followed, svc.knowledge.taxonomy),
                               values={"frequency": WEEKLY}, errors={}, frequencies=FREQUENCIES)
    query = request.form.get("query", "")
    values = {"email": request.form.get("email", "")[:300], "frequency": request.form.get("frequency", "")}
    followed = _followed_or_404(query)
    try:
        svc.alerts.follow(values["email"], followed.query, values["frequency"])
    except AlertError as exc:
        return render_template("volgen.html", query=followed.query, label=svc.alerts.label(followed.query),
                               values=values, errors={exc.field: str(exc)}, frequencies=FREQUENCIES), 422
    # Post/redirect/get: reloading the answer sends nothing again. The address stays out of the URL.
    return redirect(url_for("alerts.sent") + "?" + followed.query, code=303)


@bp.get("/volgen/verstuurd")
def sent():
    """What happens now: look in your mail and confirm."""
    followed = _followed_or_404(request.query_string.decode("utf-8", "replace"))
    return render_template("volgen.html", sent=True, query=followed.query,
                           label=describe(followed, services().knowledge.taxonomy))


@bp.route("/volgen/bevestigen/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """The link in the confirmation mail opens a page with one button: a link checker that opens every link
    in a mail must not confirm for the reader."""
    svc = services()
    row = svc.alerts.pending(token)
    if row is None:
        return render_template("volgen_link.html", state="ongeldig"), 404, PRIVATE
    if request.method == "POST" and row["confirmed"] is None:
        row = svc.alerts.confirm(token) or row
        state = "bevestigd"
    else:
        state = "al-bevestigd" if row["confirmed"] else "bevestigen"
    return render_template("volgen_link.html", state=state, row=row, label=svc.alerts.label(row["query"]),
                           frequency=FREQUENCY_PHRASES.get(row["frequency"], ""),
                           manage_url=url_for("alerts.manage", token=svc.alerts.manage_token(row))), 200, PRIVATE


@bp.route("/volgen/afmelden/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """GET: a page with one button. POST: unsubscribed at once, from that button or from a mail program's
    List-Unsubscribe-Post (RFC 8058, without a form token: the link's signature is the proof)."""
    svc = services()
    row = svc.alerts.subscription_for(token)
    if request.method == "POST":
        gone = svc.alerts.unsubscribe(token)
        label = svc.alerts.label(gone["query"]) if gone else ""
        return render_template("volgen_link.html", state="afgemeld" if gone else "al-afgemeld", label=label), 200, \
            PRIVATE
    if row is None:
        return render_template("volgen_link.html", state="al-afgemeld", label=""), 200, PRIVATE
    return render_template("volgen_link.html", state="afmelden", row=row, label=svc.alerts.label(row["query"]),
                           manage_url=url_for("alerts.manage", token=svc.alerts.manage_token(row))), 200, PRIVATE


@bp.route("/volgen/beheer/<token>", methods=["GET", "POST"])
def manage(token: str):
    """Everything one address follows: change how often, stop one, or stop all (the address is then wiped)."""
    svc = services()
    subscriber = svc.alerts.subscriber_for(token)
    if subscriber is None:
        return render_template("volgen_link.html", state="beheer-ongeldig"), 404, PRIVATE
    if request.method == "POST":
        action = request.form.get("action", "")
        number = request.form.get("subscription", "")
        subscription_id = int(number) if number.isdigit() and len(number) < 18 else -1
        if action == "alles":
            svc.alerts.forget(subscriber)
            return render_template("volgen_link.html", state="gewist"), 200, PRIVATE
        if action == "stoppen" and svc.alerts.stop(subscriber, subscription_id):
            flash("U volgt dit onderwerp niet meer.", "success")
        elif action == "frequentie":
            try:
                changed = svc.alerts.change_frequency(subscriber, subscription_id, request.form.get("frequency", ""))
            except AlertError as exc:
                flash(str(exc), "error")
            else:
                if changed:
                    flash(f"Opgeslagen: u krijgt voortaan {FREQUENCY_PHRASES[request.form['frequency']]} een e-mail "
                          "als er iets nieuws is.", "success")
        if svc.alerts.store.subscriber(subscriber["id"]) is None:  # the last one went: so did the address
            return render_template("volgen_link.html", state="gewist"), 200, PRIVATE
        return redirect(url_for("alerts.manage", token=token), code=303)
    return render_template("volgen_beheer.html", subscriber=subscriber, token=token,
                           subscriptions=svc.alerts.subscriptions(subscriber), frequencies=FREQUENCIES), 200, PRIVATE
