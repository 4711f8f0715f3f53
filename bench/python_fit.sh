#!/usr/bin/env bash
# The Python package's fit of the Epoch AI Chinchilla data against the CLI's
# whole process, for the same fit (varpro and grid). Builds the CLI and the
# wheel with the same optimisation settings (the test profile's: opt-level 3,
# debug 1), installs the wheel in .venv-py and prints a table of median times.
#
#   bash bench/python_fit.sh [REPEATS]    (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-7}"
CSV="${EPOCH_CSV:-data/chinchilla_epoch_svg/svg_extracted_data.csv}"
TARGET="${CARGO_TARGET_DIR:-target}"
export CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_PROFILE_DEV_DEBUG=1
[ -x .venv-py/bin/python ] || python3 -m venv .venv-py
.venv-py/bin/python -m pip install -q "maturin>=1.7,<2" numpy pandas
cargo build -q --locked -p scalelab-cli
WHEELS="$(mkdir -p "$TARGET/wheels-bench" && cd "$TARGET/wheels-bench" && pwd)"
rm -f "$WHEELS"/*.whl
(cd python && ../.venv-py/bin/maturin build --locked -o "$WHEELS" >/dev/null 2>&1)
.venv-py/bin/python -m pip install -q --force-reinstall --no-deps "$WHEELS"/scalelab-*.whl
BIN="$(cd "$TARGET/debug" && pwd)/scalelab"

.venv-py/bin/python - "$BIN" "$CSV" "$REPEATS" <<'PY'
import statistics, subprocess, sys, time
import pandas as pd
import scalelab

bin_, csv, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
cols = {"params": "Model Size", "flops": "Training FLOP"}
where = "loss < 3.4469"
print(f"scalelab {scalelab.__version__}; {repeats} repeats; median seconds")
print("| method | CLI (whole process) | Python, from the path | Python, from a DataFrame (incl. read_csv) | ratio (DataFrame / CLI) |")
print("| --- | --- | --- | --- | --- |")
for method in ["varpro", "grid"]:
    cli, path, frame = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([bin_, "fit", csv, "--params-col", "Model Size", "--flops-col",
                        "Training FLOP", "--where", where, "--method", method, "--json"],
                       check=True, capture_output=True)
        cli.append(time.perf_counter() - t)
        t = time.perf_counter()
        a = scalelab.fit(csv, method=method, where=where, columns=cols)
        path.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = scalelab.fit(pd.read_csv(csv), method=method, where=where, columns=cols)
        frame.append(time.perf_counter() - t)
        assert a.params == b.params
    c, p, f = (statistics.median(x) for x in (cli, path, frame))
    print(f"| {method} | {c:.3f} | {p:.3f} | {f:.3f} | {f / c:.2f} |")
PY
