"""The README documents every command, setting, route and API endpoint users can see."""

import re
from pathlib import Path

from wijkwijzer.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_cli_command_is_documented():
    for name in main.commands:
        assert f"wijkwijzer {name}" in README, name


def test_every_setting_is_documented():
    source = (Path(__file__).resolve().parent.parent / "wijkwijzer" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"([A-Z_]+)"', source)) - {"WIJKWIJZER_"}
    assert names, "no settings found"
    for name in names:
        assert f"WIJKWIJZER_{name}" in README, name


def test_every_public_route_is_documented(sample_app):
    for rule in sample_app.url_map.iter_rules():
        if rule.endpoint in ("static", "api.not_found"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"<\1>", rule.rule)
        documented = path in README or path.split("<")[0] in README
        if rule.endpoint == "site.browse":
            documented = all(f"/{kind}/<key>" in README for kind in ("thema", "actielijn", "focusgebied"))
        assert documented, rule.rule


def test_quick_start_is_two_commands():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = quick.split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["scripts/run", "scripts/test"]


def test_the_layout_section_matches_the_package_tree():
    block = README.split("  ```text\n  wijkwijzer/\n", 1)[1].split("```", 1)[0]
    listed, folder = set(), ""
    for line in block.splitlines():
        match = re.match(r"(\s+)(\S+\.py|\S+/)(?:\s|$)", line)
        if not match:
            continue
        indent, name = len(match.group(1)), match.group(2)
        if indent == 4:  # a module or package of wijkwijzer/
            folder = name if name.endswith("/") else ""
            if not folder:
                listed.add(name)
        elif indent == 6 and folder and name.endswith(".py"):
            listed.add(folder + name)
    package = Path(__file__).resolve().parent.parent / "wijkwijzer"
    detailed = {"search/", "domain/", "storage/", "text/", "mail/", "opendata/"}  # web/ is described in prose
    actual = {str(path.relative_to(package)) for path in package.glob("*.py")}
    actual |= {str(path.relative_to(package)) for folder in detailed for path in (package / folder).glob("*.py")
               if path.name != "__init__.py" or path.stat().st_size > 600}
    assert listed == actual, f"missing from the README: {sorted(actual - listed)}; gone: {sorted(listed - actual)}"
