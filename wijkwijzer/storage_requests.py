"""Help requests, their history, assignments and coordinator accounts in SQLite (through sqlite-utils).

Every status change is written together with its event in one transaction, so the history never disagrees
with the status. Submitters follow their request by an unguessable token; only its SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from wijkwijzer.domain.helprequests import MATCHED, NEW, check_transition
from wijkwijzer.storage import Store, now


def token_hash(token: str) -> str:
    """What we store of a status-link token."""
    return hashlib.sha256(token.encode()).hexdigest()


class RequestStore:
    """Tables: help_requests, request_events, assignments, users."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._migrate()

    @property
    def db(self):
        """This thread's sqlite-utils database."""
        return self.store.db

    def _migrate(self) -> None:
        tables = set(self.db.table_names())
        if "help_requests" not in tables:
            self.db["help_requests"].create({
                "id": int, "token_hash": str, "created": str, "updated": str, "status": str,
                "municipality": str, "focus_area": str, "contact_name": str, "email": str, "role": str,
                "question": str, "themes": str, "kind": str, "start": str, "months": int, "hours_per_week": float,
            }, pk="id")
            self.db["help_requests"].create_index(["token_hash"], unique=True)
            self.db["help_requests"].create_index(["status"])
        if "request_events" not in tables:
            self.db["request_events"].create({
                "id": int, "request_id": int, "at": str, "actor": str, "status": str, "note": str,
            }, pk="id", foreign_keys=[("request_id", "help_requests", "id")])
            self.db["request_events"].create_index(["request_id"])
        if "assignments" not in tables:
            self.db["assignments"].create({
                "id": int, "request_id": int, "member_id": str, "hours_per_week": float, "start": str,
                "end": str, "active": int, "created": str, "actor": str,
            }, pk="id", foreign_keys=[("request_id", "help_requests", "id")])
            self.db["assignments"].create_index(["member_id", "active"])
        if "audit_log" not in tables:
            self.db["audit_log"].create({"id": int, "at": str, "actor": str, "action": str, "request_id": int},
                                        pk="id")
            self.db["audit_log"].create_index(["request_id"])
        if "erased" not in self.db["help_requests"].columns_dict:
            self.db["help_requests"].add_column("erased", str)
        if "users" not in tables:
            self.db["users"].create({"username": str, "name": str, "password_hash": str, "created": str,
                                     "role": str}, pk="username")
        elif "role" not in self.db["users"].columns_dict:
            self.db["users"].add_column("role", str, not_null_default="coordinator")

    # -- requests ------------------------------------------------------------------------------------------
    def submit(self, data: dict) -> tuple[int, str]:
        """Store a validated request as 'nieuw'; returns its id and the token for the submitter's status link."""
        token = secrets.token_urlsafe(24)
        stamp = now()
        with self.db.conn:
            row = {**data, "themes": json.dumps(data.get("themes") or []), "token_hash": token_hash(token),
                   "created": stamp, "updated": stamp, "status": NEW}
            request_id = self.db["help_requests"].insert(row).last_pk
            self.db["request_events"].insert({"request_id": request_id, "at": stamp, "actor": "aanvrager",
                                              "status": NEW, "note": "aanvraag ingediend"})
        return int(request_id), token

    def get(self, request_id: int) -> dict | None:
        """One request with its themes decoded, or None."""
        rows = list(self.db["help_requests"].rows_where("id = ?", [request_id]))
        return _decode(rows[0]) if rows else None

    def by_token(self, token: str) -> dict | None:
        """The request a status link points to, or None."""
        rows = list(self.db["help_requests"].rows_where("token_hash = ?", [token_hash(token)]))
        return _decode(rows[0]) if rows else None

    def queue(self, status: str | None = None) -> list[dict]:
        """Requests for the coordinators, oldest open first."""
        where, args = ("status = ?", [status]) if status else (None, [])
        return [_decode(r) for r in self.db["help_requests"].rows_where(where, args, order_by="created")]

    def counts(self) -> dict[str, int]:
        """Number of requests per status."""
        return {s: n for s, n in self.db.execute("SELECT status, count(*) FROM help_requests GROUP BY status")}

    def history(self, request_id: int) -> list[dict]:
        """Every event of a request, oldest first."""
        return list(self.db["request_events"].rows_where("request_id = ?", [request_id], order_by="id"))

    def set_status(self, request_id: int, status: str, actor: str, note: str = "") -> None:
        """Change the status if the flow allows it (TransitionError otherwise), with its event."""
        with self.db.conn:
            current = self._status(request_id)
            check_transition(current, status)
            self._change(request_id, status, actor, note)
            if status != MATCHED:  # back to work, done or declined: the member's hours are free again
                self._end_assignments(request_id)

    def assign(self, request_id: int, member_id: str, hours: float, start: dt.date, end: dt.date, actor: str,
               note: str = "") -> None:
        """Link a member (replacing an earlier link: reassign) and mark the request 'gekoppeld'."""
        with self.db.conn:
            current = self._status(request_id)
            if current != MATCHED:
                check_transition(current, MATCHED)
            self._end_assignments(request_id)
            self.db["assignments"].insert({
                "request_id": request_id, "member_id": member_id, "hours_per_week": hours,
                "start": start.isoformat(), "end": end.isoformat(), "active": 1, "created": now(), "actor": actor,
            })
            self._change(request_id, MATCHED, actor, note or f"gekoppeld aan {member_id}")

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
            "SELECT member_id, sum(hours_per_week) FROM assignments WHERE active = 1 AND start <= ? AND end >= ? "
            "GROUP BY member_id", [day, day]).fetchall()
        return {member: float(hours) for member, hours in rows}

    def _status(self, request_id: int) -> str:
        row = self.db.execute("SELECT status FROM help_requests WHERE id = ?", [request_id]).fetchone()
        if row is None:
            raise KeyError(request_id)
        return row[0]

    def _change(self, request_id: int, status: str, actor: str, note: str) -> None:
        stamp = now()
        self.db["help_requests"].update(request_id, {"status": status, "updated": stamp})
        self.db["request_events"].insert({"request_id": request_id, "at": stamp, "actor": actor, "status": status,
                                          "note": note})

    def _end_assignments(self, request_id: int) -> None:
        self.db.execute("UPDATE assignments SET active = 0 WHERE request_id = ? AND active = 1", [request_id])

    # -- privacy (AVG) -------------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, request_id: int | None = None) -> None:
        """Record who viewed, changed, exported or erased which request (no personal data in the record)."""
        with self.db.conn:
            self.db["audit_log"].insert({"at": now(), "actor": actor, "action": action, "request_id": request_id})

    def audit_trail(self, request_id: int) -> list[dict]:
        """Who did what with one request, oldest first."""
        return list(self.db["audit_log"].rows_where("request_id = ?", [request_id], order_by="id"))

    def export(self, request_id: int) -> dict | None:
        """Everything stored about one request, for a data-subject access request."""
        item = self.get(request_id)
        if item is None:
            return None
        item.pop("token_hash", None)
        return {"request": item, "history": self.history(request_id),
                "assignments": self.assignments(request_id, active_only=False)}

    def erase(self, request_id: int) -> bool:
        """Remove the personal data of one request (contact, question, notes); keep what statistics need:
        municipality, kind, themes, planning, status and dates. False when it was already erased."""
        with self.db.conn:
            row = self.db.execute("SELECT erased FROM help_requests WHERE id = ?", [request_id]).fetchone()
            if row is None:
                raise KeyError(request_id)
            if row[0]:
                return False
            self.db["help_requests"].update(request_id, {
                "contact_name": "", "email": "", "role": "", "question": "[verwijderd]", "focus_area": "",
                "erased": now()})
            self.db.execute("UPDATE request_events SET note = '' WHERE request_id = ?", [request_id])
        return True

    def purge(self, older_than: dt.datetime) -> list[int]:
        """Erase the personal data of closed requests last changed before `older_than`; safe to repeat."""
        rows = self.db.execute(
            "SELECT id FROM help_requests WHERE status IN ('afgerond', 'afgewezen') AND erased IS NULL "
            "AND updated < ?", [older_than.isoformat(timespec="seconds")]).fetchall()
        return [request_id for (request_id,) in rows if self.erase(request_id)]

    # -- accounts ------------------------------------------------------------------------------------------
    def add_user(self, username: str, name: str, password: str, role: str = "coordinator") -> None:
        """Create or reset an account (the password is stored as a salted, memory-hard scrypt hash)."""
        self.db["users"].upsert({"username": username, "name": name, "password_hash": generate_password_hash(password),
                                 "created": now(), "role": role}, pk="username")

    def set_password(self, username: str, password: str) -> bool:
        """A new password for an existing account; False when there is no such account."""
        with self.db.conn:
            cursor = self.db.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                     [generate_password_hash(password), username])
        return cursor.rowcount == 1

    def remove_user(self, username: str) -> bool:
        """Delete an account (its name stays in the history it wrote); False when there is no such account."""
        with self.db.conn:
            cursor = self.db.execute("DELETE FROM users WHERE username = ?", [username])
        return cursor.rowcount == 1

    def users(self) -> list[dict]:
        """All accounts, without their password hashes."""
        return list(self.db.query("SELECT username, name, role, created FROM users ORDER BY username"))

    def check_user(self, username: str, password: str) -> dict | None:
        """The account when the password is right, else None (same work either way)."""
        rows = list(self.db["users"].rows_where("username = ?", [username]))
        stored = rows[0]["password_hash"] if rows else _dummy_hash()
        ok = check_password_hash(stored, password)
        if not (rows and ok):
            return None
        return {"username": rows[0]["username"], "name": rows[0]["name"], "role": rows[0].get("role") or "coordinator"}


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so a wrong name costs as long as a wrong password (made on
    first use: hashing is deliberately slow, and importing this module must stay cheap)."""
    return generate_password_hash("wijkwijzer-dummy-password")


def _decode(row: dict) -> dict:
    row = dict(row)
    row["themes"] = json.loads(row.get("themes") or "[]")
    return row
