"""Teams: a request's role slots and the links (invitations) that fill them, with the capacity check.

Every change runs in one `Store.transaction()`: the request's status, the slot's current link, the member's
booked hours and the write see one state, so two coordinators (or a coordinator and a member answering) can
never both take a member's last hours, fill one slot twice or move the request through a forbidden sequence.
An invitation holds the member's hours from the moment it is sent (accepting re-checks them); only the SHA-256
of its token is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from wijkwijzer.domain.helprequests import DECLINED as CLOSED_DECLINED
from wijkwijzer.domain.helprequests import (
    DONE,
    IN_PROGRESS,
    MATCHED,
    NEW,
    AssignmentRefused,
    RefusedChange,
    check_transition,
)
from wijkwijzer.domain.teams import ACCEPTED, DECLINED, EXPIRED, INVITED, RELEASED, SlotSpec
from wijkwijzer.storage.db import Store
from wijkwijzer.storage.requests import RequestStore, token_hash

CLOSED = (DONE, CLOSED_DECLINED)


def stamp(at: dt.datetime) -> str:
    """A moment as stored (UTC, ISO 8601, seconds)."""
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


class TeamStore:
    """Tables: slots, assignments (one active link per slot)."""

    def __init__(self, store: Store, requests: RequestStore) -> None:
        self.store = store
        self.requests = requests
        # How the history names a member (the composition root gives the pool's names; ids otherwise).
        self.names: Callable[[str], str] = str

    @property
    def db(self):
        """This thread's database (reads; writes go through `store.transaction()`)."""
        return self.store.db

    # -- reading -------------------------------------------------------------------------------------------
    def progress(self) -> dict[int, dict[str, int]]:
        """Per request: its slots, and how many hold an accepted or an invited member (for the queue)."""
        rows = self.db.execute(
            "SELECT s.request_id, count(*), "
            "sum(CASE WHEN a.state = ? THEN 1 ELSE 0 END), sum(CASE WHEN a.state = ? THEN 1 ELSE 0 END) "
            "FROM slots s LEFT JOIN assignments a ON a.slot_id = s.id AND a.active = 1 "
            "WHERE s.removed IS NULL GROUP BY s.request_id", [ACCEPTED, INVITED]).fetchall()
        return {request_id: {"slots": slots, "accepted": accepted, "invited": invited}
                for request_id, slots, accepted, invited in rows}

    def slots(self, request_id: int) -> list[dict]:
        """The request's slots in order, each with its active link (`link`, or None) and its ended links."""
        slots = list(self.db["slots"].rows_where("request_id = ? AND removed IS NULL", [request_id],
                                                 order_by="position, id"))
        links = self.db["assignments"].rows_where("request_id = ? AND slot_id IS NOT NULL", [request_id],
                                                  order_by="id")
        by_slot: dict[int, list[dict]] = {}
        for link in links:
            by_slot.setdefault(link["slot_id"], []).append(link)
        for slot in slots:
            own = by_slot.get(slot["id"], [])
            slot["link"] = next((a for a in own if a["active"]), None)
            slot["past"] = [a for a in own if not a["active"]]
        return slots

    def slot(self, slot_id: int) -> dict | None:
        """One slot that was not removed, or None."""
        rows = list(self.db["slots"].rows_where("id = ? AND removed IS NULL", [slot_id]))
        return rows[0] if rows else None

    def ever_had_slots(self, request_id: int) -> bool:
        """Whether slots were ever made for the request (a coordinator may have removed them all since)."""
        return bool(self.db.execute("SELECT 1 FROM slots WHERE request_id = ? LIMIT 1", [request_id]).fetchone())

    def by_token(self, token: str) -> dict | None:
        """The link an invitation token belongs to (any state), or None."""
        digest = token_hash(token)
        rows = list(self.db["assignments"].rows_where("token_hash = ? OR reminder_token_hash = ?", [digest, digest]))
        return rows[0] if rows else None

    def links(self, states: tuple[str, ...] | None = None) -> list[dict]:
        """All links made as invitations, oldest first, optionally only those in `states`."""
        where, args = "slot_id IS NOT NULL", []
        if states:
            where += f" AND state IN ({', '.join('?' for _ in states)})"
            args = list(states)
        return list(self.db["assignments"].rows_where(where, args, order_by="id"))

    def reopened_between(self, since: str, until: str) -> list[dict]:
        """Invitations declined or expired from `since` up to (not including) `until` (UTC, ISO), oldest first,
        each with its slot's role and whether the slot holds a member again (`refilled`), for the daily digest."""
        return [dict(row) for row in self.db.query(
            "SELECT a.*, s.role AS slot_role, EXISTS (SELECT 1 FROM assignments b WHERE b.slot_id = a.slot_id "
            "AND b.active = 1) AS refilled FROM assignments a JOIN slots s ON s.id = a.slot_id "
            "WHERE a.state IN (?, ?) AND a.answered >= ? AND a.answered < ? ORDER BY a.answered, a.id",
            [DECLINED, EXPIRED, since, until])]

    # -- slots ---------------------------------------------------------------------------------------------
    def add_slots(self, request_id: int, specs: list[SlotSpec], actor: str, at: dt.datetime) -> list[int]:
        """Add slots at the end of the team; a request that was complete goes back to 'in behandeling'."""
        with self.store.transaction() as db:
            status = self.requests._status(request_id)
            if status in CLOSED:
                raise RefusedChange(f"de aanvraag is {status}; het team ligt vast")
            last = db.execute("SELECT coalesce(max(position), 0) FROM slots WHERE request_id = ?",
                              [request_id]).fetchone()[0]
            ids = [int(db["slots"].insert({
                "request_id": request_id, "position": last + i, "role": spec.role, "hours_per_week":
                spec.hours_per_week, "start": spec.start.isoformat(), "end": spec.end.isoformat(),
                "created": stamp(at)}).last_pk) for i, spec in enumerate(specs, start=1)]
            self.settle(request_id, actor)
        return ids

    def update_slot(self, slot_id: int, spec: SlotSpec, capacity: float | None, actor: str) -> None:
        """Change a slot's role, hours or period; a member linked to it must still have the hours free."""
        with self.store.transaction() as db:
            slot = self._open_slot(slot_id)
            link = self._active(slot_id)
            if link and capacity is not None:
                self._check_capacity(link["member_id"], spec, capacity, except_slot=slot_id)
            db.execute("UPDATE slots SET role = ?, hours_per_week = ?, start = ?, \"end\" = ? WHERE id = ?",
                       [spec.role, spec.hours_per_week, spec.start.isoformat(), spec.end.isoformat(), slot_id])
            if link:
                db.execute("UPDATE assignments SET hours_per_week = ?, start = ?, \"end\" = ? WHERE id = ?",
                           [spec.hours_per_week, spec.start.isoformat(), spec.end.isoformat(), link["id"]])
            self.settle(slot["request_id"], actor)

    def remove_slot(self, slot_id: int, actor: str, at: dt.datetime) -> int:
        """Remove an empty slot (a filled one is released first); returns the request id."""
        with self.store.transaction() as db:
            slot = self._open_slot(slot_id)
            if self._active(slot_id):
                raise RefusedChange("deze plek is bezet; geef het lid eerst vrij")
            db.execute("UPDATE slots SET removed = ? WHERE id = ?", [stamp(at), slot_id])
            self.settle(slot["request_id"], actor)
        return slot["request_id"]

    # -- links ---------------------------------------------------------------------------------------------
    def invite(self, slot_id: int, member_id: str, capacity: float, token: str, expires: dt.date, actor: str,
               at: dt.datetime, override: str = "", check=None) -> tuple[dict | None, list[str]]:
        """Link a member to a slot as an invitation holding the slot's hours; returns the link it replaced and
        the hard rules the link breaks (booked only with an `override` reason).

        `check(slot)`, called inside the transaction, names a broken rule that files decide (conflict, no hours,
        availability); the capacity in the slot's period is checked here. Without `override` a broken rule is
        refused (AssignmentRefused). Refused always: a member already in the team, a closed request.
        """
        with self.store.transaction() as db:
            slot = self._open_slot(slot_id)
            request_id = slot["request_id"]
            status = self.requests._status(request_id)
            if status in CLOSED:
                check_transition(status, MATCHED)
            taken = db.execute("SELECT 1 FROM assignments WHERE request_id = ? AND member_id = ? AND active = 1 "
                               "AND slot_id IS DISTINCT FROM ?", [request_id, member_id, slot_id]).fetchone()
            if taken:
                raise AssignmentRefused("staat al in het team van deze aanvraag")
            spec = _spec(slot)
            broken = [reason] if check is not None and (reason := check(slot)) else []
            try:
                self._check_capacity(member_id, spec, capacity, except_slot=slot_id)
            except AssignmentRefused as exc:
                broken.append(str(exc))
            if broken and not override:
                raise AssignmentRefused(broken[0])
            replaced = self._end(self._active(slot_id), RELEASED, at, "vervangen")
            db["assignments"].insert({
                "request_id": request_id, "slot_id": slot_id, "member_id": member_id,
                "hours_per_week": spec.hours_per_week, "start": spec.start.isoformat(), "end": spec.end.isoformat(),
                "active": 1, "created": stamp(at), "actor": actor, "state": INVITED, "token_hash": token_hash(token),
                "expires": expires.isoformat(), "override": override if broken else None,
            })
            if status == NEW:
                self.requests._change(request_id, IN_PROGRESS, actor, "team in de maak")
            role = f" als {slot['role']}" if slot["role"] else ""
            self._event(request_id, actor, f"uitgenodigd: {self.names(member_id)}{role}", at)
            self.settle(request_id, actor)
        return replaced, broken

    def accept(self, token: str, capacity: float, at: dt.datetime) -> dict:
        """The member accepts: the hours are booked for good (re-checked now); returns the link.

        Refused (RefusedChange) for an invitation that was answered, withdrawn or has expired.
        """
        with self.store.transaction() as db:
            link = self._pending(token, at)
            self._check_capacity(link["member_id"], _spec(link), capacity, except_slot=link["slot_id"],
                                 skip=bool(link["override"]))
            db.execute("UPDATE assignments SET state = ?, answered = ? WHERE id = ?", [ACCEPTED, stamp(at), link["id"]])
            self._event(link["request_id"], link["member_id"], f"{self.names(link['member_id'])} doet mee", at)
            self.settle(link["request_id"], link["member_id"])
            return {**link, "state": ACCEPTED}

    def decline(self, token: str, reason: str, at: dt.datetime) -> dict:
        """The member declines (with a reason): the slot is open again for the coordinator; returns the link."""
        with self.store.transaction():
            link = self._pending(token, at)
            ended = self._end(link, DECLINED, at, reason)
            self._event(link["request_id"], link["member_id"], f"{self.names(link['member_id'])} kan niet", at)
            self.settle(link["request_id"], link["member_id"])
            return ended

    def release(self, slot_id: int, actor: str, at: dt.datetime, reason: str = "") -> dict:
        """End the slot's link (invited or accepted); returns it, for the cancellation mail."""
        with self.store.transaction():
            slot = self._open_slot(slot_id)
            status = self.requests._status(slot["request_id"])
            if status in CLOSED:
                raise RefusedChange(f"de aanvraag is {status}; het team ligt vast")
            link = self._active(slot_id)
            if link is None:
                raise RefusedChange("deze plek is al leeg")
            ended = self._end(link, RELEASED, at, reason)
            self._event(slot["request_id"], actor, f"vrijgegeven: {self.names(link['member_id'])}", at)
            self.settle(slot["request_id"], actor)
            return ended

    def end_all(self, request_id: int, at: dt.datetime, reason: str) -> list[dict]:
        """End every active link of a request that is being closed; returns them (for cancellation mails)."""
        with self.store.transaction():
            self.requests._status(request_id)
            rows = list(self.db["assignments"].rows_where("request_id = ? AND active = 1", [request_id]))
            return [self._end(row, RELEASED, at, reason) for row in rows]

    def due_for_reminder(self, invited_before: dt.datetime) -> list[dict]:
        """Open invitations sent before the moment and not yet reminded."""
        return list(self.db["assignments"].rows_where(
            "state = ? AND active = 1 AND reminded IS NULL AND created < ?", [INVITED, stamp(invited_before)],
            order_by="id"))

    def mark_reminded(self, link_id: int, at: dt.datetime, token: str) -> bool:
        """Record a reminder once, with the fresh token its mail carries (False when another process did it first
        or it was answered meanwhile)."""
        with self.store.transaction() as db:
            cursor = db.execute("UPDATE assignments SET reminded = ?, reminder_token_hash = ? WHERE id = ? "
                                "AND state = ? AND active = 1 AND reminded IS NULL",
                                [stamp(at), token_hash(token), link_id, INVITED])
            return cursor.rowcount == 1

    def expire(self, link_id: int, at: dt.datetime) -> dict | None:
        """End an open invitation past its expiry date; the slot goes back to the coordinator. None if answered."""
        with self.store.transaction():
            found = self.db.execute("SELECT request_id FROM assignments WHERE id = ?", [link_id]).fetchone()
            if found:
                self.requests._status(found[0])  # the request's lock first, as in every team change
            rows = list(self.db["assignments"].rows_where("id = ? AND state = ? AND active = 1", [link_id, INVITED]))
            if not rows or at.date() <= dt.date.fromisoformat(rows[0]["expires"]):
                return None
            ended = self._end(rows[0], EXPIRED, at, "geen antwoord binnen de termijn")
            who = self.names(ended["member_id"])
            self._event(ended["request_id"], "wijkwijzer", f"uitnodiging verlopen: {who}", at)
            self.settle(ended["request_id"], "wijkwijzer")
            return ended

    def past_expiry(self, on: dt.date) -> list[dict]:
        """Open invitations whose answer date has passed."""
        return list(self.db["assignments"].rows_where("state = ? AND active = 1 AND expires < ?",
                                                      [INVITED, on.isoformat()], order_by="id"))

    # -- the request's status follows the team ---------------------------------------------------------------
    def settle(self, request_id: int, actor: str) -> None:
        """'gekoppeld' exactly when every slot holds an accepted member; called inside every team change."""
        status = self.requests._status(request_id)
        if status in CLOSED:
            return
        states = [row[0] for row in self.db.execute(
            "SELECT a.state FROM slots s LEFT JOIN assignments a ON a.slot_id = s.id AND a.active = 1 "
            "WHERE s.request_id = ? AND s.removed IS NULL", [request_id]).fetchall()]
        complete = bool(states) and all(state == ACCEPTED for state in states)
        if complete and status != MATCHED:
            check_transition(status, MATCHED)
            self.requests._change(request_id, MATCHED, actor, "het team is compleet")
        elif not complete and status == MATCHED:
            self.requests._change(request_id, IN_PROGRESS, actor, "het team is niet meer compleet")

    # -- helpers -------------------------------------------------------------------------------------------
    def _open_slot(self, slot_id: int) -> dict:
        slot = self.slot(slot_id)
        if slot is None:
            raise KeyError(slot_id)
        if self.store.in_transaction():
            # Lock the request first (every team change does, in this order: request, then member), then read
            # the slot again as the lock holder sees it.
            self.requests._status(slot["request_id"])
            slot = self.slot(slot_id) or slot
        return slot

    def _active(self, slot_id: int) -> dict | None:
        rows = list(self.db["assignments"].rows_where("slot_id = ? AND active = 1", [slot_id]))
        return rows[0] if rows else None

    def _pending(self, token: str, at: dt.datetime) -> dict:
        link = self.by_token(token)
        if link is None:
            raise KeyError(token)
        self.requests._status(link["request_id"])  # locks the request (PostgreSQL), then the link is read again
        link = self.by_token(token) or link
        if link["state"] != INVITED or not link["active"]:
            raise RefusedChange("deze uitnodiging is al beantwoord of ingetrokken")
        if at.date() > dt.date.fromisoformat(link["expires"]):
            raise RefusedChange("deze uitnodiging is verlopen")
        return link

    def _check_capacity(self, member_id: str, spec: SlotSpec, capacity: float, except_slot: int | None,
                        skip: bool = False) -> None:
        if skip:
            return
        # Two bookings of one member (for different requests) must not both pass: on PostgreSQL they wait here
        # for each other; on SQLite the write transaction already excludes every other writer.
        self.db.lock("member", member_id)
        rows = self.db.execute(
            "SELECT start, \"end\", hours_per_week FROM assignments WHERE active = 1 AND member_id = ? AND start <= ? "
            "AND \"end\" >= ? AND slot_id IS DISTINCT FROM ?", [member_id, spec.end.isoformat(), spec.start.isoformat(),
                                                 except_slot]).fetchall()
        start = spec.start.isoformat()
        days = {start} | {first for first, _, _ in rows if first > start}
        booked = max((sum(h for first, last, h in rows if first <= day <= last) for day in days), default=0.0)
        if booked + spec.hours_per_week > capacity:
            free = max(capacity - booked, 0.0)
            raise AssignmentRefused(
                f"volgeboekt: in deze periode nog {free:g} van {capacity:g} uur per week vrij, deze plek vraagt "
                f"{spec.hours_per_week:g} uur per week")

    def _end(self, link: dict | None, state: str, at: dt.datetime, reason: str) -> dict | None:
        if link is None:
            return None
        self.db.execute("UPDATE assignments SET active = 0, state = ?, answered = coalesce(answered, ?), "
                        "reason = ? WHERE id = ?", [state, stamp(at), reason or None, link["id"]])
        return {**link, "active": 0, "state": state, "reason": reason, "previous_state": link["state"]}

    def _event(self, request_id: int, actor: str, note: str, at: dt.datetime) -> None:
        """A team event in the request's history, at its current status (the status itself does not change)."""
        self.requests._add_event(request_id, stamp(at), actor, self.requests._status(request_id), note)


def _spec(row: dict) -> SlotSpec:
    return SlotSpec(row.get("role") or "", float(row["hours_per_week"]), dt.date.fromisoformat(row["start"]),
                    dt.date.fromisoformat(row["end"]))
