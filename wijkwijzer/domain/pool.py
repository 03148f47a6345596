"""Pool members: `experts/<pool>/<slug>.md`, YAML frontmatter plus a free-text profile, parsed by a pure function.

Validation follows case studies: errors (no name, a wrong pool, bad hours or dates) keep a member out of
matching; unknown fields, themes, provinces or municipalities are warnings with a hint.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wijkwijzer.domain.files import closest, parse_date, read_frontmatter, text_list
from wijkwijzer.domain.gemeenten import Gemeenten
from wijkwijzer.domain.problems import Problem
from wijkwijzer.domain.taxonomy import Taxonomy

POOLS: dict[str, str] = {
    "expertpool": "Expertpool",
    "flexpool": "Flexpool-woningbouw",
    "vraagbaak": "Vraagbaak",
}
KNOWN_FIELDS = ("name", "pool", "role", "organisation", "expertise", "themes", "regions", "hours_per_week",
                "available_from", "available_until", "conflicts", "email")
NATIONWIDE = "landelijk"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class PoolMember:
    """A validated pool member. `themes` hold taxonomy keys; `regions` province names or "landelijk"."""

    id: str  # <pool>/<slug>
    name: str
    pool: str
    role: str
    organisation: str = ""
    expertise: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    hours_per_week: float = 0.0
    available_from: dt.date | None = None
    available_until: dt.date | None = None
    conflicts: tuple[str, ...] = ()
    email: str = ""
    profile: str = ""

    def profile_text(self) -> str:
        """What the embedder reads: role, expertise and the free-text profile."""
        return f"{self.role}. {', '.join(self.expertise)}. {self.profile}".strip()


@dataclass
class MemberResult:
    """What parsing one file gave: the member (None on errors) and every problem found."""

    member: PoolMember | None
    problems: list[Problem]


def parse_member(relative_path: str, raw: bytes, taxonomy: Taxonomy, gemeenten: Gemeenten) -> MemberResult:
    """Parse and validate one pool member file. Pure: no I/O; every problem names the file, line and field."""
    problems: list[Problem] = []

    def problem(fieldname: str, message: str, line: int = 1, severity: str = "error") -> None:
        problems.append(Problem(relative_path, line, fieldname, message, severity))

    parts = relative_path.removesuffix(".md").split("/")
    if len(parts) != 2 or parts[0] not in POOLS or not SLUG.match(parts[1]):
        problem("bestandsnaam", f"zet een poollid in experts/<pool>/<naam>.md met pool {' | '.join(POOLS)}; "
                "gebruik kleine letters, cijfers, '-' en '_'")
        return MemberResult(None, problems)
    head = read_frontmatter(relative_path, raw, problems)
    if head.meta is None:
        return MemberResult(None, problems)
    meta, lines = head.meta, head.lines

    def line(key: str) -> int:
        return lines.get(key, 1)

    for key in meta:
        if key not in KNOWN_FIELDS:
            hint = closest(key, KNOWN_FIELDS)
            problem(key, "onbekend veld, wordt genegeerd" + (f" (bedoelt u '{hint}'?)" if hint else ""), line(key),
                    "warning")

    def text(key: str, required: bool = False) -> str:
        value = meta.get(key)
        if value is None or value == "":
            if required:
                problem(key, "verplicht veld ontbreekt", line(key))
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problem(key, f"verwacht tekst, niet {type(value).__name__}", line(key))
            return ""
        return str(value).strip()

    def many(key: str) -> list[str]:
        value = meta.get(key)
        if value is None or value == "" or value == []:
            return []
        items = text_list(value)
        if items is None:
            problem(key, "verwacht een lijst met tekst, bijvoorbeeld [a, b]", line(key))
            return []
        return items

    def date(key: str) -> dt.date | None:
        value = meta.get(key)
        if value is None or value == "":
            return None
        parsed = parse_date(value)
        if parsed is None:
            problem(key, f"verwacht een datum als 2026-01-31, niet {value!r}", line(key))
        return parsed

    name, role = text("name", required=True), text("role", required=True)
    pool = text("pool")
    if pool and pool != parts[0]:
        problem("pool", f"'{pool}' past niet bij de map experts/{parts[0]}/; verplaats het bestand of pas pool aan",
                line("pool"))
    hours = meta.get("hours_per_week")
    if hours is None or hours == "":
        problem("hours_per_week", "geen uren opgegeven; telt als 0 (niet beschikbaar voor koppelingen)",
                line("hours_per_week"), "warning")
        hours = 0
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours <= 40:
        problem("hours_per_week", f"verwacht een aantal uren per week van 0 tot en met 40, niet {hours!r}",
                line("hours_per_week"))
        hours = 0
    start, until = date("available_from"), date("available_until")
    if start and until and until < start:
        problem("available_until", f"ligt vóór available_from ({start.isoformat()})", line("available_until"))
    email = text("email")
    if email and not EMAIL.match(email):
        problem("email", f"'{email}' is geen e-mailadres", line("email"))

    themes: list[str] = []
    for value in many("themes"):
        key = taxonomy.resolve("themes", value)
        if key is None:
            hint = taxonomy.closest("themes", value)
            problem("themes", f"onbekend thema '{value}', wordt genegeerd"
                    + (f"; bedoelt u '{hint}'?" if hint else f"; toegestaan: {', '.join(taxonomy.themes)}"),
                    line("themes"), "warning")
        elif key not in themes:
            themes.append(key)
    regions: list[str] = []
    for value in many("regions"):
        province = NATIONWIDE if value.lower() == NATIONWIDE else gemeenten.province_name(value)
        if province is None:
            hint = closest(value, [*gemeenten.provinces, NATIONWIDE])
            problem("regions", f"onbekende provincie '{value}', wordt genegeerd"
                    + (f"; bedoelt u '{hint}'?" if hint else f"; toegestaan: {', '.join(gemeenten.provinces)}, "
                       f"{NATIONWIDE}"), line("regions"), "warning")
        elif province not in regions:
            regions.append(province)
    conflicts: list[str] = []
    for value in many("conflicts"):
        known = gemeenten.find(value)
        if known is None:
            hint = gemeenten.closest(value)
            problem("conflicts", f"onbekende gemeente '{value}'" + (f"; bedoelt u '{hint}'?" if hint else "")
                    + "; de uitsluiting geldt alleen voor precies deze naam", line("conflicts"), "warning")
        conflicts.append(known or value)

    if any(p.severity == "error" for p in problems):
        return MemberResult(None, problems)
    member = PoolMember(
        id=f"{parts[0]}/{parts[1]}", name=name, pool=parts[0], role=role, organisation=text("organisation"),
        expertise=tuple(many("expertise")), themes=tuple(themes), regions=tuple(regions),
        hours_per_week=float(hours), available_from=start, available_until=until, conflicts=tuple(conflicts),
        email=email, profile=head.body.strip(),
    )
    return MemberResult(member, problems)


def read_pool(experts_dir: Path, taxonomy: Taxonomy, gemeenten: Gemeenten,
              parse: Callable[[str, bytes, Taxonomy, Gemeenten], MemberResult] = parse_member,
              ) -> tuple[list[PoolMember], list[Problem]]:
    """Every valid member under `experts_dir`, and the problems of all files (sorted by path).

    `parse` is `parse_member` or a wrapper of it (the service parses each file under a time budget).
    """
    members: list[PoolMember] = []
    problems: list[Problem] = []
    if not experts_dir.is_dir():
        return members, problems
    for path in sorted(experts_dir.rglob("*.md")):
        relative = path.relative_to(experts_dir).as_posix()
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        result = parse(relative, path.read_bytes(), taxonomy, gemeenten)
        problems.extend(result.problems)
        if result.member:
            members.append(result.member)
    return members, problems
