#!/usr/bin/env bash
# The whole test suite, as run by CI (.ci/run) and by a newcomer on a fresh
# machine. It installs what the tests need, then checks formatting, lints and
# runs every test with the optimised test profile.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
