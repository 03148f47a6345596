# Shared by scripts/run and scripts/test (sourced, not run): make sure .venv exists and holds what
# pyproject.toml asks for. A stamp file named after the hash of pyproject.toml skips the install next time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ensure_venv() {  # $1: extras, e.g. "" or "dev"
  local extras="${1:-}"
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
  local stamp=".venv/.installed-${extras:-base}-$(cat pyproject.toml scripts/_venv.sh | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "==> Installing wijkwijzer${extras:+[$extras]} into .venv (first run takes a few minutes)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
    rm -f .venv/.installed-"${extras:-base}"-*
    touch "$stamp"
  fi
}
