"""The schema, as numbered steps: the database's `user_version` says which steps it has had.

Each step runs in one transaction with the version bump, so a crash leaves the database at the step before.
Step 1 brings any earlier database (made before steps were numbered) to the same tables, so it checks what
exists instead of assuming an empty file. Add a step at the end; never change one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlite_utils


def _step_1(db: sqlite_utils.Database) -> None:
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


def _step_2(db: sqlite_utils.Database) -> None:
    """At most one active assignment per request, enforced by the database as well as by the transaction.

    Databases written before writes were atomic may hold two; the latest link stays active, as reassigning meant.
    """
    db.execute("UPDATE assignments SET active = 0 WHERE active = 1 AND id NOT IN "
               "(SELECT max(id) FROM assignments WHERE active = 1 GROUP BY request_id)")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS assignments_one_active ON assignments (request_id) "
               "WHERE active = 1")


def _step_3(db: sqlite_utils.Database) -> None:
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
                       ("reminded", str), ("answered", str), ("reason", str), ("override", str)):
        if name not in columns:
            db["assignments"].add_column(name, kind)
    for row in db.execute("SELECT id, request_id, hours_per_week, start, end, created FROM assignments "
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
    if "feedback" not in tables:
        db["feedback"].create({"request_id": int, "at": str, "useful": int, "why": str, "pool": str},
                              pk="request_id", foreign_keys=[("request_id", "help_requests", "id")])


STEPS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_step_1, _step_2, _step_3)


def version(db: sqlite_utils.Database) -> int:
    """The number of steps this database has had."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(transaction: Callable[[], AbstractContextManager[sqlite_utils.Database]]) -> int:
    """Apply the steps the database has not had yet, each in a `transaction()` of the Store that opens the
    database; returns how many ran. Safe to run from several processes: each step re-reads the version inside
    its (immediate) transaction."""
    ran = 0
    for number, step in enumerate(STEPS, start=1):
        with transaction() as db:
            if version(db) >= number:
                continue
            step(db)
            db.execute(f"PRAGMA user_version = {number}")  # transactional in SQLite; a number, never user text
            ran += 1
    return ran
