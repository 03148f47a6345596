"""Teams: the role slots of a help request, the invitation states of a link, and working days. Pure.

A request asks for one or more people ("twee projectleiders en een planeconoom" -> three slots); each slot has a
role, hours per week and a period. A coordinator invites a member into a slot; the member accepts or declines, or
the invitation expires. The request is "gekoppeld" once every slot holds an accepted member.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

from wijkwijzer.domain.helprequests import DEFAULT_HOURS, HelpRequest, period
from wijkwijzer.domain.matching import COUNT_WORDS
from wijkwijzer.domain.routing import is_role, route
from wijkwijzer.text.dutch import stems

INVITED, ACCEPTED, DECLINED, EXPIRED, RELEASED = "uitgenodigd", "geaccepteerd", "afgeslagen", "verlopen", "vrijgegeven"
ACTIVE_STATES = (INVITED, ACCEPTED)  # a link that holds the member's hours
STATE_LABELS = {INVITED: "uitgenodigd, wacht op antwoord", ACCEPTED: "heeft geaccepteerd",
                DECLINED: "heeft afgeslagen", EXPIRED: "niet op tijd geantwoord", RELEASED: "vrijgegeven"}
MAX_SLOTS = 12
MAX_ROLE = 80


@dataclass(frozen=True)
class SlotSpec:
    """A place in the team: the role asked for (empty: any member of the pool), hours per week, the period."""

    role: str
    hours_per_week: float
    start: dt.date
    end: dt.date


def role_label(word: str, stem: str) -> str:
    """The singular a coordinator reads for a role word of the request ("planeconomen" -> "planeconoom")."""
    candidates = [word]
    if word.endswith("s"):
        candidates.append(word[:-1])
    if word.endswith("en"):
        base = word[:-2]
        # Dutch doubles a long vowel in an open syllable: econo-men -> econoom; try that spelling first.
        if len(base) >= 3 and base[-1] not in "aeiou" and base[-2] in "aeiou" and base[-3] not in "aeiou":
            candidates.append(base[:-1] + base[-2] + base[-1])
        candidates.append(base)
    for candidate in candidates[1:] + candidates[:1]:
        found = stems(candidate)
        if found and found[0] == stem:
            return candidate
    return stem


def requested_team(text: str) -> list[tuple[str, int]]:
    """The roles a request names with a number, as readable singulars with their counts, in order of mention.

    The same parse as the matcher's `requested_roles` (a count word followed by a profession noun), kept in step
    with it by a test; here the word itself is kept for the label.
    """
    roles: dict[str, tuple[str, int]] = {}
    for count_word, noun in itertools.pairwise(re.findall(r"\w+", text.lower())):
        count = COUNT_WORDS.get(count_word)
        if not count or not is_role(noun):
            continue
        stem = stems(noun)[0]
        label, before = roles.get(stem, (role_label(noun, stem), 0))
        roles[stem] = (label, before + count)
    return list(roles.values())


def derive_slots(request: HelpRequest, created: dt.date) -> list[SlotSpec]:
    """The slots a request asks for: one per person named ("twee projectleiders" -> two), else one slot.

    Hours per week are the request's (per person) or the pool's default; the period starts at the requested
    start (else the day it came in) for the requested months (else one month).
    """
    pool = route(request).pool
    hours = request.hours_per_week or DEFAULT_HOURS[pool]
    start, end = period(request, created)
    team = requested_team(request.text) if pool != "vraagbaak" else []
    specs = [SlotSpec(label, hours, start, end) for label, count in team for _ in range(count)][:MAX_SLOTS]
    return specs or [SlotSpec("", hours, start, end)]


def validate_slot(form: dict, default_start: dt.date) -> tuple[SlotSpec | None, dict[str, str]]:
    """A slot from the coordinator's form (role, hours, start, end); a Dutch message per wrong field."""
    errors: dict[str, str] = {}
    role = str(form.get("role") or "").strip()
    if len(role) > MAX_ROLE:
        errors["role"] = f"Gebruik hoogstens {MAX_ROLE} tekens voor de rol (nu {len(role)})."
    raw_hours = str(form.get("hours_per_week") or "").strip().replace(",", ".")
    hours = 0.0
    try:
        hours = float(raw_hours)
        if not 0.5 <= hours <= 40:
            raise ValueError
    except ValueError:
        errors["hours_per_week"] = "Vul een aantal uren per week in van 0,5 tot en met 40."
    dates = {}
    for name, label in (("start", "begindatum"), ("end", "einddatum")):
        raw = str(form.get(name) or "").strip()
        try:
            dates[name] = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            errors[name] = f"Vul de {label} in als 2027-01-31."
    start = dates.get("start") or default_start
    end = dates.get("end")
    if "end" not in errors and end is None:
        errors["end"] = "Vul de einddatum in als 2027-01-31."
    elif end is not None and "start" not in errors and end < start:
        errors["end"] = "De einddatum ligt voor de begindatum."
    if errors or end is None:
        return None, errors
    return SlotSpec(role, hours, start, end), {}


# -- working days (Monday to Friday) ------------------------------------------------------------------------------
def add_working_days(day: dt.date, n: int) -> dt.date:
    """The date `n` working days after `day` (Saturdays and Sundays do not count)."""
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def working_days_between(first: dt.date, last: dt.date) -> int:
    """Working days after `first` up to and including `last` (0 when `last` is not later)."""
    if last <= first:
        return 0
    whole, rest = divmod((last - first).days, 7)
    count = whole * 5
    day = first + dt.timedelta(days=whole * 7)
    for _ in range(rest):
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            count += 1
    return count
