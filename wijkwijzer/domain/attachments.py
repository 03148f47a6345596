"""Files beside a case study: the `attachments` frontmatter field, images in the markdown body, the paths we
accept and the limits. Pure (it runs in the parse worker); `wijkwijzer/casefiles.py` checks the files on disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from wijkwijzer.domain.filetypes import TYPES, describe_types, file_type

DEFAULT_MAX_BYTES = 20 * 1000 * 1000
MAX_ATTACHMENTS = 20
MAX_TITLE = 200
# `![alt](target "title")` on one line. Neither part may hold a bracket of its own kind, so every scan stops at
# the next '[' or '(' and the pattern runs in linear time (habit 10).
_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]\(([^()\n]*)\)")
# Possessive throughout: a target of spaces with a stray word after them would otherwise be tried at every split
# of the spaces (50,000 spaces took a minute).
_TARGET = re.compile(r"\s*+<?+([^\s<>]*+)>?+(?:\s++(?:\"[^\"\n]*+\"|'[^'\n]*+'))?+\s*+")
_FENCES = ("```", "~~~")
RAW_IMAGE = "<img>"  # the target of a BodyImage for an HTML image tag (the sanitiser drops it)


@dataclass(frozen=True)
class Attachment:
    """A file listed in the `attachments` field: its path beside the case file and the title readers see."""

    file: str
    title: str


@dataclass(frozen=True)
class BodyImage:
    """An image in the markdown body: the target as written, its alt text and its line in the file."""

    src: str
    alt: str
    line: int = field(default=1, compare=False)


@dataclass(frozen=True)
class FilePolicy:
    """What the site accepts beside a case: which extensions (a subset of filetypes.TYPES), up to what size."""

    extensions: frozenset[str] = frozenset(TYPES)
    max_bytes: int = DEFAULT_MAX_BYTES


def clean_relative(name: str) -> str | None:
    """The path as a clean relative path with forward slashes, or None when it is not one we accept.

    Refused: absolute paths, drive letters, backslashes, `.` and `..` segments, empty segments, hidden names
    (starting with '.'), control characters and URLs: a file beside the case is named from the case's folder.
    """
    if not name or len(name) > 300 or "\\" in name or ":" in name or name.startswith("/"):
        return None
    if any(ord(char) < 32 or char == "\x7f" for char in name):
        return None
    parts = name.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    return "/".join(parts)


def folder_of(slug: str) -> str:
    """The folder of a case file relative to the content folder ('' for a case at the top)."""
    parent = PurePosixPath(slug).parent.as_posix()
    return "" if parent == "." else parent


def parse_attachments(value: object) -> tuple[list[Attachment], list[str]]:
    """The `attachments` field: a list of `{file, title}` mappings. Returns the valid entries and one Dutch
    message per problem (the caller adds file, line and field)."""
    if not isinstance(value, list):
        return [], ["verwacht een lijst van bijlagen met elk file en title, zoals '- file: factsheet.pdf' en "
                    "daaronder '  title: Factsheet van de aanpak'"]
    found: list[Attachment] = []
    problems: list[str] = []
    if len(value) > MAX_ATTACHMENTS:
        problems.append(f"hoogstens {MAX_ATTACHMENTS} bijlagen per casus, niet {len(value)}")
        return [], problems
    for number, item in enumerate(value, start=1):
        where = f"bijlage {number}"
        if not isinstance(item, dict) or not set(map(str, item)) <= {"file", "title"}:
            problems.append(f"{where}: verwacht de velden file en title, bijvoorbeeld file: factsheet.pdf")
            continue
        raw_file, raw_title = item.get("file"), item.get("title")
        if not isinstance(raw_file, str) or not raw_file.strip():
            problems.append(f"{where}: het veld file ontbreekt (het bestand naast de casus, zoals factsheet.pdf)")
            continue
        if not isinstance(raw_title, str | int | float) or not str(raw_title).strip():
            problems.append(f"{where} ({raw_file}): het veld title ontbreekt; de titel is de tekst van de link")
            continue
        title = " ".join(str(raw_title).split())
        name = clean_relative(raw_file.strip())
        if name is None:
            problems.append(f"{where}: '{raw_file[:100]}' is geen pad naast de casus; gebruik een relatief pad "
                            "binnen content/ zonder '..', zonder '/' vooraan en zonder verborgen mappen")
        elif file_type(name) is None:
            problems.append(f"{where}: '{name}' heeft een bestandstype dat niet is toegestaan; toegestaan: "
                            f"{describe_types(TYPES)}")
        elif len(title) > MAX_TITLE:
            problems.append(f"{where} ({name}): de titel is langer dan {MAX_TITLE} tekens")
        elif any(a.file == name for a in found):
            problems.append(f"{where}: '{name}' staat al eerder in de lijst")
        else:
            found.append(Attachment(name, title))
    return found, problems


def body_images(body: str, first_line: int = 1) -> list[BodyImage]:
    """The images in a markdown body (`![alt](target)`), outside fenced code, with their line in the file."""
    images: list[BodyImage] = []
    fenced = False
    for number, line in enumerate(body.split("\n"), start=first_line):
        if line.lstrip().startswith(_FENCES):
            fenced = not fenced
            continue
        if fenced:
            continue
        if "<img" in line.lower():
            images.append(BodyImage(RAW_IMAGE, "", number))  # raw HTML: image_problem asks for markdown instead
        if "![" not in line:
            continue
        for match in _IMAGE.finditer(line):
            target = _TARGET.fullmatch(match.group(2))
            src = target.group(1) if target else match.group(2).strip()
            images.append(BodyImage(src, " ".join(match.group(1).split()), number))
    return images


def image_problem(image: BodyImage) -> str | None:
    """What is wrong with an image reference on its own (no disk): missing alt text, not a file beside the case,
    not an image type. None when it is fine."""
    if image.src == RAW_IMAGE:
        return ("een HTML-tag <img> wordt niet getoond; gebruik markdown met alt-tekst, zoals "
                "![Bewoners planten bomen](bomen.jpg)")
    if not image.alt:
        return (f"afbeelding '{image.src[:100]}' heeft geen alt-tekst; beschrijf tussen de [ ] wat erop staat, "
                "zoals ![Bewoners planten bomen op het schoolplein](schoolplein.jpg)")
    if "://" in image.src or image.src.startswith(("//", "data:")):
        return (f"afbeelding '{image.src[:100]}' staat op een andere plek; zet het bestand naast de casus en "
                "verwijs er met een relatief pad naar (externe afbeeldingen worden niet getoond)")
    name = clean_relative(image.src)
    if name is None:
        return (f"afbeelding '{image.src[:100]}' is geen pad naast de casus; gebruik een relatief pad binnen "
                "content/ zonder '..' en zonder '/' vooraan")
    kind = file_type(name)
    if kind is None or not kind.image:
        images = describe_types(t.extension for t in TYPES.values() if t.image)
        return f"'{name}' is geen afbeelding; toegestaan: {images}"
    return None


def format_size(size: int) -> str:
    """A file size as Dutch readers write it: '512 bytes', '340 kB', '1,2 MB' (decimal units)."""
    if size < 1000:
        return f"{size} bytes" if size != 1 else "1 byte"
    if size < 999_500:
        return f"{max(1, round(size / 1000))} kB"
    megabytes = size / (1000 * 1000)
    text = f"{megabytes:.1f}" if megabytes < 100 else f"{megabytes:.0f}"
    return text.replace(".", ",") + " MB"
