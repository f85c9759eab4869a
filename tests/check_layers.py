#!/usr/bin/env python3
"""Module layering check (TAP): parses the #include "module/..." lines of
lib/<module>/*.c|h and fails on any import circle between modules, and when
lib/audit includes anything but lib/core (audit is the bottom layer above
core: it is given its keys and receives key events through core's sink).

Usage: check_layers.py LIB_DIR
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
# Modules that may only include the ones listed (besides themselves).
ONLY = {"core": set(), "audit": {"core"}}


def graph(lib):
    edges, where = {}, {}
    for mod in sorted(os.listdir(lib)):
        d = os.path.join(lib, mod)
        if not os.path.isdir(d):
            continue
        edges.setdefault(mod, set())
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                for target in INCLUDE.findall(f.read()):
                    if target != mod and os.path.isdir(os.path.join(lib, target)):
                        edges[mod].add(target)
                        where.setdefault((mod, target), f"lib/{mod}/{name}")
    return edges, where


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    edges, where = graph(sys.argv[1])
    fails = 0
    print("1..2")
    found = cycles(edges)
    if found:
        fails += 1
        print("not ok 1 - check_layers__no_module_cycle")
        for comp in found:
            print("# circle: " + " <-> ".join(comp))
            for a in comp:
                for b in sorted(edges[a] & set(comp)):
                    print(f"#   {a} -> {b} ({where[(a, b)]})")
    else:
        print("ok 1 - check_layers__no_module_cycle")
    bad = [(m, t) for m, allowed in ONLY.items() for t in sorted(edges.get(m, ())) if t not in allowed]
    if bad:
        fails += 1
        print("not ok 2 - check_layers__bottom_layers_include_only_core")
        for m, t in bad:
            print(f"#   {m} -> {t} ({where[(m, t)]})")
    else:
        print("ok 2 - check_layers__bottom_layers_include_only_core")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
