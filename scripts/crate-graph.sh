#!/usr/bin/env bash
# Prints the graph of the workspace's crates (who depends on whom) as
# Graphviz DOT. Render it with `bash scripts/crate-graph.sh | dot -Tsvg > crates.svg`
# (Debian package graphviz), or read the edges as text.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
names = {p["name"] for p in meta["packages"]}
print("digraph scalelab {")
print("  rankdir=BT; node [shape=box, fontname=monospace];")
for p in sorted(meta["packages"], key=lambda p: p["name"]):
    for d in sorted(p["dependencies"], key=lambda d: d["name"]):
        if d["name"] in names and d.get("kind") is None:
            print("  \"%s\" -> \"%s\";" % (p["name"], d["name"]))
print("}")
'
