"""Known acronyms and what they stand for: `content/_acronyms.yml`, editable like the taxonomy.

Each entry maps an acronym, written as the texts write it, to its expansion or a list of expansions:

    VvE: vereniging van eigenaars
    VVE: voor- en vroegschoolse educatie
    GGD: [gemeentelijke gezondheidsdienst, GGD-regio]

Search uses the list twice: an acronym and its expansion find each other (a text that writes "vereniging van
eigenaars" is found by "VvE", and the other way round), and two entries with the same letters in different case
("VvE", "VVE") are told apart by case even before the texts use both.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from wijkwijzer.domain.problems import Problem
from wijkwijzer.text.dutch import acronym

ACRONYMS_FILE = "_acronyms.yml"
MAX_EXPANSION_CHARS = 120
_ALLOWED = "2 tot 5 letters, waarvan minstens twee hoofdletters, zoals GGD of VvE"


@dataclass(frozen=True)
class Acronyms:
    """Acronym as written -> its expansions; `fingerprint` changes whenever the file does."""

    expansions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fingerprint: str = "none"

    def forms(self, letters: str) -> set[str]:
        """The listed acronyms that are `letters` (lowercase) in some case ("vve" -> {"VvE", "VVE"})."""
        return {a for a in self.expansions if a.lower() == letters}


def load_acronyms(content_dir: Path) -> tuple[Acronyms, list[Problem]]:
    """Read `_acronyms.yml` from the content folder. No file: no acronyms and no problem (the list is optional).

    Entries with a problem are left out; the others are used.
    """
    path = content_dir / ACRONYMS_FILE
    shown = f"{content_dir.name}/{ACRONYMS_FILE}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Acronyms(), []
    except OSError as exc:
        return Acronyms(), [Problem(shown, 1, "acronyms", f"kan het bestand niet lezen: {exc.strerror}")]
    fingerprint = hashlib.sha256(raw).hexdigest()[:16]
    try:
        root = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        return Acronyms(fingerprint=fingerprint), [Problem(shown, line, "acronyms", f"onleesbare YAML: {exc}")]
    if root is None:
        return Acronyms(fingerprint=fingerprint), []
    if not isinstance(root, yaml.MappingNode):
        return Acronyms(fingerprint=fingerprint), [Problem(
            shown, root.start_mark.line + 1, "acronyms",
            "verwacht per regel een afkorting met wat die betekent, zoals 'VvE: vereniging van eigenaars'")]
    expansions: dict[str, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
        name = str(key)[:20] or "?"
        if not isinstance(key_node, yaml.ScalarNode) or acronym(key) != key or not key.isalpha():
            problems.append(Problem(shown, line, name, f"'{name}' is geen afkorting; toegestaan: {_ALLOWED}"))
            continue
        if key in expansions:
            problems.append(Problem(shown, line, key, "staat al eerder in de lijst; voeg de betekenissen samen "
                                                      "in één lijst, zoals 'GGD: [betekenis 1, betekenis 2]'"))
            continue
        values, problem = _expansions(value_node)
        if problem:
            problems.append(Problem(shown, line, key, problem))
            continue
        expansions[key] = values
    return Acronyms(expansions, fingerprint), problems


def _expansions(node: yaml.Node) -> tuple[tuple[str, ...], str | None]:
    """The expansions of one entry, or a message saying what is allowed."""
    nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out: list[str] = []
    for item in nodes:
        text = " ".join(str(item.value).split()) if isinstance(item, yaml.ScalarNode) else ""
        if not text or not re.search(r"[^\W\d_]", text):  # a letter at least (not a bare number or yes)
            return (), "verwacht de betekenis als tekst, of een lijst van betekenissen"
        if len(text) > MAX_EXPANSION_CHARS:
            return (), f"een betekenis is hoogstens {MAX_EXPANSION_CHARS} tekens lang"
        if text not in out:
            out.append(text)
    if not out:
        return (), "verwacht de betekenis als tekst, of een lijst van betekenissen"
    return tuple(out), None
