"""The reading list in a URL: `cases=slug1,slug2` read into slugs, with what was left out and why.

The list itself lives in the visitor's browser (static/leeslijst.js); the server only ever sees it as this
query-string value, in a shared link or in the plain links that work without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wijkwijzer.domain.content import SLUG_PATTERN

# Enough for a meeting's worth of reading, short enough that the link stays well under the 2,000 characters
# that mail programs and chat apps pass on intact. leeslijst.js keeps the same limit.
MAX_CASES = 50
# Longer than any slug we write; what is longer is not a slug and is not echoed back to the page.
MAX_SLUG_LENGTH = 200


@dataclass(frozen=True)
class ReadingList:
    """Slugs in the order given (first occurrence kept), and what was left out of the URL's value."""

    slugs: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()  # not a slug at all (shown shortened, never looked up)
    over_limit: int = 0  # valid slugs past MAX_CASES, dropped

    def query(self) -> str:
        """The `cases` value of a link to this list."""
        return ",".join(self.slugs)

    def adding(self, slug: str) -> ReadingList:
        """This list with `slug` at the end (no change when present or when the list is full)."""
        if slug in self.slugs or len(self.slugs) >= MAX_CASES:
            return self
        return ReadingList((*self.slugs, slug))

    def without(self, slug: str) -> ReadingList:
        """This list less `slug`."""
        return ReadingList(tuple(s for s in self.slugs if s != slug))


def parse_cases(values: Iterable[str]) -> ReadingList:
    """Read one or more `cases` values (comma-separated slugs) into a ReadingList.

    Empty parts and repeats are skipped; a part that is not a slug is reported, not raised, so a link that got
    damaged on the way still shows what it can.
    """
    slugs: list[str] = []
    invalid: list[str] = []
    over = 0
    for value in values:
        for part in value.split(","):
            slug = part.strip().strip("/")
            if not slug or slug in slugs:
                continue
            if len(slug) > MAX_SLUG_LENGTH or not SLUG_PATTERN.match(slug):
                if len(invalid) < MAX_CASES:
                    invalid.append(slug[:60])
            elif len(slugs) < MAX_CASES:
                slugs.append(slug)
            else:
                over += 1
    return ReadingList(tuple(slugs), tuple(invalid), over)
