"""The team mails: to a member on invitation (accept and decline links), reminder, acceptance (with the
submitter's contact), cancellation, expiry and the end of the work; to coordinators when a slot comes back open
(declined or expired), with the next suggestion.

Called by teamwork.Teams inside the transaction of the change, so mail and change are stored together.
"""

from __future__ import annotations

from wijkwijzer.domain.pool import POOLS, PoolMember
from wijkwijzer.mail.notices import Notifier
from wijkwijzer.storage.accounts import Accounts

# The kinds Teams reports -> the mail template sent to the member (None: no mail to the member).
MEMBER_MAILS = {"uitnodiging": "invitation", "herinnering": "invitation_reminder",
                "geaccepteerd": "invitation_accepted", "geannuleerd": "invitation_cancelled",
                "verlopen": "invitation_expired", "afgerond": "team_done", "afgeslagen": None}
SLOT_OPEN = ("afgeslagen", "verlopen")


class TeamMail:
    """Turns a team event into mails in the outbox."""

    def __init__(self, notifier: Notifier, accounts: Accounts, team) -> None:
        self.notifier = notifier
        self.accounts = accounts
        self.team = team

    def invitation_url(self, token: str) -> str:
        """The member's page for answering an invitation (no login: the token is the key)."""
        return f"{self.notifier.site_url}/uitnodiging/{token}"

    def send(self, kind: str, link: dict, row: dict, member: PoolMember | None) -> list[int]:
        """Queue the mails for one team event; returns their outbox ids."""
        ids = []
        slot = self.team.teams.slot(link["slot_id"]) if link.get("slot_id") else None
        context = {
            "request": self.notifier.summary(row), "member_name": member.name if member else link["member_id"],
            "role": (slot or {}).get("role") or link.get("role") or "",
            "pool": POOLS.get(member.pool, "") if member else "", "hours": link["hours_per_week"],
            "start": link["start"], "end": link["end"], "expires": link.get("expires"),
            "reason": link.get("reason") or "", "question": row.get("question") or "",
        }
        template = MEMBER_MAILS.get(kind)
        if template and member is not None and member.email:
            if link.get("token"):
                context["url"] = self.invitation_url(link["token"])
            if kind == "geaccepteerd":
                context["contact"] = {"name": row.get("contact_name") or "", "email": row.get("email") or "",
                                      "role": row.get("role") or ""}
            ids.append(self.notifier.outbox.enqueue(self.notifier.compose(
                template, member.email, request_id=row["id"], **context)))
        if kind in SLOT_OPEN and slot is not None:
            team = [s["link"]["member_id"] for s in self.team.teams.slots(row["id"]) if s["link"]]
            slot = next((s for s in self.team.teams.slots(row["id"]) if s["id"] == slot["id"]), slot)
            following = self.team.suggestions(row["id"], slot, team, limit=1)
            for account in self.accounts.mail_recipients("direct"):
                ids.append(self.notifier.outbox.enqueue(self.notifier.compose(
                    "slot_open", account["email"], request_id=row["id"], event=kind,
                    name=account["name"] or account["username"], next=following[0] if following else None,
                    **context)))
        return ids
