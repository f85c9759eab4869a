#!/usr/bin/python3
# The checker's own test double: a "perfect" de-identifier (every leaf value becomes "[X]",
# allergies, whose keys carry data, dropped; a ';' CSV refused without --delimiter). With it
# check_safe_harbor.py must report 0 survivors and agreeing formats: no false positives.
import csv
import json
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import phimodel as m
a = sys.argv[2:]
o = {a[i]: a[i + 1] for i in range(0, len(a) - 1, 2) if a[i].startswith('--')}
fmt, sep = o['--format'], o.get('--delimiter', ',')
def red(v):
    if isinstance(v, dict): return {k: red(x) for k, x in v.items() if k != 'allergies'}
    if isinstance(v, list): return [red(x) for x in v]
    return "[X]"
if fmt == 'bson':
    docs = m.read_bson_docs(open(o['--in'], 'rb').read())
    open(o['--out'], 'wb').write(b''.join(m.to_bson(red(d)) for d in docs))
elif fmt in ('jsonl', 'json'):
    st = {"canonical": False, "ascii": False, "slash": False}
    docs = [m.from_ext(json.loads(l)) for l in open(o['--in'], encoding='utf-8') if l.strip()] if fmt == 'jsonl' else m.from_ext(json.load(open(o['--in'], encoding='utf-8')))
    lines = [m.to_json(red(d), st) for d in docs]
    open(o['--out'], 'w').write('\n'.join(lines) + '\n' if fmt == 'jsonl' else '[' + ','.join(lines) + ']')
else:
    if sep == ',' and open(o['--in'], encoding='utf-8-sig').readline().count(';') > 3: sys.exit(1)
    rows = list(csv.reader(open(o['--in'], encoding='utf-8-sig', newline=''), delimiter=sep))
    keep = [i for i, c in enumerate(rows[0]) if not c.startswith('allergies')]
    with open(o['--out'], 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f, delimiter=sep, lineterminator='\r\n')
        w.writerow([rows[0][i] for i in keep])
        for r in rows[1:]: w.writerow(['[X]' if r[i] else '' for i in keep])
