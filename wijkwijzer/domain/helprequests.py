"""Help requests from municipalities: the form's fields, their validation and the status flow. Pure.

We ask for nothing beyond what matching and a reply need (AVG data minimisation): contact name, e-mail and
role of the civil servant, the question, and the facts that decide capacity. Never data about residents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wijkwijzer.domain.gemeenten import Gemeenten
from wijkwijzer.domain.matching import UNKNOWN_KIND, HelpRequest
from wijkwijzer.domain.pool import EMAIL, POOLS
from wijkwijzer.domain.taxonomy import Taxonomy

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


class TransitionError(ValueError):
    """A status change the flow does not allow; the message says which ones are allowed."""


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
        "municipality": official, "focus_area": focus_key, "contact_name": name, "email": email, "role": role,
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
