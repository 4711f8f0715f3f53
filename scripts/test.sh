#!/usr/bin/env bash
# The whole test suite, as run by CI (.ci/run) and by a newcomer on a fresh
# machine. It installs what the tests need, then checks formatting, lints and
# runs every test with the optimised test profile.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The engine's English-text test trains on Debian's `fortunes` (it skips when
# the text is missing, except with CI=true). Install it when we can.
if [ ! -e /usr/share/games/fortunes/fortunes ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing fortunes (test data)"
  apt-get install -y -q fortunes >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q fortunes >/dev/null; } \
    || echo "warning: could not install fortunes"
fi

# The report's browser test renders the HTML in Debian's headless chromium.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing chromium (for the report's browser test)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
    || echo "warning: could not install chromium; the browser checks skip (and fail with CI=true)"
fi

# The Slurm executor's integration test brings up a single-node cluster from
# Debian's packages (slurmctld, slurmd, slurm-client, munge). As root, install
# them and run that test; without root it runs only when CI=true (and fails
# there if Slurm cannot be brought up).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Slurm (for the Slurm executor test)"
  if bash scripts/slurm-cluster.sh install >/dev/null; then
    export SCALELAB_SLURM_TEST=1
  else
    echo "warning: could not install Slurm; its test runs only with CI=true"
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
