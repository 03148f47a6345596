"""Help requests from municipalities: the request type, the form's and the API's validation, the status flow
and the errors a refused change raises. Pure.

We ask for nothing beyond what matching and a reply need (AVG data minimisation): contact name, e-mail and
role of the civil servant, the question, and the facts that decide capacity. Never data about residents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wijkwijzer.domain.gemeenten import Gemeenten
from wijkwijzer.domain.pool import EMAIL, POOLS
from wijkwijzer.domain.taxonomy import Taxonomy

UNKNOWN_KIND = "weet ik niet"
KINDS = (*POOLS, UNKNOWN_KIND)
# Hours a request uses when it names none, per pool (a vraagbaak answer takes an hour, advice half a day).
DEFAULT_HOURS = {"vraagbaak": 1.0, "expertpool": 4.0, "flexpool": 8.0}
NEW, IN_PROGRESS, MATCHED, DONE, DECLINED = "nieuw", "in behandeling", "gekoppeld", "afgerond", "afgewezen"
STATUSES = (NEW, IN_PROGRESS, MATCHED, DONE, DECLINED)
# Which status may follow which: a match can be undone (reassign) until the request is done.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    NEW: (IN_PROGRESS, MATCHED, DECLINED),
    IN_PROGRESS: (MATCHED, DECLINED),
    MATCHED: (IN_PROGRESS, DONE),
    DONE: (),
    DECLINED: (),
}
KIND_LABELS = {"expertpool": "Expertpool (advies)", "flexpool": "Flexpool-woningbouw (tijdelijke capaciteit)",
               "vraagbaak": "Vraagbaak (korte vraag)", UNKNOWN_KIND: "Weet ik niet"}
MAX_QUESTION = 4000
# Signs that someone describes a resident rather than a situation: a BSN-like number, a date of birth.
PERSONAL_DATA = re.compile(r"\b\d{9}\b|\b(geboren|geb\.)\s+(op\s+)?\d{1,2}[-/ ]")


class RefusedChange(ValueError):
    """A change to a request that its state or a hard rule does not allow; the message says why, in Dutch."""


class TransitionError(RefusedChange):
    """A status change the flow does not allow; the message says which ones are allowed."""


class AssignmentRefused(RefusedChange):
    """A link that breaks a hard rule: a conflict of interest, no availability in the period, or no free hours."""


class BadRequest(ValueError):
    """A help request naming a municipality or theme we do not know; the message names the field."""


@dataclass
class FormResult:
    """Validated form data (None on errors) and a Dutch message per field that is wrong."""

    data: dict | None
    errors: dict[str, str] = field(default_factory=dict)


def validate_form(form: Mapping[str, object], gemeenten: Gemeenten, taxonomy: Taxonomy,
                  today: dt.date) -> FormResult:
    """Check the help-request form; every message names what is allowed."""
    errors: dict[str, str] = {}

    def text(name: str, limit: int, required: bool = True) -> str:
        value = str(form.get(name) or "").strip()
        if required and not value:
            errors[name] = "Vul dit veld in."
        elif len(value) > limit:
            errors[name] = f"Gebruik hoogstens {limit} tekens (nu {len(value)})."
        return value

    municipality = text("municipality", 80)
    official = gemeenten.find(municipality) if municipality else None
    if municipality and official is None:
        hint = gemeenten.closest(municipality)
        errors["municipality"] = "Kies een Nederlandse gemeente uit de lijst." + (
            f" Bedoelt u {gemeenten.display(hint)}?" if hint else "")
    focus_area = text("focus_area", 80, required=False)
    focus_key = ""
    if focus_area:
        focus_key = taxonomy.resolve("focus_area", focus_area) or ""
        if not focus_key:
            errors["focus_area"] = "Kies een focusgebied uit de lijst, of laat het leeg."
    name = text("contact_name", 120)
    email = text("email", 200)
    if email and not EMAIL.match(email):
        errors["email"] = "Vul een geldig e-mailadres in, zoals naam@gemeente.nl."
    role = text("role", 120)
    question = text("question", MAX_QUESTION)
    if question and len(question.split()) < 5:
        errors["question"] = "Beschrijf uw vraag in ten minste een paar zinnen."
    elif question and PERSONAL_DATA.search(question):
        errors["question"] = ("Uw vraag lijkt persoonsgegevens van inwoners te bevatten (zoals een BSN of "
                              "geboortedatum). Haal die weg: wij hebben ze niet nodig.")
    themes = [str(t) for t in (form.get("themes") or []) if str(t).strip()]
    unknown = [t for t in themes if taxonomy.resolve("themes", t) is None]
    if unknown:
        errors["themes"] = "Onbekend thema: " + ", ".join(unknown)
    kind = str(form.get("kind") or UNKNOWN_KIND)
    if kind not in KIND_LABELS:
        errors["kind"] = "Kies een van de mogelijkheden."
    start = None
    raw_start = str(form.get("start") or "").strip()
    if raw_start:
        try:
            start = dt.date.fromisoformat(raw_start)
        except ValueError:
            errors["start"] = "Vul een datum in als 2027-01-31."
        else:
            if start < today:
                errors["start"] = "De startdatum ligt in het verleden."
            elif start > today + dt.timedelta(days=2 * 365):
                errors["start"] = "Kies een startdatum binnen twee jaar."
    months = _number(form, "months", 1, 60, errors, whole=True)
    hours = _number(form, "hours_per_week", 1, 40, errors)
    if errors:
        return FormResult(None, errors)
    return FormResult({
        # The official name decides matching and conflicts; the pages show the name the submitter chose.
        "municipality": official, "municipality_display": gemeenten.chosen(municipality) or official,
        "focus_area": focus_key, "contact_name": name, "email": email, "role": role,
        "question": question, "themes": [taxonomy.resolve("themes", t) for t in themes], "kind": kind,
        "start": start.isoformat() if start else None, "months": months, "hours_per_week": hours,
    })


def _number(form: Mapping[str, object], name: str, low: float, high: float, errors: dict[str, str],
            whole: bool = False) -> float | int | None:
    raw = str(form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        errors[name] = f"Vul een {'heel ' if whole else ''}getal in van {low:g} tot en met {high:g}."
        return None
    if not low <= value <= high:
        errors[name] = f"Vul een getal in van {low:g} tot en met {high:g}."
        return None
    return value


def check_transition(current: str, new: str) -> None:
    """Raise TransitionError unless `new` may follow `current`."""
    allowed = TRANSITIONS.get(current, ())
    if new not in allowed:
        options = ", ".join(allowed) or "geen (de aanvraag is afgesloten)"
        raise TransitionError(f"van '{current}' naar '{new}' kan niet; mogelijk: {options}")


def to_help_request(row: Mapping[str, object]) -> HelpRequest:
    """The matcher's view of a stored request: no contact data."""
    kind = str(row.get("kind") or UNKNOWN_KIND)
    start = row.get("start")
    return HelpRequest(
        municipality=str(row["municipality"]), text=str(row["question"]),
        kind=kind if kind in POOLS else None,
        start=dt.date.fromisoformat(str(start)) if start else None,
        months=int(row["months"]) if row.get("months") else None,
        hours_per_week=float(row["hours_per_week"]) if row.get("hours_per_week") else None,
        themes=tuple(row.get("themes") or ()),
    )


@dataclass(frozen=True)
class HelpRequest:
    """What the matcher needs of a help request (no contact data: the matcher never sees it)."""

    municipality: str
    text: str
    kind: str | None = None  # a pool, or None / "weet ik niet"
    start: dt.date | None = None
    months: int | None = None
    hours_per_week: float | None = None
    themes: tuple[str, ...] = ()
    province: str | None = None  # of the municipality, for the region preference


def request_from_json(data: object) -> HelpRequest:
    """A HelpRequest from the JSON of the API and of `wijkwijzer match --input`; ValueError names the field."""
    if not isinstance(data, dict):
        raise ValueError("verwacht een JSON-object met municipality en request")
    municipality, text = data.get("municipality"), data.get("request")
    if not isinstance(municipality, str) or not municipality.strip():
        raise ValueError("municipality: verplicht, de naam van de gemeente")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("request: verplicht, de hulpvraag als tekst")
    kind = data.get("kind") or UNKNOWN_KIND
    if kind not in KINDS:
        raise ValueError(f"kind: kies uit {', '.join(KINDS)}")
    start = data.get("start")
    if start is not None:
        try:
            start = dt.date.fromisoformat(str(start))
        except ValueError:
            raise ValueError(f"start: verwacht een datum als 2027-01-31, niet {start!r}") from None
    months, hours = data.get("months"), data.get("hours_per_week")
    if months is not None and (isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 60):
        raise ValueError("months: een geheel aantal maanden van 1 tot en met 60")
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 40):
        raise ValueError("hours_per_week: een aantal uren per week groter dan 0 en hoogstens 40")
    themes = data.get("themes") or []
    if not isinstance(themes, list) or not all(isinstance(t, str) for t in themes):
        raise ValueError("themes: een lijst met thema's")
    return HelpRequest(municipality=municipality.strip(), text=text.strip()[:5000],
                       kind=None if kind == UNKNOWN_KIND else kind, start=start, months=months,
                       hours_per_week=float(hours) if hours is not None else None, themes=tuple(themes))


def period(request: HelpRequest, today: dt.date) -> tuple[dt.date, dt.date]:
    """The desired period: from the start (today when none is given) for the given months (else one month)."""
    start = max(request.start or today, today)
    months = request.months or 1
    year, month = divmod(start.month - 1 + months, 12)
    end_month_day = min(start.day, 28)
    return start, dt.date(start.year + year, month + 1, end_month_day)
