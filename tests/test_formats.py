"""Dutch dates, times, numbers and plurals (text.formats) and the Jinja filters over them (web.formats)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask, render_template_string

from tests.conftest import ROOT
from wijkwijzer.text import formats
from wijkwijzer.web import formats as web_formats


@pytest.mark.parametrize(("stored", "shown"), [
    ("2026-12-03T13:05:00+00:00", "3 december 2026, 14:05"),  # winter: UTC+1
    ("2026-07-03T13:05:00+00:00", "3 juli 2026, 15:05"),  # summer: UTC+2
    # The spring change, 29 March 2026 at 01:00 UTC: 02:00 CET jumps to 03:00 CEST.
    ("2026-03-29T00:59:00+00:00", "29 maart 2026, 01:59"),
    ("2026-03-29T01:00:00+00:00", "29 maart 2026, 03:00"),
    # The autumn change, 25 October 2026 at 01:00 UTC: 02:30 happens twice, an hour apart in UTC.
    ("2026-10-25T00:30:00+00:00", "25 oktober 2026, 02:30"),
    ("2026-10-25T01:30:00+00:00", "25 oktober 2026, 02:30"),
    ("2026-10-25T02:30:00+00:00", "25 oktober 2026, 03:30"),
    ("2026-12-03T13:05:00", "3 december 2026, 14:05"),  # no zone: stored times are UTC
    (dt.datetime(2026, 12, 3, 13, 5, tzinfo=dt.UTC), "3 december 2026, 14:05"),
    ("2026-12-03", "3 december 2026"),  # a plain date stays that date
])
def test_datetimes_are_shown_in_amsterdam_time(stored, shown):
    assert formats.format_datetime(stored) == shown


def test_a_timestamp_late_in_the_evening_is_the_next_day_in_amsterdam():
    assert formats.format_date("2026-12-03T23:30:00+00:00") == "4 december 2026"
    assert formats.format_date("2026-07-03T22:30:00+00:00") == "4 juli 2026"
    assert formats.format_date("2026-07-03T21:59:00+00:00") == "3 juli 2026"
    assert formats.format_date(dt.date(2027, 1, 31)) == "31 januari 2027"
    assert formats.format_time("2026-07-03T21:59:00+00:00") == "23:59"
    assert formats.format_time("2026-12-03T21:59:07+00:00", seconds=True) == "22:59:07"


def test_months_and_bad_input():
    assert formats.format_month("2026-05") == "mei 2026"
    assert formats.format_month(dt.date(2027, 3, 1)) == "maart 2027"
    assert formats.format_date(None) == formats.format_datetime("") == ""
    assert formats.format_date("gisteren") == "gisteren"  # not a date: shown as it is, never an exception


@pytest.mark.parametrize(("day", "said"), [
    ("2026-12-03", "vandaag"), ("2026-12-02", "gisteren"), ("2026-12-04", "morgen"),
    ("2026-11-30", "3 dagen geleden"), ("2026-12-08", "over 5 dagen"), ("2026-11-19", "2 weken geleden"),
    ("2026-12-02T23:30:00+00:00", "vandaag"),  # 00:30 on 3 December in Amsterdam
])
def test_relative_days(day, said):
    assert formats.relative_day(day, today=dt.date(2026, 12, 3)) == said


@pytest.mark.parametrize(("n", "shown"), [
    (0, "0 fouten"), (1, "1 fout"), (2, "2 fouten"), (1.0, "1 fout"), (1.5, "1,5 fouten"), (1.04, "1 fout"),
    (40, "40 fouten"), (1250, "1.250 fouten"),
])
def test_plurals_follow_the_dutch_rule(n, shown):
    assert formats.count(n, "fout", "fouten") == shown


def test_numbers_hours_and_percentages():
    assert formats.format_number(3.5) == "3,5"
    assert formats.format_number(16.0) == "16"
    assert formats.format_number(2.25, 2) == "2,25"
    assert formats.format_number(2.25) in {"2,2", "2,3"}  # one decimal by default
    assert formats.format_number(12500) == "12.500"
    assert formats.format_hours(3.5) == "3,5 uur" and formats.format_hours(1) == "1 uur"
    assert formats.format_hours(0.25) == "0,25 uur"
    assert formats.format_percent(0.934) == "93%" and formats.format_percent(1) == "100%"


@pytest.fixture
def app():
    app = Flask(__name__)
    web_formats.register(app)
    return app


def render(app: Flask, source: str, **context) -> str:
    with app.test_request_context():
        return render_template_string(source, **context)


def test_the_template_filters(app):
    assert render(app, "{{ at | datetime }}", at="2026-07-03T13:05:00+00:00") == "3 juli 2026, 15:05"
    assert render(app, "{{ at | date }}", at="2026-12-03T23:30:00+00:00") == "4 december 2026"
    assert render(app, "{{ at | dutch_date }}", at="2024-05-14") == "14 mei 2024"
    assert render(app, "{{ at | iso }}", at="2026-07-03T13:05:00+00:00") == "2026-07-03T15:05:00+02:00"
    assert render(app, "{{ '2026-12' | month }}") == "december 2026"
    results = "{{ 1 | quantity('resultaat', 'resultaten') }}, {{ 40 | quantity('resultaat', 'resultaten') }}"
    assert render(app, results) == "1 resultaat, 40 resultaten"
    assert render(app, "{{ 3.5 | hours }} per week") == "3,5 uur per week"
    assert render(app, "{{ 2 | plural('aanvraag', 'aanvragen') }}") == "aanvragen"
    assert render(app, "{{ 'expertpool' | pool_label }}, {{ 'flexpool' | pool_label }}") \
        == "Expertpool, Flexpool-woningbouw"
    assert render(app, "{{ 0.93 | score_label }} ({{ 0.93 | percent }})") == "sterke match (93%)"
    assert render(app, "{{ 0.6 | score_label }}, {{ 0.2 | score_label }}") == "goede match, matige match"
    # Jinja's own `count` (a length) is left alone.
    assert render(app, "{{ [1, 2] | count }}") == "2"


def test_the_app_speaks_dutch_in_amsterdam_time(app):
    from flask_babel import get_locale, get_timezone

    with app.test_request_context():
        assert str(get_locale()) == "nl" and str(get_timezone()) == "Europe/Amsterdam"


def test_no_month_names_are_written_by_hand():
    """Babel knows the months; a hand-made list drifts (and cannot follow another locale)."""
    months = re.compile(r"[\"'](januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|"
                        r"december)[\"']")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "wijkwijzer").rglob("*.py")
                 if len(months.findall(path.read_text(encoding="utf-8"))) >= 3]
    assert offenders == []
