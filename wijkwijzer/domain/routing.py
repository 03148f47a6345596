"""Routing a help request to a pool: the form of the request weighed with its likeness to example requests.

Pure: no I/O, no model. The form is read from the sentences (a fact, a name, a number or a document asked for;
someone asked to think along or design; capacity asked for weeks or months, for housing work); the likeness is
the caller's similarity of the request to each pool's labelled examples (`experts/_routing.yml`, parsed and
validated here). Both give each pool a share; their mean decides, and the distance between the best two pools
is the confidence a coordinator reads ("zeker" or "twijfel").
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import yaml

from wijkwijzer.domain.helprequests import HelpRequest
from wijkwijzer.domain.pool import POOLS
from wijkwijzer.domain.problems import Problem
from wijkwijzer.text.dutch import fold, stems, terms
from wijkwijzer.text.formats import count, format_hours

ROUTING_FILE = "_routing.yml"
MIN_EXAMPLES = 5  # per pool: fewer say too little about a pool's requests to route by
MIN_WORDS = 5
SURE = 0.25  # the lead of the best pool over the next (shares 0-1) from which the route is "zeker"
FORM_FLOOR = 0.1  # what no sign of a pool's form leaves it
FORM_WEIGHT = 0.5  # form and likeness weigh the same: either alone misroutes what the other catches

# Capacity: asked for a period or for hours, or for people by their trade. Stems (see text.dutch).
CAPACITY_STEMS = {"capaciteit", "inhur", "tijdelijk", "fte", "detacher", "interim", "versterk", "menskracht",
                  "handen", "bezett", "rekenkracht", "uitvoer"}
PERIOD = re.compile(r"\b(\d+|een|twee|drie|vier|vijf|zes|acht|tien|twaalf|twintig|half|anderhalf|paar|"
                    r"enkele)\s+(uur|uren|dag|dagen|dagdelen|week|weken|maand|maanden|jaar)\b"
                    r"|\bper\s+(week|maand)\b|\b(jaar|maanden)\s+lang\b|\bvoor\s+(een|het)\s+(half\s+)?jaar\b",
                    re.IGNORECASE)
PEOPLE = re.compile(r"\b(iemand|mensen|menskracht|capaciteit|versterking|handen|collega|inhuren|inhuur|"
                    r"interim|detachering|ondersteuning)\b", re.IGNORECASE)
ROLE_SUFFIXES = ("leider", "econom", "jurist", "manager", "consulent", "specialist", "regisseur", "begeleider",
                 "coordinator", "architect", "planner", "medewerker", "kwartiermaker")
HOUSING_STEMS = {"woningbouw", "nieuwbouw", "herstructurer", "sloop", "renovatie", "renover", "transformatie",
                 "transformer", "bouwproject", "bouwplan", "omgevingsplan", "bestemmingsplan", "grondexploitatie",
                 "gebiedsontwikkel", "woning", "corporatie", "huurder", "bouw", "planvorm", "wijkvernieuw",
                 "herontwikkel", "stedenbouw", "vve", "onderhoud", "flat", "portiek", "bouwkund", "isoler"}
# Thinking along: someone asked to advise, design, help set up; "hoe" questions about doing, not about amounts.
# The verbs of working together weigh more than advice nouns, which fact questions use too ("welke aanpak").
# Prefixes of stems, so every conjugation counts ("ontwerpt", "meedenkt").
THINK_STEMS = ("meedenk", "sparr", "ontwerp", "opzet", "vormgev", "klankbord", "doordenk", "meekijk", "denk",
               "uitdenk", "bedenk")
# "iemand die met ons ...", "helpt ons", "samen met ons": someone asked to work on it with the asker.
WITH_US = re.compile(r"\b(met\s+(ons|mij)|helpt\s+ons|help\s+ons|helpen\s+ons|ons\s+helpen|ons\s+helpt)\b",
                     re.IGNORECASE)
ADVICE_STEMS = {"advies", "adviser", "adviseur", "ervar", "aanpak", "aanpakk", "strategie", "werkwijz", "ontwikkel",
                "plan", "plann"}
# A question opens after at most a conjunction or preposition: "En mogen we ...?", "Op welke grondslag ...?".
LEAD = (r"^\s*(?:(?:en|maar|of|ook|dus|op|in|onder|bij|voor|aan|met|volgens|tot|vanaf|per|uit|binnen|na|sinds|"
        r"tegen|over|door|zonder|naast|boven|tussen)\s+)?")
THINK_QUESTION = re.compile(LEAD + r"(hoe\s+(\w+\s+)?(we|wij|jullie|je|u|ik)|wie\s+(kan|wil|denkt|helpt|heeft\s+"
                            r"ervaring))\b", re.IGNORECASE)
# A fact: a question that asks what is allowed, required, when, how much, which, where, who is responsible.
FACT_QUESTION = re.compile(
    LEAD + r"(welke?|waar|wanneer|hoeveel|hoelang|hoe|mag|mogen|moet|moeten|klopt|"
    r"geldt|gelden|valt|vallen|bestaat|bestaan|is|zijn|kan|kunnen|kun|tot\s+wanneer|vanaf\s+wanneer|wat|wie\s+is|"
    r"wie\s+zijn|wie\s+moet|bij\s+wie|onder\s+welke|per\s+wanneer)\b", re.IGNORECASE)
FACT_ASK = re.compile(r"\b(we\s+willen|ik\s+wil|graag)\s+(weten|horen)\b|\b(toegestaan|verplicht|wettelijk)\b",
                      re.IGNORECASE)
# Clauses: a question often follows a colon ("Maar eerst de regels: welke ...?").
SENTENCE = re.compile(r"[^.?!:;]+[.?!:;]?")


@dataclass(frozen=True)
class Example:
    """A labelled example request: what it asks, the pool it belongs to, the themes it is about."""

    text: str
    pool: str
    themes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    """What the wording asks for, each 0-1, with the words that showed it (for the reason)."""

    fact: float
    think: float
    capacity: float
    housing: bool
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Routing:
    """The pool a request goes to, why, how sure (in Dutch), and the next pool when unsure."""

    pool: str
    reason: str
    confidence: str = "zeker"
    runner_up: str | None = None
    shares: Mapping[str, float] = field(default_factory=dict)

    @property
    def unsure(self) -> bool:
        """Whether a coordinator should see the next pool's suggestions too."""
        return self.confidence != "zeker" and self.runner_up is not None


# -- the examples file ----------------------------------------------------------------------------------------
def parse_examples(raw: bytes | str, themes: Collection[str], path: str = ROUTING_FILE
                   ) -> tuple[list[Example], list[Problem]]:
    """Examples from the routing file; every problem names the file, line, field and what is allowed.

    Pure. A file with errors gives no examples at all: routing then goes by form alone, which is better than by
    a half-read file that lacks a pool.
    """
    problems: list[Problem] = []

    def problem(line: int, fieldname: str, message: str) -> None:
        problems.append(Problem(path, line, fieldname, message))

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        node = yaml.compose(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        problem(getattr(getattr(exc, "problem_mark", None), "line", 0) + 1, "examples",
                f"niet leesbaar als YAML in UTF-8 ({exc.__class__.__name__}): {str(exc).splitlines()[0]}")
        return [], problems
    top = _mapping(node)
    if top is None or "examples" not in top:
        problem(1, "examples", "verwacht 'examples:' met per pool (" + ", ".join(POOLS) + ") een lijst voorbeelden")
        return [], problems
    pools = _mapping(top["examples"][1])
    if pools is None:
        problem(_line(top["examples"][1]), "examples", "verwacht per pool een lijst: expertpool:, flexpool:, "
                "vraagbaak:")
        return [], problems
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for pool, (key, items) in pools.items():
        if pool not in POOLS:
            problem(_line(key), "examples", f"onbekende pool '{pool}'; toegestaan: {', '.join(POOLS)}")
            continue
        if not isinstance(items, yaml.SequenceNode):
            problem(_line(items), f"examples.{pool}", "verwacht een lijst voorbeelden (- text: ..., themes: [...])")
            continue
        for index, item in enumerate(items.value, start=1):
            where, line = f"examples.{pool}[{index}]", _line(item)
            fields = _mapping(item)
            if fields is None or "text" not in fields:
                problem(line, where, "verwacht 'text:' (de vraag) en 'themes:' (thema's uit content/_taxonomy.yml)")
                continue
            unknown = sorted(set(fields) - {"text", "themes"})
            if unknown:
                problem(line, where, f"onbekend veld '{unknown[0]}'; toegestaan: text, themes")
            value = fields["text"][1]
            words = str(value.value).split() if isinstance(value, yaml.ScalarNode) else []
            if len(words) < MIN_WORDS:
                problem(_line(value), f"{where}.text", f"schrijf de vraag uit in minstens {MIN_WORDS} woorden")
                continue
            sentence = " ".join(words)
            if fold(sentence) in seen:
                problem(_line(value), f"{where}.text", f"staat al eerder in het bestand (regel {seen[fold(sentence)]})")
                continue
            seen[fold(sentence)] = _line(value)
            labels = _themes(fields.get("themes"), themes, where, problem)
            examples.append(Example(sentence, pool, labels))
    for pool in POOLS:
        count = sum(e.pool == pool for e in examples)
        if count < MIN_EXAMPLES:
            problem(_line(pools[pool][0]) if pool in pools else _line(top["examples"][0]), f"examples.{pool}",
                    f"{count} geldige voorbeelden; geef er minstens {MIN_EXAMPLES} per pool")
    return ([] if problems else examples), problems


def _themes(entry, known: Collection[str], where: str, problem) -> tuple[str, ...]:
    if entry is None:
        return ()
    node = entry[1]
    if not isinstance(node, yaml.SequenceNode) or not all(isinstance(n, yaml.ScalarNode) for n in node.value):
        problem(_line(node), f"{where}.themes", "verwacht een lijst thema's, bijvoorbeeld [wonen]")
        return ()
    out = []
    for item in node.value:
        if item.value not in known:
            problem(_line(item), f"{where}.themes", f"onbekend thema '{item.value}'; toegestaan: {', '.join(known)}")
        else:
            out.append(item.value)
    return tuple(out)


def _mapping(node) -> dict[str, tuple] | None:
    """A YAML mapping node as {key: (key node, value node)}, or None when it is no mapping."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _line(node) -> int:
    return node.start_mark.line + 1 if node is not None else 1


# -- the form of a request ------------------------------------------------------------------------------------
def request_form(request: HelpRequest) -> Form:
    """Read what the request asks for from its sentences (linear in the text)."""
    text = request.text
    found = terms(text)
    words = re.findall(r"\w+", text)
    sentences = [s.strip() for s in SENTENCE.findall(text) if s.strip()]
    roles = sorted({w.lower() for w in words if is_role(w)})
    periods = [m.group(0) for m in PERIOD.finditer(text)]
    capacity_words = sorted(found & CAPACITY_STEMS)
    # Capacity is people asked for: hours or months in the form, a trade named, or someone sought for a period.
    # A period or "tijdelijk" without anyone asked for ("tijdelijk verhuren", "over twee jaar") is no capacity.
    capacity = min(1.0, 0.5 * (bool(request.hours_per_week) + bool(request.months) + bool(roles))
                   + 0.25 * (bool(periods) + bool(capacity_words)) * bool(roles or PEOPLE.search(text)))
    housing = sorted(found & HOUSING_STEMS)
    think_questions = [s for s in sentences if THINK_QUESTION.match(s)]
    think_words = {t for t in found if t.startswith(THINK_STEMS)}
    think = min(1.0, 0.5 * len(think_words) + 0.2 * len(found & ADVICE_STEMS) + 0.5 * len(think_questions)
                + 0.5 * bool(WITH_US.search(text)))
    fact_questions = [s for s in sentences if s.endswith("?") and FACT_QUESTION.match(s)
                      and not THINK_QUESTION.match(s)]
    fact = 1.0 if fact_questions else 0.6 if FACT_ASK.search(text) else 0.0
    if len(words) > 100:  # a long story is seldom one fact asked
        fact *= 0.5
    signals = [f"{format_hours(request.hours_per_week)} per week"] if request.hours_per_week else []
    signals += [count(request.months, "maand", "maanden")] if request.months else []
    # "per week" says nothing new after "16 uur per week": a period only counts once it adds something.
    signals += [p for p in periods[:1] if not any(p in s for s in signals)]
    signals += [*roles[:2], *capacity_words[:1]]
    return Form(fact, think, capacity, bool(housing), tuple(dict.fromkeys(signals)))


def is_role(word: str) -> bool:
    """A noun naming a trade ("projectleiders", "planeconoom"), judged by the ending of its stem."""
    found = stems(word)
    return bool(found) and found[0].endswith(ROLE_SUFFIXES)


def form_shares(form: Form) -> dict[str, float]:
    """Each pool's share (summing to 1) by form alone. Without any sign the Expertpool, where a question of
    unclear form is best looked at, leads, but not so far that examples cannot overrule it: every pool keeps
    a floor of FORM_FLOOR."""
    flex = form.capacity * (1.0 if form.housing else 0.25)
    vraag = form.fact * (1.0 - 0.6 * form.think) * (1.0 - flex)
    expert = max(form.think, 0.2) * (1.0 - 0.5 * flex) * (1.0 - 0.5 * form.fact)
    raw = {"expertpool": expert + FORM_FLOOR, "flexpool": flex + FORM_FLOOR, "vraagbaak": vraag + FORM_FLOOR}
    total = sum(raw.values())
    return {pool: value / total for pool, value in raw.items()}


def likeness_shares(similarity: Mapping[str, Collection[float]]) -> dict[str, float] | None:
    """Each pool's share by likeness to its examples: the mean of the three nearest examples per pool, as
    standard scores among all the request's example similarities (so the model's scale does not matter),
    through a softmax. None without examples."""
    values = [v for pool in POOLS for v in similarity.get(pool, ())]
    if not values or any(not similarity.get(pool) for pool in POOLS):
        return None
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    nearest = {pool: sum(sorted(similarity[pool], reverse=True)[:3]) / min(3, len(similarity[pool]))
               for pool in POOLS}
    weights = {pool: math.exp((value - mean) / spread) for pool, value in nearest.items()}
    total = sum(weights.values())
    return {pool: value / total for pool, value in weights.items()}


def route(request: HelpRequest, similarity: Mapping[str, Collection[float]] | None = None) -> Routing:
    """The pool for a request: the one asked for, or for "weet ik niet" the one its form and its likeness to
    each pool's examples call for (`similarity`: per pool the request's similarity to each example)."""
    if request.kind in POOLS:
        return Routing(request.kind, f"u koos zelf voor de {POOLS[request.kind]}")
    form = request_form(request)
    by_form = form_shares(form)
    by_example = likeness_shares(similarity or {})
    shares = by_form if by_example is None else {
        pool: FORM_WEIGHT * by_form[pool] + (1 - FORM_WEIGHT) * by_example[pool] for pool in POOLS}
    ranked = sorted(POOLS, key=lambda p: -shares[p])
    best, second = ranked[0], ranked[1]
    confidence = "zeker" if shares[best] - shares[second] >= SURE else "twijfel"
    return Routing(best, _reason(best, form, by_example), confidence, second,
                   {pool: round(value, 3) for pool, value in shares.items()})


def _reason(pool: str, form: Form, by_example: Mapping[str, float] | None) -> str:
    like = (" en lijkt op de voorbeeldvragen van die pool" if by_example and max(by_example, key=by_example.get) == pool
            else "")
    if pool == "flexpool":
        signal = f" ({', '.join(form.signals[:3])})" if form.signals else ""
        return f"tijdelijke capaciteit gevraagd{signal} voor een woningbouw- of herstructureringsopgave{like}"
    if pool == "vraagbaak":
        return f"een feitelijke vraag (een regel, termijn, bedrag of document){like}: de vraagbaak beantwoordt die snel"
    return f"een vraag om mee te denken of advies{like}: een adviseur uit de Expertpool denkt mee"
