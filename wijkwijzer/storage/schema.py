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


def _step_municipality_display(db: sqlite_utils.Database) -> None:
    """The municipality as the submitter chose it ("Den Haag"), beside the official name matching uses
    ("'s-Gravenhage"). Earlier requests keep NULL there; the pages then show the official name's everyday form."""
    if "municipality_display" not in db["help_requests"].columns_dict:
        db["help_requests"].add_column("municipality_display", str)


STEPS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_step_1, _step_2, _step_municipality_display)


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
