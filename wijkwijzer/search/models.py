"""Plain data passed between the search backends, the services, the web and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SORTS = ("relevance", "date")
MAX_QUERY_CHARS = 300  # longer input is cut: nobody types more, and it keeps a pasted page from costing seconds
MAX_PAGE = 1000


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked: text, facet filters (OR within a facet, AND across facets), order and page."""

    text: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sort: str = "relevance"
    page: int = 1
    per_page: int = 10
    semantic_ratio: float | None = None  # hybrid balance for this request; None: the configured default
    # True: only documents with evidence of relevance (search.floor). False keeps every keyword match: for the
    # case studies suggested beside a help request, whose long text no document covers most of.
    strict: bool = True
    exact: bool = False  # search the text as typed, without typo correction ("zoek in plaats daarvan naar …")

    def cache_key(self) -> tuple:
        """A hashable key for result caches."""
        filters = tuple(sorted((k, tuple(sorted(v))) for k, v in self.filters.items() if v))
        return (self.text, filters, self.sort, self.page, self.per_page, self.semantic_ratio, self.strict,
                self.exact)


@dataclass
class Hit:
    """One result: what a result list shows of a case study."""

    slug: str
    title: str
    summary: str
    score: float
    snippet: str  # safe HTML: escaped text with <mark> around matched words
    themes: list[str]
    action_lines: list[str]
    municipality: str
    focus_area: str
    type: str
    date: str
    evidence: str

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


@dataclass
class FacetValue:
    """One value of a facet with the number of results it would give."""

    key: str
    label: str
    count: int
    selected: bool


@dataclass
class SearchResponse:
    """The answer to a SearchRequest."""

    request: SearchRequest
    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]]
    mode: str = "keyword"
    suggestion: str | None = None  # "Bedoelde u …?"
    corrected_from: str | None = None  # the text as typed, when we searched its typo correction instead
    searched: str | None = None  # the text that was searched (the correction, when corrected_from is set)
    notices: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # matches from each side (keyword, semantic)
    sort: str = "relevance"  # the order the hits are in: "date" when asked, and for a search without text

    @property
    def pages(self) -> int:
        """Number of result pages."""
        return max(1, -(-self.total // self.request.per_page))
