"""One client shared by 8 threads; the GIL is released during C calls."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import phicrypt

THREADS = 8


def test_eight_threads_one_client(client):
    tokens = phicrypt.has_function("phicrypt_keyring_create")
    if tokens:
        client.create_token_key("tok:ssn", "ff1")
    expected_ct = client.encrypt("000-00-0000", key_alt_name="patients", algorithm="deterministic")

    def work(t: int) -> int:
        checked = 0
        for i in range(300):
            value = f"{t:03d}-{i // 100:02d}-{i:04d}"
            ct = client.encrypt(value, key_alt_name="patients", algorithm="deterministic")
            assert client.decrypt(ct) == value
            assert client.encrypt("000-00-0000", key_alt_name="patients", algorithm="deterministic") == expected_ct
            doc = client.encrypt_document("hospital.patients", {"ssn": value, "t": t})
            assert client.decrypt_document(doc) == {"ssn": value, "t": t}
            try:  # each thread sees its own error message
                client.encrypt(value, key_alt_name=f"missing-{t}", algorithm="deterministic")
                raise AssertionError("no error")
            except phicrypt.KeyNotFound as e:
                assert value not in e.message
            if tokens:
                tok = client.tokenize("tok:ssn", value, format="ssn")
                assert client.detokenize("tok:ssn", tok, format="ssn") == value
            checked += 1
        return checked

    with ThreadPoolExecutor(THREADS) as ex:
        assert sum(ex.map(work, range(THREADS))) == THREADS * 300


def test_close_waits_for_calls_in_flight(config):
    c = phicrypt.Client(config)
    c.create_data_key("local", key_alt_names=["k"])
    stop = threading.Event()
    errors = []

    def hammer() -> None:
        while not stop.is_set():
            try:
                c.decrypt(c.encrypt("v", key_alt_name="k", algorithm="deterministic"))
            except phicrypt.InvalidArgument:  # closed: the expected end
                return
            except Exception as e:  # pragma: no cover
                errors.append(e)
                return

    ts = [threading.Thread(target=hammer) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.2)
    c.close()
    stop.set()
    for t in ts:
        t.join()
    assert not errors


def test_gil_released_during_c_calls(client):
    """A Python thread keeps running while another is inside one long C call."""
    from phicrypt import _bson
    ct = client.encrypt("value", key_alt_name="patients", algorithm="random")
    ticks = 0
    done = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=ticker)
    t.start()
    try:
        fields = 20000
        while True:
            # Decrypting one big document is a single C call; grow it until the call is long enough.
            raw = _bson.encode({f"f{i}": ct for i in range(fields)})
            before = ticks
            t0 = time.perf_counter()
            out = client.decrypt_document(raw)
            elapsed = time.perf_counter() - t0
            during = ticks - before
            if elapsed >= 0.02 or fields >= 320000:
                break
            fields *= 2
    finally:
        done.set()
        t.join()
    assert len(_bson.decode(out)) == fields
    # With the GIL held the ticker could not run at all during the call.
    assert during > 1000, f"ticker advanced {during} times during a {elapsed:.3f}s C call"
