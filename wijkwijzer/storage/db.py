"""The database: one SQLite connection per thread (WAL, busy timeout), read-only mode, and the one place that
opens transactions (`Store.transaction`). The table modules beside it (requests, accounts, audit, vectors, runs)
write only inside it.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from wijkwijzer.storage.schema import migrate

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


def now() -> str:
    """The current time in UTC, as stored (ISO 8601, seconds)."""
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
        migrate(self.transaction)

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
                # Deleted and overwritten content is zeroed in the file, not left in free space: erased personal
                # data must not be readable from the database file.
                conn.execute("PRAGMA secure_delete = ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def checkpoint(self, wait: float = 5.0) -> bool:
        """Copy the write-ahead log into the database file and truncate the log to zero bytes, so that page
        versions from before an erasure are gone from the -wal file too. Waits up to `wait` seconds for readers
        and writers of other connections; False when one kept it from finishing (SQLite's next checkpoint then
        does it). Never inside a transaction."""
        if self.read_only:
            return False
        conn = self.db.conn
        conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            busy = 1
        finally:
            conn.execute("PRAGMA busy_timeout = 30000")
        return busy == 0

    def close(self) -> None:
        """Close this thread's connection (before a fork, and when a command ends)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One transaction for a use case: every read-check-write inside it sees and writes one state.

        `BEGIN IMMEDIATE` takes SQLite's write lock at the start (waiting up to the busy timeout), so two
        processes or threads can never both pass a check and then both write; a crash or an exception inside
        rolls everything back. A transaction opened inside another joins it (sqlite-utils' own writes nest as
        savepoints), so a use case may call another. Reads outside a transaction see the latest commit.
        """
        db = self.db
        conn = db.conn
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield db
            finally:
                self._local.depth = depth
            return
        # Counted per thread rather than read from `conn.in_transaction`: a transaction this helper did not open
        # is a bug, and BEGIN then fails loudly instead of silently joining it.
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield db
        except BaseException:
            self._local.depth = 0
            if conn.in_transaction:  # some errors (a full disk) already ended it
                conn.execute("ROLLBACK")
            raise
        else:
            self._local.depth = 0
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
