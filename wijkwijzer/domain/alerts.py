"""Following a theme, action line, focus area or search by e-mail: what is followed, its label, the digest
periods and the fingerprint that tells a changed case study from an unchanged one. Pure: no I/O, no Flask.

What a subscription follows is stored as a canonical query string of the search page (`themes=veiligheid`,
`q=buurtpreventie&focus_area=rotterdam-zuid`), so a theme, an action line, a focus area and any saved search are
one kind of thing, matched by the same search code as `/zoeken`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from wijkwijzer.domain.pool import EMAIL
from wijkwijzer.domain.taxonomy import FACETS, Taxonomy

LOCAL = ZoneInfo("Europe/Amsterdam")
DAILY, WEEKLY = "dagelijks", "wekelijks"
FREQUENCIES = {WEEKLY: "Eén keer per week", DAILY: "Elke dag"}
FREQUENCY_PHRASES = {WEEKLY: "één keer per week", DAILY: "elke dag"}  # inside a sentence
CONFIRM_DAYS = 7  # the confirmation link works this long; `wijkwijzer purge` then removes the unconfirmed
MAX_QUERY_TEXT = 200
MAX_EMAIL = 254
# What a followed search may hold: the words, the facet filters and "exact"; sort and page do not change which
# case studies match, so they are left out (two URLs that differ only there are one subscription).
_TEXT_KEYS = ("q", "exact")
WEEKDAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


class AlertError(ValueError):
    """Input we cannot use; `field` names the form field (email, frequency, query)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownValue(AlertError):
    """A theme, action line or focus area that the taxonomy does not (or no longer) know."""


@dataclass(frozen=True)
class Followed:
    """What one subscription follows: the search words (may be empty), `exact`, and facet filters."""

    text: str = ""
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exact: bool = False

    @property
    def query(self) -> str:
        """The canonical query string (sorted facets and values), as stored and as put in URLs."""
        pairs = [("q", self.text)] if self.text else []
        pairs += [(name, value) for name, values in self.filters for value in values]
        if self.exact and self.text:
            pairs.append(("exact", "1"))
        return urlencode(pairs)

    def filter_dict(self) -> dict[str, tuple[str, ...]]:
        """The filters as SearchRequest takes them."""
        return dict(self.filters)


def parse_followed(query: str, taxonomy: Taxonomy) -> Followed:
    """The canonical form of a search page's query string; AlertError (field "query") for an empty search or a
    filter value the taxonomy does not know. Sort, page and unknown parameters are dropped."""
    filters: dict[str, set[str]] = {}
    text, exact = "", False
    for key, value in parse_qsl(query[:4000], keep_blank_values=False):
        value = " ".join(value.split())
        if key == "q":
            text = value[:MAX_QUERY_TEXT]
        elif key == "exact":
            exact = value == "1"
        elif key in FACETS and value:
            if key in ("themes", "action_lines", "focus_area") and value not in taxonomy.vocabulary(key):
                raise UnknownValue("query", f"{FACETS[key].lower()} '{value[:40]}' bestaat niet (meer)")
            filters.setdefault(key, set()).add(value[:80])
    if not text and not filters:
        raise AlertError("query", "kies eerst een thema, focusgebied of zoekopdracht om te volgen")
    ordered = tuple((name, tuple(sorted(filters[name]))) for name in FACETS if name in filters)
    return Followed(text=text, filters=ordered, exact=exact)


def describe(followed: Followed, taxonomy: Taxonomy) -> str:
    """How pages and mails name what is followed, inside a sentence ("Volg …", "Nieuw bij …"): "thema Wonen",
    "zoekopdracht ‘preventie’ in focusgebied Rotterdam Zuid", "thema Wonen of Duurzaamheid en jaar 2024"."""
    parts = [f"{FACETS[name].lower()} {' of '.join(taxonomy.label(name, v) for v in values)}"
             for name, values in followed.filters]
    joined = " en ".join(parts)
    if followed.text:
        head = f"zoekopdracht ‘{followed.text}’"
        return f"{head} in {joined}" if parts else head
    return joined


def check_email(raw: str) -> str:
    """A plain address, trimmed and with its domain in lower case; AlertError (field "email") otherwise."""
    address = raw.strip()
    if not address:
        raise AlertError("email", "vul uw e-mailadres in")
    if len(address) > MAX_EMAIL or not EMAIL.match(address):
        raise AlertError("email", "vul een geldig e-mailadres in, zoals naam@gemeente.nl")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_frequency(raw: str) -> str:
    """'wekelijks' or 'dagelijks'; AlertError (field "frequency") otherwise."""
    if raw not in FREQUENCIES:
        raise AlertError("frequency", "kies hoe vaak u een e-mail wilt: elke week of elke dag")
    return raw


@dataclass(frozen=True)
class Period:
    """One digest period: its key (unique per subscription) and the moment it ends (UTC)."""

    key: str
    until: dt.datetime


def current_period(frequency: str, now: dt.datetime, hour: int, weekday: int) -> Period:
    """The latest period that has ended at `now`: a daily one ends every day at `hour` (Dutch time), a weekly
    one on `weekday` (1 = Monday) at `hour`. Its key is the date ("2026-12-04") or the ISO week ("2026-W49")."""
    local = now.astimezone(LOCAL)
    end = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if frequency == WEEKLY:
        end -= dt.timedelta(days=(end.isoweekday() - weekday) % 7)
    if end > local:
        end -= dt.timedelta(days=7 if frequency == WEEKLY else 1)
    # ZoneInfo datetimes do wall-clock arithmetic: a period across the change to or from summer time still ends
    # at `hour` Dutch time.
    if frequency == WEEKLY:
        year, week, _ = end.isocalendar()
        key = f"{year}-W{week:02d}"
    else:
        key = end.date().isoformat()
    return Period(key, end.astimezone(dt.UTC))

