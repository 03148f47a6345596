"""The database: one SQLite connection per thread (WAL, busy timeout), read-only mode, and the one place that
opens transactions (`Store.transaction`). The table modules beside it (requests, accounts, audit, vectors, runs)
write only inside it, through the portable `Database` of engine.py; `open_store` picks SQLite or PostgreSQL
(postgres.py) from the database URL.
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

from wijkwijzer.storage.engine import SQLITE, Database, Introspection, Result, StorageUnavailable
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


_SQLITE_KINDS = {"TEXT": str, "INTEGER": int, "FLOAT": float, "REAL": float, "BLOB": bytes}


class SqliteSchema(Introspection):
    """Schema questions on SQLite (sqlite_master, table_info)."""

    def tables(self, db: Database) -> list[str]:
        return [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]

    def columns(self, db: Database, table: str) -> dict[str, type]:
        rows = db.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
        return {row[1]: _SQLITE_KINDS.get((row[2] or "TEXT").upper(), str) for row in rows}

    def version(self, db: Database) -> int:
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, db: Database, number: int) -> None:
        db.execute(f"PRAGMA user_version = {int(number)}")  # transactional in SQLite; a number, never user text

    def primary_key(self, db: Database, table: str) -> str:
        keys = [row[1] for row in sorted(db.execute(f"PRAGMA table_info({_quote(table)})").fetchall(),
                                         key=lambda r: r[5]) if row[5]]
        return keys[0] if keys else "rowid"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """SQLite in WAL mode with a busy timeout, one connection per thread.

    When the data folder cannot be written (a read-only mount, wrong owner), the database opens read-only:
    searching and reading keep working, `read_only` says why, and every write raises sqlite3.DatabaseError
    ("not authorized"), which the site answers with 503.
    """

    backend = "sqlite"

    def __init__(self, path: Path, migrate_now: bool = True) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.read_only: str | None = None
        if self.path.exists() and not _writable(self.path):
            # No path here: /api/v1/status is public. The editors' page names the folder.
            self.read_only = "de datamap of de database daarin is alleen-lezen"
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if migrate_now:
            migrate(self)

    def describe(self) -> str:
        """Where the data is, for messages (no password)."""
        return f"sqlite:///{self.path}"

    @property
    def pgvector(self) -> bool:
        """Whether vectors are searched with pgvector: never on SQLite (vectors are searched in memory)."""
        return False

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's SQLite connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
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
            self._local.conn = conn
        return conn

    @property
    def db(self) -> Database:
        """This thread's database handle (portable API, engine.py)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = Database(SQLITE, self._run, _SCHEMA)
            self._local.db = db
        return db

    def _run(self, sql: str, params, many: bool) -> Result:
        conn = self.conn
        cursor = conn.executemany(sql, params) if many else conn.execute(sql, params or ())
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows = cursor.fetchall() if cursor.description else []
        return Result(rows, columns, cursor.rowcount, cursor.lastrowid)

    def checkpoint(self, wait: float = 5.0) -> bool:
        """Copy the write-ahead log into the database file and truncate the log to zero bytes, so that page
        versions from before an erasure are gone from the -wal file too. Waits up to `wait` seconds for readers
        and writers of other connections; False when one kept it from finishing (SQLite's next checkpoint then
        does it). Never inside a transaction."""
        if self.read_only:
            return False
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            busy = 1
        finally:
            conn.execute("PRAGMA busy_timeout = 30000")
        return busy == 0

    def in_transaction(self) -> bool:
        """Whether this thread is inside `transaction()`."""
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def job_lock(self, name: str) -> Iterator[bool]:
        """Whether this process may run the periodic job `name` now: always on SQLite (one machine; every job
        claims its work inside a transaction, so processes running it at once do not do it twice)."""
        yield True

    def close(self) -> None:
        """Close this thread's connection (before a fork, and when a command ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.db = None

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One transaction for a use case: every read-check-write inside it sees and writes one state.

        `BEGIN IMMEDIATE` takes SQLite's write lock at the start (waiting up to the busy timeout), so two
        processes or threads can never both pass a check and then both write; a crash or an exception inside
        rolls everything back. A transaction opened inside another joins it, so a use case may call another.
        Reads outside a transaction see the latest commit.
        """
        db = self.db
        conn = self.conn
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


class SqliteIntrospection(SqliteSchema):
    """DDL on SQLite through sqlite-utils, so tables come out exactly as the shipped steps made them (an integer
    key is SQLite's rowid)."""

    def create(self, db, table, columns, pk, foreign_keys) -> None:
        sqlite_utils.Database(_conn_of(db))[table].create(columns, pk=pk, foreign_keys=foreign_keys)

    def add_column(self, db, table, name, kind, not_null_default) -> None:
        sqlite_utils.Database(_conn_of(db))[table].add_column(name, kind, not_null_default=not_null_default)


def _conn_of(db: Database) -> sqlite3.Connection:
    return db._run.__self__.conn


_SCHEMA = SqliteIntrospection()

# Errors the web layer answers with 503 (storage unavailable), whichever database is behind the store.
UNAVAILABLE: tuple[type[Exception], ...] = (sqlite3.OperationalError, StorageUnavailable)


def open_store(url: str, pool_size: int = 10, migrate_now: bool = True, pgvector: str = "auto") -> Store:
    """The store a database URL names: `sqlite:///path` (or a plain path) or `postgresql://...` (with at most
    `pool_size` connections per process, and pgvector where the server has it unless `pgvector` is "off").
    Opening applies missing schema steps unless `migrate_now` is False."""
    if url.startswith(("postgresql://", "postgres://")):
        from wijkwijzer.storage.postgres import PostgresStore  # psycopg is imported only when used

        return PostgresStore(url, pool_size=pool_size, migrate_now=migrate_now, pgvector=pgvector)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if "://" in path:
        raise ValueError(f"onbekende database-URL {url!r}: gebruik sqlite:///pad/naar/bestand.db of "
                         "postgresql://gebruiker@host/database")
    return Store(Path(path), migrate_now=migrate_now)
