"""The use cases of following by e-mail: follow (double opt-in), confirm, manage, unsubscribe, and the digests
of new and changed case studies, queued once per subscription and period in the outbox.

"New and changed" comes from the site's one record of changes, `case_changes` (storage/changes.py, kept by
Services.record_changes at every sync that changed the index, also used by the open-data listing): a slug not
seen before is new, a different fingerprint of what a reader sees is a change, both stamped then. A digest
covers the changes stamped after the previous digest's end (or the confirmation) up to its period's end, that
the subscription's search matches, in the order the search page shows them. The frontmatter `date` is the
publication date of the practice, often years back, so it cannot tell what is new on the site.

Links carry no address: a manage link is the subscriber's id with an HMAC of its random salt under the site's
secret key, an unsubscribe link the same for one subscription, so every mail can carry them without storing
them; the confirmation link is random and only its SHA-256 is stored, with an expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from wijkwijzer.domain.alerts import (
    CONFIRM_DAYS,
    FREQUENCY_PHRASES,
    AlertError,
    Followed,
    Period,
    check_email,
    check_frequency,
    current_period,
    describe,
    parse_followed,
)
from wijkwijzer.domain.taxonomy import Taxonomy
from wijkwijzer.mail.compose import compose
from wijkwijzer.search.models import Hit, SearchRequest, SearchResponse
from wijkwijzer.storage.alerts import AlertStore, stamp
from wijkwijzer.storage.outbox import Outbox

log = logging.getLogger(__name__)
RESEND_AFTER = dt.timedelta(minutes=10)  # a second form post within this time sends no second mail
MAX_CASES = 500  # the most case studies one search of a digest looks through


@dataclass
class Digest:
    """One subscription's digest for one period: the matching case studies (new ones flagged)."""

    subscription: dict
    label: str
    period: Period
    since: str
    cases: list[dict] = field(default_factory=list)
    mail_id: int | None = None


class Alerts:
    """Follow, confirm, manage, unsubscribe, and queue the digests; built by services.py."""

    def __init__(self, store: AlertStore, outbox: Outbox, *, secret: str, site_url: str,
                 taxonomy: Callable[[], Taxonomy], search: Callable[[SearchRequest], SearchResponse],
                 note_changes: Callable[[], object] = lambda: None, reply_to: str = "", hour: int = 7,
                 weekday: int = 1) -> None:
        self.store = store
        self.outbox = outbox
        self.secret = secret.encode("utf-8")
        self.site_url = site_url.rstrip("/")
        self.taxonomy = taxonomy
        self.search = search
        # Brings case_changes up to the index before digests are planned (Services.record_changes).
        self.note_changes = note_changes
        self.reply_to = reply_to
        self.hour = hour
        self.weekday = weekday

    # -- links ---------------------------------------------------------------------------------------------
    def _sign(self, purpose: str, salt: str) -> str:
        return hmac.new(self.secret, f"{purpose}:{salt}".encode(), hashlib.sha256).hexdigest()[:32]

    def manage_token(self, subscriber: dict) -> str:
        """The token of a subscriber's manage page."""
        salt = subscriber.get("subscriber_salt") or subscriber["salt"]
        return f"{subscriber.get('subscriber_id', subscriber['id'])}-{self._sign('beheer', salt)}"

    def unsubscribe_token(self, subscription: dict) -> str:
        """The token of one subscription's unsubscribe link."""
        return f"{subscription['id']}-{self._sign('afmelden', subscription['salt'])}"

    def _check(self, token: str, purpose: str, lookup: Callable[[int], dict | None], salt_key: str) -> dict | None:
        number, _, signature = token.partition("-")
        if not number.isdigit() or len(number) > 18 or len(signature) != 32:
            return None
        row = lookup(int(number))
        if row is None or not hmac.compare_digest(signature, self._sign(purpose, row[salt_key])):
            return None
        return row

    def subscriber_for(self, token: str) -> dict | None:
        """The subscriber a manage link is for, or None."""
        return self._check(token, "beheer", self.store.subscriber, "salt")

    def subscription_for(self, token: str) -> dict | None:
        """The subscription an unsubscribe link is for, or None (also when it is gone already)."""
        return self._check(token, "afmelden", self.store.get, "salt")

    def url(self, path: str) -> str:
        """An absolute link to the site."""
        return f"{self.site_url}{path}"

    def links(self, subscription: dict) -> dict:
        """The links every mail about a subscription carries."""
        return {"manage_url": self.url(f"/volgen/beheer/{self.manage_token(subscription)}"),
                "unsubscribe_url": self.url(f"/volgen/afmelden/{self.unsubscribe_token(subscription)}"),
                "search_url": self.url(f"/zoeken?{subscription['query']}")}

    def _headers(self, subscription: dict) -> dict[str, str]:
        # RFC 2369 and RFC 8058: mail programs show an unsubscribe button that POSTs to this URL.
        headers = {"List-Unsubscribe": f"<{self.links(subscription)['unsubscribe_url']}>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        if self.reply_to:
            headers["Reply-To"] = self.reply_to
        return headers

    def _compose(self, kind: str, subscription: dict, **context):
        return compose(kind, subscription["email"], headers=self._headers(subscription), site_url=self.site_url,
                       reply_to=self.reply_to, label=self.label(subscription["query"]),
                       frequency=FREQUENCY_PHRASES.get(subscription["frequency"], subscription["frequency"]),
                       **self.links(subscription), **context)

    def label(self, query: str) -> str:
        """What a stored query follows, in words ("Thema: Veiligheid")."""
        try:
            return describe(parse_followed(query, self.taxonomy()), self.taxonomy())
        except AlertError:
            return "een zoekopdracht die niet meer bestaat"

    def followed(self, query: str) -> Followed:
        """What a search page's query string follows (AlertError when nothing or an unknown value)."""
        return parse_followed(query, self.taxonomy())

    # -- follow, confirm, unsubscribe ----------------------------------------------------------------------
    def follow(self, email: str, query: str, frequency: str, now: dt.datetime | None = None) -> Followed:
        """Ask to follow a search: queue the confirmation mail (nothing else is sent before it is confirmed).

        The answer is the same whatever the address already follows, so the form tells no one who follows what:
        an unconfirmed subscription gets a fresh link (at most one mail per RESEND_AFTER), a confirmed one a
        short mail with the manage link. AlertError names the field that is wrong.
        """
        now = now or dt.datetime.now(dt.UTC)
        errors = []
        try:
            email = check_email(email)
        except AlertError as exc:
            errors.append(exc)
        try:
            frequency = check_frequency(frequency)
        except AlertError as exc:
            errors.append(exc)
        followed = self.followed(query)  # first: a page that offers nothing to follow is a bug, not a typo
        if errors:
            raise errors[0]
        token = secrets.token_urlsafe(24)
        digest = hashlib.sha256(token.encode()).hexdigest()
        expires = now + dt.timedelta(days=CONFIRM_DAYS)
        with self.store.store.transaction():
            subscriber = self.store.ensure_subscriber(email, now)
            existing = self.store.find(subscriber["id"], followed.query)
            recent = existing is not None and existing["confirm_sent"] > stamp(now - RESEND_AFTER)
            if existing is None:
                row = self.store.get(self.store.add(subscriber["id"], followed.query, frequency, digest, expires,
                                                    now))
            elif recent:
                return followed  # a double click or a flood: the first mail is on its way
            elif existing["confirmed"] is None:
                self.store.renew(existing["id"], frequency, digest, expires, now)
                row = self.store.get(existing["id"])
            else:
                self.store.mark_mailed(existing["id"], now)
                self.outbox.enqueue(self._compose("alert_known", existing), now)
                return followed
            self.outbox.enqueue(self._compose("alert_confirm", row, confirm_url=self.url(f"/volgen/bevestigen/{token}"),
                                              expires=expires), now)
        return followed

    def pending(self, token: str, now: dt.datetime | None = None) -> dict | None:
        """The subscription a confirmation link is for while the link works (also once confirmed), or None."""
        if not 16 <= len(token) <= 64:
            return None
        row = self.store.by_confirm_hash(hashlib.sha256(token.encode()).hexdigest())
        if row is None or row["confirm_expires"] <= stamp(now):
            return None
        return row

    def confirm(self, token: str, now: dt.datetime | None = None) -> dict | None:
        """Confirm by the link from the mail; returns the subscription (None for an unknown or expired link).
        Only what is recorded in case_changes after this moment is reported (every sync stamps its changes)."""
        row = self.pending(token, now)
        if row is None:
            return None
        if row["confirmed"] is None:
            self.store.confirm(row["id"], now)
        return self.store.get(row["id"])

    def unsubscribe(self, token: str) -> dict | None:
        """Stop one subscription by its link (the address goes too when it follows nothing else); returns what
        it was, or None when the link is unknown or the subscription already gone."""
        row = self.subscription_for(token)
        if row is not None:
            self.store.delete(row["id"])
        return row

    def subscriptions(self, subscriber: dict) -> list[dict]:
        """A subscriber's subscriptions with their labels and links, for the manage page."""
        return [{**row, "label": self.label(row["query"]), **self.links(row)}
                for row in self.store.for_subscriber(subscriber["id"])]

    def owned(self, subscriber: dict, subscription_id: int) -> dict | None:
        """One of the subscriber's own subscriptions (a manage link changes nobody else's)."""
        row = self.store.get(subscription_id)
        return row if row is not None and row["subscriber_id"] == subscriber["id"] else None

    def change_frequency(self, subscriber: dict, subscription_id: int, frequency: str) -> bool:
        """Daily or weekly for one of the subscriber's subscriptions; False when it is not theirs."""
        frequency = check_frequency(frequency)
        return self.owned(subscriber, subscription_id) is not None and self.store.set_frequency(subscription_id,
                                                                                                 frequency)

    def stop(self, subscriber: dict, subscription_id: int) -> bool:
        """Stop one of the subscriber's subscriptions; False when it is not theirs."""
        return self.owned(subscriber, subscription_id) is not None and self.store.delete(subscription_id)

    def forget(self, subscriber: dict) -> int:
        """Stop everything and remove the address; returns how many subscriptions went."""
        return self.store.delete_subscriber(subscriber["id"])

    def purge(self, now: dt.datetime | None = None) -> int:
        """Remove subscriptions not confirmed within CONFIRM_DAYS of the latest request, and digest records older
        than a year (each subscription's latest stays: the next digest starts there); returns how many
        subscriptions went."""
        now = now or dt.datetime.now(dt.UTC)
        removed = self.store.purge_unconfirmed(now)
        self.store.prune_digests(now - dt.timedelta(days=366))
        return removed

    # -- digests -------------------------------------------------------------------------------------------
    def due(self, now: dt.datetime | None = None) -> list[tuple[dict, Period]]:
        """The confirmed subscriptions whose latest period ended after their confirmation and has no digest."""
        now = now or dt.datetime.now(dt.UTC)
        found = []
        for row in self.store.confirmed():
            period = current_period(row["frequency"], now, self.hour, self.weekday)
            if stamp(period.until) > row["confirmed"] and not self.store.has_digest(row["id"], period.key):
                found.append((row, period))
        return found

    def plan(self, now: dt.datetime | None = None) -> list[Digest]:
        """What the due digests hold, without writing anything (for `--dry-run`, and before queueing)."""
        now = now or dt.datetime.now(dt.UTC)
        plans, searched = [], {}
        for row, period in self.due(now):
            since = max(row["confirmed"], self.store.last_until(row["id"]) or "")
            changes = {c["slug"]: c for c in self.store.changed_between(since, stamp(period.until))}
            digest = Digest(row, self.label(row["query"]), period, since)
            if changes:
                if row["query"] not in searched:
                    searched[row["query"]] = self._matches(row["query"])
                for hit in searched[row["query"]]:
                    change = changes.get(hit.slug)
                    if change is not None:
                        digest.cases.append(self._case(hit, new=change["first_seen"] > since))
            plans.append(digest)
        return plans

    def _matches(self, query: str) -> list[Hit]:
        """The case studies a followed search finds, in the search page's order (by date without words). Only
        those with evidence of relevance (strict, as the API): a mail is no place for the weak matches at the end
        of a result page."""
        try:
            followed = self.followed(query)
        except AlertError:
            return []  # a theme or area removed from the taxonomy: nothing matches any more
        request = SearchRequest(text=followed.text, filters=followed.filter_dict(), exact=followed.exact,
                                sort="relevance" if followed.text else "date", per_page=MAX_CASES, strict=True)
        return self.search(request).hits

    def _case(self, hit: Hit, new: bool) -> dict:
        taxonomy = self.taxonomy()
        place = ", ".join(p for p in (hit.municipality, taxonomy.label("focus_area", hit.focus_area)
                                      if hit.focus_area else "") if p)
        return {"slug": hit.slug, "title": hit.title, "summary": hit.summary, "place": place, "new": new,
                "date": hit.date, "url": self.url(f"/casus/{hit.slug}")}

    def queue_digests(self, now: dt.datetime | None = None, note: bool = True) -> list[Digest]:
        """Queue the digests that are due: per subscription and period one record, written in the same
        transaction as its mail (none when nothing matched), so several workers, a cron job and a restart
        never send a period twice. Returns the digests done now. `note` first stamps what changed in the index
        (a command does; the running site's writer does it at every sync, see Services.sync)."""
        now = now or dt.datetime.now(dt.UTC)
        if not self.store.store.db.execute("SELECT 1 FROM alert_subscriptions WHERE confirmed IS NOT NULL "
                                           "LIMIT 1").fetchone():
            return []  # the usual round: no index read, no write lock
        if note:
            self.note_changes()
        done = []
        for digest in self.plan(now):
            row = digest.subscription
            message = self._compose("alert_digest", row, cases=digest.cases, since=digest.since,
                                    until=digest.period.until) if digest.cases else None
            # Checked again under the write lock: another worker may have done this period meanwhile, or the
            # address unsubscribed since the plan was made. The unique (subscription, period) index backs it up:
            # a database without a write lock refuses the second record, and with it its mail.
            with self.store.store.transaction():
                current = self.store.get(row["id"])
                if current is None or current["confirmed"] is None or self.store.has_digest(row["id"],
                                                                                         digest.period.key):
                    continue
                digest.mail_id = self.outbox.enqueue(message, now) if message else None
                self.store.record_digest(row["id"], digest.period.key, digest.period.until, len(digest.cases),
                                         digest.mail_id, now)
            done.append(digest)
        return done
