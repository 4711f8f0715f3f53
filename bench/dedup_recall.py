"""Recall of MinHash LSH deduplication on English text: scalelab against
datasketch, on the same documents and settings, in one run.

Documents are consecutive 150-word windows of an English text (by default
the fortune files of Debian's `fortunes` package, concatenated; no window
overlaps another). A near duplicate of each of the first PAIRS documents is
planted by replacing 2 of its words with other words of the text (word
5-shingle Jaccard about 0.87 to its original), and appended after all the
originals. Both sides then deduplicate with 128 permutations, lower-cased
word 5-shingles and threshold 0.8, keeping the first document of a group:
recall is the share of planted near duplicates removed, and any other
removed document is counted as a false positive.

Usage:
    python bench/dedup_recall.py SCALELAB_BINARY [TEXT_FILE ...]
        [--pairs 1000] [--seed 0] [--repeat 3]
Needs `datasketch` (pip install datasketch). Prints a JSON object and a
summary.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from datasketch import MinHash, MinHashLSH

WORDS_PER_DOC = 150
REPLACED = 2


def english_words(paths):
    words = []
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip() == "%":
                    continue
                words.extend(line.split())
    return words


def shingles(text, k=5):
    words = text.lower().split()
    if len(words) <= k:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)]


def jaccard(a, b):
    a, b = set(shingles(a)), set(shingles(b))
    return len(a & b) / len(a | b)


def datasketch_dedup(docs):
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    removed = set()
    for i, d in enumerate(docs):
        m = MinHash(num_perm=128)
        m.update_batch(shingles(d))
        if lsh.query(m):
            removed.add(i)
        else:
            lsh.insert(str(i), m)
    return removed, time.perf_counter() - t0


def scalelab_dedup(binary, path):
    t0 = time.perf_counter()
    out = subprocess.run(
        [binary, "corpus", "dedup", path, "--threshold", "0.8", "--num-perm", "128",
         "--shingle", "5", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    seconds = time.perf_counter() - t0
    report = json.loads(out)
    removed = set()
    for d in report["duplicates"]:
        # "FILE:LINE", lines counted from 1
        removed.add(int(d["document"].rsplit(":", 1)[1]) - 1)
    return removed, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("texts", nargs="*")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timing repetitions (best is kept)")
    a = ap.parse_args()
    texts = a.texts or sorted(
        p for p in glob.glob("/usr/share/games/fortunes/*")
        if not p.endswith((".dat", ".u8")) and os.path.isfile(p)
    )
    words = english_words(texts)
    originals = [
        " ".join(words[i : i + WORDS_PER_DOC])
        for i in range(0, len(words) - WORDS_PER_DOC + 1, WORDS_PER_DOC)
    ]
    rng = random.Random(a.seed)
    pairs = min(a.pairs, len(originals))
    planted = []
    for i in range(pairs):
        w = originals[i].split()
        for pos in rng.sample(range(len(w)), REPLACED):
            w[pos] = rng.choice(words)
        planted.append(" ".join(w))
    docs = originals + planted
    first_planted = len(originals)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "docs.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d}) + "\n")
        mb = os.path.getsize(path) / 1e6
        results = {}
        for name, run in [("scalelab", lambda: scalelab_dedup(a.binary, path)),
                          ("datasketch", lambda: datasketch_dedup(docs))]:
            best = None
            for _ in range(a.repeat):
                removed, s = run()
                best = s if best is None else min(best, s)
            found = sum(1 for i in removed if i >= first_planted)
            results[name] = {
                "recall": found / pairs,
                "found": found,
                "false_positives": sum(1 for i in removed if i < first_planted),
                "seconds": best,
                "mb_per_s": mb / best,
            }
    js = [jaccard(originals[i], planted[i]) for i in range(pairs)]
    out = {
        "texts": [os.path.basename(t) for t in texts],
        "documents": len(docs),
        "planted_pairs": pairs,
        "megabytes": mb,
        "words_per_document": WORDS_PER_DOC,
        "words_replaced": REPLACED,
        "mean_jaccard_of_planted_pairs": sum(js) / len(js),
        "min_jaccard_of_planted_pairs": min(js),
        **{f"{k}_{m}": v for k, r in results.items() for m, v in r.items()},
        "speedup": results["datasketch"]["seconds"] / results["scalelab"]["seconds"],
    }
    print(json.dumps(out, indent=2))
    s, d = results["scalelab"], results["datasketch"]
    print(f"{len(docs)} documents ({mb:.1f} MB), {pairs} planted pairs, "
          f"mean Jaccard {out['mean_jaccard_of_planted_pairs']:.3f}", file=sys.stderr)
    print(f"scalelab  : recall {s['recall']:.3f}, {s['false_positives']} false positives, "
          f"{s['seconds']:.3f} s (whole process)", file=sys.stderr)
    print(f"datasketch: recall {d['recall']:.3f}, {d['false_positives']} false positives, "
          f"{d['seconds']:.3f} s", file=sys.stderr)
    print(f"speed-up  : {out['speedup']:.1f}x", file=sys.stderr)


if __name__ == "__main__":
    main()
