"""The knowledge base: keeps the full-text index in step with the case-study files in the content folder.

`sync()` is incremental: it reads only files whose size or modification time changed, re-indexes only files
whose content hash changed, and removes documents whose file is gone. A file with errors keeps its previously
indexed version (editors fixing a typo never make a case study disappear from the site), and its problems are
reported. The running site calls `sync()` from a watcher thread; `wijkwijzer index` calls it once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wijkwijzer.domain.content import CaseStudy, parse_case, slug_for
from wijkwijzer.domain.problems import Problem
from wijkwijzer.domain.taxonomy import TAXONOMY_FILE, Taxonomy, load_taxonomy
from wijkwijzer.search.fulltext import ANALYSIS_VERSION, FulltextIndex
from wijkwijzer.storage import Store, now


@dataclass
class SyncReport:
    """What one sync did."""

    written: int = 0
    removed: int = 0
    documents: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems that kept a file out of the index."""
        return [p for p in self.problems if p.severity == "error"]


@dataclass
class _Seen:
    signature: tuple[int, int]
    content_hash: str
    case: CaseStudy | None
    problems: list[Problem]


def iter_content_files(content_dir: Path) -> list[Path]:
    """Markdown files under the content folder, skipping hidden and `_`-prefixed files and folders."""
    found: list[Path] = []
    for root, dirs, files in os.walk(content_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found.extend(Path(root) / f for f in sorted(files) if f.endswith(".md") and not f.startswith((".", "_")))
    return found


class KnowledgeBase:
    """Content folder + taxonomy + full-text index, kept in sync."""

    def __init__(self, content_dir: Path, index: FulltextIndex, store: Store, procs: int = 1) -> None:
        self.content_dir = Path(content_dir)
        self.index = index
        self.store = store
        self.procs = procs
        self.taxonomy = Taxonomy()
        self._taxonomy_signature: tuple[int, int] | None = None
        self._taxonomy_problems: list[Problem] = []
        self._seen: dict[Path, _Seen] = {}
        self._lock = threading.Lock()
        self.last_report: SyncReport | None = None

    def check(self) -> list[Problem]:
        """Validate every file without touching the index (for `wijkwijzer check`)."""
        self._load_taxonomy()
        problems = list(self._taxonomy_problems)
        for path in iter_content_files(self.content_dir):
            problems.extend(self._read(path).problems)
        return problems

    def sync(self, *, full: bool = False, progress: Callable[[int], None] | None = None,
             on_total: Callable[[int], None] | None = None) -> SyncReport:
        """Bring the index in line with the files; `full` rebuilds every document in one atomic commit."""
        with self._lock:
            started = now()
            taxonomy_changed = self._load_taxonomy()
            if taxonomy_changed:
                self._seen.clear()  # labels and allowed values changed: validate everything again
            files = iter_content_files(self.content_dir)
            current = {path: self._read(path) for path in files}
            self._seen = current
            problems = list(self._taxonomy_problems)
            for seen in current.values():
                problems.extend(seen.problems)
            indexed = self.index.manifest()
            on_disk = {slug_for(p.relative_to(self.content_dir).as_posix()): s for p, s in current.items()}
            upserts = [
                s.case for slug, s in on_disk.items()
                if s.case is not None and (full or indexed.get(slug) != s.content_hash)
            ]
            # A file that is gone leaves the index; a file with errors keeps its last good version.
            deletions = [slug for slug in indexed if slug not in on_disk]
            report = SyncReport(problems=problems)
            if full:
                keep_broken = [slug for slug, s in on_disk.items() if s.case is None and slug in indexed]
                upserts += [self._stored_case(slug) for slug in keep_broken]
                upserts = [c for c in upserts if c is not None]
            if upserts or deletions or (full and indexed):
                if on_total:
                    on_total(len(upserts))
                procs = self.procs if len(upserts) > 200 else 1
                report.written = self.index.write(upserts, [] if full else deletions, full=full, procs=procs,
                                                  progress=progress)
                report.removed = len(deletions)
            report.documents = self.index.count()
            if report.written or report.removed or full or self._problems_changed(problems):
                self.store.record_index_run(
                    started=started, kind="full" if full else "incremental", written=report.written,
                    removed=report.removed, documents=report.documents, problems=problems,
                )
            self.last_report = report
            return report

    # -- internals -----------------------------------------------------------------------------------------
    def _load_taxonomy(self) -> bool:
        path = self.content_dir / TAXONOMY_FILE
        signature = _signature(path)
        if signature == self._taxonomy_signature:
            return False
        self.taxonomy, self._taxonomy_problems = load_taxonomy(self.content_dir)
        self.index.taxonomy = self.taxonomy
        self._taxonomy_signature = signature
        return True

    def _taxonomy_fingerprint(self) -> str:
        try:
            return hashlib.sha256((self.content_dir / TAXONOMY_FILE).read_bytes()).hexdigest()[:16]
        except OSError:
            return "none"

    def _read(self, path: Path) -> _Seen:
        signature = _signature(path)
        previous = self._seen.get(path)
        if previous and previous.signature == signature:
            return previous
        relative = path.relative_to(self.content_dir).as_posix()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problem = Problem(relative, 1, "bestand", f"kan het bestand niet lezen: {exc.strerror}")
            return _Seen(signature, "", None, [problem])
        digest = hashlib.sha256(raw)
        digest.update(f"|{ANALYSIS_VERSION}|{self._taxonomy_fingerprint()}".encode())
        content_hash = digest.hexdigest()
        if previous and previous.content_hash == content_hash:
            return _Seen(signature, content_hash, previous.case, previous.problems)
        result = parse_case(relative, raw, self.taxonomy, content_hash)
        return _Seen(signature, content_hash, result.case, result.problems)

    def _stored_case(self, slug: str) -> CaseStudy | None:
        import datetime as dt

        stored = self.index.get(slug)
        if not stored:
            return None
        return CaseStudy(
            slug=stored["slug"], title=stored["title"], body=stored["body"], summary=stored["summary"],
            type=stored["type"], themes=tuple(stored["themes"]), action_lines=tuple(stored["action_lines"]),
            municipality=stored["municipality"], focus_area=stored["focus_area"],
            organisations=tuple(stored["organisations"]),
            date=dt.date.fromisoformat(stored["date"]) if stored["date"] else None, evidence=stored["evidence"],
            tags=tuple(stored["tags"]), contact=stored["contact"], source_url=stored["source_url"],
            content_hash=stored["hash"],
        )

    def _problems_changed(self, problems: list[Problem]) -> bool:
        last = self.store.last_index_run()
        return last is None or last["problems"] != [p.to_dict() for p in problems]


def _signature(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
