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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wijkwijzer.casefiles import check_case_files
from wijkwijzer.domain.acronyms import ACRONYMS_FILE, load_acronyms
from wijkwijzer.domain.attachments import Attachment, FilePolicy
from wijkwijzer.domain.content import CaseStudy, ParseResult, parse_case, slug_for
from wijkwijzer.domain.problems import Problem
from wijkwijzer.domain.taxonomy import TAXONOMY_FILE, Taxonomy, load_taxonomy
from wijkwijzer.parsing import ParseWorker
from wijkwijzer.search.fulltext import ANALYSIS_VERSION, FulltextIndex
from wijkwijzer.storage.db import now
from wijkwijzer.storage.runs import IndexRuns


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
    raw: bytes | None  # kept until parsed, then dropped
    parsed: bool = False
    case: CaseStudy | None = None
    problems: list[Problem] = field(default_factory=list)
    # What the parse alone gave, before the files beside the case were checked (they are checked again on
    # every sync while they keep the case out, so adding a missing file publishes the case).
    parsed_case: CaseStudy | None = None
    parse_problems: list[Problem] = field(default_factory=list)


def iter_content_files(content_dir: Path) -> dict[str, tuple[str, tuple[int, int]]]:
    """Markdown files under the content folder: relative path -> (absolute path, (mtime_ns, size)).

    Hidden and `_`-prefixed files and folders are skipped. Uses scandir, whose entries carry their stat on most
    systems: a scan of 10,000 files must cost milliseconds, since the running site repeats it every few seconds.
    """
    found: dict[str, tuple[str, tuple[int, int]]] = {}
    stack = [(str(content_dir), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith((".", "_")):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{prefix}{name}/"))
            elif name.endswith(".md") and entry.is_file(follow_symlinks=False):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                found[prefix + name] = (entry.path, (st.st_mtime_ns, st.st_size))
    return dict(sorted(found.items()))


class KnowledgeBase:
    """Content folder + taxonomy + full-text index, kept in sync."""

    def __init__(self, content_dir: Path, index: FulltextIndex, runs: IndexRuns, procs: int = 1,
                 parser: ParseWorker | None = None, files: FilePolicy | None = None) -> None:
        self.content_dir = Path(content_dir)
        self.files = files or FilePolicy()  # allowed types and size of attachments and images
        self.parser = parser or ParseWorker()  # each file is parsed within a time budget
        self.index = index
        self.runs = runs
        self.procs = procs
        self.taxonomy = Taxonomy()
        self._taxonomy_signature: tuple[int, int] | None = None
        self._taxonomy_problems: list[Problem] = []
        self._acronyms_signature: tuple[int, int] | None = None
        self._acronyms_problems: list[Problem] = []
        self._seen: dict[str, _Seen] = {}
        self._remembered: dict[str, list[Problem]] | None = None
        self._lock = threading.Lock()
        self.last_report: SyncReport | None = None

    def check(self) -> list[Problem]:
        """Validate every file without touching the index (for `wijkwijzer check`)."""
        self._load_taxonomy()
        problems = [*self._taxonomy_problems, *self._acronyms_problems]
        for relative, (path, signature) in iter_content_files(self.content_dir).items():
            problems.extend(self._parse(relative, self._read(relative, path, signature)).problems)
        return problems

    def sync(self, *, full: bool = False, progress: Callable[[int], None] | None = None,
             on_total: Callable[[int], None] | None = None) -> SyncReport:
        """Bring the index in line with the files; `full` rebuilds every document in one atomic commit.

        Only files whose content hash differs from the indexed one are parsed; the problems of unchanged files
        are remembered from when they were last parsed (in this process, or in the last recorded run).
        """
        with self._lock:
            started = now()
            if self._load_taxonomy():
                self._seen.clear()  # labels and allowed values changed: validate everything again
                self._remembered = {}
            files = iter_content_files(self.content_dir)
            indexed = self.index.manifest()
            remembered = self._remembered_problems()
            current: dict[str, _Seen] = {}
            on_disk: dict[str, _Seen] = {}
            changed: list[tuple[str, str, _Seen]] = []
            for relative, (path, signature) in files.items():
                seen = self._read(relative, path, signature)
                slug = slug_for(relative)
                current[relative] = on_disk[slug] = seen
                if full or indexed.get(slug) != seen.content_hash:
                    changed.append((relative, slug, seen))
            self._seen = current
            # A file that is gone leaves the index; a file with errors keeps its last good version.
            deletions = [slug for slug in indexed if slug not in on_disk]

            def upserts() -> Iterator[CaseStudy]:
                for relative, slug, seen in changed:
                    self._parse(relative, seen)
                    if seen.case is not None:
                        yield seen.case
                    elif full and slug in indexed and (kept := self._stored_case(slug)) is not None:
                        yield kept

            if len(changed) <= 200:  # parse first: a sync that only finds broken files must not commit
                for relative, _, seen in changed:
                    self._parse(relative, seen)
                changed = [c for c in changed if c[2].case is not None or (full and c[1] in indexed)]
            report = SyncReport()
            if changed or deletions or (full and indexed):
                if on_total:
                    on_total(len(changed))
                # Large batches parse lazily, overlapping with the index's worker processes.
                procs = self.procs if len(changed) > 200 else 1
                report.written = self.index.write(upserts(), [] if full else deletions, full=full, procs=procs,
                                                  progress=progress)
                report.removed = len(deletions)
            problems = [*self._taxonomy_problems, *self._acronyms_problems]
            for relative, seen in current.items():
                problems.extend(seen.problems if seen.parsed else remembered.get(relative, []))
            report.problems = problems
            report.documents = self.index.count()
            if report.written or report.removed or full or self._problems_changed(problems):
                self.runs.record(
                    started=started, kind="full" if full else "incremental", written=report.written,
                    removed=report.removed, documents=report.documents, problems=problems,
                )
            self.last_report = report
            return report

    def refresh_taxonomy(self) -> bool:
        """Reload the taxonomy and the acronym list if their files changed (for processes that read the index
        but do not write it: queries need the acronym list too)."""
        with self._lock:
            return self._load_taxonomy()

    # -- internals -----------------------------------------------------------------------------------------
    def _load_taxonomy(self) -> bool:
        """Reload the taxonomy and the acronym list when their files changed; both are part of every document's
        hash (labels and acronym expansions are indexed), so a change re-indexes everything."""
        acronyms_changed = self._load_acronyms()
        path = self.content_dir / TAXONOMY_FILE
        signature = _signature(path)
        if signature == self._taxonomy_signature:
            return acronyms_changed
        self.taxonomy, self._taxonomy_problems = load_taxonomy(self.content_dir)
        self.index.taxonomy = self.taxonomy
        self._taxonomy_signature = signature
        return True

    def _load_acronyms(self) -> bool:
        signature = _signature(self.content_dir / ACRONYMS_FILE)
        if signature == self._acronyms_signature:
            return False
        self.index.acronyms, self._acronyms_problems = load_acronyms(self.content_dir)
        self._acronyms_signature = signature
        return True

    def _taxonomy_fingerprint(self) -> str:
        try:
            taxonomy = hashlib.sha256((self.content_dir / TAXONOMY_FILE).read_bytes()).hexdigest()[:16]
        except OSError:
            taxonomy = "none"
        return f"{taxonomy}|{self.index.acronyms.fingerprint}"

    def _read(self, relative: str, path: str, signature: tuple[int, int]) -> _Seen:
        """Hash a file whose size or mtime changed; otherwise reuse what we know of it."""
        previous = self._seen.get(relative)
        if previous and previous.signature == signature:
            return previous
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            problem = Problem(relative, 1, "bestand", f"kan het bestand niet lezen: {exc.strerror}")
            return _Seen(signature, "", None, True, None, [problem])
        digest = hashlib.sha256(raw)
        digest.update(f"|{ANALYSIS_VERSION}|{self._taxonomy_fingerprint()}".encode())
        content_hash = digest.hexdigest()
        if previous and previous.content_hash == content_hash:
            return _Seen(signature, content_hash, previous.raw, previous.parsed, previous.case, previous.problems,
                         previous.parsed_case, previous.parse_problems)
        return _Seen(signature, content_hash, raw)

    def _parse(self, relative: str, seen: _Seen) -> _Seen:
        """Parse a read file once (in place)."""
        if not seen.parsed:
            result = self.parser.parse(parse_case, relative, seen.raw or b"", self.taxonomy, seen.content_hash,
                                       failed=lambda problem: ParseResult(None, [problem]))
            seen.case, seen.problems, seen.parsed, seen.raw = result.case, result.problems, True, None
            seen.parsed_case, seen.parse_problems = result.case, result.problems
        case = seen.parsed_case
        if case is not None and (case.attachments or case.images):
            found = check_case_files(self.content_dir, relative, case, self.files)
            seen.problems = [*seen.parse_problems, *found]
            seen.case = None if any(p.severity == "error" for p in found) else case
        return seen

    def _remembered_problems(self) -> dict[str, list[Problem]]:
        """Problems per file from the last recorded run, for files not parsed again in this process."""
        if self._remembered is None:
            run = self.runs.last()
            self._remembered = {}
            for item in run["problems"] if run else []:
                self._remembered.setdefault(item["path"], []).append(Problem(**item))
        return self._remembered

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
            content_hash=stored["hash"], contact_email=stored.get("contact_email", ""),
            contact_phone=stored.get("contact_phone", ""), contact_url=stored.get("contact_url", ""),
            attachments=tuple(Attachment(a["file"], a["title"]) for a in stored.get("attachments", ())),
            images=tuple(stored.get("images", ())),
        )

    def _problems_changed(self, problems: list[Problem]) -> bool:
        last = self.runs.last()
        return last is None or last["problems"] != [p.to_dict() for p in problems]


def _signature(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
