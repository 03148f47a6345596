"""Mails from templates: `compose("receipt", to, **context)` renders web/templates/mail/receipt.subject.txt,
receipt.txt and receipt.html (the HTML inside the shared _layout.html, autoescaped) into a Message.

The templates live beside the site's (package data already covers them) but are rendered by a Jinja environment
of their own, without Flask, so a background job or the CLI composes the same mail as a request handler.
Dutch dates, times and numbers come from Babel (CLDR nl_NL), times in Europe/Amsterdam.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from wijkwijzer.domain.mail import Message

LOCALE = "nl_NL"
TIMEZONE = ZoneInfo("Europe/Amsterdam")


class UnknownMail(LookupError):
    """No templates for this kind of mail."""


def _moment(value: str | dt.date | dt.datetime) -> dt.datetime | dt.date:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # stored times are UTC
    return value


def dutch_date(value: str | dt.date | dt.datetime | None) -> str:
    """'3 december 2026' (in Dutch time for a moment)."""
    if not value:
        return ""
    value = _moment(value)
    if isinstance(value, dt.datetime):
        value = value.astimezone(TIMEZONE).date()
    return format_date(value, "d MMMM y", locale=LOCALE)


def dutch_datetime(value: str | dt.datetime | None) -> str:
    """'3 december 2026 om 21:15' in Dutch time."""
    if not value:
        return ""
    value = _moment(value)
    if not isinstance(value, dt.datetime):
        return dutch_date(value)
    return format_datetime(value, "d MMMM y 'om' HH:mm", tzinfo=TIMEZONE, locale=LOCALE)


def dutch_number(value: float | int | None, digits: int = 1) -> str:
    """'2,5', '1.200': Dutch separators, at most `digits` decimals."""
    if value is None:
        return ""
    return format_decimal(value, format=f"#,##0.{'#' * digits}" if digits else "#,##0", locale=LOCALE)


def hours(value: float | int | None) -> str:
    """'2,5 uur per week'."""
    return f"{dutch_number(value)} uur per week" if value is not None else ""


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment of the mail templates (built once)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("wijkwijzer", "web/templates/mail"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug to see in tests, not an empty line in a mail
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(datum=dutch_date, datumtijd=dutch_datetime, getal=dutch_number, uren=hours)
    return env


def compose(kind: str, to: str, *, request_id: int | None = None, headers: dict[str, str] | None = None,
            **context) -> Message:
    """Render the three templates of `kind` with `context` into a Message to `to` (UnknownMail when missing)."""
    env = environment()
    try:
        subject = env.get_template(f"{kind}.subject.txt").render(**context)
        text = env.get_template(f"{kind}.txt").render(**context)
        html = env.get_template(f"{kind}.html").render(**context)
    except jinja2.TemplateNotFound as exc:
        raise UnknownMail(f"geen mailsjabloon {exc.name} (web/templates/mail/)") from None
    return Message(to=to, subject=" ".join(subject.split()), text=text.strip() + "\n", html=html, kind=kind,
                   request_id=request_id, headers=dict(headers or {}))
