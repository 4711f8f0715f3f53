#!/usr/bin/env bash
# Benchmark: scalelab's engine against PyTorch eager (scaled-dot-product
# attention) on the same configurations, thread counts and machine, in one
# run, printed as ratios of tokens/s and of peak memory.
#
#   PYTHON=/path/to/venv/bin/python bash bench/engine_vs_pytorch.sh
#
# PYTHON must have torch (see bench/pytorch_reference.py). Cases: vocabulary
# 256, context 128, batch 16; d_model 64 / 2 layers / 4 heads and d_model 256
# / 4 layers / 8 heads; 1 and 2 threads. tokens/s is the median over the
# timed steps after warm-up, on random tokens, for both. Each case runs the
# two alternately ROUNDS times (default 2) and keeps each one's best median,
# which damps the noise of a shared machine. CASES ("LAYERS D_MODEL HEADS
# STEPS", separated by ";") and THREADS replace the cases and thread counts.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-2}
# SCALELAB_BIN: a scalelab binary to measure (default: build the release one)
if [ -n "${SCALELAB_BIN:-}" ]; then
  BIN=$SCALELAB_BIN
else
  cargo build --release -p scalelab-cli >/dev/null
  BIN=${CARGO_TARGET_DIR:-target}/release/scalelab
fi

field() { "$PYTHON" -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

printf '%-16s %3s %12s %12s %7s %9s %8s %8s %7s\n' case thr "scalelab" "pytorch" ratio "GFLOP/s" "RSS MiB" "pt MiB" "mem"
IFS=';' read -r -a SHAPES <<< "${CASES:-2 64 4 40;4 256 8 12}"
for shape in "${SHAPES[@]}"; do
  set -- $shape
  L=$1; D=$2; H=$3; STEPS=$4
  for TH in ${THREADS:-1 2}; do
    best_s=0; best_p=0; gf=0; rss=0; prss=0
    for _ in $(seq "$ROUNDS"); do
      S=$("$BIN" train --n-layer "$L" --d-model "$D" --n-head "$H" --context 128 --batch 16 \
            --vocab 256 --steps "$STEPS" --threads "$TH" --data random --json --quiet)
      P=$("$PYTHON" bench/pytorch_reference.py bench --n-layer "$L" --d-model "$D" --n-head "$H" \
            --context 128 --batch 16 --vocab 256 --threads "$TH" --steps "$STEPS")
      s=$(echo "$S" | field tokens_per_second); p=$(echo "$P" | field tokens_per_second)
      if "$PYTHON" -c "import sys; sys.exit(0 if $s > $best_s else 1)"; then
        best_s=$s; gf=$(echo "$S" | field gflops_per_second); rss=$(echo "$S" | field peak_rss_mb)
      fi
      if "$PYTHON" -c "import sys; sys.exit(0 if $p > $best_p else 1)"; then best_p=$p; fi
      prss=$(echo "$P" | field peak_rss_mb)
    done
    "$PYTHON" - "$D/${L}L/${H}H" "$TH" "$best_s" "$best_p" "$gf" "$rss" "$prss" <<'PY'
import sys
c, th, s, p, gf, rss, prss = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
print(f"{c:<16} {th:>3} {s:>12.0f} {p:>12.0f} {s/p:>6.2f}x {gf:>9.1f} {rss:>8.0f} {prss:>8.0f} {rss/prss:>7.2f}")
PY
  done
done
