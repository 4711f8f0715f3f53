#!/usr/bin/env bash
# Repeated data against fresh data on the synthetic language: the same
# models trained on the same number of tokens D, once on fresh data and once
# on a unique-token budget U repeated for D/U epochs (`unique_tokens`).
#
#   bash bench/data_constrained.sh [SCALELAB_BINARY] [OUT_DIR]
#
# SIZES, TOKENS and UNIQUE (space-separated) give another grid; the binary
# defaults to $SCALELAB_BIN, else the release build.
# Prints params, tokens, unique_tokens, epochs and the validation loss of
# every run (the sweep's runs.csv, which `scalelab fit --law
# data-constrained` reads as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${SCALELAB_BIN:-${CARGO_TARGET_DIR:-target}/release/scalelab}}
OUT=${2:-runs/data-constrained}
SPEC=$(mktemp --suffix .toml)
trap 'rm -f "$SPEC"' EXIT
list() { printf '%s' "$1" | tr -s ' ' ',' ; }
cat > "$SPEC" <<TOML
name = "data-constrained"

[train]
data = "synth"
context = 64
batch = 32
lr = 3e-3
eval_batches = 32
threads = 2

[grid]
params = [$(list "${SIZES:-1e4 5e4}")]
tokens = [$(list "${TOKENS:-2e6}")]
# 2e6: fresh data (one epoch); 4e5: 5 epochs; 1e5: 20 epochs
unique_tokens = [$(list "${UNIQUE:-2e6 4e5 1e5}")]
TOML
"$BIN" sweep "$SPEC" --out "$OUT" --jobs 1 --quiet
python3 - "$OUT/runs.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'params':>8} {'tokens':>9} {'unique':>9} {'epochs':>7} {'val_loss':>9}")
for r in sorted(rows, key=lambda r: (float(r["params"]), -float(r["unique_tokens"]))):
    print(f"{float(r['params']):8.0f} {float(r['tokens']):9.3g} {float(r['unique_tokens']):9.3g} "
          f"{float(r['epochs']):7.2f} {float(r['loss']):9.4f}")
PY
