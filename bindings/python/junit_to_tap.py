#!/usr/bin/python3
"""Converts a pytest JUnit XML report to TAP for meson: `ok N - PREFIX<name>`,
`not ok`, and skips as `# SKIP reason`. Usage: junit_to_tap.py PREFIX REPORT.xml"""
import re
import sys
import xml.etree.ElementTree as ET


def main(prefix: str, path: str) -> int:
    cases = list(ET.parse(path).getroot().iter("testcase"))
    names = {}
    lines = []
    failed = 0
    for tc in cases:
        raw = tc.get("name", "unnamed")
        module = tc.get("classname", "").rsplit(".", 1)[-1]
        name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")
        if name in names:  # same test name in two modules
            name = re.sub(r"^test_", "", module) + "__" + name
        names[name] = True
        skipped = tc.find("skipped")
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        if bad is not None:
            failed += 1
            lines.append(f"not ok {len(lines) + 1} - {prefix}{name}")
            detail = (bad.get("message") or "") + "\n" + (bad.text or "")
            lines.extend("# " + l for l in detail.strip().splitlines()[-30:])
        elif skipped is not None:
            reason = (skipped.get("message") or "skipped").replace("\n", " ")
            reason = re.sub(r"^Skipped:\s*", "", reason)
            lines.append(f"ok {len(lines) + 1} - {prefix}{name} # SKIP {reason}")
        else:
            lines.append(f"ok {len(lines) + 1} - {prefix}{name}")
    n = sum(1 for l in lines if not l.startswith("#"))
    print(f"1..{n}")
    # renumber: comment lines were counted above only for position
    i = 0
    for l in lines:
        if l.startswith("#"):
            print(l)
            continue
        i += 1
        print(re.sub(r"^(not ok|ok) \d+", lambda m: f"{m.group(1)} {i}", l))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
