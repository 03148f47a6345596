"""The audit log: who viewed, changed, exported or erased which help request (no personal data in a record)."""

from __future__ import annotations

from wijkwijzer.storage.db import Store, now


class AuditLog:
    """The `audit_log` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, actor: str, action: str, request_id: int | None = None) -> None:
        """Write one record (joins the caller's transaction when there is one)."""
        with self.store.transaction() as db:
            db["audit_log"].insert({"at": now(), "actor": actor, "action": action, "request_id": request_id})

    def trail(self, request_id: int) -> list[dict]:
        """Who did what with one request, oldest first."""
        return list(self.store.db["audit_log"].rows_where("request_id = ?", [request_id], order_by="id"))
