"""De-identification of one large JSON-lines export across a Dask cluster.

The export is cut into byte ranges that end on line boundaries; each Dask
task de-identifies one range with the phicrypt Python binding (same
configuration, same policy, so the same output as one process would give),
writes it as a partition file, and the driver concatenates the partitions
in order. Workers must be able to import this module and ``phicrypt``, and
see the input, the work directory and the key set (shared file system or the
same paths on every machine); see README.md.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Dict, List, Tuple

import phicrypt

Range = Tuple[int, int]

# One client and parsed policy per worker process, reused by every task it runs.
_cache: Dict[Tuple[str, str], Tuple[phicrypt.Client, phicrypt.Policy]] = {}
_cache_lock = threading.Lock()


def line_ranges(path: str, target_bytes: int) -> List[Range]:
    """Byte ranges of about ``target_bytes`` that each start at the beginning of a line."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as f:
        pos = target_bytes
        while pos < size:
            f.seek(pos - 1)
            f.readline()  # to just after the newline at or after pos - 1
            nxt = f.tell()
            if nxt >= size:
                break
            bounds.append(nxt)
            pos = nxt + target_bytes
    bounds.append(size)
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if bounds[i + 1] > bounds[i]]


def _client(config_path: str, policy_text: str) -> Tuple[phicrypt.Client, phicrypt.Policy]:
    key = (config_path, policy_text)
    with _cache_lock:
        if key not in _cache:
            c = phicrypt.Client(config_path)
            _cache[key] = (c, c.policy(policy_text))
        return _cache[key]


def _copy_range(src: str, dst: str, start: int, end: int) -> None:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        left, off = end - start, start
        while left > 0:
            n = os.copy_file_range(fi.fileno(), fo.fileno(), left, off)
            if n <= 0:
                raise OSError(f"short copy from {src} at offset {off}")
            off += n
            left -= n


def deid_partition(index: int, rng: Range, src: str, workdir: str, config_path: str, policy_text: str,
                   threads: int = 1) -> Tuple[int, str, Dict[str, Any]]:
    """Dask task: de-identify bytes [start, end) of ``src`` into ``workdir/part-NNNNN.jsonl``."""
    client, policy = _client(config_path, policy_text)
    out = os.path.join(workdir, f"part-{index:05d}.jsonl")
    fd, part_in = tempfile.mkstemp(prefix=f"phidask-{index:05d}-", suffix=".jsonl")
    os.close(fd)
    try:
        _copy_range(src, part_in, *rng)
        report = client.deidentify_file(policy, part_in, out, threads=threads, format="jsonl")
    finally:
        os.unlink(part_in)
    return index, out, report


def merge_reports(reports: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One report for the whole file: counts summed, fields merged in first-seen order."""
    total: Dict[str, Any] = {"operation": "deid", "format": "jsonl", "partitions": len(reports)}
    for k in ("records_in", "records_out", "bytes_in", "bytes_out"):
        total[k] = sum(r.get(k, 0) for r in reports)
    fields: Dict[Tuple[str, str], int] = {}
    unknown: List[Any] = []
    bad: List[Any] = []
    for i, r in enumerate(reports):
        for f in r.get("fields", []):
            fields[(f["path"], f["action"])] = fields.get((f["path"], f["action"]), 0) + f["count"]
        unknown.extend(u for u in r.get("unknown_fields", []) if u not in unknown)
        bad.extend(dict(b, partition=i) for b in r.get("bad_records", []))
    total["fields"] = [{"path": p, "action": a, "count": n} for (p, a), n in fields.items()]
    total["unknown_fields"] = unknown
    total["bad_records"] = bad
    return total


def concatenate(parts: List[str], out_path: str) -> None:
    """Partitions in order into out_path, atomically (temporary file, fsync, rename)."""
    d = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".phidask-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fo:
            for p in parts:
                with open(p, "rb") as fi:
                    left = os.fstat(fi.fileno()).st_size
                    while left > 0:  # in-kernel copy, no trip through Python buffers
                        n = os.copy_file_range(fi.fileno(), fo.fileno(), left)
                        if n <= 0:
                            raise OSError(f"short copy from {p}")
                        left -= n
            os.fsync(fo.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        os.unlink(tmp)
        raise


def auto_partition_bytes(size: int, workers: int) -> int:
    """About four partitions per worker (balances uneven tasks), each 4 to 64 MB."""
    return max(4_000_000, min(64_000_000, -(-size // (4 * max(1, workers)))))


def deidentify(dask_client: Any, config_path: str, policy_path: str, in_path: str, out_path: str, *,
               partition_bytes: int = 0, threads_per_task: int = 1,
               workdir: str | None = None) -> Dict[str, Any]:
    """De-identify ``in_path`` into ``out_path`` on the cluster behind ``dask_client``.

    ``partition_bytes`` 0 picks a size from the file size and the number of workers.
    """
    config_path = os.path.abspath(config_path)
    in_path = os.path.abspath(in_path)
    if partition_bytes <= 0:
        workers = len(dask_client.scheduler_info().get("workers", {})) or 1
        partition_bytes = auto_partition_bytes(os.path.getsize(in_path), workers)
    with open(policy_path, encoding="utf-8") as f:
        policy_text = f.read()
    json.loads(policy_text)  # fail early, on the driver, for a malformed policy
    ranges = line_ranges(in_path, partition_bytes)
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="phidask-parts-", dir=os.path.dirname(os.path.abspath(out_path)))
    try:
        t0 = time.perf_counter()
        futures = [dask_client.submit(deid_partition, i, r, in_path, workdir, config_path, policy_text,
                                      threads_per_task, pure=False) for i, r in enumerate(ranges)]
        results = sorted(dask_client.gather(futures), key=lambda t: t[0])
        t1 = time.perf_counter()
        concatenate([p for _, p, _ in results], out_path)
        report = merge_reports([r for _, _, r in results])
        report["seconds_tasks"] = round(t1 - t0, 3)
        report["seconds_concatenate"] = round(time.perf_counter() - t1, 3)
        return report
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def deidentify_single(config_path: str, policy_path: str, in_path: str, out_path: str,
                      threads: int = 1) -> Dict[str, Any]:
    """The single-process reference: the whole file in one phicrypt_deid_file call."""
    with phicrypt.Client(config_path) as c:
        return c.deidentify_file(policy_path, in_path, out_path, threads=threads, format="jsonl")
