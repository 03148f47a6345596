"""Markdown to safe HTML for pages, and to plain text for the index and snippets."""

from __future__ import annotations

import html
import re
from functools import lru_cache

import markdown
import nh3

# Allow-list for editor markdown: structure, tables and links; nothing that runs or loads from elsewhere.
ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "sub", "sup", "abbr",
    "blockquote", "code", "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td",
    "caption", "a", "span", "div",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "th": {"align", "scope", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["tables", "fenced_code", "sane_lists", "toc", "abbr", "def_list"]


_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+\S")
# As in CommonMark, only a bullet or "1." starts a list under a paragraph line: "2023. Daarna ..." is text.
_LIST_START = re.compile(r"^(?:[-*+]|1[.)])\s+\S")
_FENCE = ("```", "~~~")


def separate_lists(source: str) -> str:
    """Put a blank line before a list that starts right under a paragraph line.

    Editors write lists the GitHub way ("Wij deden drie dingen:" and "- ..." on the next line); Python-Markdown
    only starts a list after a blank line and would otherwise print the dashes inside the paragraph.
    """
    out: list[str] = []
    fenced = in_list = False
    for line in source.split("\n"):
        if line.lstrip().startswith(_FENCE):
            fenced = not fenced
        elif not fenced:
            if _LIST_ITEM.match(line) and (in_list or _LIST_START.match(line)):
                if not in_list and out and out[-1].strip() and not out[-1].startswith((" ", "\t")):
                    out.append("")
                in_list = True
            elif not line.strip():
                in_list = False
        out.append(line)
    return "\n".join(out)


@lru_cache(maxsize=512)
def render_markdown(source: str) -> str:
    """Render editor markdown to HTML, then sanitise it with nh3 (Ammonia) against an allow-list.

    A level-1 heading in the body becomes level 2: the page title is the only h1.
    """
    source = separate_lists(re.sub(r"^# ", "## ", source, flags=re.MULTILINE))
    raw = markdown.markdown(source, extensions=EXTENSIONS, extension_configs={"toc": {"permalink": False}},
                            output_format="html")
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t]{2,}|\t")
_MARKS = re.compile(r"(^|\s)[#>*+-]+\s|[*_`~]{1,3}|^\s*\|?[-:| ]{3,}\|?\s*$", re.MULTILINE)


@lru_cache(maxsize=2048)
def markdown_to_text(source: str) -> str:
    """Plain text of a markdown body: what a reader sees, without markup, for indexing and snippets."""
    text = re.sub(r"```.*?```", " ", source, flags=re.DOTALL) if "```" in source else source
    if "](" in text:  # the link pattern costs a fifth of this function; most texts have no link
        text = _LINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MARKS.sub(" ", text)
    text = text.replace("|", " ")
    text = html.unescape(text)
    # Only runs of two or more and tabs: replacing every single space with itself was a third of the time.
    return _SPACES.sub(" ", re.sub(r"\n\s*\n+", "\n\n", text)).strip()
