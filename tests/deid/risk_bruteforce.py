#!/usr/bin/python3
"""Brute-force k-anonymity count of a de-identified output, to check the
risk report of `phicrypt deid` against: reads the output file (JSON lines,
JSON array or CSV), takes each record's values at the quasi-identifier
paths (a missing value is its own value; CSV: an empty cell is missing),
groups records by the tuple and prints the report's counts as JSON.

  risk_bruteforce.py OUTPUT K PATH [PATH ...]
"""
import collections
import csv
import json
import sys

MISSING = ("missing",)


def value(doc, path):
    cur = doc
    parts = path.split(".")
    for i, p in enumerate(parts):
        if not isinstance(cur, dict) or p not in cur:
            return MISSING
        cur = cur[p]
        if isinstance(cur, list) and i + 1 < len(parts):
            break  # an array on the way is the value
    return json.dumps(cur, sort_keys=True)


def records(path):
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield row, True
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            for d in json.load(f):
                yield d, False
    else:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line), False


def main():
    out, k, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    classes = collections.Counter()
    for rec, is_csv in records(out):
        if is_csv:
            t = tuple(rec.get(p) if rec.get(p) else MISSING for p in paths)
        else:
            t = tuple(value(rec, p) for p in paths)
        classes[t] += 1
    sizes = list(classes.values())
    hist = collections.Counter(sizes)
    n = sum(sizes)
    below = sum(s for s in sizes if s < k)
    print(json.dumps({
        "records": n, "classes": len(sizes), "k_min": min(sizes) if sizes else 0,
        "classes_below_k": sum(1 for s in sizes if s < k), "records_below_k": below,
        "unique_records": hist.get(1, 0),
        "histogram": [{"size": s, "classes": c} for s, c in sorted(hist.items())],
    }, sort_keys=True))


if __name__ == "__main__":
    main()
