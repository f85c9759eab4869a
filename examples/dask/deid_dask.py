#!/usr/bin/python3
"""De-identify a JSON-lines export on a Dask cluster with phicrypt.

    deid_dask.py --config keys/phicrypt.json --policy ../data/policy-tokens.json --in export.jsonl --out deid.jsonl \
                 [--workers 2 | --scheduler tcp://HOST:8786] [--partition-mb MB] [--report report.json]

Without --scheduler a distributed.LocalCluster of --workers plain workers (one
thread each, in this process) is started on this machine; --nanny starts them as
nanny-supervised worker processes instead.

Why plain workers by default: a task is one phicrypt_deid_file call on a byte
range of the input, and the binding releases the GIL for it (ctypes.CDLL), so
workers that are threads of this process run in parallel like processes do,
without spawning and supervising 2 x N processes (1-3 s per run on a shared
2-core machine) and without shipping results between processes. --nanny gives
back crash isolation and per-worker memory limits.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BINDING = os.path.join(HERE, os.pardir, os.pardir, "bindings", "python")


def upload_code(dc, phicrypt_pkg, phidask_mod) -> None:
    """Send the binding (as a zip on sys.path) and phidask.py to every worker; the workers
    still need libphicrypt.so itself (installed, or $PHICRYPT_LIBRARY)."""
    import tempfile
    import zipfile
    pkg_dir = os.path.dirname(phicrypt_pkg.__file__)
    with tempfile.TemporaryDirectory() as d:
        z = os.path.join(d, "phicrypt_binding.zip")
        with zipfile.ZipFile(z, "w") as zf:
            for name in sorted(os.listdir(pkg_dir)):
                if name.endswith((".py", ".typed")):
                    zf.write(os.path.join(pkg_dir, name), os.path.join("phicrypt", name))
        dc.upload_file(z)
    dc.upload_file(phidask_mod.__file__)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="De-identify a JSON-lines export on a Dask cluster.")
    ap.add_argument("--config", required=True, help="phicrypt.json (the same key set on every worker)")
    ap.add_argument("--policy", required=True)
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    ap.add_argument("--scheduler", help="address of an existing scheduler instead of a LocalCluster")
    ap.add_argument("--nanny", action="store_true",
                    help="LocalCluster workers as nanny-supervised processes (default: plain workers, "
                         "threads of this process)")
    ap.add_argument("--partition-mb", type=float, default=0.0,
                    help="partition size; 0: about four partitions per worker")
    ap.add_argument("--threads-per-task", type=int, default=1, help="phicrypt engine threads per task")
    ap.add_argument("--shared-dir", help="a directory all hosts share: workers write partitions there "
                                         "instead of sending them back through Dask (default with a "
                                         "LocalCluster: the output's directory)")
    ap.add_argument("--report", help="write the merged report (JSON) here")
    a = ap.parse_args(argv)

    # LocalCluster workers start with this process's sys.path (multiprocessing spawn), so they
    # import phidask and phicrypt from this tree; remote workers get both uploaded below.
    paths = [HERE, os.path.abspath(BINDING)]
    sys.path[:0] = paths
    from distributed import Client, LocalCluster

    import phicrypt
    import phidask

    t0 = time.perf_counter()
    if a.scheduler:
        dc = Client(a.scheduler)
        cluster = None
        upload_code(dc, phicrypt, phidask)
    else:
        # processes=False: plain Worker objects (no Nanny) in this process, one thread each.
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=a.nanny,
                               dashboard_address=None, silence_logs=40)
        dc = Client(cluster)
    started = time.perf_counter()
    try:
        report = phidask.deidentify(dc, a.config, a.policy, a.inp, a.out,
                                    partition_bytes=int(a.partition_mb * 1_000_000),
                                    threads_per_task=a.threads_per_task,
                                    # a LocalCluster shares this machine's disk: partitions go through files
                                    shared_dir=a.shared_dir or (None if a.scheduler else
                                                                os.path.dirname(os.path.abspath(a.out))))
    finally:
        dc.close()
        if cluster is not None:
            cluster.close()
    done = time.perf_counter()
    report["seconds_cluster_start"] = round(started - t0, 3)
    report["workers_kind"] = "scheduler" if a.scheduler else ("nanny" if a.nanny else "plain")
    report["seconds_deid"] = round(done - started, 3)
    if a.report:
        with open(a.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    print(f"{report['records_out']} records in {report['partitions']} partitions, "
          f"{report['seconds_deid']:.2f} s (waiting for tasks {report['seconds_tasks']:.2f} s, writing "
          f"{report['seconds_write']:.2f} s; +{report['seconds_cluster_start']:.2f} s cluster start)",
          file=sys.stderr)
    return 0 if not report["bad_records"] else 1


if __name__ == "__main__":
    sys.exit(main())
