#!/usr/bin/env bash
# Repeated data against fresh data on the synthetic language: the same
# models trained on the same number of tokens D, once on fresh data and once
# on a unique-token budget U repeated for D/U epochs (`unique_tokens`).
#
#   bash bench/data_constrained.sh [SCALELAB_BINARY] [OUT_DIR]
#
# SIZES, TOKENS and UNIQUE (space-separated) give another grid; the binary
# defaults to $SCALELAB_BIN, else the release build.
#
# FRESH=1 also trains the fresh grid FRESH_SIZES x FRESH_TOKENS (default the
# nine runs of bench/corpus_synth_curves.sh, same settings) into OUT/fresh and
# writes the two tables the data-constrained fit reads: OUT/fresh.csv (the
# fresh runs: params, tokens, loss) and OUT/all.csv (those with
# unique_tokens = tokens, plus the runs above that repeat their data).
# Prints params, tokens, unique_tokens, epochs and the validation loss of
# every run (the sweep's runs.csv, which `scalelab fit --law
# data-constrained` reads as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${SCALELAB_BIN:-${CARGO_TARGET_DIR:-target}/release/scalelab}}
OUT=${2:-runs/data-constrained}
SPEC=$(mktemp --suffix .toml)
FRESH_SPEC=$(mktemp --suffix .toml)
trap 'rm -f "$SPEC" "$FRESH_SPEC"' EXIT
list() { printf '%s' "$1" | tr -s ' ' ',' ; }
# the settings of bench/corpus_synth_curves.sh, shared by both sweeps
TRAIN='[train]
data = "synth"
context = 64
batch = 32
lr = 3e-3
eval_batches = 32
threads = 2'
cat > "$SPEC" <<TOML
name = "data-constrained"

$TRAIN

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
if [ "${FRESH:-0}" = 1 ]; then
  cat > "$FRESH_SPEC" <<TOML
name = "data-constrained-fresh"

$TRAIN

[grid]
params = [$(list "${FRESH_SIZES:-1e4 5e4 2.5e5}")]
tokens = [$(list "${FRESH_TOKENS:-5e5 2e6 8e6}")]
TOML
  "$BIN" sweep "$FRESH_SPEC" --out "$OUT/fresh" --jobs 1 --quiet
  python3 - "$OUT" <<'PY'
import csv, sys
out = sys.argv[1]
fresh = [r for r in csv.DictReader(open(f"{out}/fresh/runs.csv")) if r["status"] == "done"]
repeated = [r for r in csv.DictReader(open(f"{out}/runs.csv"))
            if r["status"] == "done" and float(r["epochs"]) > 1]
with open(f"{out}/fresh.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["params", "tokens", "loss"])
    for r in fresh:
        w.writerow([r["params"], r["tokens"], r["loss"]])
with open(f"{out}/all.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["params", "tokens", "unique_tokens", "loss"])
    for r in fresh:
        w.writerow([r["params"], r["tokens"], r["tokens"], r["loss"]])
    for r in repeated:
        w.writerow([r["params"], r["tokens"], r["unique_tokens"], r["loss"]])
print(f"wrote {out}/fresh.csv ({len(fresh)} runs) and {out}/all.csv ({len(fresh) + len(repeated)} runs)")
PY
fi
