"""One targeted speed-up of Whoosh's segment writing, installed by `FulltextIndex` (not at import).

When a segment is flushed, Whoosh asks the segment's per-document reader for the field length of the document
behind every single posting (`W3PerDocReader.doc_field_length`), and each answer is a seek and a one-byte read
in the lengths column: 3.8 million reads for 10,000 case studies, about a sixth of the CPU time of a full index
(cProfile). A segment's lengths never change once written, so reading each field's column once into memory gives
the same answers. Searching benefits too wherever Whoosh scores with field lengths.

Checked against whoosh-reloaded 2.7.5 (pinned in pyproject.toml); if the internals it relies on are missing the
original method stays in place (`install()` returns False) and only the speed is lost.
"""

from __future__ import annotations

from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length

_ORIGINAL = whoosh3.W3PerDocReader.doc_field_length


def _doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
    if docnum > self._doccount:
        raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
    cache = self.__dict__.setdefault("_ww_lengths", {})
    column = cache.get(fieldname, ())
    if column == ():
        reader = self._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
        # The whole column in one read: one byte per document (Whoosh's FixedBytes reader layout).
        column = None if reader is None else reader._dbfile.get(reader._basepos, reader._count * reader._fixedlen)
        cache[fieldname] = column
    if column is None:
        return default
    # As the original: a zero byte (or a document past the column's end) gives None, not the default.
    return byte_to_length(column[docnum]) if docnum < len(column) and column[docnum] else None


def install() -> bool:
    """Replace `W3PerDocReader.doc_field_length` with the cached version (idempotent); False if not possible."""
    if whoosh3.W3PerDocReader.doc_field_length is _doc_field_length:
        return True
    needed = (hasattr(whoosh3, "_lenfield"), hasattr(whoosh3, "LENGTHS_COLUMN"),
              hasattr(whoosh3.W3PerDocReader, "_cached_reader"), whoosh3.LENGTHS_COLUMN._typecode == "B")
    if not all(needed):
        return False
    whoosh3.W3PerDocReader.doc_field_length = _doc_field_length
    return True


def uninstall() -> None:
    """Put Whoosh's own method back (for the test that compares both)."""
    whoosh3.W3PerDocReader.doc_field_length = _ORIGINAL
