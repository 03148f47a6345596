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
