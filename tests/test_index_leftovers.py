"""Files a killed writer leaves in the index folder are removed on the next start, never a running writer's."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from whoosh import index as whoosh_index

from tests.conftest import make_settings, write_case
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.whoosh_patches import remove_leftovers
from wijkwijzer.services import Services

ROOT = Path(__file__).resolve().parent.parent

KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from wijkwijzer.config import Settings
    from wijkwijzer.services import Services
    import wijkwijzer.search.fulltext as fulltext

    real, count = fulltext._document, 0
    def dying(case, *rest):
        global count
        count += 1
        if count == 30:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-write, after Whoosh created the new segment's files
        return real(case, *rest)
    fulltext._document = dying
    svc = Services.build(Settings(content_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), watch_interval=0,
                                  secret_key="x"))
    svc.sync(full=True)
    """
)

RUNNING_WRITER = textwrap.dedent(
    """
    import sys, time
    from whoosh import index
    ix = index.open_dir(sys.argv[1])
    writer = ix.writer()
    writer.add_document(slug="lopend", title="Een schrijver die nog bezig is", body="tekst " * 2000)
    print("writing", flush=True)
    time.sleep(60)
    """
)


def _run(script: str, *args: str, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_files_of_a_killed_writer_are_removed_on_the_next_start(tmp_path, content_dir):
    for n in range(60):
        write_case(content_dir, f"w/doc-{n:02d}.md", f"title: Casus {n}", f"Het buurthuis en casus{n}.")
    settings = make_settings(tmp_path, content_dir)
    svc = Services.build(settings)
    assert svc.sync().documents == 60
    svc.close()
    folder = settings.index_dir
    committed = _files(folder)

    proc = _run(KILLED_WRITER, str(content_dir), str(settings.data_dir))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    # And one named like a segment that no table of contents lists, as an older crash may leave.
    (folder / "MAIN_0000deadbeef0000.seg").write_bytes(b"\0" * 100_000)
    left = _files(folder) - committed
    assert "MAIN_0000deadbeef0000.seg" in left and any(name.startswith("MAIN.tmp") for name in left)
    assert len([name for name in left if name.startswith("MAIN_")]) >= 2

    again = Services.build(settings)
    assert again.index.count() == 60  # opening tidies up
    assert _files(folder) == committed
    assert again.search(SearchRequest(text="buurthuis")).total == 60
    assert again.search(SearchRequest(text="casus7")).total == 1
    assert again.sync().written == 0
    again.close()


def test_files_of_a_running_writer_are_left_alone(tmp_path, content_dir):
    write_case(content_dir, "a/een.md", "title: Buurthuis", "Het buurthuis.")
    settings = make_settings(tmp_path, content_dir)
    svc = Services.build(settings)
    svc.sync()
    folder = settings.index_dir
    committed = _files(folder)
    writer = _run(RUNNING_WRITER, str(folder))
    try:
        assert writer.stdout.readline().strip() == b"writing"
        running = _files(folder) - committed
        assert running  # its new segment's files
        ix = whoosh_index.open_dir(str(folder))
        assert remove_leftovers(ix) == []
        fresh = Services.build(settings)
        assert fresh.search(SearchRequest(text="buurthuis")).total == 1
        fresh.close()
        assert running <= _files(folder)
    finally:
        writer.kill()
        writer.communicate()
    # Killed: now they are leftovers.
    assert sorted(n.rstrip("/") for n in remove_leftovers(ix)) == sorted(
        n for n in running if "/" not in n)
    assert _files(folder) == committed
    svc.close()
