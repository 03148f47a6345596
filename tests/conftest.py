"""Fixtures: every test gets its own content tree, data folder (SQLite + Whoosh index) and app."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, find_bin_dir
from tests.smtp import Server as SmtpServer
from wijkwijzer import create_app
from wijkwijzer.config import Settings
from wijkwijzer.services import Services

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONTENT = ROOT / "content"


def write_case(content_dir: Path, relative: str, frontmatter: str, body: str = "Tekst van de casus.") -> Path:
    """Write a case-study file with the given frontmatter (YAML without the dashes) and body."""
    path = content_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{textwrap.dedent(frontmatter).strip()}\n---\n{textwrap.dedent(body).strip()}\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """An empty content tree with the real taxonomy."""
    folder = tmp_path / "content"
    folder.mkdir()
    shutil.copy(SAMPLE_CONTENT / "_taxonomy.yml", folder / "_taxonomy.yml")
    return folder


@pytest.fixture
def sample_content(tmp_path: Path) -> Path:
    """A copy of the project's sample content (so tests may change it)."""
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE_CONTENT, folder)
    return folder


def make_settings(tmp_path: Path, content: Path, database_url: str = "") -> Settings:
    """Settings for a test: its own data folder, no watcher; SQLite there unless a `database_url` is given."""
    return Settings(content_dir=content, experts_dir=tmp_path / "experts", data_dir=tmp_path / "data",
                    watch_interval=0, secret_key="test", testing=True, database_url=database_url)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the whole session (tests/postgres.py), with a migrated template database.
    Without Debian's PostgreSQL binaries the tests that need it are skipped, or fail in CI
    (WIJKWIJZER_REQUIRE_BROWSER=1: scripts/test installs them)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL (initdb, pg_ctl) is not installed (scripts/test installs Debian's postgresql)"
        if os.environ.get("WIJKWIJZER_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(bin_dir)
    try:
        server.init()
        server.start()
        server.make_template()
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_url(postgres):
    """A fresh, migrated PostgreSQL database for one test; its URL (WIJKWIJZER_DATABASE_URL)."""
    url = postgres.fresh_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """Run a test on both databases: "" (SQLite in the test's data folder) and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("pg_url")


@pytest.fixture
def services(tmp_path: Path, content_dir: Path):
    """Services over the empty content tree."""
    svc = Services.build(make_settings(tmp_path, content_dir))
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def sample_app(tmp_path_factory):
    """One app over the sample content, shared by read-only tests (indexing 40 files once)."""
    tmp = tmp_path_factory.mktemp("sample-app")
    app = create_app(make_settings(tmp, SAMPLE_CONTENT))
    yield app
    app.extensions["wijkwijzer"].close()


@pytest.fixture
def coordinator_app(tmp_path):
    """An app of its own over the sample content and the real pool, with one coordinator account ("coord"),
    for tests that submit and link requests."""
    settings = replace(make_settings(tmp_path, SAMPLE_CONTENT), experts_dir=ROOT / "experts")
    app = create_app(settings, watch=False)
    app.extensions["wijkwijzer"].accounts.add("coord", "Coördinator Een", "lang-genoeg-wachtwoord")
    yield app
    app.extensions["wijkwijzer"].close()


@pytest.fixture
def client(sample_app):
    """Flask test client on the sample content."""
    return sample_app.test_client()


@pytest.fixture(scope="session")
def built_model(tmp_path_factory):
    """The real embedding model: the one `scripts/test` installed in data/ (verified again), else a fresh build.

    Building takes about 30 s; tests/test_model_build.py also builds one from scratch.
    """
    from wijkwijzer.search.model_build import build_e5_small

    installed = Path(__file__).resolve().parent.parent / "data" / "models" / "multilingual-e5-small"
    if (installed / "model.safetensors").is_file():
        return build_e5_small(installed)  # verifies; rebuilds in place if it is damaged
    return build_e5_small(tmp_path_factory.mktemp("models") / "multilingual-e5-small")


def run_threads(threads: list[threading.Thread]) -> None:
    """Start and join threads with the interpreter switching between them as often as it can, so that any
    interleaving the code under test allows does happen."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)


@pytest.fixture
def smtp():
    """A real SMTP server on a free loopback port for this test (tests/smtp.py)."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium for one test module (skipped, or failed in CI, without it: tests/chromium.py)."""
    from tests.chromium import launch, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A desktop-sized page in a fresh browser context."""
    from tests.chromium import new_page

    page = new_page(browser)
    yield page
    page.context.close()
