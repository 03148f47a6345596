"""Help requests, their history and their assignments (bookings of members' hours).

Every change is one transaction (`Store.transaction`, `BEGIN IMMEDIATE`): the status check, the capacity check
and the writes see one state, and the status never disagrees with its last event. Submitters follow their
request by an unguessable token; only its SHA-256 is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets

from wijkwijzer.domain.helprequests import (
    DECLINED,
    DONE,
    IN_PROGRESS,
    MATCHED,
    NEW,
    TransitionError,
    check_transition,
)
from wijkwijzer.storage.db import Store, now
from wijkwijzer.storage.references import next_reference


def token_hash(token: str) -> str:
    """What we store of a status-link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def derive_token(secret: str, salt: str) -> str:
    """A status-link token from the site's secret key and the request's random salt: mails sent after the
    receipt can carry the link again, while the database alone (a leaked backup) still holds only its hash."""
    digest = hmac.new(secret.encode(), f"status-link:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


class RequestStore:
    """Tables: help_requests, request_events; reads of assignments (teams.py writes them)."""

    def __init__(self, store: Store, secret: str = "") -> None:
        self.store = store
        self.secret = secret  # derives status-link tokens; without one they are random and told only once

    @property
    def db(self):
        """This thread's database (for reads; writes go through `store.transaction()`)."""
        return self.store.db

    # -- requests ------------------------------------------------------------------------------------------
    def submit(self, data: dict) -> tuple[int, str]:
        """Store a validated request as 'nieuw' with the next reference number (WW-2026-0042); returns its id and
        the token for the submitter's status link."""
        salt = secrets.token_urlsafe(16)
        token = derive_token(self.secret, salt) if self.secret else secrets.token_urlsafe(24)
        stamp = now()
        row = {**data, "themes": json.dumps(data.get("themes") or []), "token_hash": token_hash(token),
               "created": stamp, "updated": stamp, "status": NEW, "link_salt": salt if self.secret else None}
        with self.store.transaction() as db:
            row["reference"] = next_reference(db, stamp)
            request_id = int(db["help_requests"].insert(row).last_pk)
            self._add_event(request_id, stamp, "aanvrager", NEW, "aanvraag ingediend")
        return request_id, token

    def get(self, request_id: int) -> dict | None:
        """One request with its themes decoded, or None."""
        rows = list(self.db["help_requests"].rows_where("id = ?", [request_id]))
        return _decode(rows[0]) if rows else None

    def status_token(self, request_id: int) -> str | None:
        """The token of a request's status link, when it can be derived again (same secret key), else None."""
        row = self.db.execute("SELECT token_hash, link_salt FROM help_requests WHERE id = ?", [request_id]).fetchone()
        if not (row and row[1] and self.secret):
            return None
        token = derive_token(self.secret, row[1])
        return token if hmac.compare_digest(token_hash(token), row[0]) else None  # the key changed since: no link

    def by_token(self, token: str) -> dict | None:
        """The request a status link points to, or None."""
        rows = list(self.db["help_requests"].rows_where("token_hash = ?", [token_hash(token)]))
        return _decode(rows[0]) if rows else None

    def queue(self, status: str | None = None) -> list[dict]:
        """Requests for the coordinators, oldest first."""
        where, args = ("status = ?", [status]) if status else (None, [])
        return [_decode(r) for r in self.db["help_requests"].rows_where(where, args, order_by="created, id")]

    def created_between(self, since: str, until: str) -> list[dict]:
        """Requests submitted from `since` up to (not including) `until` (UTC, ISO), oldest first."""
        rows = self.db["help_requests"].rows_where("created >= ? AND created < ?", [since, until],
                                                   order_by="created, id")
        return [_decode(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Number of requests per status."""
        return {s: n for s, n in self.db.execute("SELECT status, count(*) FROM help_requests GROUP BY status")}

    def history(self, request_id: int) -> list[dict]:
        """Every event of a request, oldest first."""
        return list(self.db["request_events"].rows_where("request_id = ?", [request_id], order_by="id"))

    def events(self) -> list[dict]:
        """Every event of every request, oldest first (for the dashboard's figures)."""
        return list(self.db["request_events"].rows_where(order_by="id"))

    def set_status(self, request_id: int, status: str, actor: str, note: str = "") -> list[dict]:
        """Change the status if the flow allows it (TransitionError otherwise), with its event; returns the links
        a closing ended (for cancellation mails).

        'gekoppeld' is never set by hand: it follows the team (every slot accepted), and so does the way back.
        """
        with self.store.transaction() as db:
            current = self._status(request_id)
            if status == MATCHED or (current == MATCHED and status == IN_PROGRESS):
                raise TransitionError("'gekoppeld' volgt uit het team: de aanvraag is gekoppeld zodra iedereen in "
                                      "het team heeft geaccepteerd, en gaat terug naar 'in behandeling' als u een "
                                      "plek vrijgeeft of toevoegt")
            check_transition(current, status)
            self._change(request_id, status, actor, note)
            ended = []
            if status in (DONE, DECLINED):  # the request is closed: every member's hours are free again
                ended = list(db["assignments"].rows_where("request_id = ? AND active = 1", [request_id]))
                db.execute("UPDATE assignments SET active = 0, state = 'vrijgegeven', reason = ? "
                           "WHERE request_id = ? AND active = 1", [f"aanvraag {status}", request_id])
            return [{**row, "previous_state": row["state"]} for row in ended]

    def assignments(self, request_id: int | None = None, active_only: bool = True) -> list[dict]:
        """Assignments of one request, or all (the active ones by default)."""
        clauses, args = [], []
        if request_id is not None:
            clauses.append("request_id = ?")
            args.append(request_id)
        if active_only:
            clauses.append("active = 1")
        where = " AND ".join(clauses) or None
        return list(self.db["assignments"].rows_where(where, args, order_by="id"))

    def booked_hours(self, on: dt.date) -> dict[str, float]:
        """Hours per week each member is booked for on a day, by active assignments."""
        day = on.isoformat()
        rows = self.db.execute(
            "SELECT member_id, sum(hours_per_week) FROM assignments WHERE active = 1 AND start <= ? AND \"end\" >= ? "
            "GROUP BY member_id", [day, day]).fetchall()
        return {member: float(hours) for member, hours in rows}

    def peak_booked(self, start: dt.date, end: dt.date, except_request: int | None = None) -> dict[str, float]:
        """Per member the most hours per week booked on any day from `start` to `end` (inclusive), by active links
        (invitations hold hours too), leaving out those of `except_request`."""
        rows = self.db.execute(
            "SELECT member_id, start, \"end\", hours_per_week FROM assignments WHERE active = 1 AND start <= ? "
            "AND \"end\" >= ? AND request_id IS DISTINCT FROM ?",
            [end.isoformat(), start.isoformat(), except_request]).fetchall()
        per_member: dict[str, list[tuple[str, str, float]]] = {}
        for member, first, last, hours in rows:
            per_member.setdefault(member, []).append((first, last, hours))
        out = {}
        for member, spans in per_member.items():
            # The load only rises where a booking begins, so its peak is at the period's start or at such a day.
            days = {start.isoformat()} | {first for first, _, _ in spans if first > start.isoformat()}
            out[member] = max(sum(h for first, last, h in spans if first <= day <= last) for day in days)
        return out

    def _status(self, request_id: int) -> str:
        """The request's status; inside a transaction on PostgreSQL the row stays locked (FOR UPDATE) until it
        ends, so racing changes of one request run one after the other, as on SQLite."""
        for_update = self.db.dialect.for_update if self.store.in_transaction() else ""
        row = self.db.execute(f"SELECT status FROM help_requests WHERE id = ?{for_update}", [request_id]).fetchone()
        if row is None:
            raise KeyError(request_id)
        return row[0]

    def _change(self, request_id: int, status: str, actor: str, note: str) -> None:
        stamp = now()
        self.db.execute("UPDATE help_requests SET status = ?, updated = ? WHERE id = ?", [status, stamp, request_id])
        self._add_event(request_id, stamp, actor, status, note)

    def _add_event(self, request_id: int, at: str, actor: str, status: str, note: str) -> None:
        self.db["request_events"].insert({"request_id": request_id, "at": at, "actor": actor, "status": status,
                                          "note": note})

    # -- privacy (AVG) -------------------------------------------------------------------------------------
    def export(self, request_id: int) -> dict | None:
        """Everything stored about one request, for a data-subject access request."""
        item = self.get(request_id)
        if item is None:
            return None
        item.pop("token_hash", None)
        links = [{k: v for k, v in row.items() if k != "token_hash"}
                 for row in self.assignments(request_id, active_only=False)]
        feedback = list(self.db["feedback"].rows_where("request_id = ?", [request_id]))
        return {"request": item, "history": self.history(request_id), "assignments": links,
                "slots": list(self.db["slots"].rows_where("request_id = ?", [request_id], order_by="position")),
                "feedback": feedback[0] if feedback else None}

    def erase(self, request_id: int) -> bool:
        """Remove the personal data of one request (contact, question, notes); keep what statistics need:
        municipality, kind, themes, planning, status and dates. False when it was already erased."""
        with self.store.transaction() as db:
            row = db.execute(f"SELECT erased FROM help_requests WHERE id = ?{db.dialect.for_update}",
                             [request_id]).fetchone()
            if row is None:
                raise KeyError(request_id)
            if row[0]:
                return False
            db.execute("UPDATE help_requests SET contact_name = '', email = '', role = '', question = ?, "
                       "focus_area = '', erased = ? WHERE id = ?", ["[verwijderd]", now(), request_id])
            db.execute("UPDATE request_events SET note = '' WHERE request_id = ?", [request_id])
            # Free text a person wrote: a decline's reason, the feedback's why. The scores stay for statistics.
            db.execute("UPDATE assignments SET reason = NULL WHERE request_id = ?", [request_id])
            db.execute("UPDATE feedback SET why = '' WHERE request_id = ?", [request_id])
        return True

    def erasures(self) -> tuple[int, str | None]:
        """How many requests were erased, and the latest erasure: changes whenever any server erases one."""
        row = self.db.execute("SELECT count(*), max(erased) FROM help_requests WHERE erased IS NOT NULL").fetchone()
        return int(row[0]), row[1]

    def purgeable(self, older_than: dt.datetime) -> list[int]:
        """Closed requests last changed before `older_than` whose personal data is still there."""
        rows = self.db.execute(
            "SELECT id FROM help_requests WHERE status IN ('afgerond', 'afgewezen') AND erased IS NULL "
            "AND updated < ? ORDER BY id", [older_than.isoformat(timespec="seconds")]).fetchall()
        return [request_id for (request_id,) in rows]


def _decode(row: dict) -> dict:
    row = dict(row)
    row["themes"] = json.loads(row.get("themes") or "[]")
    return row


class FeedbackStore:
    """Table feedback: once per closed request, was the help useful (1-5) and why (optional)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def give(self, request_id: int, useful: int, why: str, pool: str) -> bool:
        """Store the submitter's feedback once; False when it was given before (nothing changes then)."""
        with self.store.transaction() as db:
            # ON CONFLICT: two answers at once on PostgreSQL must not raise; the first one stays.
            return db.execute("INSERT INTO feedback (request_id, at, useful, why, pool) VALUES (?, ?, ?, ?, ?) "
                              "ON CONFLICT (request_id) DO NOTHING",
                              [request_id, now(), useful, why, pool]).rowcount == 1

    def get(self, request_id: int) -> dict | None:
        """The feedback of one request, or None."""
        rows = list(self.store.db["feedback"].rows_where("request_id = ?", [request_id]))
        return rows[0] if rows else None

    def all(self) -> list[dict]:
        """Every feedback, newest first."""
        return list(self.store.db["feedback"].rows_where(order_by="at DESC, request_id DESC"))
