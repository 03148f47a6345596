"""Markdown to safe HTML for pages, and to plain text for the index and snippets."""

from __future__ import annotations

import html
import re
from functools import lru_cache

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

# Allow-list for editor markdown: structure, tables and links; nothing that runs or loads from elsewhere.
ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "sub", "sup", "abbr",
    "blockquote", "code", "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td",
    "caption", "a", "span", "div", "img",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "th": {"align", "scope", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "ol": {"start"},
    "img": {"src", "alt", "title", "width", "height", "loading", "decoding"},
}
# Images load only from the site's own file route for files beside a case (web/site.py, `case_file`).
IMAGE_PREFIX = "/casus/"
IMAGE_SEGMENT = "/_bestanden/"
# An image in the body: its target as written -> (the URL that serves it, width, height; 0 when unknown).
ImageMap = tuple[tuple[str, str, int, int], ...]
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


class _Images(Treeprocessor):
    """Point each image at the URL that serves it, with its size and lazy loading; an image we do not serve
    (not beside the case, missing, elsewhere on the web) becomes its alt text, so no broken image is shown."""

    def __init__(self, md: markdown.Markdown, images: ImageMap) -> None:
        super().__init__(md)
        self.images = {src: (url, width, height) for src, url, width, height in images}

    def run(self, root) -> None:
        for element in list(root.iter("img")):
            alt = element.get("alt", "")
            target = self.images.get(element.get("src", ""))
            if target is None:
                element.tag, element.text = "span", alt
                element.attrib.clear()
                continue
            url, width, height = target
            element.attrib = {"src": url, "alt": alt, "loading": "lazy", "decoding": "async",
                              **({"width": str(width), "height": str(height)} if width and height else {})}


class _ImageExtension(Extension):
    def __init__(self, images: ImageMap) -> None:
        super().__init__()
        self.images = images

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_Images(md, self.images), "wijkwijzer-images", 0)


def _own_images_only(tag: str, attribute: str, value: str) -> str | None:
    """nh3 keeps an image's src only when it is our file route (raw HTML in the body cannot load from elsewhere)."""
    if tag == "img" and attribute == "src":
        return value if value.startswith(IMAGE_PREFIX) and IMAGE_SEGMENT in value else None
    return value


@lru_cache(maxsize=512)
def render_markdown(source: str, images: ImageMap = ()) -> str:
    """Render editor markdown to HTML, then sanitise it with nh3 (Ammonia) against an allow-list.

    A level-1 heading in the body becomes level 2: the page title is the only h1. `images` maps each image
    target in the body to the URL that serves it; other images show their alt text.
    """
    source = separate_lists(re.sub(r"^# ", "## ", _bound_brackets(source), flags=re.MULTILINE))
    raw = markdown.markdown(source, extensions=[*EXTENSIONS, _ImageExtension(images)],
                            extension_configs={"toc": {"permalink": False}}, output_format="html")
    clean = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_own_images_only,
    )
    return _IMG_TAG.sub(_without_broken_image, clean) if "<img" in clean else clean


# An image tag as nh3 writes it: lowercase names, values in double quotes (a quote inside is always escaped),
# so the pattern is exact and linear. One without src (raw HTML pointing elsewhere) or alt is dropped.
_IMG_TAG = re.compile(r'<img(?:\s+[a-z-]+(?:="[^"]*")?)*\s*/?>')


def _without_broken_image(match: re.Match) -> str:
    tag = match.group(0)
    return tag if ' src="' in tag and ' alt="' in tag else ""


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
