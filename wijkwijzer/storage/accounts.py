"""Coordinator and editor accounts; passwords as salted, memory-hard scrypt hashes (werkzeug's default)."""

from __future__ import annotations

import functools

from werkzeug.security import check_password_hash, generate_password_hash

from wijkwijzer.storage.db import Store, now
from wijkwijzer.storage.sessions import end_sessions

# Mail about new requests: one per request at once, one digest a day, or none.
NOTIFY = ("direct", "daily", "off")


class Accounts:
    """The `users` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, username: str, name: str, password: str, role: str = "coordinator") -> None:
        """Create or reset an account; resetting one ends its sessions."""
        row = {"username": username, "name": name, "password_hash": generate_password_hash(password),
               "created": now(), "role": role}
        with self.store.transaction() as db:
            db["users"].upsert(row, pk="username")
            end_sessions(db, username)

    def set_password(self, username: str, password: str) -> bool:
        """A new password for an existing account; False when there is no such account."""
        digest = generate_password_hash(password)  # slow by design: not inside the write lock
        with self.store.transaction() as db:
            cursor = db.execute("UPDATE users SET password_hash = ? WHERE username = ?", [digest, username])
            end_sessions(db, username)  # a password changed because it leaked must lock the holder out now
        return cursor.rowcount == 1

    def set_role(self, username: str, role: str) -> bool:
        """Give an account another role and end its sessions; False when there is no such account."""
        with self.store.transaction() as db:
            cursor = db.execute("UPDATE users SET role = ? WHERE username = ?", [role, username])
            end_sessions(db, username)
        return cursor.rowcount == 1

    def remove(self, username: str) -> bool:
        """Delete an account and end its sessions (its name stays in the history it wrote); False when there is
        no such account."""
        with self.store.transaction() as db:
            cursor = db.execute("DELETE FROM users WHERE username = ?", [username])
            end_sessions(db, username)
        return cursor.rowcount == 1

    def all(self) -> list[dict]:
        """All accounts, without their password hashes."""
        return list(self.store.db.query("SELECT username, name, role, created, email, notify FROM users "
                                        "ORDER BY username"))

    # -- mail about new requests (schema step _step_account_mail) ------------------------------------------
    def set_mail(self, username: str, email: str | None = None, notify: str | None = None) -> bool:
        """Change an account's e-mail address and/or its choice of mail about new requests (NOTIFY); False when
        there is no such account. Values are checked by the caller (the CLI names the option)."""
        changes = {key: value for key, value in (("email", email), ("notify", notify)) if value is not None}
        with self.store.transaction() as db:
            row = db.execute("SELECT notify FROM users WHERE username = ?", [username]).fetchone()
            if row is None:
                return False
            if notify == "daily" and row[0] != "daily":
                changes["digest_until"] = now()  # the first digest starts now, not at the account's creation
            if changes:
                db["users"].update(username, changes)
        return True

    def mail_recipients(self, notify: str) -> list[dict]:
        """Coordinators with an e-mail address who chose `notify` ("direct" or "daily"). Inside a transaction on
        PostgreSQL their rows stay locked until it ends, so a second digest run waits and then reads the window
        the first one moved on."""
        for_update = self.store.db.dialect.for_update if self.store.in_transaction() else ""
        return list(self.store.db.query(
            "SELECT username, name, email, created, digest_until FROM users WHERE role = 'coordinator' "
            f"AND email != '' AND notify = ? ORDER BY username{for_update}", [notify]))

    def mark_digest(self, username: str, until: str) -> None:
        """Record that `username`'s digests cover new requests up to `until` (UTC, ISO)."""
        with self.store.transaction() as db:
            db.execute("UPDATE users SET digest_until = ? WHERE username = ?", [until, username])

    def check(self, username: str, password: str) -> dict | None:
        """The account when the password is right, else None (same work either way)."""
        rows = list(self.store.db["users"].rows_where("username = ?", [username]))
        stored = rows[0]["password_hash"] if rows else _dummy_hash()
        ok = check_password_hash(stored, password)
        if not (rows and ok):
            return None
        return {"username": rows[0]["username"], "name": rows[0]["name"], "role": rows[0].get("role") or "coordinator"}


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so a wrong name costs as long as a wrong password (made on
    first use: hashing is deliberately slow, and importing this module must stay cheap)."""
    return generate_password_hash("wijkwijzer-dummy-password")
