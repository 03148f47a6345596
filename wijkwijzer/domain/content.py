"""Case studies: markdown files with YAML frontmatter, parsed by a pure function into `CaseStudy` objects."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from wijkwijzer.domain.attachments import RAW_IMAGE, Attachment, body_images, image_problem, parse_attachments
from wijkwijzer.domain.contact import parse_contact
from wijkwijzer.domain.files import closest, parse_date, read_frontmatter, text_list
from wijkwijzer.domain.problems import Problem
from wijkwijzer.domain.taxonomy import Taxonomy, normalise

KNOWN_FIELDS = (
    "title", "summary", "type", "themes", "action_lines", "municipality", "focus_area",
    "organisations", "date", "evidence", "tags", "contact", "source_url",
    "attachments",
)
LIST_FIELDS = ("themes", "action_lines", "organisations", "tags")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")
SUMMARY_LENGTH = 300
_MARKUP = re.compile(r"[*_`>\[\]]")
_MARKUP_OR_URL = re.compile(r"[*_`>\[\]]|\(https?://[^)]*\)")
_SOURCE_URL = re.compile(r"^https?://[^\s]+$")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class CaseStudy:
    """A validated case study. Vocabulary fields hold taxonomy keys; unknown values were dropped with a warning."""

    slug: str
    title: str
    body: str
    summary: str = ""
    type: str = ""
    themes: tuple[str, ...] = ()
    action_lines: tuple[str, ...] = ()
    municipality: str = ""
    focus_area: str = ""
    organisations: tuple[str, ...] = ()
    date: dt.date | None = None
    evidence: str = ""
    tags: tuple[str, ...] = ()
    contact: str = ""  # the name of the contact (team, person, organisation)
    source_url: str = ""
    content_hash: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    contact_url: str = ""
    attachments: tuple[Attachment, ...] = ()
    images: tuple[str, ...] = ()  # files beside the case that the body shows, as written in the body
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def year(self) -> str:
        """Publication year as text, for the year facet ("" when undated)."""
        return str(self.date.year) if self.date else ""


@dataclass
class ParseResult:
    """What parsing one file gave: the case study (None on errors) and every problem found."""

    case: CaseStudy | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when the file has no errors (warnings are allowed)."""
        return self.case is not None


def slug_for(relative_path: str) -> str:
    """The slug of a content file: its path under the content folder, without `.md`, with forward slashes."""
    return relative_path[:-3] if relative_path.endswith(".md") else str(PurePosixPath(relative_path).with_suffix(""))


def parse_case(relative_path: str, raw: bytes, taxonomy: Taxonomy, content_hash: str = "") -> ParseResult:
    """Parse and validate one case study file. Pure: no I/O; every problem names the file, line and field."""
    problems: list[Problem] = []

    def problem(fieldname: str, message: str, line: int = 1, severity: str = "error") -> None:
        problems.append(Problem(relative_path, line, fieldname, message, severity))

    slug = slug_for(relative_path)
    if not SLUG_PATTERN.match(slug):
        problem("bestandsnaam", "gebruik alleen kleine letters, cijfers, '-' en '_' in map- en bestandsnamen")
        return ParseResult(None, problems)
    head = read_frontmatter(relative_path, raw, problems)
    if head.meta is None:
        return ParseResult(None, problems)
    meta, body, lines = head.meta, head.body, head.lines
    values: dict = {}
    for key, value in meta.items():
        key = str(key)
        line = lines.get(key, 1)
        if key not in KNOWN_FIELDS:
            hint = closest(key, KNOWN_FIELDS)
            problem(key, "onbekend veld, wordt genegeerd" + (f" (bedoelt u '{hint}'?)" if hint else ""), line,
                    "warning")
            continue
        if value is None or value == "" or value == []:
            continue
        if key in LIST_FIELDS:
            items = text_list(value)
            if items is None:
                problem(key, "verwacht een lijst met tekst, bijvoorbeeld [wonen, duurzaamheid]", line)
                continue
            values[key] = items
        elif key == "contact":
            contact, messages = parse_contact(value)
            for message in messages:
                problem(key, message, line)
            values["contact"] = contact
        elif key == "attachments":
            attachments, messages = parse_attachments(value)
            for message in messages:
                problem(key, message, line)
            values[key] = tuple(attachments)
        elif key == "date":
            parsed = parse_date(value)
            if parsed is None:
                problem(key, f"verwacht een datum als 2024-05-14, niet {value!r}", line)
                continue
            values[key] = parsed
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            values[key] = str(value).strip()
        else:
            problem(key, f"verwacht tekst, niet {type(value).__name__}", line)

    images = body_images(body, _body_first_line(raw))
    for image in images:
        if (message := image_problem(image)) is not None:
            problem("afbeelding", message, image.line, "warning" if image.src == RAW_IMAGE else "error")
    images = [image for image in images if image.src != RAW_IMAGE]
    if not values.get("title"):
        problem("title", "verplicht veld ontbreekt: geef de casus een titel", lines.get("title", 1))
    if problems and any(p.severity == "error" for p in problems):
        return ParseResult(None, problems)

    def vocab_one(name: str, key: str) -> str:
        raw_value = values.get(key)
        if not raw_value:
            return ""
        resolved = taxonomy.resolve(name, raw_value)
        if resolved is None:
            _unknown(problem, taxonomy, name, key, raw_value, lines.get(key, 1))
            return ""
        return resolved

    def vocab_many(name: str, key: str) -> tuple[str, ...]:
        keys: list[str] = []
        for raw_value in values.get(key, []):
            resolved = taxonomy.resolve(name, raw_value)
            if resolved is None:
                _unknown(problem, taxonomy, name, key, raw_value, lines.get(key, 1))
            elif resolved not in keys:
                keys.append(resolved)
        return tuple(keys)

    focus = vocab_one("focus_area", "focus_area")
    municipality = values.get("municipality", "")
    area_municipality = taxonomy.municipality_of(focus) if focus else None
    if area_municipality and not municipality:
        municipality = area_municipality
    elif area_municipality and normalise(municipality) != normalise(area_municipality):
        problem("municipality", f"'{municipality}' past niet bij focusgebied {taxonomy.label('focus_area', focus)}"
                f" (gemeente {area_municipality})", lines.get("municipality", 1), "warning")
    source_url = values.get("source_url", "")
    if source_url and not _SOURCE_URL.match(source_url):
        problem("source_url", "verwacht een webadres dat begint met https://; wordt genegeerd",
                lines.get("source_url", 1), "warning")
        source_url = ""
    body = body.strip()
    contact = values.get("contact")
    case = CaseStudy(
        slug=slug,
        title=values["title"],
        body=body,
        summary=values.get("summary") or summarise(body),
        type=vocab_one("type", "type"),
        themes=vocab_many("themes", "themes"),
        action_lines=vocab_many("action_lines", "action_lines"),
        municipality=municipality,
        focus_area=focus,
        organisations=tuple(values.get("organisations", ())),
        date=values.get("date"),
        evidence=vocab_one("evidence", "evidence"),
        tags=tuple(t.lower() for t in values.get("tags", ())),
        contact=contact.name if contact else "",
        source_url=source_url,
        content_hash=content_hash,
        contact_email=contact.email if contact else "",
        contact_phone=contact.phone if contact else "",
        contact_url=contact.url if contact else "",
        attachments=values.get("attachments", ()),
        images=tuple(dict.fromkeys(image.src for image in images)),
        # Where the files are named, so that `check_case_files` points editors at the right line.
        extra={"lines": {"attachments": lines.get("attachments", 1), **{i.src: i.line for i in reversed(images)}}},
    )
    return ParseResult(case, problems)


def _body_first_line(raw: bytes) -> int:
    """The line of the file on which the body starts (after the closing '---'), for problems in the body."""
    text = raw.decode("utf-8", "replace").lstrip("\ufeff")
    if not text.startswith("---"):
        return 1
    lines = text.split("\n")
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            while number < len(lines) and not lines[number].strip():
                number += 1  # python-frontmatter strips the blank lines that open the body
            return number + 1
    return 1


def summarise(body: str, length: int = SUMMARY_LENGTH) -> str:
    """A plain-text summary from the first paragraph of a markdown body, cut at a word boundary."""
    for block in _PARAGRAPH_BREAK.split(body):
        block = block.strip()
        if block and not block.startswith(("#", "|", "```", "<")):
            # A link target runs to the next `)`: the pattern runs only up to the last one, so that a `(https://`
            # with no `)` after it does not scan to the end from each of many such openings (quadratic).
            cut = block.rfind(")") + 1
            plain = _MARKUP_OR_URL.sub("", block[:cut]) + _MARKUP.sub("", block[cut:])
            plain = " ".join(plain.split())
            if len(plain) <= length:
                return plain
            return plain[:length].rsplit(" ", 1)[0] + " …"
    return ""


def read_case(content_dir: Path, path: Path, taxonomy: Taxonomy, content_hash: str = "") -> ParseResult:
    """Read one file from disk and parse it (the only I/O in this module)."""
    return parse_case(path.relative_to(content_dir).as_posix(), path.read_bytes(), taxonomy, content_hash)


def _unknown(problem, taxonomy: Taxonomy, name: str, key: str, value: str, line: int) -> None:
    hint = taxonomy.closest(name, value)
    allowed = ", ".join(taxonomy.vocabulary(name)) or "(de taxonomie is leeg)"
    message = f"onbekende waarde '{value}', wordt genegeerd"
    message += f"; bedoelt u '{hint}'?" if hint else f"; toegestaan: {allowed}"
    problem(key, message, line, "warning")
