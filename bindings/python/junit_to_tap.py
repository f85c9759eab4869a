#!/usr/bin/python3
"""Converts a pytest JUnit XML report to TAP for meson: `ok N - PREFIX<name>`,
`not ok` (with the failure as `#` lines), skips as `# SKIP reason`.
Usage: junit_to_tap.py PREFIX REPORT.xml"""
import re
import sys
import xml.etree.ElementTree as ET


def main(prefix: str, path: str) -> int:
    cases = list(ET.parse(path).getroot().iter("testcase"))
    seen = set()
    failed = 0
    print(f"1..{len(cases)}")
    for i, tc in enumerate(cases, 1):
        name = re.sub(r"[^A-Za-z0-9_]+", "_", tc.get("name", "unnamed")).strip("_")
        if name in seen:  # the same test name in two modules
            module = tc.get("classname", "").rsplit(".", 1)[-1]
            name = re.sub(r"^test_", "", module) + "__" + name
        seen.add(name)
        bad = tc.find("failure")
        if bad is None:
            bad = tc.find("error")
        skipped = tc.find("skipped")
        if bad is not None:
            failed += 1
            print(f"not ok {i} - {prefix}{name}")
            detail = ((bad.get("message") or "") + "\n" + (bad.text or "")).strip()
            for line in detail.splitlines()[-30:]:
                print("# " + line)
        elif skipped is not None:
            reason = re.sub(r"^Skipped:\s*", "", (skipped.get("message") or "skipped").replace("\n", " "))
            print(f"ok {i} - {prefix}{name} # SKIP {reason}")
        else:
            print(f"ok {i} - {prefix}{name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
