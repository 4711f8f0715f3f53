#!/usr/bin/env bash
# Validation loss of small GPTs trained on the synthetic language, against the
# language's exact floor, for a few model sizes N and token budgets D.
#
#   bash bench/corpus_synth_curves.sh [SCALELAB_BINARY]
#   (SIZES and TOKENS: other grids, space-separated)
#
# Each run streams `--data synth` (documents of context+1 tokens from the
# start state), so the floor a perfect model reaches is the exact
# `target_loss_nats` printed by `scalelab corpus synth --info --doc-len 65`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/scalelab}
CTX=64
"$BIN" corpus synth --info --doc-len $((CTX + 1))
printf '%10s %10s %12s\n' params tokens val_loss
for N in ${SIZES:-1e4 5e4 2.5e5}; do
  for D in ${TOKENS:-5e5 2e6 8e6}; do
    V=$("$BIN" train --data synth --params "$N" --context $CTX --batch 32 --tokens "$D" \
        --lr 3e-3 --eval-batches 32 --threads 2 --quiet --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["final_val_loss"])')
    printf '%10s %10s %12.4f\n' "$N" "$D" "$V"
  done
done
