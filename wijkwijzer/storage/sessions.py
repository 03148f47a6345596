"""Login sessions on the server: the browser holds a random id, the `sessions` table only its SHA-256.

Who is logged in is looked up here at every request (with the account's current name and role), so deleting a
row ends a session at once: logout, a removed account, a new password or a new role. A session also ends after
`idle` seconds without a request and `lifetime` seconds after the login, whatever happens in between.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable

from wijkwijzer.storage.db import Store
from wijkwijzer.storage.engine import StorageUnavailable

# last_seen is written at most once a minute per session: a page with many requests costs no write each.
TOUCH_EVERY = 60.0


def session_hash(token: str) -> str:
    """What we store of a session id."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """The `sessions` table; `clock` (seconds, like time.time) can be driven by tests."""

    def __init__(self, store: Store, idle: float, lifetime: float, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock

    def start(self, username: str) -> str:
        """A new session for an account; returns the id for the cookie (never stored as it is). Expired
        sessions of every account are deleted in the same transaction."""
        token = secrets.token_urlsafe(32)
        stamp = self.clock()
        with self.store.transaction() as db:
            self._delete_expired(db, stamp)
            db.execute("INSERT INTO sessions (id_hash, username, created, last_seen) VALUES (?, ?, ?, ?)",
                       [session_hash(token), username, stamp, stamp])
        return token

    def user(self, token: str) -> dict | None:
        """The account of a live session ({"username", "name", "role"}), or None for an unknown, ended or
        expired one (an expired one is deleted). Marks the session as used."""
        if not token:
            return None
        digest = session_hash(token)
        row = self.store.db.execute(
            "SELECT s.created, s.last_seen, u.username, u.name, u.role FROM sessions s "
            "JOIN users u ON u.username = s.username WHERE s.id_hash = ?", [digest]).fetchone()
        if row is None:
            return None
        created, last_seen, username, name, role = row
        stamp = self.clock()
        if self.expired(created, last_seen, stamp):
            self._quietly(lambda db: db.execute("DELETE FROM sessions WHERE id_hash = ?", [digest]))
            return None
        if stamp - last_seen >= TOUCH_EVERY:
            self._quietly(lambda db: db.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?",
                                                [stamp, digest]))
        return {"username": username, "name": name, "role": role or "coordinator"}

    def end(self, token: str) -> None:
        """End one session (logout)."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", [session_hash(token)])

    def count(self, username: str) -> int:
        """Sessions an account has open (expired ones not yet cleaned up included)."""
        return self.store.db.execute("SELECT count(*) FROM sessions WHERE username = ?", [username]).fetchone()[0]

    def delete_expired(self) -> int:
        """Delete every expired session; returns how many."""
        with self.store.transaction() as db:
            return self._delete_expired(db, self.clock())

    def expired(self, created: float, last_seen: float, stamp: float) -> bool:
        """Whether a session begun at `created` and last used at `last_seen` has ended by `stamp`."""
        return stamp - last_seen > self.idle or stamp - created > self.lifetime

    def account(self, username: str) -> dict | None:
        """An account's name and current role, without a session (a login on a read-only database)."""
        row = self.store.db.execute("SELECT username, name, role FROM users WHERE username = ?",
                                    [username]).fetchone()
        return {"username": row[0], "name": row[1], "role": row[2] or "coordinator"} if row else None

    def _delete_expired(self, db, stamp: float) -> int:
        return db.execute("DELETE FROM sessions WHERE last_seen < ? OR created < ?",
                          [stamp - self.idle, stamp - self.lifetime]).rowcount

    def _quietly(self, write: Callable) -> None:
        """A bookkeeping write that must not fail the request: on a read-only or locked database the session
        is checked all the same (an expired one still counts as ended)."""
        try:
            with self.store.transaction() as db:
                write(db)
        except (sqlite3.DatabaseError, StorageUnavailable):
            pass


def end_sessions(db, username: str) -> int:
    """Delete every session of an account, inside the caller's transaction (accounts.py calls it when an
    account is removed or its password or role changes); returns how many."""
    return db.execute("DELETE FROM sessions WHERE username = ?", [username]).rowcount
