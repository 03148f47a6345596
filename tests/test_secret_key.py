"""The session key kept in the data folder: private from the moment it exists, one key for all processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from wijkwijzer.config import Settings


def test_key_file_is_created_0600_without_a_chmod(tmp_path, monkeypatch):
    # A chmod after writing leaves the key readable by others for a moment: it must be born private.
    def no_chmod(*args, **kwargs):
        raise AssertionError("the key file must be created with mode 0600, not changed to it afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    previous = os.umask(0o022)
    try:
        key = Settings(data_dir=tmp_path / "data").with_secret().secret_key
    finally:
        os.umask(previous)
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == key and len(key) == 64
    assert Settings(data_dir=tmp_path / "data").with_secret().secret_key == key  # kept across restarts
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]  # no temporary files left


def test_a_key_created_by_another_process_meanwhile_wins(tmp_path, monkeypatch):
    """The race, step by step: this process finds no key, another creates one, then this one writes."""
    data = tmp_path / "data"
    data.mkdir()
    key_file = data / "secret_key"
    key_file.write_text("a" * 64)  # the other process's key, made just after this one looked
    first_look = {"exists": True, "read_text": True}
    real_exists, real_read = Path.exists, Path.read_text

    def exists(self, *args, **kwargs):
        if self == key_file and first_look["exists"]:
            first_look["exists"] = False
            return False
        return real_exists(self, *args, **kwargs)

    def read_text(self, *args, **kwargs):
        if self == key_file and first_look["read_text"]:
            first_look["read_text"] = False
            raise FileNotFoundError(self)
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    monkeypatch.setattr(Path, "read_text", read_text)
    assert Settings(data_dir=data).with_secret().secret_key == "a" * 64
    assert real_read(key_file) == "a" * 64


def test_processes_racing_to_create_the_key_all_get_the_same_one(tmp_path):
    data = tmp_path / "data"
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from wijkwijzer.config import Settings
        while not os.path.exists({str(go)!r}):
            pass  # spin: the racers must start within microseconds of each other
        print(Settings(data_dir=Path({str(data)!r})).with_secret().secret_key)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    racers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
              for _ in range(6)]
    try:
        import time

        time.sleep(1.5)  # let every racer import and wait at the line (the import takes about a second)
        go.touch()
        keys = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert (data / "secret_key").read_text() == next(iter(keys))
    assert stat.S_IMODE((data / "secret_key").stat().st_mode) == 0o600
