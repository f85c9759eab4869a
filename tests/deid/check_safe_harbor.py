#!/usr/bin/python3
"""Leak checker for `phicrypt deid` with the Safe Harbor example policy.

Generates the adversarial export (gen_adversarial.py) and the messy hospital
export (gen_hospital.py) in every format, runs `phicrypt deid` on each, reads
every output value back and counts, per HIPAA identifier class and format,
the planted identifiers that survive (raw, case-folded, accent- and
apostrophe-stripped, digits only). It also checks that the JSON lines, JSON
array, BSON and CSV outputs give the same values per record.

It prints counts, classes, forms, field paths and record indexes, never a
planted value. Exit status: 0 when nothing survives and every format agrees,
1 otherwise, 2 on usage errors.

  check_safe_harbor.py --phicrypt build/examples/cli/phicrypt [--records 20000] [--seed 1]
"""
import argparse
import csv
import glob
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_adversarial  # noqa: E402
import gen_hospital  # noqa: E402
import gen_faker  # noqa: E402
from phimodel import Haystack, canon, csv_cell_value, flatten, from_ext, read_bson_docs  # noqa: E402

csv.field_size_limit(1 << 26)
SAFE_SEG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def safe_path(p):
    """A path fit to print: array indexes as [], keys that could carry data as {key}."""
    out = []
    for seg in p.split("."):
        out.append("[]" if seg.isdigit() else seg if SAFE_SEG.match(seg) or seg == "{key}" else "{key}")
    return ".".join(out).replace(".[]", "[]")


def flat_of(doc):
    f = flatten(doc)
    return {sys.intern(k): v for k, v in f.items() if v is not None and v != ""}


def read_output(path, fmt, sep=","):
    """-> list of flat dicts (dotted path -> model scalar)."""
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as fh:
            return [flat_of(from_ext(json.loads(line))) for line in fh if line.strip()]
    if fmt == "json":
        with open(path, encoding="utf-8") as fh:
            return [flat_of(from_ext(d)) for d in json.load(fh)]
    if fmt == "bson":
        with open(path, "rb") as fh:
            return [flat_of(d) for d in read_bson_docs(fh.read())]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep)
        header = next(rows, [])
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        out = []
        for row in rows:
            f = {}
            for col, cell in zip(header, row):
                if cell == "":
                    continue
                v = csv_cell_value(cell)
                if isinstance(v, (dict, list)):
                    f.update(flat_of({col: v}))
                else:
                    f[col] = v
            out.append(f)
        return out


_YEAR = re.compile(r"^(-?\d{4})-01-01T00:00:00\.000Z$")
_MONTH = re.compile(r"^(-?\d{4}-\d\d)-01T00:00:00\.000Z$")


def same_value(a, b):
    """Equal as values: a date kept as a date and its year (or month) written as text are one value,
    since CSV carries no types."""
    if a == b:
        return True
    for x, y in ((a, b), (b, a)):
        m = _YEAR.match(x) or _MONTH.match(x)
        if m and m.group(1) == y:
            return True
    return False


def compare(ref, other):
    """-> (records that differ, {generic path: count})."""
    bad, paths = 0, defaultdict(int)
    for i in range(min(len(ref), len(other))):
        a, b = ref[i], other[i]
        diff = False
        for k in set(a) | set(b):
            if k not in a or k not in b or not same_value(canon(a[k]), canon(b[k])):
                diff = True
                paths[safe_path(k)] += 1
        bad += diff
    return bad, paths


def run_deid(phicrypt, policy, inp, out, fmt, extra, work):
    rep = out + ".report.json"
    err = out + ".stderr"
    cmd = [phicrypt, "deid", "--policy", policy, "--in", inp, "--out", out, "--report", rep, "--threads", "2"]
    cmd += ["--format", fmt if fmt != "csv" else "csv"] + list(extra)
    t0 = time.time()
    with open(err, "wb") as fe:
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=fe).returncode
    return rc, time.time() - t0, err


def generate_cached(name, mod, args, work):
    """The inputs and plants, reused from --cache when the generator's sources, size and seed match."""
    if not args.cache:
        plants, files = mod.write(work, args.records, args.seed)
        return plants, files, False
    h = hashlib.sha256()
    for f in (os.path.join(HERE, "phimodel.py"), mod.__file__):  # the model and this generator
        with open(f, "rb") as fh:
            h.update(fh.read())
    cache = os.path.abspath(args.cache)
    tag = "%s-%d-%d-" % (name, args.records, args.seed)
    d = os.path.join(cache, tag + h.hexdigest()[:16])
    meta = os.path.join(d, "plants.pickle")
    if os.path.exists(meta):
        with open(meta, "rb") as fh:
            return (*pickle.load(fh), True)
    for old in glob.glob(os.path.join(cache, tag + "*")):  # made by older generators
        shutil.rmtree(old, ignore_errors=True)
    os.makedirs(d, exist_ok=True)
    plants, files = mod.write(d, args.records, args.seed)
    with open(meta + ".tmp", "wb") as fh:
        pickle.dump((plants, files), fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(meta + ".tmp", meta)
    return plants, files, False


def survivors(name, label, recs, per_rec, results):
    """Counts, for one output, the plants that survive where they were planted, or anywhere
    no other survivor explains."""
    n = 0
    for ri, ps in per_rec.items():
        if ri >= len(recs):
            continue
        h = Haystack(recs[ri])
        home, away = set(), []
        for p in ps:
            if not h.found(p.needles, "@all") and not (p.needles[-1][0] == "home_digits"
                                                        and h.found(p.needles, p.scope, True)):
                continue
            if h.found(p.needles, p.scope, True):
                home.add(p.scope)
                key = (name, p.cls, p.form, p.where)
                results["surv"][key][label] += 1
                results["ex"].setdefault(key + (label,), (ri, p.path))
                n += 1
            elif p.sweep:
                away.append(p)
        for p in away:
            at = h.found_where(p.needles, home)
            if at is not None:
                home.add(at)
                key = (name, p.cls, p.form, "found away from where it was planted")
                results["surv"][key][label] += 1
                results["ex"].setdefault(key + (label,), (ri, at if at != "@keys" else "{key}"))
                n += 1
    return n


_JOB = {}  # what check_format workers inherit by fork: plants by record, arguments


def check_format(label, path, fmt, extra, sep):
    """One format: run deid, count survivors, compare with the JSON lines output.
    -> (label, checks, survivors by key, first examples, equivalence row, timing line)."""
    name, args, work, mod, per_rec = (_JOB[k] for k in ("name", "args", "work", "mod", "per_rec"))
    t1 = time.time()
    checks, res = [], {"surv": defaultdict(lambda: defaultdict(int)), "ex": {}}
    equiv = None
    tname = "%s_%s" % (name, label.replace("-", "_"))
    out = os.path.join(work, "out-" + os.path.basename(path))
    if label == "jsonl":  # run already, first: the reference for equivalence
        rc, secs, err = _JOB["jsonl_run"]
    else:
        rc, secs, err = run_deid(args.phicrypt, args.policy, path, out, fmt, extra, work)
    if rc != 0:
        checks.append((tname + "__no_survivors", False, "phicrypt deid exited %d (stderr: --work DIR keeps %s)"
                       % (rc, os.path.basename(err))))
        if label != "jsonl":
            checks.append((tname + "__same_values_as_jsonl", False, "no output"))
        return label, checks, {}, {}, None, "  %-14s deid failed" % label
    try:
        recs = read_output(out, fmt, sep)
    except Exception as e:  # report, never the data
        checks.append((tname + "__no_survivors", False, "output unreadable (%s)" % type(e).__name__))
        return label, checks, {}, {}, None, "  %-14s output unreadable" % label
    n = survivors(name, label, recs, per_rec, res)
    short = len(recs) != args.records
    checks.append((tname + "__no_survivors", n == 0 and not short,
                   "%d survivors%s" % (n, "; %d records out of %d" % (len(recs), args.records) if short else "")))
    if fmt == "csv" and mod.CSV_EOL[label] == "\r\n":
        with open(out, "rb") as fh:
            head = fh.read(1 << 16).split(b"\n", 1)[0]
        checks.append((tname + "__keeps_crlf", head.endswith(b"\r"), "CRLF line ends of the input became LF"))
    if "--delimiter" in extra:  # without it, a ';' file must be refused, not read as one column
        out2 = os.path.join(work, "out-nodelim-" + os.path.basename(path))
        rc2, _, _ = run_deid(args.phicrypt, args.policy, path, out2, fmt, [], work)
        checks.append((tname + "__refused_without_delimiter", rc2 != 0, "accepted as one column, exit 0"))
    try:
        ref = read_output(_JOB["jsonl_out"], "jsonl") if label != "jsonl" and _JOB["jsonl_run"][0] == 0 else None
    except Exception as e:  # reported by the JSON lines check itself
        ref = None
        checks.append((tname + "__same_values_as_jsonl", False, "JSON lines output unreadable (%s)" % type(e).__name__))
    if ref is not None:
        bad, paths = compare(ref, recs)
        equiv = (name, label, bad, sorted(paths.items(), key=lambda kv: -kv[1])[:6])
        checks.append((tname + "__same_values_as_jsonl", bad == 0, "%d records differ" % bad))
    surv = {k: dict(v) for k, v in res["surv"].items()}
    return label, checks, surv, res["ex"], equiv, "  %-14s deid %.1fs, checked in %.1fs" % (
        label, secs, time.time() - t1 - secs)


SELF_CHECK_RECORDS = 2000


def self_check(name, path, per_rec):
    """The needles must find every plant in the input itself (on its first records), or a
    zero in the table would prove nothing."""
    with open(path, encoding="utf-8") as fh:
        recs = [flat_of(from_ext(json.loads(line))) for _, line in zip(range(SELF_CHECK_RECORDS), fh)]
    missed = total = 0
    for ri, rec in enumerate(recs):
        h = Haystack(rec)
        for p in per_rec.get(ri, ()):
            if p.in_input:
                total += 1
                missed += not h.found(p.needles, p.scope, True)
    return ("%s__needles_find_every_plant_in_the_input" % name, missed == 0 and total > 0,
            "%d of %d plants not found in the input" % (missed, total))


def check_style(name, mod, args, work, results):
    t0 = time.time()
    plants, files, cached = generate_cached(name, mod, args, work)
    print("%s: %d records, %d planted identifiers, %s in %.1fs" % (name, args.records, len(plants),
                                                                   "cached inputs" if cached else "generated",
                                                                   time.time() - t0))
    per_rec = defaultdict(list)
    for p in plants:
        per_rec[p.rec].append(p)
        results["planted"][(name, p.cls)] += 1
    del plants
    label, path, fmt, extra, sep = files[0]
    assert label == "jsonl"
    results["checks"].append(self_check(name, path, per_rec))
    out = os.path.join(work, "out-" + os.path.basename(path))
    _JOB.update(name=name, args=args, work=work, mod=mod, per_rec=per_rec, jsonl_out=out,
                jsonl_run=run_deid(args.phicrypt, args.policy, path, out, fmt, extra, work))
    try:  # one process per format, on every CPU
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(min(len(files), os.cpu_count() or 1)) as pool:
            done = pool.starmap(check_format, files)
    except (ImportError, OSError):
        done = [check_format(*f) for f in files]
    for label, checks, surv, ex, equiv, line in done:
        results["checks"] += checks
        for k, per in surv.items():
            for l, n in per.items():
                results["surv"][k][l] += n
        for k, v in ex.items():
            results["ex"].setdefault(k, v)
        if equiv:
            results["equiv"].append(equiv)
        print(line)
    _JOB.clear()
    return [lab for lab, *_ in files]


REAL_STDOUT = sys.stdout


class TapComments:
    def __init__(self, f):
        self.f, self.bol = f, True

    def write(self, s):
        for part in s.splitlines(True):
            self.f.write(("# " if self.bol else "") + part)
            self.bol = part.endswith("\n")

    def flush(self):
        self.f.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phicrypt", required=True)
    ap.add_argument("--policy", default=os.path.join(HERE, "..", "..", "examples", "data", "policy-safe-harbor.json"))
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--hospital-records", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faker-records", type=int, default=3000)
    ap.add_argument("--style", choices=["adversarial", "hospital", "both", "faker"], default="both",
                    help="both: the project's two generators; faker: the export Faker writes (gen_faker.py)")
    ap.add_argument("--cache", help="keep generated inputs here and reuse them while the generators are unchanged")
    ap.add_argument("--work", help="keep inputs and outputs here (default: a temporary directory, removed)")
    ap.add_argument("--forms", type=int, default=400, help="print at most this many surviving-form rows")
    ap.add_argument("--tap", action="store_true", help="TAP: the table as comments, one test line per check")
    ap.add_argument("--known-gaps", help="file of 'check-name  reason' lines: leaks known and not yet fixed. Such a "
                    "check is reported as TAP TODO (an expected failure, never a pass); listed checks that pass are "
                    "reported as unexpected passes so that the list is kept honest")
    args = ap.parse_args()
    known = {}
    if args.known_gaps:
        with open(args.known_gaps) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    name, _, why = line.partition(" ")
                    known[name] = why.strip() or "known gap"
    if args.tap:  # every line of the table becomes a TAP comment
        sys.stdout = TapComments(sys.stdout)
    if not os.access(args.phicrypt, os.X_OK):
        print("check_safe_harbor: %s is not an executable" % args.phicrypt, file=sys.stderr)
        return 2
    work = args.work or tempfile.mkdtemp(prefix="phicrypt-deid-adv-")
    os.makedirs(work, exist_ok=True)
    results = {"surv": defaultdict(lambda: defaultdict(int)), "planted": defaultdict(int),
               "ex": {}, "equiv": [], "checks": []}
    t0 = time.time()
    styles = []
    try:
        if args.style in ("adversarial", "both"):
            styles.append(("adversarial", check_style("adversarial", gen_adversarial, args, work, results)))
        if args.style in ("hospital", "both"):
            a2 = argparse.Namespace(**vars(args))
            a2.records = args.hospital_records
            styles.append(("hospital", check_style("hospital", gen_hospital, a2, work, results)))
        if args.style == "faker":
            if gen_faker.Faker is None:
                print("1..0 # SKIP Faker (python3-fake-factory) is not installed", file=REAL_STDOUT)
                return 0
            a3 = argparse.Namespace(**vars(args))
            a3.records = args.faker_records
            styles.append(("faker", check_style("faker", gen_faker, a3, work, results)))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    total = report(results, styles, args)
    print("elapsed %.1fs" % (time.time() - t0))
    checks = results["checks"]
    bad = [c for c in checks if not c[1] and c[0] not in known]
    gaps = [c for c in checks if not c[1] and c[0] in known]
    stale = [c for c in checks if c[1] and c[0] in known]
    if args.tap:
        sys.stdout.flush()
        print("1..%d" % len(checks), file=REAL_STDOUT)
        for i, (tname, ok, why) in enumerate(checks, 1):
            if tname in known:  # TODO: counted as an expected failure, never as a pass
                print("%s %d - test_deid_adversarial__%s # TODO known gap: %s%s" %
                      ("ok" if ok else "not ok", i, tname, known[tname], "" if ok else "; " + why), file=REAL_STDOUT)
            else:
                print("%s %d - test_deid_adversarial__%s%s" % ("ok" if ok else "not ok", i, tname,
                                                                "" if ok else " # " + why), file=REAL_STDOUT)
    for c in gaps:
        print("KNOWN GAP (not fixed): %s: %s" % (c[0], c[2]))
    for c in stale:
        print("FIXED, remove from the known gaps: %s" % c[0])
    if bad or stale:
        print("FAIL: %d of %d checks (%d survivors summed over formats)" % (len(bad) + len(stale), len(checks), total))
        return 1
    if gaps:
        print("NOT CLEAN: %d known gaps remain (%d survivors summed over formats)" % (len(gaps), total))
        return 0
    print("PASS: 0 surviving identifiers in every format; formats agree")
    return 0


def report(res, styles, args):
    total = 0
    for name, labels in styles:
        print("\n== %s: surviving planted identifiers per class and format" % name)
        print("%-4s %-14s %9s  " % ("", "class", "planted") + " ".join("%12s" % l for l in labels))
        by_cls = defaultdict(lambda: defaultdict(int))
        for (st, cls, form, where), per in res["surv"].items():
            if st == name:
                for l, n in per.items():
                    by_cls[cls][l] += n
        for letter, cls in gen_adversarial.CLASSES:
            planted = res["planted"][(name, cls)]
            row = [by_cls[cls].get(l, 0) for l in labels]
            total += sum(row)
            print("(%s)  %-14s %9d  " % (letter, cls, planted) + " ".join("%12d" % n for n in row))
        sums = [sum(by_cls[c].get(l, 0) for _, c in gen_adversarial.CLASSES) for l in labels]
        print("%-4s %-14s %9s  " % ("", "total", "") + " ".join("%12d" % n for n in sums))
        rows = [(k, per) for k, per in res["surv"].items() if k[0] == name]
        rows.sort(key=lambda kv: (-sum(kv[1].values()), kv[0]))
        if rows:
            print("\n-- %s: surviving forms (class | form | where | survivors per format | first record, path)" % name)
            for (st, cls, form, where), per in rows[:args.forms]:
                ex = None
                for l in labels:
                    ex = ex or res["ex"].get((st, cls, form, where, l))
                cells = " ".join("%s=%d" % (l, per.get(l, 0)) for l in labels)
                print("%-12s | %-44s | %-58s | %s | rec %d %s" % (cls, form[:44], where[:58], cells, ex[0], safe_path(ex[1])))
            if len(rows) > args.forms:
                print("... %d more rows" % (len(rows) - args.forms))
    print("\n== format equivalence (values per record against JSON lines)")
    for name, label, bad, paths in res["equiv"]:
        print("%-12s %-14s %6d records differ%s" % (name, label, bad,
                                                   ("; paths: " + ", ".join("%s (%d)" % kv for kv in paths)) if bad else ""))
    for tname, ok, why in res["checks"]:
        if not ok:
            print("FAILED %s: %s" % (tname, why))
    return total


if __name__ == "__main__":
    sys.exit(main())
