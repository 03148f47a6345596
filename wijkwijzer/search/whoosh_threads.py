"""Thread-safe postings reads for Whoosh, installed by `FulltextIndex` (not at import).

Request threads (and the postings warm-up) share one searcher, so several threads read the same segment's
postings file at once. Whoosh's postings matcher (`W3LeafMatcher`) reads a block header with seek(), read() and
tell() on that shared file: two threads interleaving there read each other's positions, and the matcher fails
with "Block tag error" or, worse, decodes the wrong block. Segments are memory-mapped compound files, whose
positional `get()` is a slice with no shared position; these replacements read through it. The bytes read and
the state set are the same as Whoosh's own.

Checked against whoosh-reloaded 2.7.5 (pinned in pyproject.toml); if the internals it relies on are missing,
Whoosh's methods stay in place (`install()` returns False).
"""

from __future__ import annotations

import io
import pickle

from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length

_ORIGINAL = (whoosh3.W3LeafMatcher._read_header, whoosh3.W3LeafMatcher._goto)
_INFO_BYTES = 512  # the block-info tuple is a pickle of six numbers at the start of a block (well under this)


def _read_header(self) -> None:
    magic = self._postfile.get(self._startoffset, 4)
    if magic != whoosh3.WHOOSH3_HEADER_MAGIC:
        raise Exception(f"Block tag error {magic!r}")
    self._baseoffset = self._startoffset + 4


def _goto(self, position: int) -> None:
    postfile = self._postfile
    self._data = self._ids = self._weights = self._values = None
    self._i = 0
    length = postfile.get_int(position)
    if length < 0:  # the last block
        self._lastblock = True
        length = -length
    start = position + whoosh3._INT_SIZE
    self._nextoffset = start + length
    head = io.BytesIO(postfile.get(start, min(length, _INFO_BYTES)))
    info = pickle.load(head)
    self._dataoffset = start + head.tell()
    self._blocklength, self._maxid, self._maxweight, self._compression, mnlen, mxlen = info
    self._minlength = byte_to_length(mnlen)
    self._maxlength = byte_to_length(mxlen)


def install() -> bool:
    """Replace the matcher's seek-and-read methods with positional reads (idempotent); False if not possible."""
    if whoosh3.W3LeafMatcher._goto is _goto:
        return True
    if not (hasattr(whoosh3, "WHOOSH3_HEADER_MAGIC") and hasattr(whoosh3, "_INT_SIZE")):
        return False
    whoosh3.W3LeafMatcher._read_header = _read_header
    whoosh3.W3LeafMatcher._goto = _goto
    return True


def uninstall() -> None:
    """Put Whoosh's own methods back (for the test that shows the race)."""
    whoosh3.W3LeafMatcher._read_header, whoosh3.W3LeafMatcher._goto = _ORIGINAL
