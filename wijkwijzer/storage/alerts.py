"""Following by e-mail: subscribers (only their address), what they follow and the digests sent per period; what
is new or changed is read from the site's record of changes (storage/changes.py).

Plain SQL that any database speaks (no SQLite functions): times are ISO 8601 UTC text with microseconds, which
sorts as it reads. Writes happen inside `Store.transaction()`; a method opened inside the caller's transaction
joins it, so a use case writes its rows and its outbox mails together.
"""

from __future__ import annotations

import datetime as dt
import secrets

from wijkwijzer.domain.mail import PENDING
from wijkwijzer.storage.db import Store


def stamp(moment: dt.datetime | None = None) -> str:
    """A moment as these tables store it: UTC, ISO 8601 with microseconds (so two quick events still differ)."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


_SUBSCRIPTION = ("SELECT s.*, p.email AS email, p.salt AS subscriber_salt FROM alert_subscriptions s "
                 "JOIN alert_subscribers p ON p.id = s.subscriber_id")


class AlertStore:
    """The tables alert_subscribers, alert_subscriptions and alert_digests (and reads case_changes)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rows(self, sql: str, args: list | tuple = ()) -> list[dict]:
        return self.store.db.query(sql, list(args))

    # -- subscribers and subscriptions ---------------------------------------------------------------------
    def ensure_subscriber(self, email: str, now: dt.datetime | None = None) -> dict:
        """The subscriber with this address, created when new (with a random salt for its manage link)."""
        with self.store.transaction() as db:
            found = self._rows("SELECT * FROM alert_subscribers WHERE email = ?", [email])
            if found:
                return found[0]
            db.execute("INSERT INTO alert_subscribers (email, salt, created) VALUES (?, ?, ?)",
                       [email, secrets.token_hex(16), stamp(now)])
            return self._rows("SELECT * FROM alert_subscribers WHERE email = ?", [email])[0]

    def subscriber(self, subscriber_id: int) -> dict | None:
        """One subscriber, or None."""
        found = self._rows("SELECT * FROM alert_subscribers WHERE id = ?", [subscriber_id])
        return found[0] if found else None

    def find(self, subscriber_id: int, query: str) -> dict | None:
        """The subscriber's subscription to this query, if any."""
        found = self._rows(f"{_SUBSCRIPTION} WHERE s.subscriber_id = ? AND s.query = ?", [subscriber_id, query])
        return found[0] if found else None

    def get(self, subscription_id: int) -> dict | None:
        """One subscription with its address, or None."""
        found = self._rows(f"{_SUBSCRIPTION} WHERE s.id = ?", [subscription_id])
        return found[0] if found else None

    def by_confirm_hash(self, confirm_hash: str) -> dict | None:
        """The subscription a confirmation link is for, or None."""
        found = self._rows(f"{_SUBSCRIPTION} WHERE s.confirm_hash = ?", [confirm_hash])
        return found[0] if found else None

    def for_subscriber(self, subscriber_id: int) -> list[dict]:
        """Every subscription of one address, oldest first."""
        return self._rows(f"{_SUBSCRIPTION} WHERE s.subscriber_id = ? ORDER BY s.id", [subscriber_id])

    def confirmed(self) -> list[dict]:
        """Every confirmed subscription, with its address."""
        return self._rows(f"{_SUBSCRIPTION} WHERE s.confirmed IS NOT NULL ORDER BY s.id")

    def add(self, subscriber_id: int, query: str, frequency: str, confirm_hash: str, expires: dt.datetime,
            now: dt.datetime | None = None) -> int:
        """A new, unconfirmed subscription; returns its id."""
        with self.store.transaction() as db:
            row = {"subscriber_id": subscriber_id, "query": query, "frequency": frequency, "created": stamp(now),
                   "confirmed": None, "confirm_hash": confirm_hash, "confirm_expires": stamp(expires),
                   "confirm_sent": stamp(now), "salt": secrets.token_hex(16)}
            return int(db["alert_subscriptions"].insert(row).last_pk)

    def renew(self, subscription_id: int, frequency: str, confirm_hash: str, expires: dt.datetime,
              now: dt.datetime | None = None) -> None:
        """A fresh confirmation link for an unconfirmed subscription (the old link stops working)."""
        with self.store.transaction() as db:
            db.execute("UPDATE alert_subscriptions SET frequency = ?, confirm_hash = ?, confirm_expires = ?, "
                       "confirm_sent = ? WHERE id = ? AND confirmed IS NULL",
                       [frequency, confirm_hash, stamp(expires), stamp(now), subscription_id])

    def mark_mailed(self, subscription_id: int, now: dt.datetime | None = None) -> None:
        """Remember when the address last got a mail about this subscription (to throttle repeats)."""
        with self.store.transaction() as db:
            db.execute("UPDATE alert_subscriptions SET confirm_sent = ? WHERE id = ?", [stamp(now), subscription_id])

    def confirm(self, subscription_id: int, now: dt.datetime | None = None) -> bool:
        """Mark a subscription confirmed; False when it already was (or is gone)."""
        with self.store.transaction() as db:
            cursor = db.execute("UPDATE alert_subscriptions SET confirmed = ? WHERE id = ? AND confirmed IS NULL",
                                [stamp(now), subscription_id])
            return cursor.rowcount == 1

    def set_frequency(self, subscription_id: int, frequency: str) -> bool:
        """Change how often a subscription is mailed; False when it is gone."""
        with self.store.transaction() as db:
            return db.execute("UPDATE alert_subscriptions SET frequency = ? WHERE id = ?",
                              [frequency, subscription_id]).rowcount == 1

    def delete(self, subscription_id: int) -> bool:
        """Remove a subscription and its digest records, and its subscriber when nothing else is followed (the
        address is then gone); False when it was already gone."""
        with self.store.transaction() as db:
            found = self._rows("SELECT subscriber_id FROM alert_subscriptions WHERE id = ?", [subscription_id])
            if not found:
                return False
            self._drop_waiting_digests("subscription_id = ?", [subscription_id])
            db.execute("DELETE FROM alert_digests WHERE subscription_id = ?", [subscription_id])
            db.execute("DELETE FROM alert_subscriptions WHERE id = ?", [subscription_id])
            self._drop_if_unused(found[0]["subscriber_id"])
            return True

    def delete_subscriber(self, subscriber_id: int) -> int:
        """Remove an address with everything it follows; returns how many subscriptions went."""
        with self.store.transaction() as db:
            self._drop_waiting_digests("subscription_id IN (SELECT id FROM alert_subscriptions WHERE "
                                       "subscriber_id = ?)", [subscriber_id])
            db.execute("DELETE FROM alert_digests WHERE subscription_id IN "
                       "(SELECT id FROM alert_subscriptions WHERE subscriber_id = ?)", [subscriber_id])
            count = db.execute("DELETE FROM alert_subscriptions WHERE subscriber_id = ?", [subscriber_id]).rowcount
            db.execute("DELETE FROM alert_subscribers WHERE id = ?", [subscriber_id])
            return count

    def purge_unconfirmed(self, now: dt.datetime | None = None) -> int:
        """Remove subscriptions never confirmed whose confirmation link has expired (7 days after the latest
        request), and addresses left following nothing; returns how many subscriptions went."""
        with self.store.transaction() as db:
            count = db.execute("DELETE FROM alert_subscriptions WHERE confirmed IS NULL AND confirm_expires < ?",
                               [stamp(now)]).rowcount
            db.execute("DELETE FROM alert_subscribers WHERE id NOT IN "
                       "(SELECT subscriber_id FROM alert_subscriptions)")
            return count

    def _drop_waiting_digests(self, where: str, args: list) -> None:
        # Unsubscribing takes effect at once: a digest queued but not yet sent is not sent any more.
        self.store.db.execute(f"DELETE FROM outbox WHERE status = ? AND id IN (SELECT mail_id FROM alert_digests "
                              f"WHERE {where})", [PENDING, *args])

    def _drop_if_unused(self, subscriber_id: int) -> None:
        self.store.db.execute("DELETE FROM alert_subscribers WHERE id = ? AND id NOT IN "
                              "(SELECT subscriber_id FROM alert_subscriptions)", [subscriber_id])

    def counts(self) -> dict[str, int]:
        """Addresses, confirmed and unconfirmed subscriptions (for the CLI)."""
        db = self.store.db
        return {
            "adressen": db.execute("SELECT count(*) FROM alert_subscribers").fetchone()[0],
            "bevestigd": db.execute("SELECT count(*) FROM alert_subscriptions WHERE confirmed IS NOT NULL")
            .fetchone()[0],
            "onbevestigd": db.execute("SELECT count(*) FROM alert_subscriptions WHERE confirmed IS NULL")
            .fetchone()[0],
        }

    # -- digests -------------------------------------------------------------------------------------------
    def has_digest(self, subscription_id: int, period: str) -> bool:
        """Whether the digest of this period was done (sent, or found empty)."""
        return self.store.db.execute("SELECT 1 FROM alert_digests WHERE subscription_id = ? AND period = ?",
                                     [subscription_id, period]).fetchone() is not None

    def last_until(self, subscription_id: int) -> str | None:
        """Where the subscription's latest digest ended, or None before the first."""
        row = self.store.db.execute("SELECT max(until) FROM alert_digests WHERE subscription_id = ?",
                                    [subscription_id]).fetchone()
        return row[0] if row else None

    def record_digest(self, subscription_id: int, period: str, until: dt.datetime, cases: int,
                      mail_id: int | None, now: dt.datetime | None = None) -> None:
        """Record one period's digest; the unique (subscription, period) index refuses a second one."""
        with self.store.transaction() as db:
            db.execute("INSERT INTO alert_digests (subscription_id, period, until, created, cases, mail_id) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [subscription_id, period, stamp(until), stamp(now), cases, mail_id])

    def digests(self, subscription_id: int) -> list[dict]:
        """The digest records of one subscription, oldest first."""
        return self._rows("SELECT * FROM alert_digests WHERE subscription_id = ? ORDER BY id", [subscription_id])

    def prune_digests(self, before: dt.datetime) -> int:
        """Delete digest records older than `before`, except each subscription's latest (where the next begins)."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM alert_digests WHERE created < ? AND id NOT IN "
                              "(SELECT max(id) FROM alert_digests GROUP BY subscription_id)",
                              [stamp(before)]).rowcount

    def changed_between(self, after: str, until: str) -> list[dict]:
        """Case studies on the site, first published or changed after `after` up to and including `until`
        (stamps), from the site's record of changes (storage/changes.py)."""
        return self._rows("SELECT slug, published AS first_seen, modified AS changed FROM case_changes "
                          "WHERE removed IS NULL AND modified > ? AND modified <= ? ORDER BY modified",
                          [after, until])
