"""De-identification of one large JSON-lines export across a Dask cluster.

The export is cut into byte ranges that end on line boundaries; each Dask
task de-identifies one range with the phicrypt Python binding (same
configuration, same policy, so the same output as one process would give),
and the driver writes the partitions' outputs in order. Workers must be able
to import this module and ``phicrypt`` and to read the input and the key set
(shared file system, or the same paths on every machine); see README.md.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple, Union

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


def _copy_fd(fin: int, fout: int, offset: int, count: int) -> None:
    """Copy count bytes of fin from offset to fout's position, in the kernel: copy_file_range,
    or sendfile where the two files are on different file systems (EXDEV)."""
    use_sendfile = False
    while count > 0:
        if not use_sendfile:
            try:
                n = os.copy_file_range(fin, fout, count, offset)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                use_sendfile = True
                continue
        else:
            n = os.sendfile(fout, fin, offset, count)
        if n <= 0:
            raise OSError(f"short copy at offset {offset}")
        offset += n
        count -= n


def _copy_range(src: str, dst: str, start: int, end: int) -> None:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        _copy_fd(fi.fileno(), fo.fileno(), start, end - start)


def _scratch_dir() -> str:
    """Where a task keeps its copy of the range and its output: $PHIDASK_SCRATCH, else
    /dev/shm (memory: no disk writes, no fsync cost), else the temporary directory."""
    d = os.environ.get("PHIDASK_SCRATCH")
    if d:
        return d
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def deid_partition(index: int, rng: Range, src: str, config_path: str, policy_text: str, threads: int = 1,
                   workdir: Optional[str] = None) -> Tuple[int, Union[bytes, str], Dict[str, Any]]:
    """Dask task: de-identify bytes [start, end) of ``src``.

    Returns (index, output bytes, report); with ``workdir`` (a directory every
    host shares) the output is written there as part-NNNNN.jsonl and its path
    is returned instead of the bytes.
    """
    client, policy = _client(config_path, policy_text)
    scratch = tempfile.mkdtemp(prefix=f"phidask-{index:05d}-", dir=_scratch_dir())  # mode 0700
    try:
        part_in = os.path.join(scratch, "in.jsonl")
        _copy_range(src, part_in, *rng)
        out = os.path.join(workdir, f"part-{index:05d}.jsonl") if workdir else os.path.join(scratch, "out.jsonl")
        report = client.deidentify_file(policy, part_in, out, threads=threads, format="jsonl")
        if workdir:
            return index, out, report
        with open(out, "rb") as f:
            return index, f.read(), report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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


class _OrderedWriter:
    """Writes partitions in order into a temporary file next to the output, then fsyncs and
    renames it onto the output (nothing partial is left on failure)."""

    def __init__(self, out_path: str) -> None:
        self.out_path = out_path
        d = os.path.dirname(os.path.abspath(out_path))
        fd, self.tmp = tempfile.mkstemp(dir=d, prefix=".phidask-", suffix=".tmp")
        self.f = os.fdopen(fd, "wb")

    def add_bytes(self, data: bytes) -> None:
        self.f.write(data)

    def add_file(self, path: str) -> None:
        self.f.flush()
        with open(path, "rb") as fi:
            _copy_fd(fi.fileno(), self.f.fileno(), 0, os.fstat(fi.fileno()).st_size)

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.out_path)

    def abort(self) -> None:
        self.f.close()
        os.unlink(self.tmp)


def auto_partition_bytes(size: int, workers: int) -> int:
    """About four partitions per worker (balances uneven tasks), each 4 to 64 MB."""
    return max(4_000_000, min(64_000_000, -(-size // (4 * max(1, workers)))))


def deidentify(dask_client: Any, config_path: str, policy_path: str, in_path: str, out_path: str, *,
               partition_bytes: int = 0, threads_per_task: int = 1,
               shared_dir: Optional[str] = None) -> Dict[str, Any]:
    """De-identify ``in_path`` into ``out_path`` on the cluster behind ``dask_client``.

    ``partition_bytes`` 0 picks a size from the file size and the number of workers.
    By default each partition's output comes back to this process through Dask
    and is written here in order; with ``shared_dir`` (a directory every worker
    and this process see) workers write partition files there instead, and only
    their paths travel.
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
    workdir = tempfile.mkdtemp(prefix="phidask-parts-", dir=shared_dir) if shared_dir else None
    writer = _OrderedWriter(out_path)
    t0 = time.perf_counter()
    waited = 0.0
    try:
        futures = [dask_client.submit(deid_partition, i, r, in_path, config_path, policy_text, threads_per_task,
                                      workdir, pure=False) for i, r in enumerate(ranges)]
        reports = []
        for fut in futures:  # in order: partition i is written as soon as it and all before it are done
            t = time.perf_counter()
            _, part, report = fut.result()
            waited += time.perf_counter() - t
            fut.release()  # let the worker drop the bytes
            if isinstance(part, bytes):
                writer.add_bytes(part)
            else:
                writer.add_file(part)
                os.unlink(part)
            reports.append(report)
        t1 = time.perf_counter()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = merge_reports(reports)
    report["seconds_tasks"] = round(waited, 3)
    report["seconds_write"] = round(time.perf_counter() - t0 - waited, 3)
    report["seconds_commit"] = round(time.perf_counter() - t1, 3)
    return report


def deidentify_single(config_path: str, policy_path: str, in_path: str, out_path: str,
                      threads: int = 1) -> Dict[str, Any]:
    """The single-process reference: the whole file in one phicrypt_deid_file call."""
    with phicrypt.Client(config_path) as c:
        return c.deidentify_file(policy_path, in_path, out_path, threads=threads, format="jsonl")
