"""Flask-Babel for the site (Dutch, Europe/Amsterdam) and the Jinja filters pages use to show dates, times,
numbers, plurals, pools and scores the way people read them.

The formatting itself lives in the Flask-free `text.formats` (the matcher and the CLI use it too); these filters
pass it the locale and time zone Flask-Babel holds for the request.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import Babel, get_locale, get_timezone

from wijkwijzer.domain.gemeenten import load_gemeenten
from wijkwijzer.domain.pool import POOLS
from wijkwijzer.text import formats
from wijkwijzer.text.formats import Moment

# How a coordinator reads a match score (0-1: meaning, expertise, themes, free hours, region and load weighed
# together, see domain.matching.WEIGHTS), from the lowest score each label needs.
SCORE_LABELS = ((0.75, "sterke match"), (0.5, "goede match"), (0.0, "matige match"))


def _locale() -> str:
    return str(get_locale() or formats.LOCALE)


def _tz() -> dt.tzinfo | str:
    return get_timezone() or formats.TIMEZONE


def date(value: Moment) -> str:
    """'3 december 2026' (a timestamp's local day)."""
    return formats.format_date(value, _locale(), _tz())


def datetime(value: Moment) -> str:
    """'3 december 2026, 14:05', local time."""
    return formats.format_datetime(value, _locale(), _tz())


def time(value: Moment, seconds: bool = False) -> str:
    """'14:05' ('14:05:09' with seconds), local time."""
    return formats.format_time(value, _locale(), _tz(), seconds)


def month(value: Moment) -> str:
    """'december 2026'."""
    return formats.format_month(value, _locale(), _tz())


def relative_day(value: Moment) -> str:
    """'vandaag', 'gisteren', '3 dagen geleden', 'over 2 weken'."""
    return formats.relative_day(value, locale=_locale(), tz=_tz())


def iso(value: Moment) -> str:
    """A machine-readable moment for `<time datetime>`: the local time with its offset, or the date."""
    try:
        moment = formats.local(value, _tz())
    except ValueError:
        return ""
    return moment.isoformat() if moment else ""


def number(value: float | int | None, decimals: int = 1) -> str:
    """'3,5', '16', '1.250'."""
    return formats.format_number(value, decimals, _locale())


def percent(value: float | None) -> str:
    """'93%'."""
    return formats.format_percent(value, _locale())


def count(n: float, one: str, other: str, decimals: int = 1) -> str:
    """'1 fout', '2 fouten': `{{ problems | length | quantity('fout', 'fouten') }}`."""
    return formats.count(n, one, other, _locale(), decimals)


def plural(n: float, one: str, other: str) -> str:
    """Only the word: `{{ n | plural('aanvraag', 'aanvragen') }}`."""
    return formats.plural(n, one, other, _locale())


def hours(value: float | None) -> str:
    """'3,5 uur'."""
    return formats.format_hours(value, _locale())


def pool_label(key: str | None) -> str:
    """'Expertpool' for 'expertpool'; an unknown key as it is."""
    return POOLS.get(key or "", key or "")


def municipality(item: dict) -> str:
    """A request's municipality as the submitter chose it ("Den Haag"); for requests stored before that was
    kept, the everyday form of the official name."""
    return item.get("municipality_display") or load_gemeenten().display(str(item.get("municipality") or ""))


def score_label(score: float | None) -> str:
    """'sterke match', 'goede match' or 'matige match' for a match score (0-1)."""
    if score is None:
        return ""
    return next(label for low, label in SCORE_LABELS if score >= low)


FILTERS = {
    "date": date, "dutch_date": date, "datetime": datetime, "time": time, "month": month,
    "relative_day": relative_day, "iso": iso, "number": number, "percent": percent, "quantity": count,
    "plural": plural, "hours": hours, "pool_label": pool_label, "score_label": score_label,
    "municipality": municipality,
}


def register(app: Flask) -> None:
    """Flask-Babel with Dutch and Amsterdam time, and the filters above."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", formats.LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", formats.TIMEZONE)
    Babel(app)
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
