#!/usr/bin/env bash
# The whole test suite, as run by CI (.ci/run) and by a newcomer on a fresh
# machine. It installs what the tests need, then checks formatting, lints and
# runs every test with the optimised test profile.
set -euo pipefail
cd "$(dirname "$0")/.."

# CI builds once, on a clean clone: incremental compilation's bookkeeping
# only costs time there.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

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

# One Python virtual environment for every test that needs Python packages:
# the Python package's suite (maturin, numpy, pandas, pytest), the PyTorch
# trainer's tests (torch, CPU here), and the TensorBoard importer's
# real-format fixtures (tensorboard), and the benchmark scripts that the
# examples test runs at reduced sizes (scipy, datasketch). Rust tests find it through
# SCALELAB_PYTHON.
echo "== python environment"
PYTHON="${PYTHON:-python3}"
TARGET="${CARGO_TARGET_DIR:-target}"
HAVE_PY=0
if ! command -v "$PYTHON" >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "error: CI=true but no $PYTHON"; exit 1; fi
  echo "warning: no $PYTHON; the Python package's and the PyTorch trainer's tests skip"
else
  if [ ! -x .venv-py/bin/python ]; then
    if ! "$PYTHON" -m venv .venv-py >/dev/null 2>&1; then
      # Debian ships venv separately
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        rm -rf .venv-py
        pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${pyver}-venv" >/dev/null 2>&1 \
          || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${pyver}-venv" >/dev/null; }
        "$PYTHON" -m venv .venv-py
      else
        echo "error: $PYTHON -m venv failed (install python3-venv)"; exit 1
      fi
    fi
  fi
  .venv-py/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv-py/bin/python -m pip install -q "maturin>=1.7,<2" numpy pandas pytest torch tensorboard scipy datasketch
  SCALELAB_PYTHON="$(cd .venv-py/bin && pwd)/python"
  export SCALELAB_PYTHON
  HAVE_PY=1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# One build of every test target and of the Python extension, in one cargo
# invocation: cargo resolves the dependencies' features once for all of
# them. Built apart after `cargo test`, the extension would see other
# features (the tests' dev-dependencies turn some on) and recompile the
# engine, the renderer and the library under it, minutes on 2 cores.
echo "== cargo build (tests and the Python extension)"
if [ "$HAVE_PY" = 1 ]; then
  PYO3_PYTHON="$SCALELAB_PYTHON" cargo build --locked --profile test --workspace --lib --bins --tests --examples
else
  cargo build --locked --profile test --workspace --exclude scalelab-py --lib --bins --tests --examples
fi

echo "== cargo test"
cargo test --workspace --locked

# The Python package (crates/py + python/): the extension module built above
# with the test profile (a maturin wheel build would recompile the workspace
# under another profile, minutes on 2 cores) goes beside the package's
# Python files, and the pytest suite runs against the CLI that `cargo test`
# built. `pip install ./python` builds the wheel itself.
echo "== python package"
if [ "$HAVE_PY" = 1 ]; then
  PKG="$TARGET/python-test"
  rm -rf "$PKG" && mkdir -p "$PKG"
  cp -r python/scalelab "$PKG/"
  cp "$TARGET/debug/lib_scalelab.so" "$PKG/scalelab/_scalelab.abi3.so"
  PYTHONPATH="$(cd "$PKG" && pwd)" SCALELAB_BIN="$(cd "$TARGET/debug" && pwd)/scalelab" \
    .venv-py/bin/python -m pytest -q python/tests
fi
