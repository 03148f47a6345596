"""The matcher: routes a help request to a pool, applies the hard rules, scores and explains each candidate.

Pure: no I/O, no model. The caller passes the semantic similarity of the request to each member's profile
(the search embedder, or `lexical_similarity` when no model is available) and each member's booked hours.
Batch assignment of many requests is an integer programme solved by SciPy's HiGHS (`assign_batch`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from wijkwijzer.domain.gemeenten import everyday_name
from wijkwijzer.domain.helprequests import HelpRequest, period
from wijkwijzer.domain.pool import NATIONWIDE, POOLS, PoolMember
from wijkwijzer.domain.taxonomy import normalise
from wijkwijzer.text.dutch import analyse_word, expand_synonyms, fold, stems, terms
from wijkwijzer.text.formats import count as counted
from wijkwijzer.text.formats import format_date, format_hours, format_number

# Score weights (they sum to 1): meaning first, then named expertise, then the softer preferences.
WEIGHTS = {"similarity": 0.45, "expertise": 0.25, "themes": 0.1, "capacity": 0.1, "region": 0.05, "load": 0.05}

# Routing signals, as Dutch stems (see text.dutch): what a coordinator reads a request for.
CAPACITY_WORDS = {"capaciteit", "inhur", "tijdelijk", "fte", "detacher", "inzet", "bezett", "versterk",
                  "ondersteun", "uur", "urenper", "maand", "handen", "menskracht"}
ROLE_SUFFIXES = ("leider", "econom", "jurist", "manager", "consulent", "adviseur", "specialist", "regisseur",
                 "begeleider", "coordinator", "deskundig", "architect", "planner", "medewerker", "expert")
HOUSING_WORDS = {"woningbouw", "nieuwbouw", "herstructurer", "sloop", "renovatie", "renover", "transformatie",
                 "transformer", "bouwproject", "bouwplan", "omgevingsplan", "bestemmingsplan", "grondexploitatie",
                 "gebiedsontwikkel", "woning", "corporatie", "huurder", "bouw", "planvorm", "wijkvernieuw",
                 "herontwikkel", "stedenbouw", "sloopnieuwbouw", "woningbouwproject", "woningbouwprogramma"}
ADVICE_WORDS = {"aanpak", "sparr", "meedenk", "advies", "adviser", "strategie", "visie", "ervar", "aanpakk",
                "verbeter", "opzet", "opzett", "aanpakt", "begeleid", "evaluer", "samenwerk", "ontwikkel"}
QUESTION_START = re.compile(
    r"^\s*(welke|waar|wanneer|hoeveel|hoelang|mag|mogen|moet|moeten|klopt|geldt|gelden|bestaat|bestaan|"
    r"is er|zijn er|is het|kan een|kunnen|wat is|wat zijn|wat houdt|hoe lang|hoe vaak|wie)\b", re.IGNORECASE)
FACT_WORDS = {"regel", "regeling", "wet", "termijn", "voorwaard", "subsidie", "aanvrag", "formulier", "deadlin",
              "bedrag", "norm", "toegestan", "verplicht", "avg", "wettelijk", "bevoegd", "procedur", "indien",
              "aanvraagformulier", "peildatum", "uitker", "toeslag", "bijdrag", "besluit", "artikel", "mag"}
COUNT_WORDS = {"een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "1": 1, "2": 2, "3": 3,
               "4": 4, "5": 5, "6": 6}


@dataclass(frozen=True)
class Routing:
    """The pool a request goes to, and why."""

    pool: str
    reason: str


@dataclass
class Match:
    """One suggested member with a score (0-1) and the reasons, in Dutch, a coordinator reads."""

    id: str
    name: str
    pool: str
    role: str
    score: float
    reasons: list[str]
    slot: str | None = None  # the requested role this member fills, for multi-role requests

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        data = {"id": self.id, "name": self.name, "pool": self.pool, "role": self.role, "score": self.score,
                "reasons": self.reasons}
        if self.slot:
            data["slot"] = self.slot
        return data


@dataclass
class MatchResult:
    """The routing, the ranked matches, the roles asked for, and who was excluded by which hard rule."""

    routing: Routing
    matches: list[Match]
    roles: list[tuple[str, int]] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # member id -> the rule that excluded it


@dataclass(frozen=True)
class Prepared:
    """What matching reads of a member, analysed once: normalised conflicts, expertise stems, role terms."""

    conflicts: frozenset[str]
    # (tag, per content word the terms that count as that word: its stem and its long compound parts)
    tags: tuple[tuple[str, tuple[frozenset[str], ...]], ...]
    role_terms: frozenset[str]


_prepared: dict[str, tuple[PoolMember, Prepared]] = {}


def prepare(member: PoolMember) -> Prepared:
    """Analyse a member once. Cached by id and checked by identity: hashing a whole member costs more than
    the analysis it saves, and a re-read member is a new object, analysed afresh."""
    cached = _prepared.get(member.id)
    if cached is not None and cached[0] is member:
        return cached[1]
    tags = []
    for tag in member.expertise:
        words = tuple(frozenset({stem} | {run for run, _, _ in runs if len(run) >= 6})
                      for stem, runs in (a for a in (analyse_word(w) for w in re.findall(r"\w+", tag)) if a))
        if words:
            tags.append((tag, words))
    prepared = Prepared(frozenset(normalise(c) for c in member.conflicts), tuple(tags),
                        frozenset(terms(member.role)))
    if len(_prepared) > 200_000:
        _prepared.clear()
    _prepared[member.id] = (member, prepared)
    return prepared


def expertise_hits(member: PoolMember, request_terms: set[str]) -> list[str]:
    """The member's expertise tags the request speaks of, however inflected or compounded.

    A tag counts when every content word of it is among the request's terms (its stems and compound parts),
    or when the request names a specific part (6+ letters) of a compound tag ("schuldhulp" in
    "schuldhulpverlening").
    """
    return [tag for tag, words in prepare(member).tags if all(not w.isdisjoint(request_terms) for w in words)]


def lexical_similarity(request_terms: set[str], profile_terms: set[str]) -> float:
    """Share of the request's terms in the profile: the similarity used when no embedding model is available."""
    return len(request_terms & profile_terms) / len(request_terms) if request_terms else 0.0


# -- routing --------------------------------------------------------------------------------------------------
def route(request: HelpRequest) -> Routing:
    """The pool for a request: the one asked for, or for "weet ik niet" the one its wording calls for."""
    if request.kind in POOLS:
        return Routing(request.kind, f"u koos zelf voor de {POOLS[request.kind]}")
    found = terms(request.text)
    words = [fold(w) for w in re.findall(r"\w+", request.text)]
    roles = [w for w in words if _is_role(w)]
    capacity = sorted(found & CAPACITY_WORDS)
    housing = sorted(found & HOUSING_WORDS)
    asks_capacity = bool(request.hours_per_week or request.months or capacity or roles)
    if asks_capacity and housing:
        signals = [f"{format_hours(request.hours_per_week)} per week" if request.hours_per_week else "",
                   counted(request.months, "maand", "maanden") if request.months else "", *roles[:2], *capacity[:2]]
        signal = ", ".join(s for s in signals if s)
        return Routing("flexpool", f"tijdelijke capaciteit gevraagd ({signal}) voor een woningbouw- of "
                                   f"herstructureringsopgave ({', '.join(housing[:3])})")
    length = len(words)
    facts = sorted(found & FACT_WORDS)
    advice = sorted(found & ADVICE_WORDS)
    question = bool(QUESTION_START.match(request.text)) or request.text.strip().endswith("?")
    if question and length <= 60 and not asks_capacity and (facts or not advice) and len(advice) <= 1:
        detail = f" over {', '.join(facts[:3])}" if facts else ""
        return Routing("vraagbaak", f"een korte feitelijke vraag{detail}: de vraagbaak beantwoordt die snel")
    why = f" ({', '.join(advice[:3])})" if advice else ""
    return Routing("expertpool", f"een inhoudelijke adviesvraag{why}: een adviseur uit de Expertpool denkt mee")


def requested_roles(text: str) -> list[tuple[str, int]]:
    """Roles asked for with a number ("twee projectleiders en een planeconoom" -> [(projectleider, 2), ...])."""
    roles: dict[str, int] = {}
    tokens = re.findall(r"\w+", text.lower())
    for count_word, noun in itertools.pairwise(tokens):
        count = COUNT_WORDS.get(count_word)
        if not count:
            continue
        if _is_role(noun):
            stem = stems(noun)[0]
            roles[stem] = roles.get(stem, 0) + count
    return list(roles.items())


def _is_role(word: str) -> bool:
    """A noun naming a profession ("projectleiders", "planeconoom"), judged by the ending of its stem."""
    found = stems(word)
    return bool(found) and found[0].endswith(ROLE_SUFFIXES)


def fills_role(member: PoolMember, role_stem: str) -> bool:
    """Whether the member's role is the one asked for (also as part of a compound: jurist in planjurist)."""
    return role_stem in prepare(member).role_terms


# -- hard rules -----------------------------------------------------------------------------------------------
def exclusion(member: PoolMember, request: HelpRequest, booked: float, today: dt.date,
              _context: tuple[str, dt.date, dt.date] | None = None) -> str | None:
    """The hard rule that rules a member out for this request, in Dutch, or None when the member may serve."""
    municipality, start, end = _context or (normalise(request.municipality), *period(request, today))
    if municipality in prepare(member).conflicts:
        return f"belangenconflict met de gemeente {everyday_name(request.municipality)}"
    if member.hours_per_week <= 0:
        return "geen uren beschikbaar"
    if booked >= member.hours_per_week:
        return (f"volgeboekt ({format_number(booked, 2)} van {format_hours(member.hours_per_week)} per week "
                f"ingezet)")
    if member.available_until and member.available_until < start:
        return f"beschikbaar tot {format_date(member.available_until)}"
    if member.available_from and member.available_from > end:
        return f"pas beschikbaar vanaf {format_date(member.available_from)}"
    return None


# -- scoring --------------------------------------------------------------------------------------------------
def match(
    request: HelpRequest,
    members: Iterable[PoolMember],
    similarity: Mapping[str, float],
    booked: Mapping[str, float] | None = None,
    today: dt.date | None = None,
    synonyms: Iterable[Iterable[str]] = (),
    limit: int = 5,
    theme_labels: Mapping[str, str] | None = None,
) -> MatchResult:
    """Route, exclude by the hard rules, score and explain; for a request naming several roles, cover each."""
    today = today or dt.date.today()
    booked = booked or {}
    routing = route(request)
    request_terms = expand_synonyms(terms(request.text), synonyms)
    excluded: dict[str, str] = {}
    eligible: list[PoolMember] = []
    context = (normalise(request.municipality), *period(request, today))
    for member in members:
        if member.pool != routing.pool:
            continue
        reason = exclusion(member, request, booked.get(member.id, 0.0), today, context)
        if reason:
            excluded[member.id] = reason
        else:
            eligible.append(member)
    scores = _scores(request, eligible, similarity, booked, request_terms)
    order = sorted(range(len(eligible)), key=lambda i: (-scores[i][0], eligible[i].id))
    roles = requested_roles(request.text) if routing.pool != "vraagbaak" else []
    slots: dict[int, str] = {}
    if sum(count for _, count in roles) >= 2:
        for role, count in roles:  # per requested role the best members that fill it
            fitting = [i for i in order if i not in slots and fills_role(eligible[i], role)]
            slots.update((i, role) for i in fitting[:count])
    chosen = list(slots) + [i for i in order if i not in slots][: max(0, limit - len(slots))]
    matches = [_explain(eligible[i], scores[i], request, booked, today, request_terms, theme_labels or {},
                        slots.get(i)) for i in chosen]
    return MatchResult(routing, matches, roles, excluded)


def _range(similarity: Mapping[str, float], eligible: list[PoolMember]) -> tuple[float, float]:
    values = [similarity.get(m.id, 0.0) for m in eligible] or [0.0]
    return min(values), max(values)


def _scores(request: HelpRequest, eligible: list[PoolMember], similarity: Mapping[str, float],
            booked: Mapping[str, float], request_terms: set[str]) -> list[tuple[float, float]]:
    """(score, spread similarity) per eligible member; reasons are written later, for the shown ones only."""
    low, high = _range(similarity, eligible)
    wanted = request.hours_per_week
    themes = set(request.themes)
    out = []
    for member in eligible:
        raw = similarity.get(member.id, 0.0)
        # Cosines of one model bunch together (e5: 0.75-0.90); spread them over the candidates so they weigh.
        sim = (raw - low) / (high - low) if high - low > 1e-6 else 1.0
        used = booked.get(member.id, 0.0)
        free = member.hours_per_week - used
        hits = len(expertise_hits(member, request_terms))
        region = NATIONWIDE in member.regions or (request.province in member.regions if request.province else False)
        score = (WEIGHTS["similarity"] * sim + WEIGHTS["expertise"] * min(1.0, hits / 2)
                 + WEIGHTS["themes"] * (1.0 if themes.intersection(member.themes) else 0.0)
                 + WEIGHTS["capacity"] * (min(1.0, free / wanted) if wanted else 1.0)
                 + WEIGHTS["region"] * (1.0 if region else 0.0)
                 + WEIGHTS["load"] * (1.0 - used / member.hours_per_week))
        out.append((score, sim))
    return out


def _explain(member: PoolMember, scored: tuple[float, float], request: HelpRequest, booked: Mapping[str, float],
             today: dt.date, request_terms: set[str], theme_labels: Mapping[str, str], slot: str | None) -> Match:
    """The Match with its reasons, in Dutch."""
    score, sim = scored
    reasons = [f"Rol: {member.role}"] if slot else []
    hits = expertise_hits(member, request_terms)
    if hits:
        reasons.append("Expertise: " + ", ".join(hits))
    themes = [t for t in member.themes if t in request.themes]
    reasons.append(f"Profiel sluit {'goed ' if sim >= 0.66 else ''}aan bij de vraag")
    if themes:
        reasons.append("Thema: " + ", ".join(theme_labels.get(t, t) for t in themes))
    free = member.hours_per_week - booked.get(member.id, 0.0)
    total = member.hours_per_week
    hours = (f"{format_hours(free)} per week vrij" if free >= total
             else f"{format_number(free, 2)} van {format_hours(total)} per week vrij")
    if request.hours_per_week and free < request.hours_per_week:
        hours += f" (gevraagd: {format_hours(request.hours_per_week)})"
    reasons.append(hours)
    if NATIONWIDE in member.regions:
        reasons.append("landelijk inzetbaar")
    elif request.province and request.province in member.regions:
        reasons.append(request.province)
    elif member.regions:
        reasons.append("werkt vooral in " + ", ".join(member.regions))
    start, _ = period(request, today)
    if member.available_from and member.available_from > start:
        reasons.append(f"beschikbaar vanaf {format_date(member.available_from)}")
    return Match(member.id, member.name, member.pool, member.role, round(score, 3), reasons, slot)


# -- batch assignment -----------------------------------------------------------------------------------------
@dataclass
class Assignment:
    """For each request the chosen member id (or None), and the total score."""

    members: list[str | None]
    total: float


def assign_greedy(candidates: list[list[tuple[str, float]]], hours: list[float],
                  capacity: Mapping[str, float], groups: list[object] | None = None) -> Assignment:
    """Best pair first while capacity lasts: the baseline the optimiser is compared with. Rows that share a
    `groups` value (the slots of one team) never get the same member twice."""
    left = dict(capacity)
    chosen: list[str | None] = [None] * len(candidates)
    pairs = sorted(((score, r, m) for r, cands in enumerate(candidates) for m, score in cands), reverse=True)
    total = 0.0
    taken: set[tuple[object, str]] = set()
    for score, r, m in pairs:
        group = (groups[r] if groups else r, m)
        if chosen[r] is None and left.get(m, 0.0) >= hours[r] and group not in taken:
            taken.add(group)
            chosen[r] = m
            left[m] -= hours[r]
            total += score
    return Assignment(chosen, total)


def assign_batch(candidates: list[list[tuple[str, float]]], hours: list[float],
                 capacity: Mapping[str, float], groups: list[object] | None = None) -> Assignment:
    """Assign each request at most one of its candidate members, maximising the total score, without any member
    going over its free hours: a 0/1 integer programme solved exactly by HiGHS (scipy.optimize.milp). Rows that
    share a `groups` value (the slots of one team) get a member at most once.

    `candidates[r]` holds only members that pass the hard rules for request r, so none can be broken.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    pairs = [(r, m, s) for r, cands in enumerate(candidates) for m, s in cands if capacity.get(m, 0) >= hours[r]]
    if not pairs:
        return Assignment([None] * len(candidates), 0.0)
    member_row = {m: i for i, m in enumerate(sorted({m for _, m, _ in pairs}))}
    n = len(pairs)
    cols = np.arange(n)
    requests = csr_array((np.ones(n), ([r for r, _, _ in pairs], cols)), shape=(len(candidates), n))
    load = csr_array(([hours[r] for r, _, _ in pairs], ([member_row[m] for _, m, _ in pairs], cols)),
                     shape=(len(member_row), n))
    caps = np.array([capacity[m] for m in member_row])
    constraints = [LinearConstraint(requests, 0, 1), LinearConstraint(load, 0, caps)]
    if groups is not None:
        keys = {key: i for i, key in enumerate(sorted({(str(groups[r]), m) for r, m, _ in pairs}))}
        once = csr_array((np.ones(n), ([keys[(str(groups[r]), m)] for r, m, _ in pairs], cols)),
                         shape=(len(keys), n))
        constraints.append(LinearConstraint(once, 0, 1))
    result = milp(
        c=-np.array([s for _, _, s in pairs]),
        constraints=constraints,
        integrality=np.ones(n), bounds=Bounds(0, 1),
    )
    if result.x is None:  # the solver gave up (it should not: the empty assignment is always feasible)
        return assign_greedy(candidates, hours, capacity, groups)
    chosen: list[str | None] = [None] * len(candidates)
    total = 0.0
    for (r, m, s), x in zip(pairs, result.x, strict=True):
        if x > 0.5:
            chosen[r] = m
            total += s
    return Assignment(chosen, total)
