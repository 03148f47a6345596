"""Bundle the NL Design System CSS, design tokens and fonts that the site serves itself.

Run by ``scripts/build_assets`` after ``npm ci --prefix scripts/nlds``. Reads the packages pinned in
``scripts/nlds/package.json`` and writes ``wijkwijzer/web/static/nlds/`` (committed, so that neither
``scripts/run`` nor a server needs npm or a CDN):

* ``nlds.css``: the component stylesheets in a fixed order, then only those design tokens of the theme that
  the components or ``wijkwijzer.css`` actually reference (the full token file is 200 kB), then ``@font-face``
  rules for the fonts the tokens name;
* ``fonts/*.woff2``: Noto Sans and Noto Serif, Latin subset, regular and bold.

The output is byte-for-byte reproducible; ``--check`` exits 1 when the committed bundle differs from a fresh
build (used by ``tests/test_assets.py`` where the packages are installed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / "scripts" / "nlds"
MODULES = NPM_DIR / "node_modules"
OUT_DIR = ROOT / "wijkwijzer" / "web" / "static" / "nlds"
OWN_CSS = ROOT / "wijkwijzer" / "web" / "static" / "wijkwijzer.css"

TOKENS_PACKAGE = "@nl-design-system-unstable/voorbeeld-design-tokens"
THEME_CLASS = "voorbeeld-theme"
FONTS = {  # family -> package; Latin covers Dutch (é, ë, ï, ĳ as i+j)
    "Noto Sans": "@fontsource/noto-sans",
    "Noto Serif": "@fontsource/noto-serif",
}
WEIGHTS = (400, 700)

_VAR_REF = re.compile(r"var\(\s*(--[A-Za-z0-9_-]+)")
_DECLARATION = re.compile(r"^\s*(--[A-Za-z0-9_-]+)\s*:\s*(.*?);\s*$")
_SOURCE_MAP = re.compile(r"/\*# sourceMappingURL=.*?\*/\s*")


def component_css(package: str) -> Path:
    """Return the stylesheet a CSS package ships: Utrecht's ``dist/index.css`` or the candidate's named file."""
    dist = MODULES / package / "dist"
    index = dist / "index.css"
    if index.exists():
        return index
    named = dist / (package.rsplit("/", 1)[1].removesuffix("-css") + ".css")
    if named.exists():
        return named
    raise SystemExit(f"{package}: no stylesheet in {dist}")


def pinned_packages() -> dict[str, str]:
    """Return the packages and exact versions from ``scripts/nlds/package.json``, checked against node_modules."""
    wanted = json.loads((NPM_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]
    for name, version in wanted.items():
        manifest = MODULES / name / "package.json"
        if not manifest.exists():
            raise SystemExit(f"{name} is not installed: run scripts/build_assets (it runs npm ci first)")
        installed = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        if installed != version:
            raise SystemExit(f"{name}: package.json pins {version}, node_modules has {installed}")
    return wanted


def theme_tokens() -> dict[str, str]:
    """Parse the token theme (one ``.voorbeeld-theme { --name: value; ... }`` block) into name -> value."""
    text = (MODULES / TOKENS_PACKAGE / "dist" / "theme.css").read_text(encoding="utf-8")
    tokens: dict[str, str] = {}
    for line in text.splitlines():
        match = _DECLARATION.match(line)
        if match:
            tokens[match.group(1)] = match.group(2)
    if not tokens:
        raise SystemExit(f"{TOKENS_PACKAGE}: no tokens found in dist/theme.css")
    return tokens


def used_tokens(stylesheets: list[str], tokens: dict[str, str]) -> list[str]:
    """Return the tokens the stylesheets reference, directly or through other tokens, in the theme's order."""
    pending = [name for css in stylesheets for name in _VAR_REF.findall(css)]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in tokens:
            continue
        seen.add(name)
        pending.extend(_VAR_REF.findall(tokens[name]))
    return [name for name in tokens if name in seen]


def font_faces() -> tuple[str, dict[str, bytes]]:
    """Return ``@font-face`` rules and the woff2 files (name -> bytes) for the fonts the theme uses."""
    rules, files = [], {}
    for family, package in FONTS.items():
        stem = package.rsplit("/", 1)[1]
        for weight in WEIGHTS:
            name = f"{stem}-latin-{weight}-normal.woff2"
            files[name] = (MODULES / package / "files" / name).read_bytes()
            rules.append(
                f"@font-face {{\n  font-family: '{family}';\n  font-style: normal;\n  font-display: swap;\n"
                f"  font-weight: {weight};\n  src: url(fonts/{name}) format('woff2');\n}}"
            )
    return "\n".join(rules) + "\n", files


def build() -> dict[str, bytes]:
    """Return every output file (path relative to the output folder -> bytes)."""
    packages = pinned_packages()
    css_packages = [p for p in packages if p.endswith("-css")]
    parts = []
    for package in css_packages:
        css = _SOURCE_MAP.sub("", component_css(package).read_text(encoding="utf-8")).replace('@charset "UTF-8";\n', "")
        parts.append(f"/* ---- {package}@{packages[package]} ---- */\n{css.strip()}\n")
    tokens = theme_tokens()
    needed = used_tokens([*parts, OWN_CSS.read_text(encoding="utf-8")], tokens)
    theme = "".join(f"  {name}: {tokens[name]};\n" for name in needed)
    faces, fonts = font_faces()
    header = (
        "/*\n * Generated by scripts/build_assets from scripts/nlds/package.json; do not edit.\n"
        " * NL Design System components (EUPL-1.2, Gemeente Utrecht / Frameless / NL Design System community),\n"
        f" * design tokens of {TOKENS_PACKAGE} (EUPL-1.2; {len(needed)} of {len(tokens)} tokens: those referenced),\n"
        " * Noto Sans and Noto Serif by the Noto Project Authors (SIL Open Font License 1.1, via @fontsource).\n"
        + "".join(f" *   {name}@{version}\n" for name, version in packages.items())
        + " */\n"
    )
    bundle = header + faces + f".{THEME_CLASS} {{\n{theme}}}\n" + "".join(parts)
    out = {"nlds.css": bundle.encode("utf-8")}
    out.update({f"fonts/{name}": data for name, data in fonts.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the bundle, or with ``--check`` compare it with what is committed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed bundle is out of date")
    args = parser.parse_args(argv)
    files = build()
    stale = [name for name, data in files.items()
             if not (OUT_DIR / name).exists() or (OUT_DIR / name).read_bytes() != data]
    present = [p.relative_to(OUT_DIR).as_posix() for p in OUT_DIR.rglob("*") if p.is_file()] if OUT_DIR.exists() else []
    extra = [name for name in present if name not in files]
    if args.check:
        for name in stale + extra:
            print(f"out of date: wijkwijzer/web/static/nlds/{name}", file=sys.stderr)
        return 1 if stale or extra else 0
    for name in extra:
        (OUT_DIR / name).unlink()
    for name, data in files.items():
        target = OUT_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    size = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files ({size / 1024:.0f} kB) to {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
