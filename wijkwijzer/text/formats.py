"""Dates, times, numbers and plurals as Dutch readers expect them, in local time (Europe/Amsterdam).

Babel does the work from CLDR data (month names, decimal comma, plural rules), so nothing here spells a month or
guesses a plural. Pure and Flask-free: the core (matching reasons, CLI output) calls these directly; the web layer
wraps them as Jinja filters with the locale and time zone Flask-Babel holds (`web/formats.py`).

Stored timestamps are UTC ISO strings ("2026-12-03T13:05:00+00:00", see storage.db.now); stored dates are plain
ISO dates ("2026-12-03") and are shown as they are.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

LOCALE = "nl"
TIMEZONE = "Europe/Amsterdam"

Moment = dt.datetime | dt.date | str | None


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def _zone(tz: dt.tzinfo | str) -> dt.tzinfo:
    return babel_dates.get_timezone(tz) if isinstance(tz, str) else tz


def parse_moment(value: Moment) -> dt.datetime | dt.date | None:
    """A date, an aware datetime, or None: ISO strings are parsed; a datetime without a zone is taken as UTC
    (that is how the store writes them). Raises ValueError for a string that is no ISO date or time."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        value = dt.datetime.fromisoformat(text) if "T" in text or " " in text else dt.date.fromisoformat(text)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def local(value: Moment, tz: dt.tzinfo | str = TIMEZONE) -> dt.datetime | dt.date | None:
    """A moment in local time (a datetime), or the date itself for a plain date."""
    moment = parse_moment(value)
    if isinstance(moment, dt.datetime):
        return moment.astimezone(_zone(tz))
    return moment


def local_date(value: Moment, tz: dt.tzinfo | str = TIMEZONE) -> dt.date | None:
    """The calendar day of a moment in local time: 23:30 UTC on 3 December is 4 December in Amsterdam."""
    moment = local(value, tz)
    return moment.date() if isinstance(moment, dt.datetime) else moment


def format_date(value: Moment, locale: str = LOCALE, tz: dt.tzinfo | str = TIMEZONE) -> str:
    """'3 december 2026' (the local day of a timestamp); '' for nothing, an unreadable string as it is."""
    try:
        day = local_date(value, tz)
    except ValueError:
        return str(value)
    return babel_dates.format_date(day, "long", locale=_locale(locale)) if day else ""


def format_datetime(value: Moment, locale: str = LOCALE, tz: dt.tzinfo | str = TIMEZONE) -> str:
    """'3 december 2026, 14:05' in local time; a plain date shows as a date."""
    try:
        moment = local(value, tz)
    except ValueError:
        return str(value)
    if not isinstance(moment, dt.datetime):
        return format_date(moment, locale, tz)
    return (f"{babel_dates.format_date(moment.date(), 'long', locale=_locale(locale))}, "
            f"{babel_dates.format_time(moment, 'short', tzinfo=moment.tzinfo, locale=_locale(locale))}")


def format_time(value: Moment, locale: str = LOCALE, tz: dt.tzinfo | str = TIMEZONE, seconds: bool = False) -> str:
    """'14:05' in local time ('14:05:09' with seconds)."""
    try:
        moment = local(value, tz)
    except ValueError:
        return str(value)
    if not isinstance(moment, dt.datetime):
        return ""
    return babel_dates.format_time(moment, "medium" if seconds else "short", tzinfo=moment.tzinfo,
                                   locale=_locale(locale))


def format_month(value: Moment, locale: str = LOCALE, tz: dt.tzinfo | str = TIMEZONE) -> str:
    """'december 2026' (also from '2026-12', as the dashboard counts months)."""
    if isinstance(value, str) and len(value.strip()) == 7:
        value = value.strip() + "-01"
    try:
        day = local_date(value, tz)
    except ValueError:
        return str(value)
    return babel_dates.format_date(day, "LLLL y", locale=_locale(locale)) if day else ""


def relative_day(value: Moment, today: dt.date | None = None, locale: str = LOCALE,
                 tz: dt.tzinfo | str = TIMEZONE) -> str:
    """How far a day is from today, as people say it: 'vandaag', 'gisteren', 'morgen', '3 dagen geleden',
    'over 2 weken'. Counted in local calendar days."""
    try:
        day = local_date(value, tz)
    except ValueError:
        return ""
    if day is None:
        return ""
    today = today or dt.datetime.now(_zone(tz)).date()
    days = (day - today).days
    # CLDR's relative day names (babel has no API for them; they are the Dutch words for -1, 0 and 1 day).
    named = {-1: "gisteren", 0: "vandaag", 1: "morgen"}
    if days in named:
        return named[days]
    return babel_dates.format_timedelta(dt.timedelta(days=days), granularity="day", add_direction=True,
                                        locale=_locale(locale))


def format_number(value: float | int | None, decimals: int = 1, locale: str = LOCALE) -> str:
    """'3,5', '16', '1.250': a decimal comma, at most `decimals` decimals, none when the number is whole."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    pattern = "#,##0" + ("." + "#" * decimals if decimals > 0 else "")
    return babel_numbers.format_decimal(value, format=pattern, locale=_locale(locale))


def format_percent(value: float | None, locale: str = LOCALE) -> str:
    """A share (0-1) as a whole percentage, '93%'."""
    if value is None:
        return ""
    return babel_numbers.format_percent(value, format="#,##0%", locale=_locale(locale))


def plural(n: float, one: str, other: str, locale: str = LOCALE, decimals: int = 1) -> str:
    """The word for `n` as shown with at most `decimals` decimals, by the language's plural rule (CLDR):
    1 fout, 2 fouten, 0 fouten; 1,5 dagen."""
    shown = round(abs(n), decimals)
    # CLDR counts visible decimals: 1.0 would be "other"; shown without decimals it is a plain 1.
    shown = int(shown) if float(shown).is_integer() else shown
    return one if _locale(locale).plural_form(shown) == "one" else other


def count(n: float, one: str, other: str, locale: str = LOCALE, decimals: int = 1) -> str:
    """The number and the word: '1 fout', '2 fouten', '40 resultaten'."""
    return f"{format_number(n, decimals, locale)} {plural(n, one, other, locale, decimals)}"


def format_hours(value: float | None, locale: str = LOCALE) -> str:
    """'3,5 uur', '1 uur' ('uur' stays singular after a number in Dutch: 8 uur)."""
    return "" if value is None else f"{format_number(value, 2, locale)} uur"
