#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and PyTorch, run a small
# sweep of the shipped PyTorch trainer (trainers/torch_gpt.py) through
# `scalelab sweep` — three sizes × two token budgets on the synthetic
# language, a few minutes in all — then fit the Chinchilla law, plan a
# budget, and print tokens/s, achieved TFLOP/s, model FLOPs utilisation
# (MFU) and peak memory per run.
#
#   bash bench/gpu_check.sh                 # builds scalelab, writes to /tmp/scalelab-gpu-check
#   OUT=runs/gpu SCALELAB=target/release/scalelab PYTHON=python3 bash bench/gpu_check.sh
#   COMPILE=1 bash bench/gpu_check.sh       # with torch.compile
#   TPP="2 6" SIZES="4:256:4 6:384:6 8:512:8" bash bench/gpu_check.sh
#   DEVICE=cpu SIZES="1:16:2 2:32:2 2:48:4" TPP="5 15" CONTEXT=32 BATCH=8 \
#       bash bench/gpu_check.sh           # the same pipeline on a CPU, to test it
#
# Needs: nvidia-smi, a Python with torch (CUDA build) and numpy, and cargo
# (or SCALELAB pointing at a built binary). Uses one GPU unless LAUNCHER is
# set (e.g. LAUNCHER="torchrun --nproc-per-node=8").
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-/tmp/scalelab-gpu-check}"
PYTHON="${PYTHON:-python3}"
TPP="${TPP:-2 6}"
SIZES="${SIZES:-4:256:4 6:384:6 8:512:8}"
CONTEXT="${CONTEXT:-512}"
BATCH="${BATCH:-64}"
LR="${LR:-1e-3}"
COMPILE="${COMPILE:-0}"
LAUNCHER="${LAUNCHER:-}"

DEVICE="${DEVICE:-cuda}"
if [ "$DEVICE" = cuda ]; then
  command -v nvidia-smi >/dev/null || { echo "error: no nvidia-smi: this check needs an NVIDIA GPU (DEVICE=cpu to test the pipeline)" >&2; exit 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PYTHON" - <<'EOF' || { echo "error: $PYTHON has no CUDA-enabled torch" >&2; exit 1; }
import torch
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
EOF
fi

if [ -z "${SCALELAB:-}" ]; then
  cargo build --release --locked -p scalelab-cli >&2
  SCALELAB=target/release/scalelab
fi

rm -rf "$OUT"
mkdir -p "$OUT"
extra=""
[ "$COMPILE" = 1 ] && extra=" --compile"
{
  echo 'name = "gpu-check"'
  echo '[train]'
  echo 'data = "synth"'
  echo "context = $CONTEXT"
  echo "batch = $BATCH"
  echo "lr = $LR"
  echo '[schedule]'
  echo 'evals = 4'
  echo 'checkpoints = 2'
  echo '[trainer]'
  echo "command = \"$PYTHON trainers/torch_gpt.py --config {config} --device $DEVICE$extra\""
  echo 'resume = true'
  echo 'checkpoint = "checkpoint.pt"'
  echo 'timeout = "30m"'
  [ -n "$LAUNCHER" ] && echo "launcher = \"$LAUNCHER\""
  for s in $SIZES; do
    IFS=: read -r l d h <<<"$s"
    for t in $TPP; do
      echo '[[runs]]'
      echo "n_layer = $l"
      echo "d_model = $d"
      echo "n_head = $h"
      echo "tokens_per_param = $t"
    done
  done
} >"$OUT/sweep.toml"

"$SCALELAB" sweep "$OUT/sweep.toml" --out "$OUT/runs" --dry-run
t0=$(date +%s)
"$SCALELAB" sweep "$OUT/sweep.toml" --out "$OUT/runs" --jobs 1
t1=$(date +%s)
echo "sweep wall time: $((t1 - t0)) s"

echo
echo "== per run (from each run's summary.json)"
"$PYTHON" - "$OUT/runs" <<'EOF'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
print(f"{'run':<16} {'params':>10} {'tokens':>10} {'val_loss':>8} {'tokens/s':>10} {'TFLOP/s':>8} {'MFU':>6} {'peak MiB':>9}  device")
for d in sorted((root / "runs").iterdir()):
    p = d / "summary.json"
    if not p.exists():
        print(f"{d.name:<16} (no summary: {json.load(open(d / 'status.json')).get('reason')})")
        continue
    s = json.load(open(p))
    mfu = s.get("mfu")
    print(f"{d.name:<16} {s['params']:>10.3e} {s['tokens']:>10.3e} {s['val_loss']:>8.4f} "
          f"{s['tokens_per_second']:>10.0f} {s['gflops_per_second'] / 1e3:>8.1f} "
          f"{(f'{100 * mfu:.1f}%' if mfu is not None else '-'):>6} {s.get('peak_memory_mb', 0):>9.0f}  "
          f"{s.get('device_name', s.get('device'))}")
EOF

echo
echo "== fit (Chinchilla law on the six runs)"
"$SCALELAB" fit "$OUT/runs/runs.csv" --law chinchilla --out "$OUT/fit.json"
echo
echo "== plan (1e20 FLOPs on 8 H100 at the measured utilisation of the largest run)"
mfu="$("$PYTHON" - "$OUT/runs" <<'EOF'
import json, pathlib, sys
best = None
for p in sorted(pathlib.Path(sys.argv[1]).glob("runs/*/summary.json")):
    s = json.load(open(p))
    if s.get("mfu") and (best is None or s["params"] > best[0]):
        best = (s["params"], s["mfu"])
print(f"{best[1]:.3f}" if best else "0.4")
EOF
)"
"$SCALELAB" plan --fit "$OUT/fit.json" --flops 1e20 --accelerator H100 --count 8 --mfu "$mfu"
