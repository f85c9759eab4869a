"""No leaks: 100,000 calls (successes and failures) leave the resident set size stable."""
from __future__ import annotations

import gc
import os

import phicrypt

CALLS = 100_000
TOLERANCE_KB = 2048  # allocator slack; a leak of even 50 bytes per call would be ~5 MB


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def workload(c: phicrypt.Client, n: int) -> None:
    """n library calls: buffers returned, messages of failures, BSON and JSON paths."""
    tokens = phicrypt.has_function("phicrypt_tokenize")
    done = 0
    while done < n:
        ct = c.encrypt("123-45-6789", key_alt_name="patients", algorithm="deterministic")
        assert c.decrypt(ct) == "123-45-6789"
        j = c.encrypt_json('"x"', key_alt_name="patients", algorithm="random")
        c.decrypt_json(j)
        try:
            c.encrypt("x", key_alt_name="nobody", algorithm="deterministic")
        except phicrypt.KeyNotFound:
            pass
        try:
            c.decrypt(b"\x01" + bytes(10))
        except phicrypt.PhicryptError:
            pass
        done += 6
        if tokens:
            c.pseudonymize("ps:patient", "MRN-0042", context="patient")
            t = c.tokenize("tok:ssn", "123-45-6789", format="ssn")
            c.detokenize("tok:ssn", t, format="ssn")
            done += 3


def test_rss_stable_over_100k_calls(client):
    if phicrypt.has_function("phicrypt_keyring_create"):
        client.create_token_key("tok:ssn", "ff1")
        client.create_token_key("ps:patient", "hmac")
    workload(client, 10_000)  # warm caches and allocator arenas
    gc.collect()
    before = rss_kb()
    workload(client, CALLS)
    gc.collect()
    grown = rss_kb() - before
    assert grown < TOLERANCE_KB, f"RSS grew by {grown} kB over {CALLS} calls"


def test_clients_created_and_closed(config):
    phicrypt.Client(config).close()
    gc.collect()
    before = rss_kb()
    for _ in range(2000):
        with phicrypt.Client(config) as c:
            c.list_data_keys()
    gc.collect()
    grown = rss_kb() - before
    assert grown < TOLERANCE_KB, f"RSS grew by {grown} kB over 2000 clients"
