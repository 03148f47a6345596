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


MAX_BRACKET_DEPTH = 3


def _bound_brackets(source: str) -> str:
    """Escape every '[' opened deeper than MAX_BRACKET_DEPTH inside others (unclosed ones count as open).

    Python-Markdown's link pattern scans from each '[' to its balancing ']', quadratic in the nesting: 4,000 '['
    in a 4 KB body took 5.4 s a page view, 8,000 took 22 s. Links nest at most once in real text and never span
    paragraphs, so escaping the deeper ones ("\\[", a plain "[" on the page) bounds rendering to linear time
    and changes nothing else.
    """
    if source.count("[") <= MAX_BRACKET_DEPTH:
        return source
    out, depth, escaped, previous = [], 0, False, ""
    for char in source:
        if char == "\n" and previous == "\n":
            depth = 0  # a link never spans paragraphs: an unclosed '[' in one does not count in the next
        previous = char
        if char == "[" and not escaped:
            depth += 1
            if depth > MAX_BRACKET_DEPTH:
                out.append("\\")
        elif char == "]" and not escaped and depth:
            depth -= 1
        escaped = char == "\\" and not escaped
        out.append(char)
    return "".join(out)


@lru_cache(maxsize=512)
def render_markdown(source: str) -> str:
    """Render editor markdown to HTML, then sanitise it with nh3 (Ammonia) against an allow-list.

    A level-1 heading in the body becomes level 2: the page title is the only h1.
    """
    source = separate_lists(re.sub(r"^# ", "## ", _bound_brackets(source), flags=re.MULTILINE))
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


_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t]{2,}|\t")
# Linear in the text (habit 10). The marker run is possessive: giving a marker back can never make it a space.
# A table rule or horizontal rule is matched within its own line: the lookahead asks for three rule characters
# (counting the spaces before them, as before), then each part is taken once. The old form, with whitespace
# before and after the rule that could also be rule characters, took cubic time on a long run of spaces.
# After the rule, the blank lines up to the next text go with it, as before.
_MARKS = re.compile(
    r"(^|\s)[#>*+-]++\s|[*_`~]{1,3}|^(?=[ \t]*[-:| ]{3})[ \t]*+[-:| ]*+[ \t]*+$\s*$", re.MULTILINE)
_FENCED = re.compile(r"```.*?```", re.DOTALL)
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _strip_links(text: str) -> str:
    """`[text](target)` and `![alt](target)` become their text, as `!?\\[([^\\]]*)\\]\\([^)]*\\)` would do.

    A scan instead of that pattern: the pattern rescans to the same `]` or `)` from every `[` before it, which
    is quadratic on a run of brackets. Here every `[`, `]` and `)` is looked at a bounded number of times.
    """
    out: list[str] = []
    pos = 0
    close = paren = -1  # the first `]` after the current `[`, the first `)` after its `](`; reused while valid
    start = text.find("[")
    while start != -1:
        if close <= start:
            close = text.find("]", start + 1)
            if close == -1:
                break
        if text.startswith("(", close + 1):
            if paren < close + 2:
                paren = text.find(")", close + 2)
                if paren == -1:
                    break  # no `)` after this `](`, so none after any later one either
            begin = start - 1 if start > pos and text[start - 1] == "!" else start
            out.append(text[pos:begin])
            out.append(text[start + 1:close])
            pos = paren + 1
            start = text.find("[", pos)
        else:
            start = text.find("[", close + 1)  # every `[` before this `]` meets the same `]`: skip them
    out.append(text[pos:])
    return "".join(out)


def _before_last(text: str, mark: str) -> tuple[str, str]:
    """Split after the last `mark`: a pattern that must end in `mark` runs on the head only.

    Without a closing mark further on, a lazy or negated scan from every opening mark runs to the end of the
    text, which is quadratic; with it, every scan ends at the first closing mark and the match consumes it.
    """
    cut = text.rfind(mark)
    return (text[:cut + len(mark)], text[cut + len(mark):]) if cut != -1 else ("", text)


@lru_cache(maxsize=2048)
def markdown_to_text(source: str) -> str:
    """Plain text of a markdown body: what a reader sees, without markup, for indexing and snippets."""
    text = source
    if "```" in text:
        head, tail = _before_last(text, "```")
        text = _FENCED.sub(" ", head) + tail
    if "](" in text:  # most texts have no link
        text = _strip_links(text)
    head, tail = _before_last(text, ">")
    text = _HTML_TAG.sub(" ", head) + tail
    text = _MARKS.sub(" ", text)
    text = text.replace("|", " ")
    text = html.unescape(text)
    # Only runs of two or more and tabs: replacing every single space with itself was a third of the time.
    return _SPACES.sub(" ", _BLANK_LINES.sub("\n\n", text)).strip()
