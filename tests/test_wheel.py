"""Packaging: the built wheel serves the site on its own, and the lock files match pyproject.toml.

The wheel test builds the wheel offline from a copy of the package, installs it into a new virtual environment
without network (the dependencies come from this interpreter's site-packages, added by a .pth file, which does
not run the editable install's own .pth hook), and serves a page, a coordinator template and a stylesheet from a
temporary folder. An editable install reads the source tree, so only this shows a file missing from the wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"": ROOT / "requirements.lock", "dev": ROOT / "requirements-dev.lock"}

SERVE_FROM_WHEEL = textwrap.dedent("""
    import sys
    from pathlib import Path

    import wijkwijzer
    from wijkwijzer import create_app
    from wijkwijzer.config import Settings

    venv, tmp = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    assert Path(wijkwijzer.__file__).resolve().is_relative_to(venv), wijkwijzer.__file__
    content = tmp / "content"
    content.mkdir()
    (content / "_taxonomy.yml").write_bytes(Path(sys.argv[3]).read_bytes())
    settings = Settings(content_dir=content, experts_dir=tmp / "experts", data_dir=tmp / "data",
                        watch_interval=0, secret_key="wheel", testing=True, ratelimits=False)
    app = create_app(settings)
    client = app.test_client()
    for path, expected in [
        ("/", "Wat werkt in de wijk?"),
        ("/coordinator/inloggen", "Inloggen voor coördinatoren"),
        ("/static/nlds/nlds.css", "@font-face"),
        ("/static/wijkwijzer.css", ""),
    ]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert expected in response.get_data(as_text=True), path
        response.close()
    font = client.get("/static/nlds/fonts/noto-sans-latin-400-normal.woff2")
    assert font.status_code == 200 and font.data[:4] == b"wOF2", font.status_code
    font.close()
    app.extensions["wijkwijzer"].close()
    print("served from", wijkwijzer.__file__)
""")


@pytest.mark.slow
def test_wheel_serves_templates_and_static_files(tmp_path):
    source = tmp_path / "src"  # a copy, so no build/ or egg-info of an earlier build leaks into the wheel
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "wijkwijzer", source / "wijkwijzer", ignore=shutil.ignore_patterns("__pycache__"))
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
                    source], check=True, env=offline, cwd=tmp_path, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("wijkwijzer-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--quiet", "--no-deps", wheel], check=True, env=offline,
                   cwd=tmp_path, timeout=300)
    new_site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    reused = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (new_site / "_reuse_test_dependencies.pth").write_text("\n".join(sorted(reused)) + "\n", encoding="utf-8")

    (tmp_path / "run").mkdir()
    env = {k: v for k, v in offline.items() if not k.startswith(("PYTHON", "WIJKWIJZER_"))}
    result = subprocess.run([python, "-c", SERVE_FROM_WHEEL, venv, tmp_path / "run", ROOT / "content/_taxonomy.yml"],
                            cwd=tmp_path / "run", env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "served from" in result.stdout


def _pins(lock: Path) -> dict[str, tuple[str, int]]:
    """Name -> (version, number of hashes) of every requirement in a pip-compile lock file."""
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8")):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def test_lock_files_pin_every_dependency_with_hashes():
    """Run `scripts/lock` after changing the dependencies in pyproject.toml; this fails until then."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {"": project["dependencies"], "dev": project["dependencies"] + project["optional-dependencies"]["dev"]}
    locked = {extra: _pins(path) for extra, path in LOCKS.items()}
    for extra, requirements in wanted.items():
        pins = locked[extra]
        assert pins, LOCKS[extra]
        for line in requirements:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is not in {LOCKS[extra].name}: run scripts/lock"
            assert requirement.specifier.contains(pins[name][0], prereleases=True), (
                f"{name}=={pins[name][0]} in {LOCKS[extra].name} is outside {requirement}: run scripts/lock")
        assert all(hashes for _, hashes in pins.values()), f"a pin without --hash in {LOCKS[extra].name}"
    # One set of versions: the dev lock is compiled with the base lock as constraints.
    for name, (version, _) in locked[""].items():
        assert locked["dev"][name][0] == version, name
    # The CPU build of PyTorch (a local version +cpu), never the CUDA build with its nvidia-* packages.
    assert locked[""]["torch"][0].endswith("+cpu")
    assert not [name for name in locked["dev"] if name.startswith("nvidia-")]
