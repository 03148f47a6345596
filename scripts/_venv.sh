# Shared by scripts/run and scripts/test (sourced, not run): make sure .venv exists and holds the locked
# dependencies: requirements.lock (base) or requirements-dev.lock (with the dev extras), exact versions with
# hashes, written by scripts/lock from pyproject.toml. A stamp file named after the hash of the lock file,
# pyproject.toml and this script skips the install next time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ensure_venv() {  # $1: extras, e.g. "" or "dev"
  local extras="${1:-}"
  local lock="requirements${extras:+-$extras}.lock"
  local python="${WIJKWIJZER_PYTHON:-}"
  if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3; do
      if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
    done
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "==> Creating .venv with $python"
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-${extras:-base}-$(cat "$lock" pyproject.toml scripts/_venv.sh | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "==> Installing $lock and wijkwijzer into .venv (first run takes a few minutes)"
    local pip=(.venv/bin/python -m pip --disable-pip-version-check)
    # --require-hashes: every file must match a hash in the lock, so nothing unlisted or altered is installed
    # (and a pin missing from the lock fails here instead of resolving something new).
    "${pip[@]}" install --quiet --require-hashes -r "$lock"
    # The project itself, editable, without resolving again; setuptools came from the lock.
    "${pip[@]}" install --quiet --no-deps --no-build-isolation -e .
    # A dependency added to pyproject.toml but not yet locked shows here.
    if ! "${pip[@]}" check >/dev/null; then
      "${pip[@]}" check >&2 || true
      echo "error: .venv does not satisfy pyproject.toml; run scripts/lock to update $lock" >&2
      return 1
    fi
    rm -f .venv/.installed-"${extras:-base}"-*
    touch "$stamp"
  fi
}
