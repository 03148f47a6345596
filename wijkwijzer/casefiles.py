"""Opening a file beside a case study safely: inside the content folder (symbolic links followed, none out), of an
allowed type whose bytes agree with its extension, under the size limit. `wijkwijzer check`, the index and the
site's file route all go through `open_case_file`, so what `check` accepts is exactly what the site serves.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from wijkwijzer.domain.attachments import FilePolicy, clean_relative, folder_of, format_size
from wijkwijzer.domain.content import CaseStudy
from wijkwijzer.domain.filetypes import HEAD_BYTES, OOXML_PART, TYPES, FileType, describe_types, file_type
from wijkwijzer.domain.filetypes import image_size as _image_size
from wijkwijzer.domain.problems import Problem


class FileRefused(Exception):
    """A listed file cannot be used; the message says why in Dutch, for editors."""


@dataclass
class OpenedFile:
    """A case file that passed every check, open for reading; the caller closes it."""

    fh: BinaryIO
    kind: FileType
    size: int
    mtime: float
    inode: int

    def close(self) -> None:
        """Close the file."""
        self.fh.close()

    def dimensions(self) -> tuple[int, int] | None:
        """Width and height of an image (None for other files or when the header does not say)."""
        if not self.kind.image:
            return None
        self.fh.seek(0)
        return _image_size(self.kind, self.fh.read(HEAD_BYTES))


def open_case_file(content_dir: Path, slug: str, name: str, policy: FilePolicy) -> OpenedFile:
    """Open `name` beside the case `slug` after every check; raises FileRefused saying why.

    The real path (symbolic links followed) must lie inside the content folder, and the final name is opened
    without following a link, so a link swapped in after the check is refused too.
    """
    clean = clean_relative(name)
    if clean is None or clean != name:
        raise FileRefused(f"'{name[:100]}' is geen pad naast de casus (geen '..', geen '/' vooraan)")
    kind = file_type(clean)
    if kind is None or kind.extension not in policy.extensions:
        raise FileRefused(f"'{clean}': dit bestandstype is niet toegestaan; toegestaan: "
                          f"{describe_types(policy.extensions)}")
    root = Path(content_dir).resolve()
    folder = folder_of(slug)
    path = root / folder / clean if folder else root / clean
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise FileRefused(f"'{clean}' bestaat niet naast de casus (verwacht: {path.relative_to(root)})") from None
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise FileRefused(f"'{clean}' is niet te lezen ({exc})") from None
    if not real.is_relative_to(root) or any(p.startswith(".") for p in real.relative_to(root).parts):
        raise FileRefused(f"'{clean}' verwijst naar een bestand buiten de map content/; zet het bestand zelf "
                          "naast de casus")
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FileRefused(f"'{clean}' is niet te lezen ({exc.strerror})") from None
    fh = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"'{clean}' is geen gewoon bestand")
        if st.st_size > policy.max_bytes:
            raise FileRefused(f"'{clean}' is {format_size(st.st_size)}; de grens is {format_size(policy.max_bytes)} "
                              "(maak het bestand kleiner)")
        if not content_matches(kind, fh):
            raise FileRefused(f"'{clean}': de inhoud is geen {kind.label} (de eerste bytes passen niet bij "
                              f".{kind.extension}); sla het bestand opnieuw op in dat formaat of geef het de juiste "
                              "extensie")
    except BaseException:
        fh.close()
        raise
    fh.seek(0)
    return OpenedFile(fh, kind, st.st_size, st.st_mtime, st.st_ino)


def content_matches(kind: FileType, fh: BinaryIO) -> bool:
    """Whether the file's content is what its extension says (magic bytes; for zip packages, their parts)."""
    fh.seek(0)
    head = fh.read(16)
    ext = kind.extension
    if ext == "pdf":
        return head.startswith(b"%PDF-")
    if ext == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if ext == "gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if ext == "webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if not head.startswith(b"PK\x03\x04"):
        return False
    return _package_matches(ext, fh)


def _package_matches(ext: str, fh: BinaryIO) -> bool:
    """An Office Open XML or OpenDocument package of the right kind, without macros. Reads the zip directory
    and at most the small `mimetype` entry, never decompresses the documents themselves."""
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as package:
            names = package.namelist()
            if any(name.lower().endswith("vbaproject.bin") or name.lower().startswith("basic/") for name in names):
                return False  # macros (Office's vbaProject.bin, OpenDocument's Basic/ folder)
            if ext in OOXML_PART:
                return "[Content_Types].xml" in names and any(n.startswith(OOXML_PART[ext]) for n in names)
            info = package.getinfo("mimetype")
            if info.file_size > 200:
                return False
            return package.read("mimetype").decode("ascii", "replace").strip() == TYPES[ext].media_type
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, NotImplementedError, EOFError):
        return False


def check_case_files(content_dir: Path, relative: str, case: CaseStudy, policy: FilePolicy) -> list[Problem]:
    """Check every attachment and image of a parsed case on disk; one error per file that cannot be served,
    naming the case file, the line, the field and what is allowed."""
    lines = case.extra.get("lines", {}) if isinstance(case.extra, dict) else {}
    problems: list[Problem] = []
    for attachment in case.attachments:
        try:
            open_case_file(content_dir, case.slug, attachment.file, policy).close()
        except FileRefused as exc:
            problems.append(Problem(relative, lines.get("attachments", 1), "attachments", str(exc)))
    for src in case.images:
        try:
            opened = open_case_file(content_dir, case.slug, src, policy)
        except FileRefused as exc:
            problems.append(Problem(relative, lines.get(src, 1), "afbeelding", str(exc)))
            continue
        opened.close()
        if not opened.kind.image:
            problems.append(Problem(relative, lines.get(src, 1), "afbeelding", f"'{src}' is geen afbeelding"))
    return problems


def listed_files(stored: dict) -> set[str]:
    """The files a stored case study lists: its attachments and the images in its body."""
    return {a["file"] for a in stored.get("attachments", ())} | set(stored.get("images", ()))


@dataclass(frozen=True)
class ListedAttachment:
    """An attachment as the case page lists it: 'Factsheet (PDF, 1,2 MB)'."""

    file: str
    title: str
    label: str
    size: str


@dataclass
class CaseFiles:
    """What a case page needs of the files beside it (read from disk at each view, so it is never stale)."""

    attachments: list[ListedAttachment] = field(default_factory=list)
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # only images that can be served


def describe_case_files(content_dir: Path, slug: str, stored: dict, policy: FilePolicy) -> CaseFiles:
    """The attachments that can be served now (a file that went missing since indexing is left out) with type
    and size, and the width and height of each image in the body."""
    files = CaseFiles()
    for item in stored.get("attachments", ()):
        try:
            opened = open_case_file(content_dir, slug, item["file"], policy)
        except FileRefused:
            continue
        opened.close()
        files.attachments.append(ListedAttachment(item["file"], item["title"], opened.kind.short,
                                                  format_size(opened.size)))
    for src in stored.get("images", ()):
        try:
            opened = open_case_file(content_dir, slug, src, policy)
        except FileRefused:
            continue
        try:
            size = opened.dimensions()
        finally:
            opened.close()
        # (0, 0): served, but its header did not give a believable size, so the page gives none either.
        files.image_sizes[src] = size if size and all(0 < n <= 20000 for n in size) else (0, 0)
    return files
