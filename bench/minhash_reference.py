"""Reference MinHash LSH deduplication with datasketch, on the same documents
and settings as `scalelab corpus bench` (128 permutations, word 5-shingles
lower-cased, Jaccard threshold 0.8, keep the first document of each group).

Usage: python bench/minhash_reference.py DOCS.jsonl
Prints one JSON object: seconds, documents per second, MB/s, duplicates.
"""
import json
import sys
import time

from datasketch import MinHash, MinHashLSH


def shingles(text, k=5):
    words = text.lower().split()
    if len(words) <= k:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)]


def main():
    docs = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
    mb = sum(len(d.encode()) for d in docs) / 1e6
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    removed = 0
    for i, d in enumerate(docs):
        m = MinHash(num_perm=128)
        m.update_batch(shingles(d))
        if lsh.query(m):
            removed += 1
        else:
            lsh.insert(str(i), m)
    s = time.perf_counter() - t0
    print(json.dumps({
        "datasketch_seconds": s,
        "datasketch_docs_per_s": len(docs) / s,
        "datasketch_mb_per_s": mb / s,
        "datasketch_duplicates_removed": removed,
        "documents": len(docs),
    }))


if __name__ == "__main__":
    main()
