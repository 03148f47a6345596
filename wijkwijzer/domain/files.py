"""Reading markdown files with YAML frontmatter: decoding, splitting, line numbers, dates.

Shared by case studies (`content.py`) and pool members (`pool.py`); pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass

import frontmatter
import yaml

from wijkwijzer.domain.problems import Problem


@dataclass
class Frontmatter:
    """The fields, body and the line of each top-level field of one file (None fields: it could not be read)."""

    meta: dict | None
    body: str
    lines: dict[str, int]


def read_frontmatter(relative_path: str, raw: bytes, problems: list[Problem]) -> Frontmatter:
    """Decode UTF-8 and split the YAML head from the body; unreadable files add an error to `problems`."""

    def error(fieldname: str, message: str, line: int = 1) -> Frontmatter:
        problems.append(Problem(relative_path, line, fieldname, message))
        return Frontmatter(None, "", {})

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return error("codering", f"het bestand is geen UTF-8 (byte {exc.start}); sla het op als UTF-8", line)
    text = text.lstrip("\ufeff")
    try:
        meta, body = split(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = (mark.line + 2) if mark else 1  # +1 for 0-based, +1 for the opening '---'
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return error("frontmatter", f"de YAML-kop is niet leesbaar: {reason}", line)
    if not isinstance(meta, dict):
        return error("frontmatter", "de kop tussen '---' moet velden bevatten (naam: waarde)")
    return Frontmatter({str(k): v for k, v in meta.items()}, body, field_lines(text))


def split(text: str) -> tuple[object, str]:
    """Split frontmatter from the body with python-frontmatter; a file without frontmatter has no fields."""
    if not text.startswith("---"):
        return {}, text
    post = frontmatter.loads(text)
    return post.metadata, post.content


def field_lines(text: str) -> dict[str, int]:
    """Line number of each top-level key in the frontmatter, so problems point at the right line."""
    lines: dict[str, int] = {}
    if not text.startswith("---"):
        return lines
    for number, line in enumerate(text.splitlines()[1:], start=2):
        if line.strip() == "---":
            break
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if match:
            lines.setdefault(match.group(1), number)
    return lines


def parse_date(value: object) -> dt.date | None:
    """A date from YAML (already a date) or ISO text; None when it is neither."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def text_list(value: object) -> list[str] | None:
    """A YAML list of scalars (or comma-separated text) as stripped strings; None when it is something else."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        return None
    return [str(v).strip() for v in value if str(v).strip()]


def closest(name: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The most similar option, for "bedoelt u …?" hints."""
    hits = difflib.get_close_matches(name, options, n=1, cutoff=0.7)
    return hits[0] if hits else None
