"""Index runs and the problems each found: what the editors' page and `/api/v1/status` report."""

from __future__ import annotations

import json

from wijkwijzer.domain.problems import Problem
from wijkwijzer.storage.db import Store, now

KEEP = 200


class IndexRuns:
    """The `index_runs` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, *, started: str, kind: str, written: int, removed: int, documents: int,
               problems: list[Problem]) -> None:
        """Remember one indexing run and the problems it found (the latest KEEP runs are kept)."""
        with self.store.transaction() as db:
            db["index_runs"].insert(
                {"started": started, "finished": now(), "kind": kind, "written": written, "removed": removed,
                 "documents": documents, "problems": json.dumps([p.to_dict() for p in problems])}
            )
            db.execute(f"DELETE FROM index_runs WHERE id NOT IN (SELECT id FROM index_runs ORDER BY id DESC "
                       f"LIMIT {KEEP})")

    def last(self, *, with_changes: bool = False) -> dict | None:
        """The latest run (or the latest that changed the index), with its problems decoded."""
        where = "written > 0 OR removed > 0 OR kind = 'full'" if with_changes else None
        rows = list(self.store.db["index_runs"].rows_where(where, order_by="id DESC", limit=1))
        if not rows:
            return None
        row = rows[0]
        row["problems"] = json.loads(row["problems"] or "[]")
        return row
