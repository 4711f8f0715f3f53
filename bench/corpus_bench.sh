#!/usr/bin/env bash
# Corpus throughput benchmark: tokenizing + sharding (byte and BPE) and MinHash
# LSH near-duplicate detection, compared with Python datasketch on the very
# same documents in one run.
#
#   bash bench/corpus_bench.sh [DOCS] [PYTHON]
#
# PYTHON must have `datasketch` installed (e.g. a virtual environment made with
# `python3 -m venv venv && venv/bin/pip install datasketch`); CI does not run
# this script.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${1:-20000}
PY=${2:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# SCALELAB_BIN: a scalelab binary to measure (default: build the release one)
if [ -n "${SCALELAB_BIN:-}" ]; then
  BIN=$SCALELAB_BIN
else
  cargo build --release -p scalelab-cli >/dev/null
  BIN=${CARGO_TARGET_DIR:-target}/release/scalelab
fi
"$BIN" corpus bench --docs "$DOCS" --dir "$WORK" > "$WORK/rust.json"
"$PY" bench/minhash_reference.py "$WORK/bench_docs.jsonl" > "$WORK/py.json"
"$PY" - "$WORK/rust.json" "$WORK/py.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
print(json.dumps({**r, **p}, indent=2))
print(f"documents: {r['documents']}, {r['megabytes']:.1f} MB, rayon threads: {r['threads']}")
print(f"tokenize+shard, byte: {r['byte_tokenize_shard_mb_per_s']:.1f} MB/s")
print(f"tokenize+shard, BPE : {r['bpe_tokenize_shard_mb_per_s']:.1f} MB/s")
print(f"MinHash LSH scalelab 1 thread : {r['minhash_lsh_1thread_mb_per_s']:.2f} MB/s "
      f"({r['near_duplicates_removed']} duplicates)")
print(f"MinHash LSH scalelab all threads: {r['minhash_lsh_all_threads_mb_per_s']:.2f} MB/s")
print(f"MinHash LSH datasketch          : {p['datasketch_mb_per_s']:.2f} MB/s "
      f"({p['datasketch_duplicates_removed']} duplicates)")
print(f"speed-up 1 thread: {r['minhash_lsh_1thread_mb_per_s'] / p['datasketch_mb_per_s']:.1f}x, "
      f"all threads: {r['minhash_lsh_all_threads_mb_per_s'] / p['datasketch_mb_per_s']:.1f}x")
PYEOF
