"""Incremental indexing, deletions, broken files, and crash safety of the full-text index."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import make_settings, write_case
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.services import Services


def titles(svc, text=""):
    return sorted(h.title for h in svc.search(SearchRequest(text=text, per_page=50)).hits)


def test_incremental_sync_reindexes_only_changed_files(services, content_dir):
    write_case(content_dir, "a/een.md", "title: Een over schulden", "Vroegsignalering van schulden.")
    write_case(content_dir, "a/twee.md", "title: Twee over wonen", "Woningen opknappen.")
    first = services.sync()
    assert (first.written, first.documents) == (2, 2)
    assert services.sync().written == 0  # nothing changed

    write_case(content_dir, "a/twee.md", "title: Twee over isolatie", "Woningen isoleren.")
    again = services.sync()
    assert again.written == 1 and again.documents == 2
    assert titles(services) == ["Een over schulden", "Twee over isolatie"]


def test_deleted_files_leave_the_index(services, content_dir):
    path = write_case(content_dir, "a/weg.md", "title: Verdwijnt straks")
    services.sync()
    path.unlink()
    report = services.sync()
    assert report.removed == 1 and report.documents == 0
    assert services.case("a/weg") is None


def test_a_broken_file_keeps_its_last_good_version_and_others_still_index(services, content_dir):
    good = write_case(content_dir, "a/goed.md", "title: Goede versie", "Oorspronkelijke tekst.")
    services.sync()
    good.write_text("---\ntitle: [kapot\n---\nNieuwe tekst\n", encoding="utf-8")
    write_case(content_dir, "a/nieuw.md", "title: Nieuw bestand")
    (content_dir / "a" / "latin.md").write_bytes("---\ntitle: Caf\xe9\n---\n".encode("latin-1"))
    report = services.sync()
    assert {p.path for p in report.errors} == {"a/goed.md", "a/latin.md"}
    assert titles(services) == ["Goede versie", "Nieuw bestand"]
    status = services.status()
    assert status["documents"] == 2 and {e["path"] for e in status["errors"]} == {"a/goed.md", "a/latin.md"}


def test_taxonomy_change_revalidates_files(services, content_dir):
    write_case(content_dir, "a/x.md", "title: X\nthemes: [sport]")
    report = services.sync()
    assert any(p.field == "themes" for p in report.problems)
    taxonomy = content_dir / "_taxonomy.yml"
    taxonomy.write_text(taxonomy.read_text(encoding="utf-8").replace("themes:\n", "themes:\n  sport: Sport\n"),
                        encoding="utf-8")
    report = services.sync()
    assert report.written == 1 and not report.problems
    assert services.case("a/x")["themes"] == ["sport"]


def test_full_rebuild_keeps_everything(sample_content, tmp_path):
    svc = Services.build(make_settings(tmp_path, sample_content))
    svc.sync()
    report = svc.sync(full=True)
    assert report.written == report.documents >= 40
    svc.close()


CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from wijkwijzer.config import Settings
    from wijkwijzer.services import Services
    import wijkwijzer.search.fulltext as fulltext

    real = fulltext._document
    count = 0
    def dying(case, *rest):
        global count
        count += 1
        if count == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # die hard, mid-write, no cleanup
        return real(case, *rest)
    fulltext._document = dying
    content, data = Path(sys.argv[1]), Path(sys.argv[2])
    svc = Services.build(Settings(content_dir=content, data_dir=data, watch_interval=0, secret_key="x"))
    svc.sync(full=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_index_leaves_previous_index_usable(sample_content, tmp_path):
    settings = make_settings(tmp_path, sample_content)
    svc = Services.build(settings)  # the running site
    before = svc.sync().documents
    assert before >= 40
    write_case(sample_content, "landelijk/extra.md", "title: Extra casus over wijkkracht")
    script = tmp_path / "crash.py"
    script.write_text(CRASHER)
    env = dict(os.environ, PYTHONPATH=str(os.getcwd()))
    for kill_at in (3, 20, 38):  # early, midway and near the end of the rebuild: again and again
        proc = subprocess.run([sys.executable, str(script), str(sample_content), str(settings.data_dir),
                               str(kill_at)], env=env, capture_output=True, timeout=120)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        # The site keeps serving the previous generation while and after the indexer dies.
        assert svc.index.count() == before
        assert svc.search(SearchRequest(text="schulden", per_page=3)).total > 0
    svc.close()

    # A fresh process sees the previous generation, and the next run completes and is consistent.
    after = Services.build(settings)
    assert after.index.count() == before
    report = after.sync()
    assert report.documents == before + 1
    assert after.case("landelijk/extra")["title"] == "Extra casus over wijkkracht"
    assert after.sync().written == 0
    after.close()


@pytest.mark.slow
def test_watcher_picks_up_changes_without_restart(tmp_path, content_dir):
    from dataclasses import replace

    settings = replace(make_settings(tmp_path, content_dir), watch_interval=0.2)
    svc = Services.build(settings)
    svc.sync()
    svc.start_watching()
    try:
        path = write_case(content_dir, "a/live.md", "title: Live toegevoegd")
        assert _eventually(lambda: svc.case("a/live") is not None)
        write_case(content_dir, "a/live.md", "title: Live gewijzigd")
        assert _eventually(lambda: (svc.case("a/live") or {}).get("title") == "Live gewijzigd")
        path.unlink()
        assert _eventually(lambda: svc.case("a/live") is None)
    finally:
        svc.close()


def _eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_cached_field_lengths_answer_exactly_as_whoosh(tmp_path, sample_content):
    from wijkwijzer.search import whoosh_patches

    assert whoosh_patches.install()
    svc = Services.build(make_settings(tmp_path, sample_content))
    svc.sync()
    reader = svc.index.searcher().reader()
    segments = getattr(reader, "readers", [reader])
    checked = 0
    for segment in segments:
        perdoc = segment._perdoc
        for docnum in range(segment.doc_count_all() + 2):  # past the end too
            for field in ("title", "lead", "body", "slug", "geen-veld"):
                inside = docnum <= perdoc._doccount
                expected = whoosh_patches._ORIGINAL_FIELD_LENGTH(perdoc, docnum, field) if inside else "x"
                got = whoosh_patches._doc_field_length(perdoc, docnum, field) if inside else "x"
                assert got == expected, (docnum, field)
                checked += 1
    assert checked > 150
    svc.close()
