"""The matcher: routes a help request to a pool (domain/routing.py), applies the hard rules, scores and explains
each candidate.

Pure: no I/O, no model. The caller passes the semantic similarity of the request to each member's profile
(the search embedder, or `lexical_similarity` when no model is available) and each member's booked hours.
Batch assignment of many requests is an integer programme solved by SciPy's HiGHS (`assign_batch`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from wijkwijzer.domain.gemeenten import everyday_name
from wijkwijzer.domain.helprequests import HelpRequest, period
from wijkwijzer.domain.pool import NATIONWIDE, PoolMember
from wijkwijzer.domain.routing import Routing, is_role, route
from wijkwijzer.domain.taxonomy import normalise
from wijkwijzer.text.dutch import analyse_word, compound_parts, expand_synonyms, stems, terms
from wijkwijzer.text.formats import format_date, format_hours, format_number

# Score weights, scaled to sum to 1: meaning first, then expertise and the specific words request and profile
# share, then the softer preferences.
_WEIGHTS = {"similarity": 0.45, "expertise": 0.25, "lexical": 0.1, "themes": 0.1, "capacity": 0.1, "region": 0.05,
            "load": 0.05}
WEIGHTS = {name: weight / sum(_WEIGHTS.values()) for name, weight in _WEIGHTS.items()}

COUNT_WORDS = {"een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "1": 1, "2": 2, "3": 3,
               "4": 4, "5": 5, "6": 6}


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
    alternatives: list[Match] = field(default_factory=list)  # the next pool's best, when the route is unsure


@dataclass(frozen=True)
class Calibration:
    """Where the similarity of request and profile starts to mean something, for the similarity in use.

    `related` and `close` are raw similarities (cosines for a model) that only a small share of unrelated
    request/profile pairs reach (see `expertise.calibrate`); `common` are the compound parts many profiles of
    the pool use, which link no expertise (see `related_expertise`).
    """

    related: float
    close: float
    common: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Prepared:
    """What matching reads of a member, analysed once: normalised conflicts, expertise stems, role terms."""

    conflicts: frozenset[str]
    # (tag, per content word of it: its stem and its specific compound parts, 6+ letters)
    tags: tuple[tuple[str, tuple[tuple[str, frozenset[str]], ...]], ...]
    role_terms: frozenset[str]
    # per tag the parts (4+ letters) of its compound words: "drug" and "criminaliteit" of "drugscriminaliteit"
    parts: tuple[frozenset[str], ...] = ()
    profile: frozenset[str] = frozenset()  # the terms of role, expertise and profile text


@dataclass(frozen=True)
class Asked:
    """A request's words as matching reads them, with the synonyms of `_synonyms.yml` added.

    `terms`: the stems of its words and of their compound parts; `words`: the stems of its whole words only;
    `parts`: the compound parts of its compound words ("drug" and "handel" of "drugshandel").
    """

    terms: frozenset[str]
    words: frozenset[str]
    parts: frozenset[str]


def asked(text: str, synonyms: Iterable[Iterable[str]] = ()) -> Asked:
    """Analyse a request's text once for the expertise rules (see `expertise_hits`, `related_expertise`)."""
    synonyms = [list(group) for group in synonyms]
    return Asked(frozenset(expand_synonyms(terms(text), synonyms)),
                 frozenset(expand_synonyms(set(stems(text)), synonyms)), frozenset(compound_parts(text)))


_prepared: dict[str, tuple[PoolMember, Prepared]] = {}


def prepare(member: PoolMember) -> Prepared:
    """Analyse a member once. Cached by id and checked by identity: hashing a whole member costs more than
    the analysis it saves, and a re-read member is a new object, analysed afresh."""
    cached = _prepared.get(member.id)
    if cached is not None and cached[0] is member:
        return cached[1]
    tags, parts = [], []
    for tag in member.expertise:
        analysed = [a for a in (analyse_word(w) for w in re.findall(r"\w+", tag)) if a]
        words = tuple((stem, frozenset(run for run, _, _ in runs if len(run) >= 6)) for stem, runs in analysed)
        if words:
            tags.append((tag, words))
            parts.append(frozenset(run for _, runs in analysed for run, _, _ in runs if len(run) >= 4))
    prepared = Prepared(frozenset(normalise(c) for c in member.conflicts), tuple(tags),
                        frozenset(terms(member.role)), tuple(parts), frozenset(terms(member.profile_text())))
    if len(_prepared) > 200_000:
        _prepared.clear()
    _prepared[member.id] = (member, prepared)
    return prepared


def expertise_hits(member: PoolMember, request: Asked, common: frozenset[str] = frozenset()) -> list[str]:
    """The member's expertise tags the request speaks of, however inflected or compounded.

    A tag counts when the request holds every content word of it, also inside a compound of its own
    ("schuldhulpverlening" in "schuldhulpverleningstraject"), or names a specific part (6+ letters) of a compound
    tag as a word of its own ("schuldhulp" for "schuldhulpverlening") that is not among `common`, the parts many
    profiles of the pool use ("bewoners" names no "bewonerscommissies"). Two compounds that merely share a part
    ("buurtbudgetten", "budgetcoaching") do not name each other: that is `related_expertise` at most.
    """
    return [tag for tag, words in prepare(member).tags
            if all(stem in request.terms or not (runs & request.words).issubset(common) for stem, runs in words)]


def related_expertise(member: PoolMember, request: Asked, common: frozenset[str]) -> list[str]:
    """Tags not named by the request that share a specific part (4+ letters) of a compound with a compound of
    the request: "drugscriminaliteit" for a request about "drugshandel" (both hold "drug"). Sibling compounds
    only: a request that uses the bare word ("de buurt", "aan tafel", "we zoeken") says nothing of the
    specialisation a tag's compound makes of it ("buurtbudgetten", "keukentafelgesprekken", "onderzoek").
    Specific: not among `common`, the parts many profiles of the pool use (the caller counts them), so
    "wijk" or "beleid" link nothing. Shown as "verwante expertise", weighed half a named one."""
    prepared = prepare(member)
    named = set(expertise_hits(member, request, common))
    return [tag for (tag, _), parts in zip(prepared.tags, prepared.parts, strict=True)
            if tag not in named and not (parts & request.parts).issubset(common)]


def expertise_evidence(member: PoolMember, request: Asked, common: frozenset[str]) -> float:
    """How much the member's tags speak to the request, for the ranking: each tag whose words the request holds,
    as words or as compound parts, counts 1; each other tag sharing a specific part (not in `common`) with any
    word of the request counts 0.5.

    Looser than the reasons (`expertise_hits`, `related_expertise`), on purpose: a shared part is weak evidence,
    weighed as such, but not something a reason may claim.
    """
    total = 0.0
    for (_, words), parts in zip(prepare(member).tags, prepare(member).parts, strict=True):
        if all(stem in request.terms or not runs.isdisjoint(request.terms) for stem, runs in words):
            total += 1.0
        elif not (parts & request.terms).issubset(common):
            total += 0.5
    return total


def term_weights(members: Iterable[PoolMember]) -> dict[tuple[str, str], float]:
    """Per (pool, term) how specific a term is within a pool's profiles: log((n + 1) / (df + 0.5)), with n the
    pool's members and df those whose profile uses the term. Computed from the pool itself, so it holds for any
    pool: a word every profile uses says nothing about who fits."""
    counts: dict[tuple[str, str], int] = {}
    sizes: dict[str, int] = {}
    for member in members:
        sizes[member.pool] = sizes.get(member.pool, 0) + 1
        for term in prepare(member).profile:
            counts[(member.pool, term)] = counts.get((member.pool, term), 0) + 1
    return {(pool, term): math.log((sizes[pool] + 1) / (df + 0.5)) for (pool, term), df in counts.items()}


def lexical_similarity(request_terms: set[str], profile_terms: set[str]) -> float:
    """Share of the request's terms in the profile: the similarity used when no embedding model is available."""
    return len(request_terms & profile_terms) / len(request_terms) if request_terms else 0.0


# -- roles ------------------------------------------------------------------------------------------------
def requested_roles(text: str) -> list[tuple[str, int]]:
    """Roles asked for with a number ("twee projectleiders en een planeconoom" -> [(projectleider, 2), ...])."""
    roles: dict[str, int] = {}
    tokens = re.findall(r"\w+", text.lower())
    for count_word, noun in itertools.pairwise(tokens):
        count = COUNT_WORDS.get(count_word)
        if not count:
            continue
        if is_role(noun):
            stem = stems(noun)[0]
            roles[stem] = roles.get(stem, 0) + count
    return list(roles.items())


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


def shortfall(member: PoolMember, booked: float, hours: float, start: dt.date, end: dt.date) -> str | None:
    """Why a member who passes the hard rules cannot take on the whole request, in Dutch, or None when they can:
    fewer free hours than asked at the busiest point of the period (`booked`: the peak there), or not available
    for all of it. The per-slot suggestions leave such members out; the whole-question list marks them."""
    free = member.hours_per_week - booked
    if hours and free < hours:
        return (f"in deze periode {format_number(max(free, 0.0), 2)} van {format_hours(member.hours_per_week)} "
                f"per week vrij, gevraagd {format_hours(hours)}")
    if member.available_until and member.available_until < end:
        return f"beschikbaar tot {format_date(member.available_until)}, de periode loopt tot {format_date(end)}"
    if member.available_from and member.available_from > start:
        return f"pas beschikbaar vanaf {format_date(member.available_from)}, de periode begint {format_date(start)}"
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
    examples: Mapping[str, Collection[float]] | None = None,
    calibration: Calibration | None = None,
    specificity: Mapping[tuple[str, str], float] | None = None,
) -> MatchResult:
    """Route, exclude by the hard rules, score and explain; for a request naming several roles, cover each.

    `examples`: per pool the request's similarity to each of its example requests (routing). `calibration`:
    from which similarity a profile "sluit aan"; without it no reason claims so. `specificity`: `term_weights`
    of the pool (computed from `members` when not given; a caller that matches often keeps it). When the route is
    unsure the
    next pool's best members come along as `alternatives`, for the coordinator to weigh.
    """
    today = today or dt.date.today()
    booked = booked or {}
    members = list(members)
    routing = route(request, examples)
    request_terms = asked(request.text, synonyms)
    context = (normalise(request.municipality), *period(request, today))
    specificity = term_weights(members) if specificity is None else specificity
    args = (request, members, similarity, booked, today, request_terms, theme_labels or {}, calibration, context,
            specificity)
    matches, roles, excluded = _rank(routing.pool, limit, *args)
    alternatives: list[Match] = []
    if routing.unsure and routing.runner_up:
        alternatives, _, more = _rank(routing.runner_up, min(limit, 3), *args)
        excluded.update(more)
    return MatchResult(routing, matches, roles, excluded, alternatives)


def _rank(pool: str, limit: int, request: HelpRequest, members: list[PoolMember], similarity: Mapping[str, float],
          booked: Mapping[str, float], today: dt.date, request_terms: Asked, theme_labels: Mapping[str, str],
          calibration: Calibration | None, context: tuple[str, dt.date, dt.date],
          specificity: Mapping[tuple[str, str], float]) -> tuple[list[Match], list[tuple[str, int]], dict[str, str]]:
    """The best `limit` members of one pool, explained; the roles asked for; who a hard rule excluded."""
    excluded: dict[str, str] = {}
    eligible: list[PoolMember] = []
    for member in members:
        if member.pool != pool:
            continue
        reason = exclusion(member, request, booked.get(member.id, 0.0), today, context)
        if reason:
            excluded[member.id] = reason
        else:
            eligible.append(member)
    common = calibration.common if calibration else frozenset()
    scores = _scores(request, eligible, similarity, booked, request_terms, common, specificity)
    order = sorted(range(len(eligible)), key=lambda i: (-scores[i][0], eligible[i].id))
    roles = requested_roles(request.text) if pool != "vraagbaak" else []
    slots: dict[int, str] = {}
    if sum(count for _, count in roles) >= 2:
        for role, count in roles:  # per requested role the best members that fill it
            fitting = [i for i in order if i not in slots and fills_role(eligible[i], role)]
            slots.update((i, role) for i in fitting[:count])
    chosen = list(slots) + [i for i in order if i not in slots][: max(0, limit - len(slots))]
    chosen.sort(key=order.index)  # the slot is a label; the list still reads best first
    matches = [_explain(eligible[i], similarity.get(eligible[i].id, 0.0), scores[i][0], request, booked, today,
                        request_terms, theme_labels, calibration, slots.get(i)) for i in chosen]
    return matches, roles, excluded


def _range(similarity: Mapping[str, float], eligible: list[PoolMember]) -> tuple[float, float]:
    values = [similarity.get(m.id, 0.0) for m in eligible] or [0.0]
    return min(values), max(values)


def _scores(request: HelpRequest, eligible: list[PoolMember], similarity: Mapping[str, float],
            booked: Mapping[str, float], request_terms: Asked, common: frozenset[str],
            specificity: Mapping[tuple[str, str], float]) -> list[tuple[float, float]]:
    """(score, spread similarity) per eligible member; reasons are written later, for the shown ones only."""
    low, high = _range(similarity, eligible)
    # The words request and profile share, each weighed by how specific it is in the pool (BM25's idf), as a
    # share of the best candidate's: lexical evidence beside the embedding, which blurs a rare specific word.
    shared = [sum(specificity.get((m.pool, t), 0.0) for t in request_terms.terms & prepare(m).profile)
              for m in eligible]
    most = max(shared, default=0.0) or 1.0
    wanted = request.hours_per_week
    themes = set(request.themes)
    out = []
    for member, words in zip(eligible, shared, strict=True):
        raw = similarity.get(member.id, 0.0)
        # Cosines of one model bunch together (e5: 0.75-0.90); spread them over the candidates so they weigh.
        sim = (raw - low) / (high - low) if high - low > 1e-6 else 1.0
        used = booked.get(member.id, 0.0)
        free = member.hours_per_week - used
        hits = expertise_evidence(member, request_terms, common)
        region = NATIONWIDE in member.regions or (request.province in member.regions if request.province else False)
        score = (WEIGHTS["similarity"] * sim + WEIGHTS["expertise"] * min(1.0, hits / 2)
                 + WEIGHTS["lexical"] * words / most
                 + WEIGHTS["themes"] * (1.0 if themes.intersection(member.themes) else 0.0)
                 + WEIGHTS["capacity"] * (min(1.0, free / wanted) if wanted else 1.0)
                 + WEIGHTS["region"] * (1.0 if region else 0.0)
                 + WEIGHTS["load"] * (1.0 - used / member.hours_per_week))
        out.append((score, sim))
    return out


def profile_reason(raw: float, calibration: Calibration | None) -> str | None:
    """What the profile's similarity may claim: only above the calibrated similarity of unrelated pairs."""
    if calibration is None or raw < calibration.related:
        return None
    return "Profiel sluit goed aan bij de vraag" if raw >= calibration.close else "Profiel sluit aan bij de vraag"


def _explain(member: PoolMember, raw: float, score: float, request: HelpRequest, booked: Mapping[str, float],
             today: dt.date, request_terms: Asked, theme_labels: Mapping[str, str],
             calibration: Calibration | None, slot: str | None) -> Match:
    """The Match with its reasons, in Dutch."""
    reasons = [f"Rol: {member.role}"] if slot else []
    common = calibration.common if calibration else frozenset()
    hits = expertise_hits(member, request_terms, common)
    if hits:
        reasons.append("Expertise: " + ", ".join(hits))
    related = related_expertise(member, request_terms, common)
    if related:
        reasons.append("Verwante expertise: " + ", ".join(related))
    if profile := profile_reason(raw, calibration):
        reasons.append(profile)
    themes = [t for t in member.themes if t in request.themes]
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
