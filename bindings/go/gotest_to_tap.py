#!/usr/bin/python3
"""Converts `go test -json` output (stdin) to TAP for meson:
`ok N - PREFIX<TestName>`, `not ok`, skips as `# SKIP reason`. Usage: gotest_to_tap.py PREFIX"""
import json
import re
import sys


def main(prefix: str) -> int:
    results = []  # (name, action) in completion order
    output = {}
    pkg_failed = False
    for line in sys.stdin:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        test = ev.get("Test")
        if not test:
            if ev.get("Action") == "fail":
                pkg_failed = True
            continue
        if ev.get("Action") == "output":
            output.setdefault(test, []).append(ev.get("Output", ""))
        elif ev.get("Action") in ("pass", "fail", "skip") and "/" not in test:
            results.append((test, ev["Action"]))
    out = []
    failed = 0
    for name, action in results:
        label = prefix + re.sub(r"[^A-Za-z0-9_]+", "_", name)
        lines = [l.rstrip("\n") for l in output.get(name, [])]
        if action == "pass":
            out.append(f"ok - {label}")
        elif action == "skip":
            why = next((l.split(":", 2)[-1].strip() for l in lines if "_test.go:" in l), "skipped")
            out.append(f"ok - {label} # SKIP {why}")
        else:
            failed += 1
            out.append(f"not ok - {label}")
            out.extend("# " + l for l in lines[-30:])
    if not results or (pkg_failed and not failed):
        # the package did not build, or the test binary died outside any test
        failed += 1
        out.append(f"not ok - {prefix}test_binary_ran")
    n = 0
    print(f"1..{sum(1 for l in out if not l.startswith('#'))}")
    for l in out:
        if not l.startswith("#"):
            n += 1
            l = re.sub(r"^(not ok|ok) -", lambda m: f"{m.group(1)} {n} -", l)
        print(l)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
