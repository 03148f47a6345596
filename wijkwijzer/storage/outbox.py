"""The mail outbox: a mail is a row written in the same transaction as the change that causes it, and senders
deliver the rows afterwards (the transactional outbox pattern).

Several senders (threads, server processes, a cron job) may run at once: `claim` marks due rows as being sent
by one claimant inside a write transaction, so no two senders take the same row. A claim expires after
`CLAIM_LEASE`, so a sender that died mid-batch does not strand its rows; that is also the one window in which a
mail can go out twice (the SMTP server accepted it, the sender died before `mark_sent`): delivery is at least
once, never lost.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from wijkwijzer.domain.mail import FAILED, MAX_ATTEMPTS, PENDING, SENDING, SENT, STATES, Message, retry_delay
from wijkwijzer.storage.db import Store

CLAIM_LEASE = dt.timedelta(minutes=15)


def _stamp(moment: dt.datetime | None) -> str:
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class Outbox:
    """The `outbox` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(self, message: Message, now: dt.datetime | None = None) -> int:
        """Store a mail to be sent; returns its id. Call it inside the transaction of the change that causes the
        mail (a `store.transaction()` opened here joins the caller's), so both are written or neither is."""
        stamp = _stamp(now)
        row = {"created": stamp, "kind": message.kind, "recipient": message.to, "subject": message.subject,
               "text": message.text, "html": message.html, "headers": json.dumps(message.headers),
               "request_id": message.request_id, "status": PENDING, "attempts": 0, "next_attempt": stamp,
               "claimed_by": None, "claimed_until": None, "last_error": "", "sent": None, "message_id": ""}
        with self.store.transaction() as db:
            return int(db["outbox"].insert(row).last_pk)

    def claim(self, limit: int = 10, now: dt.datetime | None = None) -> tuple[str, list[dict]]:
        """Take up to `limit` mails that are due (and those of a sender whose claim expired) for one sender.

        Returns the claim token and the rows; pass the token to `mark_sent`/`mark_failed`.
        """
        stamp = _stamp(now)
        until = _stamp((now or dt.datetime.now(dt.UTC)) + CLAIM_LEASE)
        token = secrets.token_hex(8)
        # On PostgreSQL the rows are locked as they are chosen (SKIP LOCKED), so two senders take different ones.
        with self.store.transaction() as db:
            ids = [row[0] for row in db.execute(
                "SELECT id FROM outbox WHERE (status = ? AND next_attempt <= ?) OR (status = ? AND claimed_until <= ?)"
                f" ORDER BY next_attempt, id LIMIT ?{db.dialect.skip_locked}", [PENDING, stamp, SENDING, stamp, limit])]
            if not ids:
                return token, []
            marks = ",".join("?" * len(ids))
            db.execute(f"UPDATE outbox SET status = ?, claimed_by = ?, claimed_until = ? WHERE id IN ({marks})",
                       [SENDING, token, until, *ids])
            rows = list(db.query(f"SELECT * FROM outbox WHERE id IN ({marks}) ORDER BY next_attempt, id", ids))
        return token, [_decode(row) for row in rows]

    def mark_sent(self, mail_id: int, token: str, message_id: str = "", now: dt.datetime | None = None) -> bool:
        """Record a delivery by the sender holding the claim; False when the claim was no longer its own."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET status = ?, sent = ?, message_id = ?, claimed_by = NULL, claimed_until = NULL, "
                "attempts = attempts + 1, last_error = '' WHERE id = ? AND claimed_by = ? AND status = ?",
                [SENT, _stamp(now), message_id, mail_id, token, SENDING])
        return cursor.rowcount == 1

    def mark_failed(self, mail_id: int, token: str, error: str, permanent: bool = False,
                    now: dt.datetime | None = None) -> str | None:
        """Record a failed attempt: a temporary error is retried later (exponential backoff, up to MAX_ATTEMPTS),
        a permanent one (the server refused the recipient) is given up on. Returns the new state, or None when
        the claim was no longer this sender's."""
        now = now or dt.datetime.now(dt.UTC)
        with self.store.transaction() as db:
            row = db.execute("SELECT attempts FROM outbox WHERE id = ? AND claimed_by = ? AND status = ?",
                             [mail_id, token, SENDING]).fetchone()
            if row is None:
                return None
            attempts = int(row[0]) + 1
            state = FAILED if permanent or attempts >= MAX_ATTEMPTS else PENDING
            db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt = ?, last_error = ?, claimed_by = NULL, "
                "claimed_until = NULL WHERE id = ?",
                [state, attempts, _stamp(now + retry_delay(attempts)), error[:1000], mail_id])
        return state

    def retry(self, mail_id: int | None = None, now: dt.datetime | None = None) -> int:
        """Put one given-up mail (or, without an id, every one) back in the queue to be sent now, with a fresh
        backoff; returns how many."""
        where, args = ("status = ? AND id = ?", [FAILED, mail_id]) if mail_id is not None else ("status = ?", [FAILED])
        with self.store.transaction() as db:
            cursor = db.execute(f"UPDATE outbox SET status = ?, attempts = 0, next_attempt = ? WHERE {where}",
                                [PENDING, _stamp(now), *args])
        return cursor.rowcount

    def get(self, mail_id: int) -> dict | None:
        """One mail, or None."""
        rows = list(self.store.db["outbox"].rows_where("id = ?", [mail_id]))
        return _decode(rows[0]) if rows else None

    def list(self, status: str | None = None, limit: int = 200, offset: int = 0) -> list[dict]:
        """Mails, newest first, optionally in one state (ValueError for an unknown state)."""
        if status is not None and status not in STATES:
            raise ValueError(f"onbekende status {status!r}; kies uit {', '.join(STATES)}")
        where, args = ("status = ?", [status]) if status else (None, [])
        rows = self.store.db["outbox"].rows_where(where, args, order_by="id DESC", limit=limit, offset=offset)
        return [_decode(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of mails per state (every state present, 0 when none)."""
        found = dict(self.store.db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        return {state: int(found.get(state, 0)) for state in STATES}

    def due(self, now: dt.datetime | None = None) -> bool:
        """Whether any mail waits to be claimed (a read, without the write lock a claim takes)."""
        stamp = _stamp(now)
        return self.store.db.execute(
            "SELECT 1 FROM outbox WHERE (status = ? AND next_attempt <= ?) OR (status = ? AND claimed_until <= ?) "
            "LIMIT 1", [PENDING, stamp, SENDING, stamp]).fetchone() is not None

    def for_request(self, request_id: int) -> list[dict]:
        """The mails about one request, oldest first (for a data-subject access request)."""
        return [_decode(r) for r in self.store.db["outbox"].rows_where("request_id = ?", [request_id], order_by="id")]

    def next_due(self) -> str | None:
        """When the next waiting mail is due (UTC, ISO), or None when none waits."""
        row = self.store.db.execute("SELECT min(next_attempt) FROM outbox WHERE status = ?", [PENDING]).fetchone()
        return row[0] if row else None

    def forget_request(self, request_id: int) -> int:
        """Delete the mails about one help request (its personal data is being erased); returns how many."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM outbox WHERE request_id = ?", [request_id]).rowcount

    def prune(self, sent_before: dt.datetime) -> int:
        """Delete mails delivered before `sent_before` (they hold addresses and status links); returns how many."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM outbox WHERE status = ? AND sent < ?", [SENT, _stamp(sent_before)]).rowcount


def _decode(row: dict) -> dict:
    row = dict(row)
    row["headers"] = json.loads(row.get("headers") or "{}")
    return row
