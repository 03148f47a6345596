"""When each case study appeared, last changed and left the site: the `case_changes` table.

The index only knows the current version of a case study; harvesters (`GET /api/v1/cases?since=`), the sitemap's
`lastmod` and the JSON-LD `dateModified` need the moment its public record last changed. A re-index that changes
nothing a reader sees (a new analysis version, a new synonym) keeps the dates: the fingerprint covers only the
public record, not the index's hash.
"""

from __future__ import annotations

from collections.abc import Mapping

from wijkwijzer.storage.db import Store, now


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

    def all(self) -> dict[str, dict]:
        """Every row by slug (also removed case studies)."""
        rows = self.store.db.execute("SELECT slug, published, modified, removed FROM case_changes").fetchall()
        return {slug: {"published": published, "modified": modified, "removed": removed}
                for slug, published, modified, removed in rows}

    def get(self, slug: str) -> dict | None:
        """One row, or None when the slug was never recorded."""
        row = self.store.db.execute("SELECT published, modified, removed FROM case_changes WHERE slug = ?",
                                    [slug]).fetchone()
        return {"published": row[0], "modified": row[1], "removed": row[2]} if row else None

    def last_modified(self) -> str | None:
        """The latest change of any case study (the collection's `modified`)."""
        row = self.store.db.execute("SELECT MAX(modified) FROM case_changes").fetchone()
        return row[0] if row else None
