"""Moving an installation between databases (`wijkwijzer db copy`): every table's rows, checked by count and
checksum before the copy is committed.

Both databases are brought to the same schema first (the numbered steps). The copy runs in one transaction of
the target, so a failure or a mismatch leaves the target as it was. A target that already holds data is
refused unless `replace` is given (then its rows are deleted in that same transaction).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from wijkwijzer.storage.db import Store
from wijkwijzer.storage.engine import Database, quote

CHUNK = 500


class CopyError(ValueError):
    """The copy cannot be made (target not empty, schemas differ, a mismatch after copying); nothing changed."""


@dataclass(frozen=True)
class TableCopy:
    """One copied table: its rows and the checksum both databases agree on."""

    table: str
    rows: int
    checksum: str


def copy_database(source: Store, target: Store, replace: bool = False) -> list[TableCopy]:
    """Copy every row of `source` into `target` (both migrated); returns per table the count and checksum."""
    if source.read_only is None and target.read_only:
        raise CopyError(f"het doel {target.describe()} is alleen-lezen")
    src, dst = source.db, target.db
    if src.schema_version() != dst.schema_version():
        raise CopyError(f"de schemaversies verschillen: bron {src.schema_version()}, doel {dst.schema_version()}; "
                        "voer eerst 'wijkwijzer db migrate' uit op beide")
    tables = dst.table_names()  # creation order: a table comes after the tables it refers to
    missing = [name for name in src.table_names() if name not in tables]
    if missing:
        raise CopyError(f"tabellen van de bron ontbreken in het doel: {', '.join(missing)}")
    with target.transaction() as db:
        filled = {name: db[name].count() for name in tables}
        filled = {name: n for name, n in filled.items() if n}
        if filled and not replace:
            listed = ", ".join(f"{name} ({n} rijen)" for name, n in filled.items())
            raise CopyError(f"het doel {target.describe()} bevat al gegevens: {listed}. Kies een lege database, "
                            "of geef --replace om die gegevens te vervangen")
        for name in reversed(tables):
            db.execute(f"DELETE FROM {quote(name)}")
        report = []
        for name in tables:
            columns = db[name].columns_dict
            unknown = [c for c in src[name].columns_dict if c not in columns]
            if unknown:
                raise CopyError(f"kolommen van {name} ontbreken in het doel: {', '.join(unknown)}")
            rows = _rows(src, name, columns)
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {quote(name)} ({', '.join(map(quote, columns))}) VALUES ({marks})"
            for start in range(0, len(rows), CHUNK):
                db.executemany(sql, rows[start:start + CHUNK])
            expected = TableCopy(name, len(rows), checksum(rows))
            copied = _rows(db, name, columns)
            if (len(copied), checksum(copied)) != (expected.rows, expected.checksum):
                raise CopyError(f"{name}: na het kopiëren {len(copied)} rijen met controlegetal {checksum(copied)}, "
                                f"verwacht {expected.rows} met {expected.checksum}; er is niets gekopieerd")
            report.append(expected)
        if db.dialect.name == "postgresql":
            _advance_identities(db, tables)
    return report


def table_checksums(store: Store) -> list[TableCopy]:
    """Count and checksum of every table (to compare two databases by hand)."""
    db = store.db
    return [TableCopy(name, len(rows), checksum(rows))
            for name in db.table_names() for rows in [_rows(db, name, db[name].columns_dict)]]


def _rows(db: Database, table: str, columns: dict[str, type]) -> list[tuple]:
    """Every row of a table, each value in the column's type (SQLite may hold an integer in a FLOAT column)."""
    names = ", ".join(map(quote, columns))
    kinds = list(columns.values())
    return [tuple(_as(kind, value) for kind, value in zip(kinds, row, strict=True))
            for row in db.execute(f"SELECT {names} FROM {quote(table)}")]


def _as(kind: type, value: object) -> object:
    if value is None:
        return None
    if kind is bytes:
        return bytes(value)
    return kind(value)


def checksum(rows: list[tuple]) -> str:
    """A checksum of a set of rows that does not depend on their order: the sum of each row's SHA-256."""
    total = 0
    for row in rows:
        digest = hashlib.sha256()
        for value in row:
            digest.update(_encode(value))
        total = (total + int.from_bytes(digest.digest(), "big")) % (1 << 256)
    return f"{total:064x}"[:16]


def _encode(value: object) -> bytes:
    """Each value with its type and length, so ("ab", "c") and ("a", "bc") differ."""
    if value is None:
        return b"N"
    if isinstance(value, bytes):
        return b"B" + struct.pack(">Q", len(value)) + value
    if isinstance(value, float):
        return b"F" + struct.pack(">d", value)
    if isinstance(value, int):
        return b"I" + str(value).encode()
    text = str(value).encode()
    return b"S" + struct.pack(">Q", len(text)) + text


def _advance_identities(db: Database, tables: list[str]) -> None:
    """PostgreSQL numbers new rows from an identity counter: set it past the copied ids."""
    for name in tables:
        sequence = db.execute("SELECT pg_get_serial_sequence(?, 'id')", [quote(name)]).fetchone() \
            if "id" in db[name].columns_dict else None
        if sequence and sequence[0]:
            db.execute(f"SELECT setval(?, coalesce((SELECT max(id) FROM {quote(name)}), 0) + 1, false)",
                       [sequence[0]])
