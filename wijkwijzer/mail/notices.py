"""The mails about help requests: the receipt to the submitter, a mail on every status change (with the linked
experts and how to reach them), and the coordinators' notice of new requests, at once or as a daily digest (which
also lists the places that came back open: declined or expired invitations).

Every method that queues a mail is called inside the transaction of the change that causes it, so the mail and
the change are stored together or not at all; delivery happens later (mail/sender.py). Coordinator mails hold
no personal data of the submitter (no name, address or question): they link to the request behind the login.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from wijkwijzer.domain.helprequests import DECLINED, DONE, IN_PROGRESS, KIND_LABELS, MATCHED, NEW
from wijkwijzer.domain.mail import Message
from wijkwijzer.domain.pool import PoolMember
from wijkwijzer.mail.compose import compose
from wijkwijzer.storage.accounts import Accounts
from wijkwijzer.storage.outbox import Outbox
from wijkwijzer.storage.requests import RequestStore

LOCAL = ZoneInfo("Europe/Amsterdam")
# Per status: the mail's headline and what happens next, in the submitter's words.
STATUS_TEXT = {
    NEW: ("Uw aanvraag staat weer open",
          "Een coördinator bekijkt uw vraag opnieuw en zoekt de deskundige die erbij past."),
    IN_PROGRESS: ("Uw aanvraag is in behandeling",
                  "Een coördinator is met uw vraag bezig en zoekt de deskundige die erbij past. U hoort van ons "
                  "zodra er een deskundige aan uw vraag is gekoppeld."),
    MATCHED: ("Er is een deskundige voor uw aanvraag",
              "Uw vraag is gekoppeld aan de deskundige hieronder. Die neemt binnen enkele werkdagen contact met u "
              "op; u kunt ook zelf mailen. Noem dan uw kenmerk."),
    DONE: ("Uw aanvraag is afgerond",
           "De hulp bij uw vraag is afgerond. Bedankt dat u het programma om hulp vroeg. Heeft u een nieuwe vraag? "
           "Dien dan een nieuwe hulpvraag in."),
    DECLINED: ("Wij kunnen uw aanvraag niet oppakken",
               "Het programma kan u met deze vraag niet helpen. Hieronder leest u waarom. Heeft u vragen daarover, "
               "neem dan contact op met het programma en noem uw kenmerk."),
}
STATUS_LABELS = {NEW: "nieuw", IN_PROGRESS: "in behandeling", MATCHED: "gekoppeld aan een deskundige",
                 DONE: "afgerond", DECLINED: "afgewezen"}


class Notifier:
    """Queues the request mails in the outbox; `site_url` makes the links absolute."""

    def __init__(self, outbox: Outbox, requests: RequestStore, accounts: Accounts, site_url: str,
                 members: Callable[[], list[PoolMember]], municipality: Callable[[str], str] = str,
                 reply_to: str = "") -> None:
        self.outbox = outbox
        self.requests = requests
        self.accounts = accounts
        self.site_url = site_url.rstrip("/")
        self.members = members
        self.municipality = municipality
        self.reply_to = reply_to
        # Invitations declined or expired in a window (since, until): the composition root gives the team store's
        # query, so a daily-digest coordinator also reads of the places that came back open.
        self.reopened: Callable[[str, str], list[dict]] = lambda since, until: []

    def compose(self, kind: str, to: str, **context) -> Message:
        """`mail.compose` with the site's address (links, footer) and the reply address in the context, and a
        Reply-To header when WIJKWIJZER_MAIL_REPLY_TO is set."""
        headers = {"Reply-To": self.reply_to} if self.reply_to else {}
        return compose(kind, to, headers={**headers, **context.pop("headers", {})}, site_url=self.site_url,
                       reply_to=self.reply_to, **context)

    def summary(self, row: dict) -> dict:
        """What every request mail shows of a request."""
        return {"id": row["id"], "reference": row.get("reference") or f"#{row['id']}",
                "municipality": self.municipality(row["municipality"]),
                "kind_label": KIND_LABELS.get(row["kind"], row["kind"]), "created": row["created"],
                "contact_name": row.get("contact_name") or "heer, mevrouw", "question": row.get("question") or "",
                "url": f"{self.site_url}/coordinator/aanvraag/{row['id']}"}

    def status_url(self, token: str) -> str:
        """The submitter's status link."""
        return f"{self.site_url}/hulpvraag/status/{token}"

    def submitted(self, request_id: int, token: str) -> list[int]:
        """Queue the receipt to the submitter and the at-once notices to coordinators; returns the mail ids."""
        row = self.requests.get(request_id)
        if row is None:
            raise KeyError(request_id)
        request = self.summary(row)
        ids = []
        with self.outbox.store.transaction():
            if row.get("email"):
                ids.append(self.outbox.enqueue(self.compose("receipt", row["email"], request_id=request_id,
                                                            request=request, status_url=self.status_url(token))))
            for account in self.accounts.mail_recipients("direct"):
                ids.append(self.outbox.enqueue(self.compose(
                    "new_request", account["email"], request=request, name=account["name"] or account["username"],
                    username=account["username"])))
        return ids

    def status_changed(self, request_id: int, status: str, note: str = "", token: str | None = None) -> int | None:
        """Queue the mail to the submitter about a new status, naming the linked experts and how to reach them.

        `note` is shown only for a decline (the reason the coordinator gives the submitter); other notes are
        internal. The status link is derived again when the secret key allows (see RequestStore.status_token).
        Returns the mail id, or None when the request has no address (erased)."""
        row = self.requests.get(request_id)
        if row is None:
            raise KeyError(request_id)
        if not row.get("email"):
            return None
        token = token or self.requests.status_token(request_id)
        headline, explanation = STATUS_TEXT.get(status, (f"Uw aanvraag is {status}", ""))
        members = {member.id: member for member in self.members()}
        experts = []
        for assignment in self.requests.assignments(request_id):
            if assignment.get("state") not in (None, "geaccepteerd"):
                continue  # invited, not yet accepted: the submitter learns the name from the status page
            member = members.get(assignment["member_id"])
            if member is None:
                continue  # left the pool since: the coordinator's mail names the replacement
            experts.append({"name": member.name, "role": member.role, "organisation": member.organisation,
                            "email": member.email, "hours": assignment["hours_per_week"],
                            "start": assignment["start"], "end": assignment["end"]})
        if len(experts) > 1 and status == MATCHED:
            headline = "Er zijn deskundigen voor uw aanvraag"
            explanation = explanation.replace("de deskundige hieronder. Die neemt", "de deskundigen hieronder. Zij "
                                              "nemen")
        message = self.compose("status", row["email"], request_id=request_id, request=self.summary(row),
                               status=status, status_label=STATUS_LABELS.get(status, status), headline=headline,
                               explanation=explanation, note=note if status == DECLINED else "", experts=experts,
                               status_url=self.status_url(token) if token else None)
        return self.outbox.enqueue(message)

    def reopened_places(self, since: str, until: str) -> list[dict]:
        """The places that came back open in the window: who declined (and why) or let the invitation expire,
        on which request, and whether the place holds a member again by now."""
        members = {member.id: member for member in self.members()}
        places = []
        for link in self.reopened(since, until):
            row = self.requests.get(link["request_id"])
            if row is None:
                continue
            member = members.get(link["member_id"])
            places.append({"request": self.summary(row), "event": link["state"], "at": link["answered"],
                           "member_name": member.name if member else link["member_id"],
                           "reason": link.get("reason") or "", "role": link.get("slot_role") or "",
                           "refilled": bool(link.get("refilled"))})
        return places

    def queue_digests(self, now: dt.datetime, hour: int = 8) -> list[int]:
        """Queue each daily-digest coordinator's overview of the requests that came in since their last one, and
        of the places that came back open (an invitation declined or expired; the immediate notice goes only to
        coordinators who chose it), once the day's digest hour (Dutch time) has passed. Safe in several
        processes: each account's window moves on in the same transaction as its mail is queued."""
        local = now.astimezone(LOCAL)
        cutoff_local = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if cutoff_local > local:
            cutoff_local -= dt.timedelta(days=1)
        cutoff = cutoff_local.astimezone(dt.UTC).isoformat(timespec="seconds")
        due = [a for a in self.accounts.mail_recipients("daily") if (a["digest_until"] or a["created"]) < cutoff]
        if not due:
            return []  # the usual case: checked without the write lock
        ids = []
        with self.outbox.store.transaction():
            for account in self.accounts.mail_recipients("daily"):  # again, inside: another process may be first
                since = account["digest_until"] or account["created"]
                if since >= cutoff:
                    continue
                rows = self.requests.created_between(since, cutoff)
                reopened = self.reopened_places(since, cutoff)
                if rows or reopened:
                    ids.append(self.outbox.enqueue(self.compose(
                        "digest", account["email"], requests=[self.summary(r) for r in rows], reopened=reopened,
                        since=since, until=cutoff, name=account["name"] or account["username"],
                        username=account["username"])))
                self.accounts.mark_digest(account["username"], cutoff)
        return ids
