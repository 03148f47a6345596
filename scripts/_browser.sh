# Sourced by scripts/test: Debian's Chromium for the browser tests (never a test tool's own browser download),
# axe-core from npm for the accessibility checks, and the pinned NL Design System packages that
# tests/test_assets.py rebuilds the style bundle from. Each step is skipped when already done.

# Install a Debian package (with sudo when not root); on failure, warn what will be skipped.
apt_install() {
  local package="$1" skipped="$2" sudo=""
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null; }; then
    echo "warning: could not install $package; $skipped" >&2
  fi
}

ensure_browser() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  echo "==> Installing Debian's chromium for the browser tests"
  apt_install chromium "the browser tests will be skipped"
}

ensure_axe() {
  if [ -f tests/browser/node_modules/axe-core/axe.min.js ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; the accessibility tests will be skipped" >&2
    return 0
  fi
  echo "==> Installing axe-core from npm into tests/browser"
  npm install --prefix tests/browser --no-audit --no-fund --silent >/dev/null || \
    echo "warning: npm install failed; the accessibility tests will be skipped" >&2
}

ensure_nlds() {
  # Exactly the versions in scripts/nlds/package-lock.json (npm ci): the test compares the committed bundle
  # with a fresh build from them.
  if [ -d scripts/nlds/node_modules ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; the bundle reproducibility test will be skipped (a failure in CI)" >&2
    return 0
  fi
  echo "==> Installing the pinned NL Design System packages into scripts/nlds"
  npm ci --prefix scripts/nlds --no-audit --no-fund --silent >/dev/null || \
    echo "warning: npm ci failed; the bundle reproducibility test will be skipped (a failure in CI)" >&2
}

ensure_postgres() {
  # Debian's PostgreSQL server binaries (initdb, pg_ctl): tests/postgres.py runs a throwaway cluster with them.
  # The installed service is not needed (and not started by the tests); only the binaries are used.
  if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1; then return 0; fi
  echo "==> Installing Debian's postgresql for the PostgreSQL storage tests"
  apt_install postgresql "the PostgreSQL tests will be skipped (a failure in CI)"
}

ensure_nginx() {
  # Debian's nginx for tests/test_proxy.py, which runs the README's example configuration in front of an app
  # server. Installed only, never started as a service: the test starts its own instance in a temporary folder.
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then return 0; fi
  echo "==> Installing Debian's nginx-light for the proxy test"
  apt_install nginx-light "the proxy test will be skipped (a failure in CI)"
}

# Fetch a URL to a file: curl where installed, else the venv's Python (a slim image may lack curl).
_download() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$2" "$1"; return; fi
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
}

ensure_pgvector() {
  # pgvector for the PostgreSQL tests of vector search (WIJKWIJZER_PGVECTOR). Debian 12 has no package for it:
  # build Debian's own source tarball (checked by its SHA-256) against the installed server. Without -march=native
  # (OPTFLAGS=""), so the build runs on any x86-64 CI machine.
  local pg_config major sudo="" src url sum
  major="$(ls -d /usr/lib/postgresql/*/ 2>/dev/null | xargs -n 1 basename | sort -n | tail -n 1)"
  if [ -z "$major" ]; then return 0; fi  # no PostgreSQL: ensure_postgres has warned already
  if [ -f "/usr/share/postgresql/$major/extension/vector.control" ]; then return 0; fi
  echo "==> Building pgvector 0.8.0 for PostgreSQL $major (the vector search tests)"
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  pg_config="/usr/lib/postgresql/$major/bin/pg_config"  # the server tests/postgres.py runs (the newest)
  if [ ! -x "$pg_config" ] || [ ! -f "$("$pg_config" --includedir-server)/postgres.h" ]; then
    apt_install "postgresql-server-dev-$major" "pgvector cannot be built"
  fi
  url="http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_0.8.0.orig.tar.gz"
  sum="867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0"
  src="$(mktemp -d)"
  if ! { _download "$url" "$src/pgvector.tar.gz" &&
         echo "$sum  $src/pgvector.tar.gz" | sha256sum -c --quiet - &&
         tar -xzf "$src/pgvector.tar.gz" -C "$src" &&
         make -s -C "$src"/pgvector-0.8.0 PG_CONFIG="$pg_config" OPTFLAGS="" >/dev/null &&
         $sudo make -s -C "$src"/pgvector-0.8.0 PG_CONFIG="$pg_config" OPTFLAGS="" install >/dev/null; }; then
    echo "warning: could not build pgvector; its tests will be skipped (a failure in CI)" >&2
  fi
  rm -rf "$src"
}
