"""The team use cases: slots, links checked against the hard rules, invitations members answer, the invitation
clock (reminder, expiry), batch filling of slots and the submitter's feedback.

Built by the composition root (services.py) and called by the web and the CLI. Every change is one transaction:
the hard rules, the capacity check, the status flow and the write (and the mail it causes, in the outbox) see
one state.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from wijkwijzer.domain.helprequests import DONE, RefusedChange, to_help_request
from wijkwijzer.domain.matching import exclusion, fills_role, route
from wijkwijzer.domain.pool import POOLS, PoolMember
from wijkwijzer.domain.taxonomy import normalise
from wijkwijzer.domain.teams import SlotSpec, add_working_days, derive_slots, working_days_between
from wijkwijzer.expertise import ExpertPool
from wijkwijzer.storage.audit import AuditLog
from wijkwijzer.storage.db import Store
from wijkwijzer.storage.requests import FeedbackStore, RequestStore
from wijkwijzer.storage.teams import TeamStore

# Who is told what: (kind, link, request row, member) -> None, called inside the transaction of the change.
Notify = Callable[[str, dict, dict, PoolMember | None], None]


def utcnow() -> dt.datetime:
    """The current moment (UTC); every use case takes `at` instead so tests can drive the clock."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Teams:
    """Slots and links of help requests; see the module docstring."""

    store: Store
    requests: RequestStore
    teams: TeamStore
    feedback: FeedbackStore
    audit: AuditLog
    pool: ExpertPool
    reminder_days: int = 3
    expiry_days: int = 10
    notify: Notify | None = None
    # The submitter's mail on a status change: (request id, status, note), inside the change's transaction.
    on_status: Callable[[int, str, str], object] | None = None

    def __post_init__(self) -> None:
        self.teams.names = self._name

    def _name(self, member_id: str) -> str:
        member = self.members().get(member_id)
        return member.name if member else member_id

    # -- reading -------------------------------------------------------------------------------------------
    def members(self) -> dict[str, PoolMember]:
        """Every valid pool member by id."""
        return {m.id: m for m in self.pool.members()}

    def ensure(self, request_id: int, at: dt.datetime | None = None) -> list[dict]:
        """The request's slots; a request stored before teams existed gets the slots its text asks for once."""
        row = self._request(request_id)
        if not self.teams.ever_had_slots(request_id) and row["status"] not in ("afgerond", "afgewezen"):
            created = dt.date.fromisoformat(row["created"][:10])
            specs = derive_slots(to_help_request(row), created)
            with self.store.transaction():  # checked again inside: two first looks must not make two teams
                # The status first: on PostgreSQL reading it locks the request, so the second look waits here
                # and then sees the first one's slots.
                status = self.requests._status(request_id)
                if status not in ("afgerond", "afgewezen") and not self.teams.ever_had_slots(request_id):
                    self.teams.add_slots(request_id, specs, "wijkwijzer", at or utcnow())
        return self.teams.slots(request_id)

    def suggestions(self, request_id: int, slot: dict, team: list[str], limit: int = 3,
                    today: dt.date | None = None) -> list:
        """Matches for one open slot: members not in the team (nor having declined or let this slot expire),
        fully free for the slot's hours in its period, of the slot's role first when the request names one."""
        row = self._request(request_id)
        request = to_help_request(row)
        start, end = dt.date.fromisoformat(slot["start"]), dt.date.fromisoformat(slot["end"])
        booked = self.requests.peak_booked(start, end, except_request=request_id)
        today = today or dt.date.today()
        result = self.pool.match(request, booked=booked, limit=len(self.pool.members()), today=today)
        members = self.members()
        refused = {link["member_id"] for link in slot.get("past", []) if link["state"] in ("afgeslagen", "verlopen")}
        need = float(slot["hours_per_week"])
        fit = [m for m in result.matches if m.id not in team and m.id not in refused and m.id in members
               and members[m.id].hours_per_week - booked.get(m.id, 0.0) >= need
               and self._fits_period(members[m.id], start, end)]
        role = (slot.get("role") or "").strip()
        if role:
            stem = _role_stem(role)
            fit.sort(key=lambda m: not (stem and fills_role(members[m.id], stem)))  # stable: scores stay in order
        return fit[:limit]

    # -- slots ---------------------------------------------------------------------------------------------
    def add_slot(self, request_id: int, spec: SlotSpec, actor: str, at: dt.datetime | None = None) -> int:
        """Add a place to the team (audit-logged)."""
        with self._changing(request_id):
            slot_id = self.teams.add_slots(request_id, [spec], actor, at or utcnow())[0]
            self.audit.record(actor, f"Plek toegevoegd: {spec.role or 'lid'}, {spec.hours_per_week:g} u/week",
                              request_id)
        return slot_id

    def update_slot(self, slot_id: int, spec: SlotSpec, actor: str) -> int:
        """Change a slot's role, hours or period; a linked member must still have the hours (audit-logged)."""
        slot = self._slot(slot_id)
        with self._changing(slot["request_id"]):
            link = next((s["link"] for s in self.teams.slots(slot["request_id"]) if s["id"] == slot_id), None)
            capacity = None
            if link is not None:
                member = self.members().get(link["member_id"])
                capacity = member.hours_per_week if member else 0.0
                if link.get("override"):
                    capacity = None  # booked with an explicit override: the coordinator already chose to exceed
            self.teams.update_slot(slot_id, spec, capacity, actor)
            self.audit.record(actor, f"Plek gewijzigd: {spec.role or 'lid'}, {spec.hours_per_week:g} u/week, "
                                     f"{spec.start} tot {spec.end}", slot["request_id"])
        return slot["request_id"]

    def remove_slot(self, slot_id: int, actor: str, at: dt.datetime | None = None) -> int:
        """Remove an empty slot (audit-logged)."""
        with self._changing(self._slot(slot_id)["request_id"]):
            request_id = self.teams.remove_slot(slot_id, actor, at or utcnow())
            self.audit.record(actor, "Plek verwijderd", request_id)
        return request_id

    # -- links ---------------------------------------------------------------------------------------------
    def link(self, slot_id: int, member_id: str, actor: str, override: str = "", at: dt.datetime | None = None,
             today: dt.date | None = None) -> str:
        """Invite a member into a slot; returns the invitation token (for the mail's links).

        The hard rules (conflict of interest, hours, availability in the slot's period) and the capacity are
        checked inside the transaction that books the hours. A break is refused (AssignmentRefused, in Dutch)
        unless `override` gives the coordinator's reason: then it is booked, and the rule and the reason are in
        the audit log. KeyError for an unknown slot or member.
        """
        at = at or utcnow()
        members = self.members()
        if member_id not in members:
            raise KeyError(member_id)
        member = members[member_id]
        override = override.strip()[:500]
        token = secrets.token_urlsafe(32)
        expires = add_working_days(at.date(), self.expiry_days)

        def check(slot: dict) -> str | None:
            row = self._request(slot["request_id"])
            request = self.pool.normalise_request(to_help_request(row))
            start, end = dt.date.fromisoformat(slot["start"]), dt.date.fromisoformat(slot["end"])
            return exclusion(member, request, 0.0, today or at.date(), (normalise(request.municipality), start, end))

        slot = self._slot(slot_id)
        with self._changing(slot["request_id"]):
            replaced, broken = self.teams.invite(slot_id, member_id, member.hours_per_week, token, expires, actor,
                                                 at, override=override, check=check)
            request_id = slot["request_id"]
            role = f" als {slot['role']}" if slot["role"] else ""
            if broken:
                self.audit.record(actor, f"Uitgenodigd: {member.name}{role}, MET AFWIJKING van de regels "
                                         f"({'; '.join(broken)}); reden: {override}", request_id)
            else:
                self.audit.record(actor, f"Uitgenodigd: {member.name}{role}", request_id)
            row = self._request(request_id)
            if replaced is not None:
                self._tell("geannuleerd", replaced, row, members.get(replaced["member_id"]))
            link = self.teams.by_token(token)
            self._tell("uitnodiging", {**link, "token": token, "role": slot["role"]}, row, member)
        return token

    def release(self, slot_id: int, actor: str, reason: str = "", at: dt.datetime | None = None) -> int:
        """Free a slot: the invited or accepted member is told by mail; returns the request id."""
        at = at or utcnow()
        slot = self._slot(slot_id)
        with self._changing(slot["request_id"]):
            ended = self.teams.release(slot_id, actor, at, reason.strip()[:500])
            member = self.members().get(ended["member_id"])
            self.audit.record(actor, f"Vrijgegeven: {member.name if member else ended['member_id']}"
                                     + (f" ({reason.strip()[:500]})" if reason.strip() else ""), slot["request_id"])
            self._tell("geannuleerd", ended, self._request(slot["request_id"]), member)
        return slot["request_id"]

    def invitation(self, token: str) -> dict | None:
        """What an invitation page shows: the link, its slot, the request (no contact data until accepted)."""
        link = self.teams.by_token(token) if 20 <= len(token) <= 80 else None
        if link is None:
            return None
        row = self._request(link["request_id"])
        slot = self.teams.slot(link["slot_id"]) or {}
        return {"link": link, "slot": slot, "request": row, "member": self.members().get(link["member_id"]),
                "pool": route(to_help_request(row)).pool}

    def accept(self, token: str, at: dt.datetime | None = None) -> dict:
        """The member accepts: the hours are booked (capacity re-checked now). RefusedChange when it cannot be."""
        at = at or utcnow()
        link = self.teams.by_token(token)
        if link is None:
            raise KeyError(token)
        member = self.members().get(link["member_id"])
        with self._changing(link["request_id"]):
            accepted = self.teams.accept(token, member.hours_per_week if member else 0.0, at)
            self.audit.record(link["member_id"], "Uitnodiging geaccepteerd", link["request_id"])
            row = self._request(link["request_id"])
            self._tell("geaccepteerd", accepted, row, member)
        return accepted

    def decline(self, token: str, reason: str, at: dt.datetime | None = None) -> dict:
        """The member declines with a reason: the slot is open again, with the next suggestion."""
        at = at or utcnow()
        reason = reason.strip()[:500]
        if not reason:
            raise RefusedChange("geef kort aan waarom u niet kunt")
        link = self.teams.by_token(token)
        if link is None:
            raise KeyError(token)
        with self._changing(link["request_id"]):
            ended = self.teams.decline(token, reason, at)
            self.audit.record(link["member_id"], f"Uitnodiging afgeslagen: {reason}", link["request_id"])
            self._tell("afgeslagen", ended, self._request(link["request_id"]), self.members().get(link["member_id"]))
        return ended

    def close(self, request_id: int, status: str, actor: str, note: str = "", at: dt.datetime | None = None) -> None:
        """Change the status by hand (the flow checked inside the transaction); closing tells every invited or
        accepted member that the work is off or done."""
        with self.store.transaction():
            ended = self.requests.set_status(request_id, status, actor, note)
            self.audit.record(actor, f"Status: {status}", request_id)
            if self.on_status is not None:
                self.on_status(request_id, status, note)
            if ended:
                row = self._request(request_id)
                members = self.members()
                for link in ended:
                    kind = "afgerond" if status == DONE and link["previous_state"] == "geaccepteerd" else "geannuleerd"
                    self._tell(kind, link, row, members.get(link["member_id"]))

    def run_clock(self, at: dt.datetime | None = None) -> dict[str, int]:
        """Remind members of invitations unanswered for `reminder_days` working days, expire those past their
        answer date (the slot goes back to the coordinator). Safe to run from several processes at once."""
        at = at or utcnow()
        today = at.date()
        reminded = expired = 0
        members = self.members()
        for link in self.teams.past_expiry(today):
            with self._changing(link["request_id"]):
                ended = self.teams.expire(link["id"], at)
                if ended is not None:
                    expired += 1
                    self.audit.record("wijkwijzer", "Uitnodiging verlopen", ended["request_id"])
                    self._tell("verlopen", ended, self._request(ended["request_id"]), members.get(ended["member_id"]))
        for link in self.teams.due_for_reminder(at):
            sent = dt.date.fromisoformat(link["created"][:10])
            if working_days_between(sent, today) < self.reminder_days:
                continue
            token = secrets.token_urlsafe(32)
            with self.store.transaction():
                if self.teams.mark_reminded(link["id"], at, token):
                    reminded += 1
                    slot = self.teams.slot(link["slot_id"]) or {}
                    self._tell("herinnering", {**link, "role": slot.get("role", ""), "token": token},
                               self._request(link["request_id"]), members.get(link["member_id"]))
        return {"reminded": reminded, "expired": expired}

    # -- batch ---------------------------------------------------------------------------------------------
    def propose(self, today: dt.date | None = None) -> dict:
        """One proposal for every open slot of the open requests: the optimal assignment under the members' free
        hours (HiGHS), a member at most once per team, with the greedy total beside it. Nothing is stored until
        a coordinator applies it; each pair is then linked with every check."""
        from wijkwijzer.domain.matching import assign_batch, assign_greedy

        today = today or dt.date.today()
        rows = self.requests.queue("nieuw") + self.requests.queue("in behandeling")
        entries, options, hours, groups = [], [], [], []
        spans: list[tuple[dt.date, dt.date]] = []
        for row in rows:
            slots = self.ensure(row["id"])
            team = [s["link"]["member_id"] for s in slots if s["link"]]
            for slot in slots:
                if slot["link"] is None:
                    spans.append((dt.date.fromisoformat(slot["start"]), dt.date.fromisoformat(slot["end"])))
                    matches = self.suggestions(row["id"], slot, team, limit=20, today=today)
                    entries.append((row, slot, {m.id: m for m in matches}))
                    options.append([(m.id, m.score) for m in matches])
                    hours.append(float(slot["hours_per_week"]))
                    groups.append(row["id"])
        if not entries:
            return {"rows": [], "optimal": 0.0, "greedy": 0.0, "greedy_linked": 0}
        # Free hours over the whole span the open slots cover: what no slot's period can exceed.
        booked = self.requests.peak_booked(min(s for s, _ in spans), max(e for _, e in spans))
        free = {m.id: m.hours_per_week - booked.get(m.id, 0.0) for m in self.pool.members()}
        optimal = assign_batch(options, hours, free, groups=groups)
        greedy = assign_greedy(options, hours, free, groups=groups)
        members = self.members()
        proposal = [{"request": row, "slot": slot, "pool": route(to_help_request(row)).pool,
                     "member": members.get(chosen) if chosen else None,
                     "score": matches[chosen].score if chosen else None}
                    for (row, slot, matches), chosen in zip(entries, optimal.members, strict=True)]
        return {"rows": proposal, "optimal": optimal.total, "greedy": greedy.total,
                "greedy_linked": sum(member is not None for member in greedy.members)}

    # -- feedback ------------------------------------------------------------------------------------------
    def give_feedback(self, request_id: int, useful: str, why: str) -> bool:
        """Store the submitter's feedback once, for a closed ('afgerond') request. RefusedChange for bad input."""
        row = self._request(request_id)
        if row["status"] != DONE:
            raise RefusedChange("u kunt pas een beoordeling geven als de aanvraag is afgerond")
        if useful not in {"1", "2", "3", "4", "5"}:
            raise RefusedChange("kies een cijfer van 1 (niet nuttig) tot en met 5 (heel nuttig)")
        if len(why) > 2000:
            raise RefusedChange(f"gebruik hoogstens 2000 tekens voor de toelichting (nu {len(why)})")
        return self.feedback.give(request_id, int(useful), why.strip(), route(to_help_request(row)).pool)

    # -- helpers -------------------------------------------------------------------------------------------
    def _request(self, request_id: int) -> dict:
        row = self.requests.get(request_id)
        if row is None:
            raise KeyError(request_id)
        return row

    def _slot(self, slot_id: int) -> dict:
        slot = self.teams.slot(slot_id)
        if slot is None:
            raise KeyError(slot_id)
        return slot

    @staticmethod
    def _fits_period(member: PoolMember, start: dt.date, end: dt.date) -> bool:
        """Free for the whole period: not gone before its end, nor arriving after its start."""
        return not ((member.available_until and member.available_until < end)
                    or (member.available_from and member.available_from > start))

    def _tell(self, kind: str, link: dict, row: dict, member: PoolMember | None) -> None:
        if self.notify is not None:
            self.notify(kind, link, row, member)

    @contextmanager
    def _changing(self, request_id: int):
        """One transaction around a team change; a status it causes (a complete team, one that is no longer
        complete, the first invitation) is told to the submitter inside it."""
        with self.store.transaction():
            before = self.requests._status(request_id)
            yield
            after = self.requests._status(request_id)
            if after != before and self.on_status is not None:
                self.on_status(request_id, after, "")


def _role_stem(role: str) -> str:
    from wijkwijzer.text.dutch import stems

    found = [s for word in role.split() for s in stems(word)]
    return found[-1] if found else ""


def pool_label(pool: str) -> str:
    """The pool's name for people."""
    return POOLS.get(pool, pool)

