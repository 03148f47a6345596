"""Coordinator pages behind a login: the request queue, explained matches, assign / decline / reassign,
capacity per member, and each request's history."""

from __future__ import annotations

import datetime as dt
import functools
import re

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from wijkwijzer.domain.helprequests import (
    DECLINED,
    DONE,
    IN_PROGRESS,
    KIND_LABELS,
    MATCHED,
    STATUSES,
    TRANSITIONS,
    AssignmentRefused,
    RefusedChange,
)
from wijkwijzer.domain.teams import STATE_LABELS, validate_slot
from wijkwijzer.text.formats import count
from wijkwijzer.web.params import services
from wijkwijzer.web.security import check_password, current_user, log_in, log_out

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
CLOSED = (DONE, DECLINED)


def requires(*roles: str):
    """Send visitors who are not logged in (or whose session ended) to the login page, and back afterwards;
    403 ("Geen toegang") for another role."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if not user:
                return redirect(url_for("coordinator.login", volgende=request.full_path.rstrip("?")))
            if user["role"] not in roles:
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
        account = check_password(request.form.get("username", "").strip(), request.form.get("password", ""))
        if account:
            log_in(account)
            target = request.args.get("volgende", "")
            home = url_for("coordinator.queue") if account["role"] == "coordinator" else url_for("coordinator.editor")
            return redirect(target if safe_next(target) else home)
        error = "Gebruikersnaam of wachtwoord klopt niet."
    return render_template("coordinator/login.html", error=error), 401 if error else 200


@bp.post("/uitloggen")
def logout():
    """End the session, on the server too: a copy of the cookie no longer logs anyone in."""
    log_out()
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
                           counts=svc.requests.counts(), kinds=KIND_LABELS, progress=svc.team.teams.progress())


@bp.get("/aanvraag/<int:request_id>")
@login_required
def detail(request_id: int):
    """One request: contact, question, suggested matches with reasons, related cases, actions and history."""
    svc = services()
    item = _audited(request_id, "bekeken")
    suggestions = svc.suggestions(request_id)
    members = {m.id: m for m in svc.pool.members()}
    slots = svc.team.ensure(request_id)
    team = [s["link"]["member_id"] for s in slots if s["link"]]
    if item["status"] not in CLOSED:
        for slot in slots:
            slot["suggestions"] = svc.team.suggestions(request_id, slot, team) if slot["link"] is None else []
    slot_id, _, member_id = request.args.get("afwijken", "").partition(":")
    override = {"slot": int(slot_id), "member": members[member_id]} if (
        slot_id.isdigit() and member_id in members) else None
    return render_template(
        "coordinator/request.html", item=item, suggestions=suggestions, history=svc.requests.history(request_id),
        slots=slots, members=members, kinds=KIND_LABELS, states=STATE_LABELS, override=override,
        pool_members=sorted(members.values(), key=lambda m: (m.pool, m.name)),
        # 'gekoppeld' and the way back follow the team (accepting, releasing); the form offers the rest.
        next_statuses=[s for s in TRANSITIONS[item["status"]] if s not in (MATCHED, IN_PROGRESS)
                       or (s == IN_PROGRESS and item["status"] != MATCHED)], taxonomy=svc.knowledge.taxonomy,
        audit=svc.audit.trail(request_id),
    )


@bp.post("/aanvraag/<int:request_id>/koppelen")
@login_required
def assign(request_id: int):
    """Invite the chosen member into a slot (the first open one when none is named). A link that breaks a hard
    rule is refused; the page then offers to book it anyway with a reason (an override, audit-logged)."""
    svc = services()
    _existing(request_id)
    member_id = request.form.get("member_id", "")
    slot_id = request.form.get("slot_id", "")
    override = request.form.get("override", "").strip()
    try:
        if slot_id.isdigit():
            _own_slot(request_id, int(slot_id))
            svc.team.link(int(slot_id), member_id, actor=g.user["username"], override=override)
        else:
            svc.assign(request_id, member_id, actor=g.user["username"], override=override)
    except KeyError:
        abort(404)
    except AssignmentRefused as exc:
        flash(f"Kan niet: {exc}.", "error")
        target = url_for("coordinator.detail", request_id=request_id,
                         afwijken=f"{slot_id}:{member_id}" if slot_id.isdigit() else None)
        return redirect(target + ("#afwijken" if slot_id.isdigit() else ""), code=303)
    except RefusedChange as exc:
        flash(f"Kan niet: {exc}.", "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    name = svc.team.members()[member_id].name
    flash(f"{name} is uitgenodigd" + (" (met afwijking, vastgelegd)" if override else "") + ".", "success")
    return redirect(url_for("coordinator.detail", request_id=request_id), code=303)


@bp.post("/aanvraag/<int:request_id>/plek/<int:slot_id>/vrijgeven")
@login_required
def release(request_id: int, slot_id: int):
    """Free a slot; the member gets a cancellation mail."""
    svc = services()
    _own_slot(request_id, slot_id)
    return _act(request_id, lambda: svc.team.release(slot_id, g.user["username"], request.form.get("reason", "")),
                "De plek is vrijgegeven; het lid krijgt bericht.")


@bp.post("/aanvraag/<int:request_id>/plek")
@login_required
def add_slot(request_id: int):
    """Add a place to the team."""
    svc = services()
    spec, errors = validate_slot(request.form, dt.date.today())
    if errors:
        flash("Plek niet toegevoegd: " + " ".join(errors.values()), "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    return _act(request_id, lambda: svc.team.add_slot(request_id, spec, g.user["username"]), "Plek toegevoegd.")


@bp.post("/aanvraag/<int:request_id>/plek/<int:slot_id>")
@login_required
def update_slot(request_id: int, slot_id: int):
    """Change a slot's role, hours or period, or remove an empty slot."""
    svc = services()
    slot = _own_slot(request_id, slot_id)
    if request.form.get("action") == "verwijderen":
        return _act(request_id, lambda: svc.team.remove_slot(slot_id, g.user["username"]), "Plek verwijderd.")
    spec, errors = validate_slot(request.form, dt.date.fromisoformat(slot["start"]))
    if errors:
        flash("Plek niet gewijzigd: " + " ".join(errors.values()), "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    return _act(request_id, lambda: svc.team.update_slot(slot_id, spec, g.user["username"]), "Plek gewijzigd.")


def _own_slot(request_id: int, slot_id: int) -> dict:
    """The slot, 404 unless it belongs to this request."""
    slot = services().team.teams.slot(slot_id)
    if slot is None or slot["request_id"] != request_id:
        abort(404)
    return slot


@bp.post("/aanvraag/<int:request_id>/status")
@login_required
def change_status(request_id: int):
    """Take a request in hand, decline it (with a reason) or close it."""
    svc = services()
    _existing(request_id)
    status = request.form.get("status", "")
    note = request.form.get("note", "").strip()[:500]
    if status not in STATUSES:
        abort(400)
    if status not in (IN_PROGRESS, DONE) and not note:
        flash("Geef een reden op.", "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    return _act(request_id, lambda: svc.change_status(request_id, status, g.user["username"], note),
                f"Status gewijzigd in ‘{status}’.")


def _existing(request_id: int) -> dict:
    """The request, or 404: an action on an unknown request says so before looking at the form."""
    item = services().requests.get(request_id)
    if item is None:
        abort(404)
    return item


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
        slot_id, _, member_id = pair.partition(":")
        try:
            svc.team.link(int(slot_id), member_id, actor=g.user["username"])
            done += 1
        except (KeyError, ValueError):  # a refusal (RefusedChange) is a ValueError: checked again, now too full
            failed += 1
    flash(f"{count(done, 'uitnodiging', 'uitnodigingen')} verstuurd"
          + (f", {failed} niet (gewijzigd, bezet of onbekend)" if failed else "") + ".",
          "error" if failed else "success")
    return redirect(url_for("coordinator.queue"), code=303)


@bp.get("/uitgaande-mail")
@login_required
def outbox():
    """Every mail the site sends or would send, newest first; without a mail server, what would be sent."""
    from wijkwijzer.domain.mail import MAIL_KINDS, STATE_LABELS, STATES
    from wijkwijzer.mail.compose import dutch_datetime

    svc = services()
    status = request.args.get("status") or None
    if status and status not in STATES:
        abort(404)
    page = max(request.args.get("pagina", 1, type=int) or 1, 1)
    rows = svc.outbox.list(status, limit=OUTBOX_PAGE + 1, offset=(page - 1) * OUTBOX_PAGE)
    mails = [{**row, "created_label": dutch_datetime(row["created"]), "sent_label": dutch_datetime(row["sent"]),
              "next_label": dutch_datetime(row["next_attempt"])} for row in rows[:OUTBOX_PAGE]]
    return render_template("coordinator/outbox.html", mails=mails, status=status, states=STATES, kinds=MAIL_KINDS,
                           labels=STATE_LABELS, counts=svc.outbox.counts(), smtp=svc.settings.smtp is not None,
                           page=page, more=len(rows) > OUTBOX_PAGE)


OUTBOX_PAGE = 50


@bp.post("/uitgaande-mail/<int:mail_id>/opnieuw")
@login_required
def retry_mail(mail_id: int):
    """Send a failed mail again on the next round (after the address or the server was fixed)."""
    if services().retry_mail(mail_id, g.user["username"]):
        flash("De e-mail wordt opnieuw verstuurd.", "success")
    else:
        flash("Deze e-mail is niet mislukt of bestaat niet meer.", "error")
    return redirect(url_for("coordinator.outbox"), code=303)


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
    response = jsonify(services().export_request(request_id))
    response.headers["Content-Disposition"] = f'attachment; filename="aanvraag-{request_id}.json"'
    return response


@bp.post("/aanvraag/<int:request_id>/wissen")
@login_required
def erase(request_id: int):
    """Erase the personal data of one request now (on the submitter's request)."""
    svc = services()
    if _existing(request_id).get("erased"):
        flash("De persoonsgegevens van deze aanvraag waren al gewist; er is niets veranderd.", "success")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    if request.form.get("confirm") != "ja":
        flash("Vink aan dat u de persoonsgegevens wilt wissen.", "error")
        return redirect(url_for("coordinator.detail", request_id=request_id), code=303)
    if not svc.erase_request(request_id, g.user["username"]):  # erased by someone else just now
        flash("De persoonsgegevens van deze aanvraag waren al gewist; er is niets veranderd.", "success")
    else:
        flash("Persoonsgegevens gewist.", "success")
    return redirect(url_for("coordinator.detail", request_id=request_id), code=303)


@bp.get("/dashboard")
@requires("coordinator", "editor")
def dashboard():
    """Requests and capacity (coordinators), and knowledge-base coverage (both roles)."""
    from wijkwijzer.domain import dashboard as figures

    svc = services()
    today = dt.date.today()
    requests_part = None
    if g.user["role"] == "coordinator":
        rows = svc.requests.queue()
        events = svc.requests.events()
        requests_part = {
            **figures.request_figures(rows, events, today),
            "capacity": figures.capacity_in_use(svc.pool.members(), svc.requests.booked_hours(today), today),
            "service": figures.service_levels(rows, events, svc.team.teams.links(), svc.team.feedback.all(), today),
        }
    taxonomy = svc.knowledge.taxonomy
    return render_template("coordinator/dashboard.html", requests=requests_part, taxonomy=taxonomy,
                           coverage=figures.coverage(svc.index.all_cases(), taxonomy), heat=figures.heat)
