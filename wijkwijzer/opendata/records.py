"""Case studies as open data: the public record of each, a stable harvesting order with cursors, and the
JSON Lines and CSV exports. No Flask: the API, the sitemap and `wijkwijzer export` share it.

The public record leaves out the contact field (it may name a person, and a harvested copy cannot honour an
erasure) and the markdown body (`GET /api/v1/cases/<slug>` has it); everything else the case page shows is in it.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

from wijkwijzer.domain.content import SLUG_PATTERN
from wijkwijzer.domain.taxonomy import Taxonomy

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
LIST_SEPARATOR = " | "  # between the values of a list in one CSV cell; keys and labels never contain it
# Stable CSV header: columns are only ever added at the end.
CSV_COLUMNS = (
    "slug", "url", "title", "summary", "type", "type_label", "themes", "theme_labels", "action_lines",
    "action_line_labels", "focus_area", "focus_area_name", "municipality", "organisations", "evidence",
    "evidence_label", "tags", "date", "source_url", "published", "modified", "attachments",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BadListing(ValueError):
    """A listing parameter we cannot use; the message names the parameter and what is allowed (Dutch)."""


def fingerprint(case: dict) -> str:
    """A hash of what a reader sees of a stored case study (not the index's hash, which also changes when only
    the analysis does)."""
    public = {k: v for k, v in case.items() if k != "hash"}
    return hashlib.sha256(json.dumps(public, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _term(taxonomy: Taxonomy, facet: str, key: str) -> dict | None:
    return {"key": key, "label": taxonomy.label(facet, key)} if key else None


def public_record(case: dict, taxonomy: Taxonomy, change: dict, url: str) -> dict:
    """The open-data record of a stored case study (`change`: its row of `case_changes`)."""
    area = taxonomy.focus_areas.get(case["focus_area"]) if case["focus_area"] else None
    return {
        "slug": case["slug"],
        "url": url,
        "title": case["title"],
        "summary": case["summary"],
        "type": _term(taxonomy, "type", case["type"]),
        "themes": [_term(taxonomy, "themes", key) for key in case["themes"]],
        "action_lines": [_term(taxonomy, "action_lines", key) for key in case["action_lines"]],
        "focus_area": ({"key": area.key, "name": area.name, "municipality": area.municipality,
                        "province": area.province} if area else None),
        "municipality": case["municipality"] or None,
        "organisations": list(case["organisations"]),
        "evidence": _term(taxonomy, "evidence", case["evidence"]),
        "tags": list(case["tags"]),
        "date": case["date"] or None,
        "source_url": case["source_url"] or None,
        "published": change["published"],
        "modified": change["modified"],
        "removed": None,
        # The files the case lists, served beside its page (site.case_file): public, like the page.
        "attachments": [{"title": a["title"] or PurePosixPath(a["file"]).name,
                         "url": f"{url}/_bestanden/{quote(a['file'], safe='/')}"}
                        for a in case.get("attachments", [])],
    }


def removed_record(slug: str, change: dict, url: str) -> dict:
    """What a harvester learns of a case study that left the site (only in listings with `since`)."""
    return {"slug": slug, "url": url, "published": change["published"], "modified": change["modified"],
            "removed": change["removed"]}


def parse_since(raw: str) -> str:
    """`since` as stored times compare: an ISO 8601 date (midnight UTC) or date and time (without an offset:
    UTC) -> "YYYY-MM-DDTHH:MM:SS+00:00". Raises BadListing."""
    text = raw.strip()
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
            moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    except ValueError:
        raise BadListing(f"since moet een datum of tijdstip in ISO 8601 zijn (2026-03-01 of "
                         f"2026-03-01T09:30:00Z), niet '{raw[:40]}'") from None
    return moment.replace(microsecond=0).isoformat()


def encode_cursor(modified: str, slug: str) -> str:
    """An opaque cursor: the position after (modified, slug) in the listing's order."""
    return base64.urlsafe_b64encode(f"{modified}\n{slug}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[str, str]:
    """The position a cursor from `encode_cursor` stands for; BadListing when it is not one of ours."""
    problem = BadListing("cursor is ongeldig: gebruik de waarde uit 'next' van de vorige pagina")
    if len(raw) > 400:
        raise problem
    try:
        modified, slug = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("\n")
        dt.datetime.fromisoformat(modified)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise problem from None
    if not SLUG_PATTERN.match(slug):
        raise problem
    return modified, slug


def parse_limit(raw: str | None) -> int:
    """`limit` between 1 and MAX_LIMIT (default DEFAULT_LIMIT); BadListing otherwise."""
    if raw is None or not raw.strip():
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise BadListing(f"limit moet een geheel getal van 1 tot en met {MAX_LIMIT} zijn, niet '{raw[:20]}'")
    return value


@dataclass
class Page:
    """One page of the listing: the records and the cursor of the next page (None on the last)."""

    items: list[dict]
    next_cursor: str | None
    total: int


def listing(live: Iterable[str], changes: dict[str, dict], load: Callable[[list[str]], dict[str, dict]],
            taxonomy: Taxonomy, url: Callable[[str], str], *, since: str | None = None,
            after: tuple[str, str] | None = None, limit: int | None = DEFAULT_LIMIT) -> Page:
    """Records ordered by (modified, slug), so a page boundary never skips or repeats a record while nothing
    changes, and a record that changes moves to the end, where a harvester meets it again. With `since`: only
    records modified at or after it, removed case studies included. `limit` None: every record. `total` counts
    every record of the listing (all pages).

    `live`: the slugs on the site (each with a row in `changes`); `load`: slugs -> {slug: stored case study},
    called once with the page's slugs, so a page costs about the same however large the collection.
    """
    on_site = set(live)
    rows = [(changes[slug]["modified"], slug, True) for slug in on_site]
    if since is not None:
        rows.extend((change["modified"], slug, False) for slug, change in changes.items()
                    if change["removed"] and slug not in on_site)
        rows = [row for row in rows if row[0] >= since]
    rows.sort()
    total = len(rows)
    if after is not None:
        rows = [row for row in rows if (row[0], row[1]) > after]
    limit = len(rows) if limit is None else limit
    page = rows[:limit]
    cases = load([slug for _, slug, is_live in page if is_live])
    items = []
    for _, slug, is_live in page:
        case = cases.get(slug) if is_live else None
        if case is not None:
            items.append(public_record(case, taxonomy, changes[slug], url(slug)))
        elif not is_live or since is not None:  # also one gone since the manifest was read: harvesters learn it
            change = changes[slug]
            items.append(removed_record(slug, {**change, "removed": change["removed"] or change["modified"]},
                                        url(slug)))
    more = len(rows) > limit
    return Page(items, encode_cursor(page[-1][0], page[-1][1]) if more else None, total)


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    # A cell that starts like a formula is text to us, but a spreadsheet would run it (CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(record: dict) -> dict[str, str]:
    """A public record as one CSV row (lists joined by LIST_SEPARATOR)."""
    def keys(terms: list[dict]) -> str:
        return LIST_SEPARATOR.join(t["key"] for t in terms)

    def labels(terms: list[dict]) -> str:
        return LIST_SEPARATOR.join(t["label"] for t in terms)

    area, kind, evidence = record["focus_area"] or {}, record["type"] or {}, record["evidence"] or {}
    row = {
        "slug": record["slug"], "url": record["url"], "title": record["title"], "summary": record["summary"],
        "type": kind.get("key"), "type_label": kind.get("label"),
        "themes": keys(record["themes"]), "theme_labels": labels(record["themes"]),
        "action_lines": keys(record["action_lines"]), "action_line_labels": labels(record["action_lines"]),
        "focus_area": area.get("key"), "focus_area_name": area.get("name"), "municipality": record["municipality"],
        "organisations": LIST_SEPARATOR.join(record["organisations"]), "evidence": evidence.get("key"),
        "evidence_label": evidence.get("label"), "tags": LIST_SEPARATOR.join(record["tags"]), "date": record["date"],
        "source_url": record["source_url"], "published": record["published"], "modified": record["modified"],
        "attachments": LIST_SEPARATOR.join(a["url"] for a in record["attachments"]),
    }
    return {name: _cell(row[name]) for name in CSV_COLUMNS}


def export_lines(records: Iterable[dict], fmt: str) -> Iterator[str]:
    """The records as text in `fmt` ("jsonl": one JSON object per line; "csv": CSV_COLUMNS, then one row each,
    RFC 4180 line ends), piece by piece."""
    if fmt == "jsonl":
        for record in records:
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}: jsonl or csv")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow(csv_row(record))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
