"""Coordinator pages behind a login: the request queue, explained matches, assign / decline / reassign,
capacity per member, and each request's history."""

from __future__ import annotations

import datetime as dt
import functools
import re

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, session, url_for

from wijkwijzer.domain.helprequests import DONE, IN_PROGRESS, KIND_LABELS, STATUSES, TRANSITIONS, RefusedChange
from wijkwijzer.text.formats import count
from wijkwijzer.web.params import services

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")


def requires(*roles: str):
    """Send visitors who are not logged in to the login page (and back afterwards); 403 for another role."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = session.get("user")
            if not user:
                return redirect(url_for("coordinator.login", volgende=request.full_path.rstrip("?")))
            if user.get("role", "coordinator") not in roles:
                abort(403)
            g.user = user
            return view(*args, **kwargs)

        return wrapped

    return decorate


login_required = requires("coordinator")


# A path on this site behind the login, with its query: printable ASCII only (a CR or LF would break the
# Location header), no backslash (browsers read it as a slash: "/\\evil.example").
_SAFE_NEXT = re.compile(r"/(?:coordinator/|redactie)[A-Za-z0-9/_.~%?&=+-]*")


def safe_next(target: str) -> bool:
    """Only our own pages behind the login, as a plain path: never another site, never a header break."""
    return bool(_SAFE_NEXT.fullmatch(target)) and "//" not in target and "/.." not in target


@bp.route("/inloggen", methods=["GET", "POST"])
def login():
    """Log in with a coordinator account (made with `wijkwijzer user add`)."""
    error = None
    if request.method == "POST":
        account = services().accounts.check(request.form.get("username", "").strip(),
                                            request.form.get("password", ""))
        if account:
            session.clear()
            session["user"] = account
            target = request.args.get("volgende", "")
            home = url_for("coordinator.queue") if account["role"] == "coordinator" else url_for("coordinator.editor")
            return redirect(target if safe_next(target) else home)
        error = "Gebruikersnaam of wachtwoord klopt niet."
    return render_template("coordinator/login.html", error=error), 401 if error else 200


@bp.post("/uitloggen")
def logout():
    """End the session."""
    session.clear()
    return redirect(url_for("site.home"))


@bp.get("/")
@login_required
def queue():
    """All requests, open ones first, filterable by status."""
    svc = services()
    status = request.args.get("status") or None
    if status and status not in STATUSES:
        abort(404)
    items = svc.requests.queue(status)
    return render_template("coordinator/queue.html", items=items, status=status, statuses=STATUSES,
                           counts=svc.requests.counts(), kinds=KIND_LABELS)


@bp.get("/aanvraag/<int:request_id>")
@login_required
def detail(request_id: int):
    """One request: contact, question, suggested matches with reasons, related cases, actions and history."""
    svc = services()
    item = _audited(request_id, "bekeken")
    suggestions = svc.suggestions(request_id)
    members = {m.id: m for m in svc.pool.members()}
    return render_template(
        "coordinator/request.html", item=item, suggestions=suggestions, history=svc.requests.history(request_id),
        assignments=svc.requests.assignments(request_id), members=members, kinds=KIND_LABELS,
        next_statuses=TRANSITIONS[item["status"]], taxonomy=svc.knowledge.taxonomy,
        audit=svc.audit.trail(request_id),
    )


@bp.post("/aanvraag/<int:request_id>/koppelen")
@login_required
def assign(request_id: int):
    """Link the chosen member (a second link replaces the first: reassign)."""
    svc = services()
    member_id = request.form.get("member_id", "")
    return _act(request_id, lambda: svc.assign(request_id, member_id, actor=g.user["username"]),
                f"Gekoppeld aan {svc.member_label(member_id)}.")


@bp.post("/aanvraag/<int:request_id>/status")
@login_required
def change_status(request_id: int):
    """Take a request in hand, decline it (with a reason) or close it."""
    svc = services()
    status = request.form.get("status", "")
    note = request.form.get("note", "").strip()[:500]
    if status not in STATUSES:
        abort(400)
    if status not in (IN_PROGRESS, DONE) and not note:
        flash("Geef een reden op.", "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    return _act(request_id, lambda: svc.change_status(request_id, status, g.user["username"], note),
                f"Status gewijzigd in ‘{status}’.")


def _audited(request_id: int, action: str) -> dict:
    """The request (404 when there is none), with the coordinator's look at it written to the audit log."""
    svc = services()
    item = svc.requests.get(request_id)
    if item is None:
        abort(404)
    svc.audit.record(g.user["username"], action, request_id)
    return item


def _act(request_id: int, action, done: str):
    """Run a change (the service records it in the audit log), report it, and go back to the request (404 for
    an unknown request or member)."""
    try:
        action()
        flash(done, "success")
    except KeyError:
        abort(404)
    except RefusedChange as exc:
        flash(f"Kan niet: {exc}.", "error")
    return redirect(url_for("coordinator.detail", request_id=request_id), code=303)


@bp.get("/capaciteit")
@login_required
def capacity():
    """Booked and free hours per member for the coming six months."""
    svc = services()
    today = dt.date.today().replace(day=1)
    months = [(today.replace(year=today.year + (today.month - 1 + i) // 12, month=(today.month - 1 + i) % 12 + 1))
              for i in range(6)]
    booked = [svc.requests.booked_hours(m) for m in months]
    members = sorted(svc.pool.members(), key=lambda m: (m.pool, m.name))
    return render_template("coordinator/capacity.html", members=members, months=months, booked=booked)


@bp.get("/verdelen")
@login_required
def batch():
    """A proposal that assigns all open requests at once, maximising the total match score."""
    return render_template("coordinator/batch.html", proposal=services().propose_batch())


@bp.post("/verdelen")
@login_required
def apply_batch():
    """Apply the pairs the coordinator kept ticked; each is checked again as it is stored."""
    svc = services()
    done, failed = 0, 0
    for pair in request.form.getlist("pair"):
        request_id, _, member_id = pair.partition(":")
        try:
            svc.assign(int(request_id), member_id, actor=g.user["username"],
                       note=f"gekoppeld aan {svc.member_label(member_id)} (verdeling)")
            done += 1
        except (KeyError, ValueError):
            failed += 1
    flash(f"{count(done, 'aanvraag', 'aanvragen')} gekoppeld"
          + (f", {failed} niet (gewijzigd of onbekend)" if failed else "") + ".", "error" if failed else "success")
    return redirect(url_for("coordinator.queue"), code=303)


@bp.get("/redactie", endpoint="editor")
@requires("editor", "coordinator")
def editor():
    """For editors: the state of the index and every problem in the content and pool files."""
    svc = services()
    problems = [p.to_dict() for p in svc.knowledge.check() + svc.pool_problems()]
    return render_template("coordinator/editor.html", status=svc.status(), problems=problems,
                           members=len(svc.pool.members()), data_dir=svc.settings.data_dir)


@bp.get("/aanvraag/<int:request_id>/export")
@login_required
def export(request_id: int):
    """Everything stored about one request as JSON (for a request for access under the AVG)."""
    _audited(request_id, "geëxporteerd")
    response = jsonify(services().requests.export(request_id))
    response.headers["Content-Disposition"] = f'attachment; filename="aanvraag-{request_id}.json"'
    return response


@bp.post("/aanvraag/<int:request_id>/wissen")
@login_required
def erase(request_id: int):
    """Erase the personal data of one request now (on the submitter's request)."""
    svc = services()
    if request.form.get("confirm") != "ja":
        flash("Vink aan dat u de persoonsgegevens wilt wissen.", "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    return _act(request_id, lambda: svc.erase_request(request_id, g.user["username"]), "Persoonsgegevens gewist.")


@bp.get("/dashboard")
@requires("coordinator", "editor")
def dashboard():
    """Requests and capacity (coordinators), and knowledge-base coverage (both roles)."""
    from wijkwijzer.domain import dashboard as figures

    svc = services()
    today = dt.date.today()
    requests_part = None
    if g.user.get("role", "coordinator") == "coordinator":
        rows = svc.requests.queue()
        events = svc.requests.events()
        requests_part = {
            **figures.request_figures(rows, events, today),
            "capacity": figures.capacity_in_use(svc.pool.members(), svc.requests.booked_hours(today), today),
        }
    taxonomy = svc.knowledge.taxonomy
    return render_template("coordinator/dashboard.html", requests=requests_part, taxonomy=taxonomy,
                           coverage=figures.coverage(svc.index.all_cases(), taxonomy), heat=figures.heat)
