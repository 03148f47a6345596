"""A read-only data folder: the site keeps searching, says clearly what is wrong, and loses nothing stored.

The server process runs without the capabilities that let root ignore file permissions (util-linux `setpriv`),
so a `chmod a-w` on the data folder binds it as it would bind the service account in production.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_CONTENT, make_settings
from wijkwijzer import create_app

PROBE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from wijkwijzer import create_app
    from wijkwijzer.config import Settings
    data, content, token = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    app = create_app(Settings(content_dir=content, experts_dir=Path(sys.argv[4]), data_dir=data,
                              watch_interval=0, testing=True), watch=False)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    search = client.get("/api/v1/search?q=schulden").get_json()
    status = client.get("/api/v1/status").get_json()
    form = {"municipality": "Schiedam", "contact_name": "Jan Jansen", "email": "jan@schiedam.nl",
            "role": "beleidsadviseur", "question": "Wie helpt ons met vroegsignalering van schulden in de wijk?",
            "kind": "weet ik niet"}
    submit = client.post("/hulpvraag", data=form)
    login = client.post("/coordinator/inloggen", data={"username": "redacteur", "password": "lang-genoeg-wachtwoord"})
    editors = client.get("/coordinator/redactie").get_data(as_text=True)
    print(json.dumps({"total": search["total"], "mode": search["mode"], "storage": status["storage"],
                      "login": login.status_code, "editors_page": "alleen lezen" in editors,
                      "submit": submit.status_code, "submit_text": submit.get_data(as_text=True),
                      "status_page": client.get(f"/hulpvraag/status/{token}").status_code}))
""")


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without util-linux setpriv: a read-only folder cannot be simulated")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_read_only_data_folder_keeps_search_and_loses_nothing(tmp_path):
    settings = make_settings(tmp_path, SAMPLE_CONTENT)
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    services = app.extensions["wijkwijzer"]
    _, token = services.submit_request({"municipality": "Vlaardingen", "contact_name": "Els de Vries",
                                        "email": "els@vlaardingen.nl", "role": "wijkmanager",
                                        "question": "Hoe krijgen we de woningcorporaties mee in de wijkaanpak?",
                                        "kind": "expertpool"})
    assert token
    services.accounts.add("redacteur", "Redacteur", "lang-genoeg-wachtwoord", role="editor")
    stored = services.requests.queue()
    services.close()

    _set_writable(settings.data_dir, False)
    try:
        result = subprocess.run([*_unprivileged(), sys.executable, "-c", PROBE, str(settings.data_dir),
                                 str(SAMPLE_CONTENT), token, str(settings.experts_dir)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        _set_writable(settings.data_dir, True)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["total"] > 0 and answer["mode"] == "keyword"
    assert answer["storage"]["writable"] is False and "alleen-lezen" in answer["storage"]["error"]
    assert answer["submit"] == 503 and "Opslaan lukt op dit moment niet" in answer["submit_text"]
    assert answer["status_page"] == 200  # reading what was stored still works
    # An editor can still log in (the session then lives in the signed cookie) and read what is wrong.
    assert answer["login"] == 302 and answer["editors_page"] is True

    again = create_app(settings, watch=False).extensions["wijkwijzer"]
    assert again.requests.queue() == stored and again.store.read_only is None
    again.close()
