#!/usr/bin/python3
"""Dask de-identification equals the single-process run, byte for byte (TAP).

    test_dask.py [--cli PATH/TO/phicrypt] [--mb 100] [--workers 2]

Generates a synthetic export (default 100 MB, examples/data/generate_patients.py),
makes a key set with the keys examples/data/policy-tokens.json uses (FF1 and SIV
tokens, pseudonyms, date shifts, keyed scrubbing, CSFLE), de-identifies the export once in a single process (`phicrypt
deid` when the tool has that command, else one phicrypt_deid_file call through
the Python binding) and once on a 2-worker distributed.LocalCluster, and
compares. Also checks line-boundary partitioning on a small file cut into
many partitions, whose last line has no newline. Timings are printed as comments.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BINDING = os.path.abspath(os.path.join(HERE, os.pardir, os.pardir, "bindings", "python"))
sys.path[:0] = [HERE, BINDING]  # LocalCluster workers start with this sys.path (multiprocessing spawn)

import phicrypt  # noqa: E402
import phidask  # noqa: E402

DATA = os.path.abspath(os.path.join(HERE, os.pardir, "data"))
POLICY = os.path.join(DATA, "policy-tokens.json")
GENERATOR = os.path.join(DATA, "generate_patients.py")
n = 0
failed = 0


def tap(ok: bool, name: str, *diag: str) -> bool:
    global n, failed
    n += 1
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - test_dask__{name}", flush=True)
    for d in diag:
        print(f"# {d}", flush=True)
    return ok


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def keyset(d: str, policy_path: str) -> str:
    """A key set holding every key the policy names; returns the config path."""
    phicrypt.create_local_key_file(os.path.join(d, "master.key"))
    for f in ("keyvault.jsonl", "keyring.jsonl"):
        open(os.path.join(d, f), "w").close()
    cfg = os.path.join(d, "phicrypt.json")
    with open(cfg, "w") as f:
        json.dump({"kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:keyvault.jsonl",
                   "keyring": "file:keyring.jsonl"}, f)
    with open(policy_path, encoding="utf-8") as f:
        rules = json.load(f).get("fields", {}).values()
    token_keys, data_keys = {}, set()
    for r in rules:
        if r["action"] == "encrypt":
            data_keys.add(r["key_alt_name"])
        elif r["action"] == "tokenize":
            token_keys[r["key"]] = "siv" if r.get("format", "siv") == "siv" else "ff1"
        elif "key" in r:  # pseudonymize, date_shift, keyed scrub: HMAC keys
            token_keys.setdefault(r["key"], "hmac")
    with phicrypt.Client(cfg) as c:
        for name in sorted(data_keys):
            c.create_data_key("local", key_alt_names=[name])
        for name, alg in sorted(token_keys.items()):
            c.create_token_key(name, alg)
    return cfg


def generate(path: str, mb: float) -> str:
    """At least mb megabytes of synthetic patients (the record count estimated from a sample)."""
    sample = subprocess.run([sys.executable, GENERATOR, "--records", "2000", "--seed", "1"],
                            capture_output=True, check=True).stdout
    records = int(mb * 1_000_000 / (len(sample) / 2000) * 1.02) + 1
    with open(path, "wb") as f:
        subprocess.run([sys.executable, GENERATOR, "--records", str(records), "--seed", "1"], stdout=f, check=True)
    return f"{records} records, {os.path.getsize(path)} bytes"


def _burn(n: int) -> None:
    s = 0
    for i in range(n):
        s += i


def parallel_capacity() -> float:
    """How many cores two CPU-bound processes get right now (2.0 on an idle 2-core machine):
    a speed-up can only be judged against what the machine had to give."""
    import multiprocessing
    n = 3_000_000
    t = time.perf_counter()
    _burn(n)
    one = time.perf_counter() - t
    with multiprocessing.Pool(2) as pool:
        t = time.perf_counter()
        pool.map(_burn, [n, n])
        two = time.perf_counter() - t
    return 2 * one / two


def cli_has_deid(cli: str | None) -> bool:
    if not cli or not os.access(cli, os.X_OK):
        return False
    r = subprocess.run([cli, "deid", "--help"], capture_output=True)
    return r.returncode == 0


def reference(cli: str | None, cfg: str, src: str, out: str) -> tuple[str, float]:
    t = time.perf_counter()
    if cli_has_deid(cli):
        subprocess.run([cli, "--config", cfg, "deid", "--policy", POLICY, "--in", src, "--out", out],
                       check=True, capture_output=True)
        how = "phicrypt deid (CLI)"
    else:
        phidask.deidentify_single(cfg, POLICY, src, out, threads=1)
        how = "Python binding, one phicrypt_deid_file call (the CLI has no deid command yet)"
    return how, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli")
    ap.add_argument("--mb", type=float, default=float(os.environ.get("PHIDASK_TEST_MB", "100")))
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    print("1..8", flush=True)
    missing = None
    if not phicrypt.has_function("phicrypt_deid_file"):
        missing = "libphicrypt has no de-identification engine yet"
    elif not (os.path.exists(GENERATOR) and os.path.exists(POLICY)):
        missing = "examples/data/generate_patients.py or policy-tokens.json is missing"
    if missing:
        for i, name in enumerate(("generate", "reference", "dask_run", "identical", "report_counts",
                                  "small_partitions", "line_aligned_ranges", "script_plain_workers"), 1):
            print(f"ok {i} - test_dask__{name} # SKIP {missing}")
        return 0
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory(prefix="phidask-test-") as d:
        cfg = keyset(d, POLICY)
        src = os.path.join(d, "export.jsonl")
        t = time.perf_counter()
        try:
            what = generate(src, a.mb)
            tap(os.path.getsize(src) >= a.mb * 1_000_000, "generate", what, f"{time.perf_counter() - t:.1f} s")
        except subprocess.CalledProcessError as e:
            tap(False, "generate", f"generator exited {e.returncode}")
            return 1

        ref = os.path.join(d, "single.jsonl")
        try:
            how, t_single = reference(a.cli, cfg, src, ref)
            tap(True, "reference", f"single process: {how}: {t_single:.2f} s")
        except Exception as e:  # noqa: BLE001
            tap(False, "reference", type(e).__name__)
            return 1

        out = os.path.join(d, "dask.jsonl")
        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        dc = Client(cluster)
        t_start = time.perf_counter() - t0
        try:
            t = time.perf_counter()
            report = phidask.deidentify(dc, cfg, POLICY, src, out, shared_dir=d)  # as deid_dask.py on one host
            t_dask = time.perf_counter() - t
            tap(True, "dask_run", f"{report['partitions']} partitions on {a.workers} workers: {t_dask:.2f} s "
                                  f"(+{t_start:.2f} s cluster start)",
                f"speed-up over one process: {t_single / t_dask:.2f}x ({t_single / (t_dask + t_start):.2f}x "
                f"counting cluster start); machine load average {os.getloadavg()[0]:.1f}, "
                f"cores available to two processes now: {parallel_capacity():.2f}")

            same = sha256(out) == sha256(ref)
            tap(same, "identical", f"sizes {os.path.getsize(out)} and {os.path.getsize(ref)}")
            with phicrypt.Client(cfg) as c:
                single = c.deidentify_file(POLICY, src, os.path.join(d, "again.jsonl"), format="jsonl")
            counts = lambda r: sorted((f["path"], f["action"], f["count"]) for f in r["fields"])  # noqa: E731
            tap(report["records_out"] == single["records_out"] and counts(report) == counts(single),
                "report_counts", f"{report['records_out']} records")

            # Many small partitions over a file whose last line has no newline.
            small = os.path.join(d, "small.jsonl")
            with open(src, "rb") as fi, open(small, "wb") as fo:
                fo.write(fi.read(3_000_000).rsplit(b"\n", 1)[0])  # whole lines, last one unterminated
            sref, sout = os.path.join(d, "small_ref.jsonl"), os.path.join(d, "small_dask.jsonl")
            phidask.deidentify_single(cfg, POLICY, small, sref)
            rep = phidask.deidentify(dc, cfg, POLICY, small, sout, partition_bytes=100_000)
            shared = os.path.join(d, "shared")
            os.mkdir(shared)
            sout2 = os.path.join(d, "small_dask_files.jsonl")
            rep2 = phidask.deidentify(dc, cfg, POLICY, small, sout2, partition_bytes=100_000, shared_dir=shared)
            tap(rep["partitions"] >= 20 and sha256(sout) == sha256(sref) == sha256(sout2) and not os.listdir(shared)
                and rep2["records_out"] == rep["records_out"], "small_partitions",
                f"{rep['partitions']} partitions, through Dask and through a shared directory")
            ranges = phidask.line_ranges(small, 100_000)
            with open(small, "rb") as f:
                data = f.read()
            contiguous = ranges[0][0] == 0 and ranges[-1][1] == len(data) and all(
                a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            aligned = all(data[s - 1:s] == b"\n" for s, _ in ranges[1:])
            tap(contiguous and aligned, "line_aligned_ranges", f"{len(ranges)} ranges")

            # deid_dask.py: plain workers (threads of the script's process) by default,
            # nanny-supervised processes with --nanny; the same bytes either way.
            kinds, same_out, times = [], True, []
            for extra in ([], ["--nanny"]):
                o, r = os.path.join(d, f"script{len(kinds)}.jsonl"), os.path.join(d, f"script{len(kinds)}.json")
                t = time.perf_counter()
                p = subprocess.run([sys.executable, os.path.join(HERE, "deid_dask.py"), "--config", cfg,
                                    "--policy", POLICY, "--in", small, "--out", o, "--workers", "2",
                                    "--partition-mb", "0.5", "--report", r] + extra, capture_output=True)
                times.append(time.perf_counter() - t)
                if p.returncode != 0:
                    kinds.append(f"exit {p.returncode}")
                    same_out = False
                    continue
                with open(r, encoding="utf-8") as f:
                    kinds.append(json.load(f).get("workers_kind"))
                same_out = same_out and sha256(o) == sha256(sref)
            tap(kinds == ["plain", "nanny"] and same_out, "script_plain_workers",
                f"worker kinds {kinds}, output identical to one process: {same_out}",
                f"script wall time: plain {times[0]:.2f} s, nanny {times[1]:.2f} s")
        finally:
            dc.close()
            cluster.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
