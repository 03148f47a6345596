"""The small database API every table module uses, on SQLite and on PostgreSQL alike.

A `Database` runs portable SQL (`?` placeholders, `INSERT ... ON CONFLICT`, `IS DISTINCT FROM`, identifiers that
are keywords in double quotes) and offers the few table helpers the stores need (insert returning the key,
rows as dicts, update, upsert, and the schema helpers of the numbered steps). It is a subset of sqlite-utils'
API, so the table modules read the same as before; what differs between the databases lives in a `Dialect`:
placeholders, column types, row locks (`FOR UPDATE`, `SKIP LOCKED`), advisory locks and the schema version.

Results are read completely before `execute` returns (a `Result`), so a PostgreSQL connection borrowed from the
pool for one statement can go back at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


class StorageUnavailable(Exception):
    """The database cannot be reached or written right now (a stopped PostgreSQL, a pool that timed out). The
    site answers 503; what was stored before is unaffected."""


@dataclass
class Result:
    """A statement's outcome: its rows (tuples), their column names and the affected row count."""

    rows: list[tuple] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rowcount: int = -1
    lastrowid: int | None = None

    def fetchone(self) -> tuple | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        """Every row."""
        return list(self.rows)

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)

    def dicts(self) -> list[dict]:
        """Every row as a dict keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


# Python types of the schema steps (sqlite-utils' convention) to SQL types per database.
SQLITE_TYPES = {str: "TEXT", int: "INTEGER", float: "FLOAT", bytes: "BLOB"}
# "C" collation: text sorts and compares by code point as on SQLite (ISO dates, usernames), whatever the
# cluster's locale.
POSTGRES_TYPES = {str: 'TEXT COLLATE "C"', int: "BIGINT", float: "DOUBLE PRECISION", bytes: "BYTEA"}


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases, as the stores see it."""

    name: str
    types: dict[type, str]
    for_update: str  # appended to a SELECT that locks its rows for the transaction
    skip_locked: str  # appended to a SELECT that takes rows no other transaction holds

    def sql(self, statement: str) -> str:
        """The statement in this database's placeholder style."""
        return statement if self.name == "sqlite" else _to_format_style(statement)


SQLITE = Dialect("sqlite", SQLITE_TYPES, for_update="", skip_locked="")
POSTGRES = Dialect("postgresql", POSTGRES_TYPES, for_update=" FOR UPDATE", skip_locked=" FOR UPDATE SKIP LOCKED")

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%")


def _to_format_style(statement: str) -> str:
    """`?` to `%s` and `%` to `%%` outside quoted literals and identifiers (psycopg's placeholder style)."""
    def swap(match: re.Match) -> str:
        token = match.group(0)
        return "%s" if token == "?" else "%%" if token == "%" else token
    return _TOKENS.sub(swap, statement)


def quote(name: str) -> str:
    """An identifier in double quotes (both databases accept them; `end` is a keyword in PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


class Database:
    """Portable access to one database; `runner(sql, params, many)` runs a statement on the right connection
    (this thread's transaction, or a fresh one) and returns a `Result`."""

    def __init__(self, dialect: Dialect, runner: Callable[[str, Sequence | None, bool], Result],
                 introspect: Introspection) -> None:
        self.dialect = dialect
        self._run = runner
        self._introspect = introspect

    def execute(self, sql: str, params: Sequence | None = None) -> Result:
        """Run one statement with `?` placeholders."""
        return self._run(self.dialect.sql(sql), list(params) if params is not None else None, False)

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> Result:
        """Run one statement for each parameter row."""
        return self._run(self.dialect.sql(sql), [list(row) for row in rows], True)

    def query(self, sql: str, params: Sequence | None = None) -> list[dict]:
        """Rows of a SELECT as dicts."""
        return self.execute(sql, params).dicts()

    def __getitem__(self, name: str) -> Table:
        return Table(self, name)

    def table_names(self) -> list[str]:
        """The tables of this database (schema steps check what exists)."""
        return self._introspect.tables(self)

    def schema_version(self) -> int:
        """The number of schema steps (schema.py) this database has had."""
        return self._introspect.version(self)

    def set_schema_version(self, number: int) -> None:
        """Record a finished schema step, inside its transaction."""
        self._introspect.set_version(self, number)

    def lock(self, kind: str, key: object) -> None:
        """Hold a lock on (kind, key) until the transaction ends: writers of the same member or request wait for
        each other. On SQLite the write transaction already holds the whole database."""
        if self.dialect is POSTGRES:
            self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [f"wijkwijzer:{kind}:{key}"])


class Table:
    """The table helpers of the stores and the schema steps (a subset of sqlite-utils' Table)."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self.last_pk: Any = None

    def insert(self, row: dict, pk: str | None = "id") -> Table:
        """Insert one row; `last_pk` is then the new row's key (given or generated)."""
        names = list(row)
        sql = (f"INSERT INTO {quote(self.name)} ({', '.join(map(quote, names))}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        if pk and pk not in row and self.db.dialect is POSTGRES:
            result = self.db.execute(sql + f" RETURNING {quote(pk)}", [row[n] for n in names])
            self.last_pk = result.rows[0][0]
        else:
            result = self.db.execute(sql, [row[n] for n in names])
            self.last_pk = row[pk] if pk and pk in row else result.lastrowid
        return self

    def upsert(self, row: dict, pk: str) -> Table:
        """Insert a row, or update the one with the same key."""
        names = list(row)
        changes = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in names if n != pk)
        self.db.execute(f"INSERT INTO {quote(self.name)} ({', '.join(map(quote, names))}) "
                        f"VALUES ({', '.join('?' for _ in names)}) ON CONFLICT ({quote(pk)}) DO UPDATE SET {changes}",
                        [row[n] for n in names])
        self.last_pk = row[pk]
        return self

    def update(self, key: object, changes: dict, pk: str | None = None) -> Table:
        """Change columns of the row with primary key `key`."""
        pk = pk or self._introspect_pk()
        sets = ", ".join(f"{quote(n)} = ?" for n in changes)
        self.db.execute(f"UPDATE {quote(self.name)} SET {sets} WHERE {quote(pk)} = ?", [*changes.values(), key])
        return self

    def rows_where(self, where: str | None = None, where_args: Sequence | None = None, order_by: str | None = None,
                   limit: int | None = None, offset: int | None = None, select: str = "*") -> list[dict]:
        """Rows as dicts, filtered by a portable WHERE clause."""
        sql = f"SELECT {select} FROM {quote(self.name)}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        args = list(where_args or [])
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        if offset:
            sql += " OFFSET ?"
            args.append(offset)
        return self.db.execute(sql, args).dicts()

    @property
    def rows(self) -> list[dict]:
        """Every row as a dict."""
        return self.rows_where()

    def count(self) -> int:
        """The number of rows."""
        return int(self.db.execute(f"SELECT count(*) FROM {quote(self.name)}").rows[0][0])

    # -- schema helpers (numbered steps in schema.py) --------------------------------------------------------
    @property
    def columns_dict(self) -> dict[str, type]:
        """Column name -> Python type, in table order."""
        return self.db._introspect.columns(self.db, self.name)

    def exists(self) -> bool:
        """Whether the table exists."""
        return self.name in self.db.table_names()

    def create(self, columns: dict[str, type], pk: str | tuple[str, ...] = "id",
               foreign_keys: Iterable[tuple[str, str, str]] = ()) -> Table:
        """CREATE TABLE with these columns; a single integer key is generated by the database."""
        self.db._introspect.create(self.db, self.name, columns, pk, list(foreign_keys))
        return self

    def add_column(self, name: str, kind: type, not_null_default: object = None) -> Table:
        """ALTER TABLE ADD COLUMN (NOT NULL with a default when one is given)."""
        self.db._introspect.add_column(self.db, self.name, name, kind, not_null_default)
        return self

    def create_index(self, columns: list[str], unique: bool = False) -> Table:
        """An index named like sqlite-utils names it (idx_<table>_<columns>), when missing."""
        index = f"idx_{self.name}_{'_'.join(columns)}"
        self.db.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {quote(index)} ON "
                        f"{quote(self.name)} ({', '.join(map(quote, columns))})")
        return self

    def _introspect_pk(self) -> str:
        return self.db._introspect.primary_key(self.db, self.name)


class Introspection:
    """Schema questions and DDL, per database (see sqlite.py and postgres.py)."""

    def tables(self, db: Database) -> list[str]:
        raise NotImplementedError

    def columns(self, db: Database, table: str) -> dict[str, type]:
        raise NotImplementedError

    def primary_key(self, db: Database, table: str) -> str:
        raise NotImplementedError

    def version(self, db: Database) -> int:
        raise NotImplementedError

    def set_version(self, db: Database, number: int) -> None:
        raise NotImplementedError

    def create(self, db: Database, table: str, columns: dict[str, type], pk: str | tuple[str, ...],
               foreign_keys: list[tuple[str, str, str]]) -> None:
        """Portable DDL; the SQLite subclass keeps the integer-key-is-rowid rule."""
        keys = (pk,) if isinstance(pk, str) else tuple(pk)
        lines = []
        for name, kind in columns.items():
            line = f"{quote(name)} {db.dialect.types[kind]}"
            if keys == (name,):
                line += self.single_key(kind)
            lines.append(line)
        if len(keys) > 1:
            lines.append(f"PRIMARY KEY ({', '.join(map(quote, keys))})")
        for column, other, other_column in foreign_keys:
            lines.append(f"FOREIGN KEY ({quote(column)}) REFERENCES {quote(other)} ({quote(other_column)})")
        db.execute(f"CREATE TABLE {quote(table)} (\n   " + ",\n   ".join(lines) + "\n)")

    def single_key(self, kind: type) -> str:
        """The suffix of a single-column primary key."""
        return " PRIMARY KEY"

    def add_column(self, db: Database, table: str, name: str, kind: type, not_null_default: object) -> None:
        sql = f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {db.dialect.types[kind]}"
        if not_null_default is not None:
            sql += f" NOT NULL DEFAULT {_literal(not_null_default)}"
        db.execute(sql)


def _literal(value: object) -> str:
    """A default value in DDL (no placeholders there); only the step authors' constants reach this."""
    if isinstance(value, bool | int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
