"""The taxonomy (themes, action lines, focus areas, types, evidence levels) is data: `content/_taxonomy.yml`."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from wijkwijzer.domain.problems import Problem

TAXONOMY_FILE = "_taxonomy.yml"
# Facets in the order the site shows them, with their Dutch headings.
FACETS: dict[str, str] = {
    "themes": "Thema",
    "action_lines": "Actielijn",
    "focus_area": "Focusgebied",
    "municipality": "Gemeente",
    "type": "Soort",
    "year": "Jaar",
    "evidence": "Onderbouwing",
}
VOCABULARIES = ("types", "evidence", "themes", "action_lines")


@lru_cache(maxsize=65_536)
def normalise(text: str) -> str:
    """Fold a label or key for comparison: lowercase, no accents, words joined by single hyphens.

    Cached: every file's themes, types and places go through here, mostly the same few hundred values.
    """
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


@dataclass(frozen=True)
class FocusArea:
    """One of the urban focus areas (stedelijke focusgebieden)."""

    key: str
    name: str
    municipality: str
    province: str


@dataclass
class Taxonomy:
    """Allowed values per field (key -> Dutch label) and the focus areas."""

    types: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    themes: dict[str, str] = field(default_factory=dict)
    action_lines: dict[str, str] = field(default_factory=dict)
    focus_areas: dict[str, FocusArea] = field(default_factory=dict)
    _lookups: dict = field(default_factory=dict, repr=False, compare=False)

    def vocabulary(self, name: str) -> dict[str, str]:
        """Key -> label for one of VOCABULARIES, or for "focus_area" and "municipality"."""
        if name == "focus_area":
            return {k: fa.name for k, fa in self.focus_areas.items()}
        if name == "municipality":
            return {normalise(fa.municipality): fa.municipality for fa in self.focus_areas.values()}
        if name == "type":
            return self.types
        return getattr(self, name)

    def resolve(self, name: str, value: str) -> str | None:
        """Map a key or label (any case or accents) to its key, or None when it is not in the vocabulary."""
        vocab = self.vocabulary(name)
        # Built once per vocabulary (and again if it is edited): parsing 10,000 files asks this ~60,000 times.
        signature = (name, tuple(vocab.items()))
        lookup = self._lookups.get(name)
        if lookup is None or lookup[0] != signature:
            table: dict[str, str] = {}
            for key, label in reversed(list(vocab.items())):  # the first key wins, as in a scan from the top
                table[normalise(label)] = key
                table[normalise(key)] = key
            lookup = self._lookups[name] = (signature, table)
        return lookup[1].get(normalise(value))

    def closest(self, name: str, value: str) -> str | None:
        """The allowed label nearest to a misspelt value, for "did you mean" hints."""
        vocab = self.vocabulary(name)
        options = {normalise(k): k for k in vocab} | {normalise(v): k for k, v in vocab.items()}
        hit = difflib.get_close_matches(normalise(value), list(options), n=1, cutoff=0.6)
        return options[hit[0]] if hit else None

    def label(self, name: str, key: str) -> str:
        """The Dutch label of a key, or the key itself when unknown."""
        if name == "year":
            return key
        return self.vocabulary(name).get(key, key)

    def municipality_of(self, focus_key: str) -> str | None:
        """The municipality a focus area lies in."""
        area = self.focus_areas.get(focus_key)
        return area.municipality if area else None


def load_taxonomy(content_dir: Path) -> tuple[Taxonomy, list[Problem]]:
    """Read `_taxonomy.yml` from the content folder; a missing or broken file gives an empty taxonomy and problems."""
    path = content_dir / TAXONOMY_FILE
    shown = f"{content_dir.name}/{TAXONOMY_FILE}"
    if not path.exists():
        return Taxonomy(), [Problem(shown, 1, "taxonomy", "bestand ontbreekt; alle waarden worden als onbekend gemeld")]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        return Taxonomy(), [Problem(shown, line, "taxonomy", f"onleesbare YAML: {exc}")]
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return Taxonomy(), [Problem(shown, 1, "taxonomy", "verwacht een mapping met types, evidence, themes, ...")]
    tax = Taxonomy()
    for name in VOCABULARIES:
        raw = data.get(name) or {}
        if not isinstance(raw, dict):
            problems.append(Problem(shown, 1, name, "verwacht een mapping van sleutel naar label"))
            continue
        setattr(tax, name, {str(k): str(v) for k, v in raw.items()})
    for key, raw in (data.get("focus_areas") or {}).items():
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("municipality"):
            problems.append(Problem(shown, 1, f"focus_areas.{key}", "verwacht name, municipality en province"))
            continue
        tax.focus_areas[str(key)] = FocusArea(
            str(key), str(raw["name"]), str(raw["municipality"]), str(raw.get("province", ""))
        )
    return tax, problems
