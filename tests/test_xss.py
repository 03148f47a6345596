"""Nothing executable that users or editors type reaches a page: content files, search queries, form fields."""

import re
from html.parser import HTMLParser

import pytest

from tests.conftest import make_settings, write_case
from wijkwijzer import create_app

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "[klik](javascript:alert(1))",
    '<a href="javascript:alert(1)">klik</a>',
    '<a href="JaVaScRiPt&#58;alert(1)">klik</a>',
    "<iframe src=\"https://evil.example\"></iframe>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    "<body onload=alert(1)>",
    '"><script>alert(1)</script>',
    "<details open ontoggle=alert(1)>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "![x](x\" onerror=\"alert(1))",
]


class Executable(HTMLParser):
    """Collects what a browser would run: script-like elements, event handlers, javascript:/data: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "base", "meta", "form") and not self._ours(tag, attrs):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            url = re.sub(r"\s", "", value or "").lower()
            if name.startswith("on") or (name in ("href", "src", "action", "formaction") and
                                         url.startswith(("javascript:", "data:", "vbscript:"))):
                self.found.append(f"<{tag} {name}={value!r}>")

    @staticmethod
    def _ours(tag: str, attrs) -> bool:
        # Our own templates have forms (search, request, login) that post to this site, a charset and a viewport
        # meta, and a script file from /static/; content never does. A form to another site ("//host" is one too)
        # or a refresh meta is not ours.
        values = dict(attrs)
        if tag == "script":  # our own file from our static folder (the copy button), never inline code
            if values == {"type": "application/ld+json"}:
                return True  # the case page's JSON-LD: data a browser never runs (breakout: test_opendata)
            return set(values) <= {"src", "defer"} and (values.get("src") or "").startswith("/static/")
        if tag == "form":
            action = values.get("action") or ""
            same_site = action == "" or (action.startswith("/") and not action.startswith(("//", "/\\")))
            return same_site and values.get("method") in ("get", "post")
        if tag == "meta":
            return set(values) == {"charset"} or (set(values) == {"name", "content"} and values["name"] == "viewport")
        return False


def assert_safe(html: str, where: str) -> None:
    parser = Executable()
    parser.feed(html)
    assert not parser.found, f"{where}: {parser.found}"


@pytest.mark.parametrize("html", [
    '<form action="https://evil.example/" method="post">', '<form action="//evil.example/" method="get">',
    '<form action="/\\evil.example/" method="post">', '<form action="javascript:alert(1)" method="get">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">', '<meta name="x" http-equiv="refresh">',
])
def test_the_checker_catches_foreign_forms_and_refreshes(html):
    with pytest.raises(AssertionError):
        assert_safe(html, "test")


@pytest.mark.parametrize("html", ['<form action="" method="get">', '<form action="/zoeken" method="get">',
                                  '<form method="post">', '<meta charset="utf-8">',
                                  '<meta name="viewport" content="width=device-width">'])
def test_the_checker_accepts_our_own_forms(html):
    assert_safe(html, "test")


@pytest.fixture
def app(tmp_path, content_dir):
    for i, payload in enumerate(PAYLOADS):
        write_case(content_dir, f"xss/geval-{i}.md",
                   f"title: 'Titel {payload}'\nsummary: 'Samenvatting {payload}'\ntags: ['{payload}']",
                   f"## Kop {payload}\n\nTekst over wonen en schulden. {payload}\n\n"
                   f"| a | b |\n|---|---|\n| {payload} | x |")
    app = create_app(make_settings(tmp_path, content_dir), watch=False)
    app.extensions["wijkwijzer"].accounts.add("coord", "C", "lang-genoeg-wachtwoord")
    yield app
    app.extensions["wijkwijzer"].close()


def test_content_files_are_sanitised(app):
    client = app.test_client()
    for i in range(len(PAYLOADS)):
        response = client.get(f"/casus/xss/geval-{i}")
        assert response.status_code == 200
        assert_safe(response.get_data(as_text=True), f"case {i}")
    assert_safe(client.get("/").get_data(as_text=True), "home")
    assert_safe(client.get("/feed.atom").get_data(as_text=True), "feed")


def test_search_queries_are_escaped(app):
    client = app.test_client()
    for payload in [*PAYLOADS, "wonen", "schulden"]:
        page = client.get("/zoeken", query_string={"q": payload})
        assert page.status_code == 200
        assert_safe(page.get_data(as_text=True), f"/zoeken q={payload}")
        api = client.get("/api/v1/search", query_string={"q": payload})
        assert api.status_code == 200 and api.headers["X-Content-Type-Options"] == "nosniff"
        # JSON carries titles as plain text; only `snippet` is HTML (for clients that insert it as such).
        for result in api.get_json()["results"]:
            assert_safe(result["snippet"], f"API snippet q={payload}")


def test_form_fields_are_escaped_everywhere_they_are_shown(app):
    client = app.test_client()
    html = client.get("/hulpvraag").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    payload = " ".join(PAYLOADS)
    response = client.post("/hulpvraag", data={
        "csrf_token": token, "municipality": "Delft", "contact_name": PAYLOADS[0], "email": "a@delft.nl",
        "role": PAYLOADS[1], "question": "Wij zoeken advies over onze wijkaanpak. " + payload, "kind": "expertpool"})
    assert response.status_code == 303
    assert_safe(client.get(response.headers["Location"]).get_data(as_text=True), "status page")
    bad = client.post("/hulpvraag", data={"csrf_token": token, "municipality": payload, "email": payload,
                                          "question": payload})
    assert bad.status_code == 422 and "&lt;script&gt;" in bad.get_data(as_text=True)
    assert_safe(bad.get_data(as_text=True), "form with errors")
    login = client.post("/coordinator/inloggen", data={"username": "coord", "password": "lang-genoeg-wachtwoord",
                                                       "csrf_token": token})
    assert login.status_code == 302
    for url in ("/coordinator/", "/coordinator/aanvraag/1", "/coordinator/verdelen", "/coordinator/redactie"):
        assert_safe(client.get(url).get_data(as_text=True), url)
