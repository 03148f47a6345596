"""Our two changes to Whoosh's internals, in one place, installed by the composition root (not at import).

1. Field lengths from memory. When a segment is flushed, Whoosh asks the segment's per-document reader for the
   field length of the document behind every single posting (`W3PerDocReader.doc_field_length`), and each answer
   is a seek and a one-byte read in the lengths column: 3.8 million reads for 10,000 case studies, about a sixth
   of the CPU time of a full index (cProfile). A segment's lengths never change once written, so reading each
   field's column once gives the same answers. Searching benefits too wherever Whoosh scores with field lengths.
2. Thread-safe postings reads. Request threads (and the postings warm-up) share one searcher, so several threads
   read the same segment's postings file at once. Whoosh's postings matcher (`W3LeafMatcher`) reads a block
   header with seek(), read() and tell() on that shared file: two threads interleaving there read each other's
   positions, and the matcher fails with "Block tag error" or, worse, decodes the wrong block. Segments are
   memory-mapped compound files, whose positional `get()` is a slice with no shared position; the replacements
   read through it. The bytes read and the state set are the same as Whoosh's own.

Checked against whoosh-reloaded 2.7.5 (pinned in pyproject.toml). Each patch first checks the internals it
relies on; where they differ it logs a warning, leaves Whoosh's own methods in place and `install()` returns
False: we lose speed (1) or thread safety of concurrent reads (2), never correctness of a single-threaded search.
3. `remove_leftovers`, not a patch: the files of a writer killed before its commit, removed with Whoosh's own
   post-commit clean-up (`whoosh.index.TOC`, `clean_files`, undocumented) under Whoosh's write lock.

Apart from ranking.py's block reads, this is the only module that touches Whoosh's internals.
"""

from __future__ import annotations

import io
import logging
import pickle
import shutil
import threading
from pathlib import Path

from whoosh import index
from whoosh.codec import whoosh3
from whoosh.filedb import structfile
from whoosh.util.numeric import byte_to_length

log = logging.getLogger(__name__)

_ORIGINAL_FIELD_LENGTH = whoosh3.W3PerDocReader.doc_field_length
_ORIGINAL_READS = (whoosh3.W3LeafMatcher._read_header, whoosh3.W3LeafMatcher._goto)
_INFO_BYTES = 512  # the block-info tuple is a pickle of six numbers at the start of a block (well under this)
_lock = threading.Lock()


# -- 1. field lengths from memory ------------------------------------------------------------------------------
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


def _field_lengths_missing() -> list[str]:
    """What patch 1 relies on and this Whoosh lacks (empty when all is there)."""
    missing = [name for name in ("_lenfield", "LENGTHS_COLUMN") if not hasattr(whoosh3, name)]
    # Whoosh's method as it is now (install() only asks while ours is not in place) reads the same column.
    names = set(getattr(getattr(whoosh3.W3PerDocReader.doc_field_length, "__code__", None), "co_names", ()))
    missing += [f"W3PerDocReader.doc_field_length uses {a}" for a in ("_lenfield", "_cached_reader", "LENGTHS_COLUMN")
                if a not in names]
    if not hasattr(whoosh3.W3PerDocReader, "_cached_reader"):
        missing.append("W3PerDocReader._cached_reader")
    column = getattr(whoosh3, "LENGTHS_COLUMN", None)
    if getattr(column, "_typecode", None) != "B":
        missing.append("LENGTHS_COLUMN of one byte per document")
    # The column's reader must be Whoosh's fixed-bytes layout, whose attributes the patch reads directly.
    reader = getattr(type(column), "Reader", None)
    attrs = set(getattr(getattr(getattr(reader, "__init__", None), "__code__", None), "co_names", ()))
    missing += [f"{type(column).__name__}.Reader.{a}" for a in ("_dbfile", "_basepos", "_count", "_fixedlen")
                if a not in attrs]
    return missing


# -- 2. thread-safe postings reads -----------------------------------------------------------------------------
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


# The matcher state Whoosh's own _goto and _read_header set; ours must set exactly these.
_GOTO_STATE = ("_data", "_ids", "_weights", "_values", "_i", "_lastblock", "_nextoffset", "_dataoffset",
               "_blocklength", "_maxid", "_maxweight", "_compression", "_minlength", "_maxlength")
_HEADER_STATE = ("_postfile", "_startoffset", "_baseoffset")


def _positional_reads_missing() -> list[str]:
    """What patch 2 relies on and this Whoosh lacks (empty when all is there)."""
    missing = [name for name in ("WHOOSH3_HEADER_MAGIC", "_INT_SIZE") if not hasattr(whoosh3, name)]
    missing += [f"StructFile.{name}" for name in ("get", "get_int") if not hasattr(structfile.StructFile, name)]
    # Whoosh's methods as they are now (install() only asks while ours are not in place).
    header, goto = whoosh3.W3LeafMatcher._read_header, whoosh3.W3LeafMatcher._goto
    names = set(getattr(getattr(goto, "__code__", None), "co_names", ()))
    missing += [f"W3LeafMatcher._goto sets {a}" for a in _GOTO_STATE if a not in names]
    names = set(getattr(getattr(header, "__code__", None), "co_names", ()))
    missing += [f"W3LeafMatcher._read_header uses {a}" for a in _HEADER_STATE if a not in names]
    return missing


# -- installing ------------------------------------------------------------------------------------------------
def install() -> bool:
    """Install both patches (idempotent). False, with a warning logged, when one of them could not be."""
    with _lock:
        ok = True
        if whoosh3.W3PerDocReader.doc_field_length is not _doc_field_length:
            missing = _field_lengths_missing()
            if missing:
                log.warning("Whoosh-aanpassing voor veldlengtes niet geïnstalleerd (andere Whoosh-versie?): "
                            "ontbreekt %s; indexeren is trager", ", ".join(missing))
                ok = False
            else:
                whoosh3.W3PerDocReader.doc_field_length = _doc_field_length
        if whoosh3.W3LeafMatcher._goto is not _goto:
            missing = _positional_reads_missing()
            if missing:
                log.warning("Whoosh-aanpassing voor gelijktijdig lezen niet geïnstalleerd (andere Whoosh-versie?):"
                            " ontbreekt %s; gelijktijdige zoekopdrachten kunnen elkaar storen", ", ".join(missing))
                ok = False
            else:
                whoosh3.W3LeafMatcher._read_header = _read_header
                whoosh3.W3LeafMatcher._goto = _goto
        return ok


def installed() -> dict[str, bool]:
    """Which patch is in place (for tests and diagnostics)."""
    return {"field_lengths": whoosh3.W3PerDocReader.doc_field_length is _doc_field_length,
            "positional_reads": whoosh3.W3LeafMatcher._goto is _goto}


def uninstall() -> None:
    """Put Whoosh's own methods back (for the tests that compare both)."""
    with _lock:
        whoosh3.W3PerDocReader.doc_field_length = _ORIGINAL_FIELD_LENGTH
        whoosh3.W3LeafMatcher._read_header, whoosh3.W3LeafMatcher._goto = _ORIGINAL_READS


# -- 3. leftovers of killed writers ---------------------------------------------------------------------------
def remove_leftovers(ix: index.Index) -> list[str]:
    """Delete the files of writers that died before their commit (a killed `wijkwijzer index --full` leaves its
    segment files and its temporary folder behind; a later commit would delete them, but until the content
    changes nothing commits). Returns the names removed.

    Only while this process holds Whoosh's write lock, taken without waiting: a writer that still runs holds it
    (its worker processes too: they inherit it), and its files are left alone. Segment files that no table of
    contents of the newest generation names, and Whoosh's temporary folders, are then no one's: Whoosh's own
    clean-up after a commit (`clean_files`) deletes the same segment files.
    """
    if not (hasattr(index, "TOC") and hasattr(index, "clean_files")):
        log.warning("Whoosh zonder TOC/clean_files (andere Whoosh-versie?): achtergebleven indexbestanden "
                    "blijven staan")
        return []
    storage = ix.storage
    try:
        lock = ix.lock("WRITELOCK")
        if not lock.acquire(blocking=False):
            return []  # a writer is running
    except OSError:
        return []  # e.g. a read-only data folder: nobody writes here
    try:
        generation = ix.latest_generation()
        if generation < 0:
            return []
        before = set(storage.list())
        toc = index.TOC.read(storage, ix.indexname, generation)
        index.clean_files(storage, ix.indexname, generation, toc.segments)
        removed = sorted(before - set(storage.list()))
        folder = Path(storage.folder)
        for name in sorted(before):
            if name.endswith(".tmp") and (folder / name).is_dir():
                shutil.rmtree(folder / name, ignore_errors=True)
                removed.append(name + "/")
        if removed:
            log.info("index: %d bestanden van een afgebroken schrijfactie verwijderd", len(removed))
        return removed
    except Exception:  # tidying up must never keep the index from opening
        log.warning("index: opruimen van achtergebleven bestanden mislukt", exc_info=True)
        return []
    finally:
        lock.release()
