"""When each case study appeared, last changed and left the site: the `case_changes` table.

The index only knows the current version of a case study; harvesters (`GET /api/v1/cases?since=`), the sitemap's
`lastmod` and the JSON-LD `dateModified` need the moment its public record last changed. A re-index that changes
nothing a reader sees (a new analysis version, a new synonym) keeps the dates: the fingerprint covers only the
public record, not the index's hash.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping

from wijkwijzer.storage.db import Store


def now() -> str:
    """Now, in UTC with microseconds: a digest compares these with its own moments (a confirmation, a period's
    end), and a change in the same second as one of those must still sort on the right side of it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class CaseChanges:
    """The `case_changes` table: slug, fingerprint, published, modified, removed (ISO 8601 UTC, or NULL)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, fingerprints: Mapping[str, str], at: str | None = None) -> int:
        """Bring the table in line with the indexed case studies (slug -> fingerprint of the public record):
        new slugs are published `at`, changed ones modified `at`, missing ones removed `at` (a slug that comes
        back counts as modified). Returns how many rows changed. One transaction, so two processes recording
        the same change write it once."""
        at = at or now()
        changed = 0
        with self.store.transaction() as db:
            known = {row[0]: (row[1], row[2]) for row in
                     db.execute("SELECT slug, fingerprint, removed FROM case_changes").fetchall()}
            for slug, fingerprint in fingerprints.items():
                before = known.get(slug)
                if before is None:
                    db.execute("INSERT INTO case_changes (slug, fingerprint, published, modified, removed) "
                               "VALUES (?, ?, ?, ?, NULL)", [slug, fingerprint, at, at])
                elif before[0] != fingerprint or before[1] is not None:
                    db.execute("UPDATE case_changes SET fingerprint = ?, modified = ?, removed = NULL "
                               "WHERE slug = ?", [fingerprint, at, slug])
                else:
                    continue
                changed += 1
            for slug, (_, removed) in known.items():
                if slug not in fingerprints and removed is None:
                    db.execute("UPDATE case_changes SET modified = ?, removed = ? WHERE slug = ?", [at, at, slug])
                    changed += 1
        return changed

    def add_missing(self, fingerprints: Mapping[str, str], at: str | None = None) -> None:
        """Insert the slugs the table lacks, published and modified `at`; never touches a recorded row. For
        processes that only read the index: their view may be a moment old, so only the writer (`record`)
        decides what changed or left."""
        at = at or now()
        with self.store.transaction() as db:
            db.executemany("INSERT INTO case_changes (slug, fingerprint, published, modified, removed) "
                           "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (slug) DO NOTHING",
                           [(slug, fp, at, at) for slug, fp in fingerprints.items()])

    def all(self) -> dict[str, dict]:
        """Every row by slug (also removed case studies); empty when a read-only database predates the table."""
        try:
            rows = self.store.db.execute("SELECT slug, published, modified, removed FROM case_changes").fetchall()
        except sqlite3.OperationalError:  # no such table: read-only, so its schema step could not run
            return {}
        return {slug: {"published": published, "modified": modified, "removed": removed}
                for slug, published, modified, removed in rows}

    def get(self, slug: str) -> dict | None:
        """One row, or None when the slug was never recorded."""
        try:
            row = self.store.db.execute("SELECT published, modified, removed FROM case_changes WHERE slug = ?",
                                        [slug]).fetchone()
        except sqlite3.OperationalError:
            return None
        return {"published": row[0], "modified": row[1], "removed": row[2]} if row else None
