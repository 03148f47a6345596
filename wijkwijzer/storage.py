"""The only module that talks SQL (through sqlite-utils): index runs and their problems.

Later features (help requests, matches, assignments, the audit log) add their tables here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import tempfile
import threading
from pathlib import Path

import numpy as np
import sqlite_utils

from wijkwijzer.domain.problems import Problem

_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE, sqlite3.SQLITE_CREATE_TABLE,
           sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_ALTER_TABLE}


def _refuse_writes(action: int, *args) -> int:
    # Denied statements fail with sqlite3.DatabaseError("not authorized") before touching the file.
    return sqlite3.SQLITE_DENY if action in _WRITES else sqlite3.SQLITE_OK


def _writable(path: Path) -> bool:
    """Whether this process may write the database file and its folder (for -wal and -shm files)."""
    try:
        with open(path, "r+b"):
            pass
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path.parent)  # unique across processes
        os.close(fd)
        os.unlink(probe)
        return True
    except OSError:
        return False


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    """SQLite in WAL mode with a busy timeout, one connection per thread.

    When the data folder cannot be written (a read-only mount, wrong owner), the database opens read-only:
    searching and reading keep working, `read_only` says why, and every write raises sqlite3.DatabaseError
    ("not authorized"), which the site answers with 503.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.read_only: str | None = None
        if self.path.exists() and not _writable(self.path):
            # No path here: /api/v1/status is public. The editors' page names the folder.
            self.read_only = "de datamap of de database daarin is alleen-lezen"
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's database handle."""
        db = getattr(self._local, "db", None)
        if db is None:
            if self.read_only:
                # With -wal and -shm present SQLite reads the WAL too; without them (a clean shutdown) it cannot
                # create them in a read-only folder, and the file is read as immutable.
                wal = all(Path(f"{self.path}{suffix}").exists() for suffix in ("-wal", "-shm"))
                mode = "ro" if wal else "ro&immutable=1"
                conn = sqlite3.connect(f"file:{self.path}?mode={mode}", uri=True, isolation_level=None,
                                       check_same_thread=False)
                conn.set_authorizer(_refuse_writes)
            else:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection (before a fork, and when a command ends)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def _migrate(self) -> None:
        if "embeddings" not in self.db.table_names():
            self.db["embeddings"].create({"model": str, "hash": str, "dim": int, "vector": bytes},
                                         pk=("model", "hash"))
        if "index_runs" not in self.db.table_names():
            self.db["index_runs"].create(
                {"id": int, "started": str, "finished": str, "kind": str, "written": int, "removed": int,
                 "documents": int, "problems": str},
                pk="id",
            )

    def vectors(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of a model for the given passage hashes (absent ones are left out).

        A row that does not decode (a corrupt cache) is left out, so it is embedded again.
        """
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(hashes))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT hash, dim, vector FROM embeddings WHERE model = ? AND hash IN ({marks})", [model, *chunk]
            ).fetchall()
            for digest, dim, blob in rows:
                if blob is not None and len(blob) == 4 * dim:
                    found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Store vectors of a model, keyed by passage hash (one transaction)."""
        with self.db.conn:
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, hash, dim, vector) VALUES (?, ?, ?, ?)",
                [(model, digest, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                 for digest, v in vectors.items()],
            )

    def record_index_run(
        self, *, started: str, kind: str, written: int, removed: int, documents: int, problems: list[Problem]
    ) -> None:
        """Remember one indexing run and the problems it found (kept: the latest 200 runs)."""
        with self.db.conn:
            self.db["index_runs"].insert(
                {"started": started, "finished": _now(), "kind": kind, "written": written, "removed": removed,
                 "documents": documents, "problems": json.dumps([p.to_dict() for p in problems])}
            )
            self.db.execute(
                "DELETE FROM index_runs WHERE id NOT IN (SELECT id FROM index_runs ORDER BY id DESC LIMIT 200)"
            )

    def last_index_run(self, *, with_changes: bool = False) -> dict | None:
        """The latest run (or the latest that changed the index), with its problems decoded."""
        where = "written > 0 OR removed > 0 OR kind = 'full'" if with_changes else None
        rows = list(self.db["index_runs"].rows_where(where, order_by="id DESC", limit=1))
        if not rows:
            return None
        row = rows[0]
        row["problems"] = json.loads(row["problems"] or "[]")
        return row


now = _now
