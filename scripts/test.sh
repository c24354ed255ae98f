#!/usr/bin/env bash
# THE test command: brings up real MariaDB + PostgreSQL 15 on loopback
# (scripts/test-env.sh), runs `cargo test --release`, tears them down again.
#
#   scripts/test.sh [extra args for the test binaries, e.g. a name filter]
#
# MGS_KEEP_ENV=1 leaves the servers running afterwards (for debugging).
# The exit code is cargo's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# rustup puts cargo in ~/.cargo/bin, which a non-login shell (CI) may lack.
if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || {
  echo "test.sh: cargo not found; install Rust with rustup first" >&2
  exit 1
}

scripts/test-env.sh install

# Only tear down an environment this run started: if one was already up
# (e.g. left by scripts/demo.sh), it belongs to someone else.
started_env=1
if scripts/test-env.sh status >/dev/null 2>&1; then
  started_env=0
fi

# shellcheck disable=SC2317  # only reached through the trap below
cleanup() {
  local rc=$?
  if [[ ${MGS_KEEP_ENV:-0} == 1 ]]; then
    echo "test.sh: MGS_KEEP_ENV=1: servers left running; stop them with scripts/test-env.sh down" >&2
  elif ((started_env)); then
    scripts/test-env.sh down || true
  else
    echo "test.sh: servers were already running before this run; left them up" >&2
  fi
  exit "$rc"
}
# Always clean up, also when interrupted or when `up` itself fails half-way.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/test-env.sh up
# Export MGS_MYSQL_* / MGS_PG_* for the tests (same lines as <dir>/env.sh).
eval "$(scripts/test-env.sh env)"

set +e
cargo test --release -- --test-threads=4 "$@"
rc=$?
set -e
exit "$rc"
