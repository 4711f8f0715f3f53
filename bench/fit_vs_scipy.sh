#!/usr/bin/env bash
# Benchmark: `scalelab fit --law chinchilla --method grid` (4,500-start grid
# and a 4,000-resample bootstrap) against an independent scipy reference
# (bench/fit_scipy_reference.py: L-BFGS-B with an analytic gradient, single
# threaded) on the same data file and machine, in one run. Prints a markdown
# table of timings and ratios, plus both sides' objectives, parameters and
# bootstrap standard errors, so a reader can see they solved the same problem.
#
#   bash bench/fit_vs_scipy.sh [PYTHON]
#
# PYTHON: a Python 3 with numpy and scipy. Without it, the script creates
# .venv-bench (python3 -m venv) and pip-installs numpy and scipy into it from
# the package registry (nothing else is downloaded).
#
# Environment:
#   CSV        data file (default data/chinchilla_epoch_svg/
#              svg_extracted_data.csv, relative to the repository root)
#   CUT        keep rows with loss < CUT (default 3.4469). The replication keeps
#              the 240 rows below the 5th-largest loss, 3.446995...; note that
#              `loss < 3.447` keeps 241 rows and gives a different optimum.
#   TOL        L-BFGS-B stopping rule of the scipy side: strict (default, close
#              to scalelab's: gtol 1e-11, ftol 1e-15) or scipy (scipy's
#              defaults, which stop early and shrink the bootstrap SEs).
#   CENTRED    1: the scipy side runs L-BFGS-B in scalelab's centred variables
#              too (--centred; default 0, the plain method of the issue's
#              reference), to see how much of the ratio that change accounts for.
#   BOOTSTRAP  resamples (default 4000); SEED bootstrap seed (default 0).
#   STARTS     the scipy side uses only the first STARTS grid starts (a quick
#              smoke run; the timings then compare unlike work).
# The two sides draw different resamples (ChaCha8 vs numpy's PCG64), so their
# bootstrap SEs agree only to Monte-Carlo error (a few per cent at 4000).
set -euo pipefail
cd "$(dirname "$0")/.."

CSV=${CSV:-data/chinchilla_epoch_svg/svg_extracted_data.csv}
CUT=${CUT:-3.4469}
TOL=${TOL:-strict}
CENTRED=${CENTRED:-0}
CENTRED_FLAG=()
if [[ "$CENTRED" == 1 ]]; then
  CENTRED_FLAG=(--centred)
fi
BOOTSTRAP=${BOOTSTRAP:-4000}
SEED=${SEED:-0}

if [[ ! -f "$CSV" ]]; then
  echo "error: data file not found: $CSV (run from anywhere; the path is relative to $(pwd); set CSV=... to override)" >&2
  exit 1
fi

if [[ $# -ge 1 ]]; then
  PYTHON=$1
else
  VENV=.venv-bench
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo "== creating $VENV (python3 -m venv)" >&2
    python3 -m venv "$VENV"
  fi
  PYTHON=$VENV/bin/python
  if ! "$PYTHON" -c 'import numpy, scipy' 2>/dev/null; then
    echo "== pip-installing numpy and scipy into $VENV" >&2
    "$PYTHON" -m pip install --quiet numpy scipy
  fi
fi
if ! "$PYTHON" -c 'import numpy, scipy' 2>/dev/null; then
  echo "error: $PYTHON cannot import numpy and scipy" >&2
  exit 1
fi

# SCALELAB_BIN: a scalelab binary to measure (default: build the release one)
if [ -n "${SCALELAB_BIN:-}" ]; then
  BIN=$SCALELAB_BIN
else
  cargo build --release -p scalelab-cli >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/scalelab
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for T in 1 2; do
  echo "== scalelab fit, $T thread(s)" >&2
  "$BIN" fit "$CSV" --law chinchilla --method grid \
    --params-col 'Model Size' --flops-col 'Training FLOP' --where "loss < $CUT" \
    --bootstrap "$BOOTSTRAP" --seed "$SEED" --threads "$T" --json >"$TMP/scalelab_$T.json"
done

echo "== scipy reference, single-threaded (tol $TOL)" >&2
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  "$PYTHON" bench/fit_scipy_reference.py "$CSV" --loss-below "$CUT" --tol "$TOL" "${CENTRED_FLAG[@]}" \
  ${STARTS:+--starts-limit "$STARTS"} --bootstrap "$BOOTSTRAP" --seed "$SEED" --json >"$TMP/scipy.json"

"$PYTHON" - "$TMP/scalelab_1.json" "$TMP/scalelab_2.json" "$TMP/scipy.json" "$CSV" "$CUT" <<'PY'
import json
import sys

s1, s2, py = (json.load(open(p)) for p in sys.argv[1:4])
csv_path, cut = sys.argv[4], sys.argv[5]
NAMES = ("A", "B", "E", "alpha", "beta")


def get(doc, path, who):
    cur = doc
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            keys = sorted(cur) if isinstance(cur, dict) else type(cur).__name__
            sys.exit(f"error: {who} JSON has no '{path}' (at '{key}'; available: {keys})")
        cur = cur[key]
    return float(cur)


def side(doc, who):
    return {
        "grid_s": get(doc, "timing.fit_s", who),
        "boot_s": get(doc, "timing.bootstrap_s", who),
        "objective": get(doc, "objective", who),
        **{n: get(doc, f"params.{n}", who) for n in NAMES},
        **{f"se {n}": get(doc, f"bootstrap.se.{n}", who) for n in NAMES},
    }


a, b = side(s1, "scalelab --threads 1"), side(s2, "scalelab --threads 2")
who = "scipy reference"
c = {
    "grid_s": get(py, "grid.seconds", who),
    "boot_s": get(py, "bootstrap.seconds", who),
    "objective": get(py, "grid.objective", who),
    **{n: get(py, f"grid.params.{n}", who) for n in NAMES},
    **{f"se {n}": get(py, f"bootstrap.se.{n}", who) for n in NAMES},
}

v = py["versions"]
print(f"data: {csv_path}, loss < {cut} ({py['points']} points); "
      f"{py['grid']['starts']} starts; bootstrap {py['bootstrap']['n']} resamples")
print(f"scipy side: Python {v['python']}, numpy {v['numpy']}, scipy {v['scipy']}, "
      f"L-BFGS-B tol {py['tol']} {py['lbfgsb_options']}, centred variables {py.get('centred', False)}, 1 thread; "
      f"{py['grid']['starts_at_best']} starts within 1e-9 of its best; "
      f"gradient check max rel err {py['gradient_check_max_rel_err']:.1e}")
g = py["grid"]
starts = int(g["starts"])
print(f"grid evaluations: scalelab {int(s1['evaluations'])} ({s1['evaluations'] / starts:.0f} per start), "
      f"{starts - int(s1['starts_not_converged'])} of {starts} starts converged; "
      f"scipy {g.get('evaluations', 'n/a')} evaluations, {g.get('iterations', 'n/a')} iterations, "
      f"{g['converged']} of {starts} reported success")
print()
print("| what | scalelab 1 thread | scalelab 2 threads | scipy | ratio (scipy / scalelab) |")
print("|---|---:|---:|---:|---:|")
for key, label in (("grid_s", "grid fit (s)"), ("boot_s", "bootstrap (s)")):
    print(f"| {label} | {a[key]:.3f} | {b[key]:.3f} | {c[key]:.3f} | "
          f"{c[key] / a[key]:.1f}x (1 thr), {c[key] / b[key]:.1f}x (2 thr) |")
print()
print("| value | scalelab 1 thread | scalelab 2 threads | scipy | scipy / scalelab (1 thread) |")
print("|---|---:|---:|---:|---:|")
for key in ("objective", *NAMES, *(f"se {n}" for n in NAMES)):
    ratio = c[key] / a[key] if a[key] != 0 else float("nan")
    print(f"| {key} | {a[key]:.10g} | {b[key]:.10g} | {c[key]:.10g} | {ratio:.6f} |")
PY
