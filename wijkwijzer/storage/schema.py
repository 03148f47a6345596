"""The schema, as numbered steps: the database's version (SQLite's `user_version`, PostgreSQL's `schema_version`
table) says which steps it has had. Steps are written against the portable `Database` (engine.py), so SQLite and
PostgreSQL get the same tables.

Each step runs in one transaction with the version bump, so a crash leaves the database at the step before.
Step 1 brings any earlier database (made before steps were numbered) to the same tables, so it checks what
exists instead of assuming an empty file. Add a step at the end; never change one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wijkwijzer.storage.engine import Database

if TYPE_CHECKING:
    from wijkwijzer.storage.db import Store


def _step_1(db: Database) -> None:
    """Index runs, the vector cache, help requests with their events and assignments, audit log, accounts."""
    tables = set(db.table_names())
    if "embeddings" not in tables:
        db["embeddings"].create({"model": str, "hash": str, "dim": int, "vector": bytes}, pk=("model", "hash"))
    if "index_runs" not in tables:
        db["index_runs"].create({"id": int, "started": str, "finished": str, "kind": str, "written": int,
                                 "removed": int, "documents": int, "problems": str}, pk="id")
    if "help_requests" not in tables:
        db["help_requests"].create({
            "id": int, "token_hash": str, "created": str, "updated": str, "status": str,
            "municipality": str, "focus_area": str, "contact_name": str, "email": str, "role": str,
            "question": str, "themes": str, "kind": str, "start": str, "months": int, "hours_per_week": float,
            "erased": str,
        }, pk="id")
        db["help_requests"].create_index(["token_hash"], unique=True)
        db["help_requests"].create_index(["status"])
    elif "erased" not in db["help_requests"].columns_dict:
        db["help_requests"].add_column("erased", str)
    if "request_events" not in tables:
        db["request_events"].create({"id": int, "request_id": int, "at": str, "actor": str, "status": str,
                                     "note": str}, pk="id", foreign_keys=[("request_id", "help_requests", "id")])
        db["request_events"].create_index(["request_id"])
    if "assignments" not in tables:
        db["assignments"].create({
            "id": int, "request_id": int, "member_id": str, "hours_per_week": float, "start": str, "end": str,
            "active": int, "created": str, "actor": str,
        }, pk="id", foreign_keys=[("request_id", "help_requests", "id")])
        db["assignments"].create_index(["member_id", "active"])
    if "audit_log" not in tables:
        db["audit_log"].create({"id": int, "at": str, "actor": str, "action": str, "request_id": int}, pk="id")
        db["audit_log"].create_index(["request_id"])
    if "users" not in tables:
        db["users"].create({"username": str, "name": str, "password_hash": str, "created": str, "role": str},
                           pk="username")
    elif "role" not in db["users"].columns_dict:
        db["users"].add_column("role", str, not_null_default="coordinator")


def _step_2(db: Database) -> None:
    """At most one active assignment per request, enforced by the database as well as by the transaction.

    Databases written before writes were atomic may hold two; the latest link stays active, as reassigning meant.
    """
    db.execute("UPDATE assignments SET active = 0 WHERE active = 1 AND id NOT IN "
               "(SELECT max(id) FROM assignments WHERE active = 1 GROUP BY request_id)")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS assignments_one_active ON assignments (request_id) "
               "WHERE active = 1")


def _step_sessions(db: Database) -> None:
    """Login sessions kept on the server: the cookie carries a random id, the table its SHA-256, so ending a
    session (logout, a removed account, a new password or role) takes effect at the next request."""
    if "sessions" not in db.table_names():
        db["sessions"].create({"id_hash": str, "username": str, "created": float, "last_seen": float},
                              pk="id_hash")
        db["sessions"].create_index(["username"])



def _step_outbox(db: Database) -> None:
    """The mail outbox (storage/outbox.py): mails written with the change that causes them, sent afterwards."""
    if "outbox" not in db.table_names():
        db["outbox"].create({
            "id": int, "created": str, "kind": str, "recipient": str, "subject": str, "text": str, "html": str,
            "headers": str, "request_id": int, "status": str, "attempts": int, "next_attempt": str,
            "claimed_by": str, "claimed_until": str, "last_error": str, "sent": str, "message_id": str,
        }, pk="id")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt)")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_request ON outbox (request_id)")


def _step_reference(db: Database) -> None:
    """A reference number per help request (WW-2026-0042): a sequence per year, kept in `request_numbers`;
    requests stored before this step get theirs in the order they came in. And the salt from which a status
    link is derived again for later mails (none for earlier requests: their links were random)."""
    from wijkwijzer.storage.references import next_reference

    if "request_numbers" not in db.table_names():
        db["request_numbers"].create({"year": int, "last": int}, pk="year")
    if "reference" not in db["help_requests"].columns_dict:
        db["help_requests"].add_column("reference", str)
    if "link_salt" not in db["help_requests"].columns_dict:  # storage/requests.py: derive_token
        db["help_requests"].add_column("link_salt", str)
    for request_id, created in db.execute(
            "SELECT id, created FROM help_requests WHERE reference IS NULL ORDER BY created, id").fetchall():
        db.execute("UPDATE help_requests SET reference = ? WHERE id = ?", [next_reference(db, created), request_id])
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS help_requests_reference ON help_requests (reference)")


def _step_account_mail(db: Database) -> None:
    """Accounts get an e-mail address and a choice of mail about new requests: at once, a daily digest or none;
    `digest_until` is where the last digest ended."""
    columns = db["users"].columns_dict
    if "email" not in columns:
        db["users"].add_column("email", str, not_null_default="")
    if "notify" not in columns:
        db["users"].add_column("notify", str, not_null_default="direct")
    if "digest_until" not in columns:
        db["users"].add_column("digest_until", str)


def _step_teams(db: Database) -> None:
    """Teams: role slots per request, links as invitations (token, state, answer), feedback after closing.

    An existing active assignment becomes one accepted slot of its request (it was a confirmed link); ended ones
    keep their history as released links. One active link per slot replaces one per request.
    """
    tables = set(db.table_names())
    if "slots" not in tables:
        db["slots"].create({"id": int, "request_id": int, "position": int, "role": str, "hours_per_week": float,
                            "start": str, "end": str, "created": str, "removed": str},
                           pk="id", foreign_keys=[("request_id", "help_requests", "id")])
        db["slots"].create_index(["request_id"])
    columns = db["assignments"].columns_dict
    for name, kind in (("slot_id", int), ("state", str), ("token_hash", str), ("expires", str),
                       ("reminded", str), ("answered", str), ("reason", str), ("override", str),
                       ("reminder_token_hash", str)):
        if name not in columns:
            db["assignments"].add_column(name, kind)
    for row in db.execute("SELECT id, request_id, hours_per_week, start, \"end\", created FROM assignments "
                          "WHERE active = 1 AND slot_id IS NULL").fetchall():
        assignment, request_id, hours, start, end, created = row
        slot = db["slots"].insert({"request_id": request_id, "position": 1, "role": "", "hours_per_week": hours,
                                   "start": start, "end": end, "created": created}).last_pk
        db.execute("UPDATE assignments SET slot_id = ?, state = 'geaccepteerd', answered = created WHERE id = ?",
                   [slot, assignment])
    db.execute("UPDATE assignments SET state = 'vrijgegeven' WHERE state IS NULL")
    db.execute("DROP INDEX IF EXISTS assignments_one_active")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS assignments_one_active_per_slot ON assignments (slot_id) "
               "WHERE active = 1")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS assignments_token ON assignments (token_hash) "
               "WHERE token_hash IS NOT NULL")
    # The reminder carries a fresh link (only hashes are stored, so the first cannot be sent again); both work.
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS assignments_reminder_token ON assignments (reminder_token_hash) "
               "WHERE reminder_token_hash IS NOT NULL")
    if "feedback" not in tables:
        db["feedback"].create({"request_id": int, "at": str, "useful": int, "why": str, "pool": str},
                              pk="request_id", foreign_keys=[("request_id", "help_requests", "id")])


def _step_municipality_display(db: Database) -> None:
    """The municipality as the submitter chose it ("Den Haag"), beside the official name matching uses
    ("'s-Gravenhage"). Earlier requests keep NULL there; the pages then show the official name's everyday form."""
    if "municipality_display" not in db["help_requests"].columns_dict:
        db["help_requests"].add_column("municipality_display", str)


def _step_case_changes(db: Database) -> None:
    """When each case study was first published and last changed on the site, and when it left (open data:
    `since=` harvesting, sitemap lastmod, dateModified). Keyed by slug; the fingerprint covers the public record."""
    if "case_changes" not in db.table_names():
        db["case_changes"].create({"slug": str, "fingerprint": str, "published": str, "modified": str,
                                   "removed": str}, pk="slug")
    db.execute("CREATE INDEX IF NOT EXISTS case_changes_modified ON case_changes (modified, slug)")


def _step_alerts(db: Database) -> None:
    """Following by e-mail (storage/alerts.py): the addresses, what each follows (a search's query string), the
    digests sent per period (unique per subscription and period: one mail per period, however many senders).
    What a digest calls new or changed comes from case_changes (_step_case_changes)."""
    tables = set(db.table_names())
    if "alert_subscribers" not in tables:
        db["alert_subscribers"].create({"id": int, "email": str, "salt": str, "created": str}, pk="id")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS alert_subscribers_email ON alert_subscribers (email)")
    if "alert_subscriptions" not in tables:
        db["alert_subscriptions"].create({
            "id": int, "subscriber_id": int, "query": str, "frequency": str, "created": str, "confirmed": str,
            "confirm_hash": str, "confirm_expires": str, "confirm_sent": str, "salt": str,
        }, pk="id", foreign_keys=[("subscriber_id", "alert_subscribers", "id")])
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS alert_subscriptions_query ON alert_subscriptions "
               "(subscriber_id, query)")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS alert_subscriptions_confirm ON alert_subscriptions "
               "(confirm_hash)")
    if "alert_digests" not in tables:
        db["alert_digests"].create({"id": int, "subscription_id": int, "period": str, "until": str,
                                    "created": str, "cases": int, "mail_id": int}, pk="id")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS alert_digests_period ON alert_digests "
               "(subscription_id, period)")



STEPS: tuple[Callable[[Database], None], ...] = (
    _step_1, _step_2, _step_sessions, _step_outbox, _step_reference, _step_account_mail, _step_teams,
    _step_municipality_display, _step_case_changes, _step_alerts)


def version(db: Database) -> int:
    """The number of steps this database has had."""
    return db.schema_version()


def migrate(store: Store) -> int:
    """Apply the steps the database has not had yet, each in one `store.transaction()` with its version bump;
    returns how many ran. Safe to run from several processes or servers at once: each step takes the store's
    migration lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL) and re-reads the version inside
    its transaction, so exactly one of them applies it."""
    ran = 0
    for number, step in enumerate(STEPS, start=1):
        with store.transaction() as db:
            db.lock("schema", "migrate")
            if version(db) >= number:
                continue
            step(db)
            db.set_schema_version(number)
            ran += 1
    return ran
