# Shared helpers for Pictor's scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Playwright must never download a browser: the tests use Debian's chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

step() { printf '\n\033[1;35m==> %s\033[0m\n' "$*"; }

# The wasm-bindgen version Cargo.lock resolved; the CLI must be exactly this version.
locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Starts the local PostgreSQL cluster if it is installed but not running.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && return 0; sleep 1; done
  echo "PostgreSQL is not reachable at 127.0.0.1:5432 (set TEST_POSTGRES_URL to use another server)" >&2
  return 1
}

# Copies ECharts into the static files: the dashboard serves it itself, never from a CDN.
vendor_echarts() {
  mkdir -p "$ROOT/public/vendor"
  if ! cmp -s "$ROOT/node_modules/echarts/dist/echarts.min.js" "$ROOT/public/vendor/echarts.min.js"; then
    cp "$ROOT/node_modules/echarts/dist/echarts.min.js" "$ROOT/public/vendor/echarts.min.js"
  fi
}
