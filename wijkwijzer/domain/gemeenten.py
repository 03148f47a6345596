"""Dutch municipalities and their provinces, as data (`gemeenten.yml` beside this module, updated yearly)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from wijkwijzer.domain.taxonomy import normalise

PROVINCE_ALIASES = {"fryslan": "Friesland", "noord-brabant": "Noord-Brabant", "brabant": "Noord-Brabant"}


@dataclass(frozen=True)
class Gemeenten:
    """Lookup of municipality names (official name or alias, compared normalised) and provinces."""

    names: tuple[str, ...]
    provinces: tuple[str, ...]
    _by_key: dict[str, str]
    _province: dict[str, str]
    _spelling: dict[str, str] = field(default_factory=dict)  # normalised name or alias -> as the list spells it

    @classmethod
    def from_data(cls, data: dict) -> Gemeenten:
        """Build from the parsed YAML: {provinces: [...], gemeenten: [{name, province, aliases?}]}."""
        by_key: dict[str, str] = {}
        province: dict[str, str] = {}
        spelling: dict[str, str] = {}
        names = []
        ambiguous: set[str] = set()
        for item in data["gemeenten"]:
            name = str(item["name"])
            names.append(name)
            province[name] = str(item["province"])
            by_key[normalise(name)] = name
            spelling[normalise(name)] = name
        for item in data["gemeenten"]:
            for alias in item.get("aliases", ()):
                key = normalise(str(alias))
                if (key in by_key and by_key[key] != item["name"]) or key in ambiguous:
                    ambiguous.add(key)  # "Bergen" names two municipalities: only the official names decide
                    by_key.pop(key, None)
                    spelling.pop(key, None)
                else:
                    by_key[key] = str(item["name"])
                    spelling.setdefault(key, str(alias))
        return cls(tuple(names), tuple(data["provinces"]), by_key, province, spelling)

    def find(self, name: str) -> str | None:
        """The official name for a name or alias ("Den Haag" -> "'s-Gravenhage"), compared exactly after folding
        case, accents and spacing: "Utrecht" never finds "Utrechtse Heuvelrug"."""
        return self._by_key.get(normalise(name))

    def chosen(self, name: str) -> str | None:
        """The name as the user chose it, spelled as the list spells it: "den haag" -> "Den Haag" (an alias),
        "'s-gravenhage" -> "'s-Gravenhage"; None for a name we do not know. Pages show this; matching and
        conflicts use `find` (the official name)."""
        key = normalise(name)
        return self._spelling.get(key) if key in self._by_key else None

    def province_of(self, municipality: str) -> str | None:
        """The province of a municipality, or None when it is unknown."""
        name = self.find(municipality)
        return self._province.get(name) if name else None

    def province_name(self, value: str) -> str | None:
        """A province name as written in the data ("zuid-holland" -> "Zuid-Holland"), or None."""
        key = normalise(value)
        for province in self.provinces:
            if normalise(province) == key:
                return province
        return PROVINCE_ALIASES.get(key)

    def closest(self, name: str) -> str | None:
        """The most similar official name, for "bedoelt u …?" hints."""
        hits = difflib.get_close_matches(normalise(name), list(self._by_key), n=1, cutoff=0.75)
        return self._by_key[hits[0]] if hits else None

    def display(self, name: str) -> str:
        """The everyday name where the official one is formal ("'s-Gravenhage" is shown as "Den Haag")."""
        return everyday_name(name)


def everyday_name(official: str) -> str:
    """The name people use for a municipality whose official name is formal ("'s-Gravenhage" -> "Den Haag")."""
    return "Den Haag" if official == "'s-Gravenhage" else official


@cache
def load_gemeenten() -> Gemeenten:
    """The bundled list (read once per process)."""
    text = resources.files("wijkwijzer.domain").joinpath("gemeenten.yml").read_text(encoding="utf-8")
    return Gemeenten.from_data(yaml.safe_load(text))
