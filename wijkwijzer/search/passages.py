"""Case studies split into passages for embedding: sections of about 100 to 250 words, each carrying the title
(and its section heading) for context, keyed by a hash of its text so an unchanged passage is embedded once."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from wijkwijzer.text.markup import markdown_to_text

PASSAGE_MIN_WORDS = 100
PASSAGE_MAX_WORDS = 250


@dataclass(frozen=True)
class Passage:
    """A piece of a case study, with the title (and section heading) carried along for context."""

    slug: str
    text: str
    hash: str


def split_passages(slug: str, title: str, body: str) -> list[Passage]:
    """Split a markdown body by heading and paragraph into passages of about 100-250 words."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for block in re.split(r"\n\s*\n", body):
        block = block.strip()
        if not block:
            continue
        heading = re.match(r"^#{1,6}\s+(.+?)\s*$", block.splitlines()[0])
        if heading:
            sections.append((heading.group(1).strip("# "), []))
            block = "\n".join(block.splitlines()[1:]).strip()
            if not block:
                continue
        sections[-1][1].append(markdown_to_text(block))
    passages: list[Passage] = []
    for heading, paragraphs in sections:
        for chunk in _chunks(paragraphs):
            prefix = f"{title}. {heading}: " if heading else f"{title}. "
            text = prefix + chunk
            passages.append(Passage(slug, text, hashlib.sha256(text.encode()).hexdigest()[:32]))
    if not passages:
        text = title
        passages.append(Passage(slug, text, hashlib.sha256(text.encode()).hexdigest()[:32]))
    return passages


def _chunks(paragraphs: list[str]) -> list[str]:
    """Merge short paragraphs and cut long ones at sentence ends, aiming at 100-250 words per chunk."""
    pieces: list[str] = []
    for paragraph in paragraphs:
        words = paragraph.split()
        if len(words) <= PASSAGE_MAX_WORDS:
            pieces.append(paragraph)
            continue
        current: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
            if current and len(" ".join(current).split()) + len(sentence.split()) > PASSAGE_MAX_WORDS:
                pieces.append(" ".join(current))
                current = []
            current.append(sentence)
        if current:
            pieces.append(" ".join(current))
    chunks: list[str] = []
    current_words = 0
    for piece in pieces:
        n = len(piece.split())
        if chunks and current_words < PASSAGE_MIN_WORDS and current_words + n <= PASSAGE_MAX_WORDS:
            chunks[-1] += "\n" + piece
            current_words += n
        else:
            chunks.append(piece)
            current_words = n
    return chunks
