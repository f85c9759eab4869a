#!/usr/bin/python3
"""A loopback relay in front of jongodb: a TEST DOUBLE, not mongod.

jongodb (npm @jongodb/memory-server-bin-linux-x64-gnu) speaks the MongoDB
wire protocol and runs the key-vault queries, but lacks a few commands and
operators that the MongoDB key vault and the official drivers use. This
relay answers or rewrites exactly those, and passes every other message
through to jongodb byte for byte:

- endSessions: answered {ok: 1};
- create / listCollections / drop / dropDatabase: the relay keeps the
  collection names and options (validators) it has seen, answers create and
  listCollections from them, and drops through jongodb collection by
  collection;
- insert: documents without _id get a client-side ObjectId (jongodb stores
  _id: null);
- update statements: $currentDate becomes $set of the current time; a
  pipeline update made only of $set/$addFields/$unset stages with literal
  values or "$$NOW" becomes the equivalent operator update; $pull of a plain
  value is done as find-then-$set guarded by the old array (no concurrent
  writer in the tests can interleave unseen: the guard makes a lost race an
  unmatched update, which the caller sees as such).

Usage: relay.py --upstream HOST:PORT [--port 0] [--refuse-writes]; prints RELAY_URI=... once
listening. Loopback only. Stops on SIGTERM/SIGINT or when stdin closes with
--stop-on-eof.
"""
import argparse
import datetime
import itertools
import signal
import socket
import socketserver
import struct
import sys
import threading

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.son import SON

OP_MSG = 2013
# binary subtypes (UUIDs: 4) and every other value go back exactly as they came
OPTS = CodecOptions(document_class=SON, tz_aware=True, uuid_representation=UuidRepresentation.UNSPECIFIED)
_ids = itertools.count(1 << 30)
_lock = threading.Lock()
_collections = {}  # (db, name) -> options document


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def read_message(sock):
    head = recv_exact(sock, 16)
    length, req_id, resp_to, op = struct.unpack("<iiii", head)
    if length < 16 or length > 48 * 1024 * 1024:
        raise ConnectionError("bad message length")
    return head + recv_exact(sock, length - 16), req_id, op


def parse_msg(raw):
    """(flags, body, {identifier: [docs]}) of an OP_MSG."""
    flags = struct.unpack_from("<I", raw, 16)[0]
    pos, end = 20, len(raw) - (4 if flags & 1 else 0)
    body, seqs = None, {}
    while pos < end:
        kind = raw[pos]
        pos += 1
        if kind == 0:
            size = struct.unpack_from("<i", raw, pos)[0]
            body = bson.decode(raw[pos:pos + size], codec_options=OPTS)
            pos += size
        else:
            size = struct.unpack_from("<i", raw, pos)[0]
            stop = pos + size
            p = pos + 4
            z = raw.index(b"\0", p)
            ident = raw[p:z].decode()
            p = z + 1
            docs = []
            while p < stop:
                dsize = struct.unpack_from("<i", raw, p)[0]
                docs.append(bson.decode(raw[p:p + dsize], codec_options=OPTS))
                p += dsize
            seqs[ident] = docs
            pos = stop
    return flags, body, seqs


def build_msg(doc, req_id, resp_to=0):
    payload = struct.pack("<I", 0) + b"\0" + bson.encode(doc, codec_options=OPTS)
    return struct.pack("<iiii", 16 + len(payload), req_id, resp_to, OP_MSG) + payload


def ok_reply(extra=None):
    d = SON()
    if extra:
        d.update(extra)
    d["ok"] = 1.0
    return d


class Upstream:
    def __init__(self, addr):
        self.sock = socket.create_connection(addr)

    def raw(self, message):
        self.sock.sendall(message)
        return read_message(self.sock)[0]

    def command(self, doc):
        reply = self.raw(build_msg(doc, next(_ids)))
        return parse_msg(reply)[1]


def now():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def rewrite_update(u):
    """An update jongodb runs, or None when it needs $pull emulation."""
    if isinstance(u, list):
        out = SON()
        for stage in u:
            (name, spec), = stage.items()
            if name in ("$set", "$addFields"):
                out.setdefault("$set", SON()).update(
                    {k: (now() if v == "$$NOW" else v) for k, v in spec.items()})
            elif name == "$unset":
                names = [spec] if isinstance(spec, str) else spec
                out.setdefault("$unset", SON()).update({k: "" for k in names})
            else:
                raise ValueError(f"pipeline stage {name} not supported by the test relay")
        return out
    if not isinstance(u, dict) or not any(k.startswith("$") for k in u):
        return u
    out = SON()
    for op, spec in u.items():
        if op == "$currentDate":
            out.setdefault("$set", SON()).update({k: now() for k in spec})
        else:
            out.setdefault(op, SON()).update(spec)
    return out


def pull_update(up, db, coll, st):
    """$pull of plain values: find the documents, $set the filtered arrays."""
    pull = st["u"]["$pull"]
    rest = rewrite_update(SON((k, v) for k, v in st["u"].items() if k != "$pull"))
    found = up.command(SON([("find", coll), ("filter", st["q"]), ("$db", db)]))
    docs = found.get("cursor", {}).get("firstBatch", [])
    if not st.get("multi"):
        docs = docs[:1]
    n = modified = 0
    for d in docs:
        new = SON(rest.get("$set", {}))
        guard = SON([("_id", d["_id"])])
        changed = False
        for field, value in pull.items():
            old = d.get(field, [])
            keep = [x for x in old if x != value]
            guard[field] = old
            new[field] = keep
            changed |= keep != old
        u = SON(rest)
        u["$set"] = new
        r = up.command(SON([("update", coll), ("updates", [SON([("q", guard), ("u", u)])]), ("$db", db)]))
        n += r.get("n", 0)
        modified += r.get("nModified", 0) if changed else 0
    return n, modified


REFUSE_WRITES = False
WRITES = ("insert", "update", "delete", "findandmodify", "create", "createindexes", "drop", "dropdatabase")


def handle(up, raw, req_id):
    flags, body, seqs = parse_msg(raw)
    if body is None:
        return up.raw(raw)
    name = next(iter(body))
    db = body.get("$db", "test")
    lname = name.lower()
    if REFUSE_WRITES and lname in WRITES:
        # as a server whose user may only read answers
        return build_msg(SON([("ok", 0.0), ("errmsg", f"not authorized on {db} to execute command {{ {name}: ... }}"),
                              ("code", 13), ("codeName", "Unauthorized")]), next(_ids), req_id)
    for ident, docs in seqs.items():
        body[ident] = docs

    if lname == "endsessions":
        return build_msg(ok_reply(), next(_ids), req_id)
    if lname == "create":
        with _lock:
            if (db, body[name]) in _collections:
                return build_msg(SON([("ok", 0.0), ("errmsg", "Collection already exists."), ("code", 48),
                                      ("codeName", "NamespaceExists")]), next(_ids), req_id)
            _collections[(db, body[name])] = SON((k, v) for k, v in body.items()
                                                 if k not in (name, "$db", "lsid", "$clusterTime", "writeConcern"))
        return build_msg(ok_reply(), next(_ids), req_id)
    if lname == "listcollections":
        flt = body.get("filter", {})
        with _lock:
            items = [SON([("name", c), ("type", "collection"), ("options", o), ("info", SON([("readOnly", False)]))])
                     for (d, c), o in sorted(_collections.items()) if d == db]
        if "name" in flt:
            items = [i for i in items if i["name"] == flt["name"]]
        cursor = SON([("id", bson.int64.Int64(0)), ("ns", f"{db}.$cmd.listCollections"), ("firstBatch", items)])
        return build_msg(ok_reply({"cursor": cursor}), next(_ids), req_id)
    if lname in ("drop", "dropdatabase"):
        with _lock:
            names = [c for (d, c) in _collections if d == db and (lname == "dropdatabase" or c == body[name])]
            for c in names:
                del _collections[(db, c)]
        for c in (names if lname == "dropdatabase" else [body[name]]):
            up.command(SON([("delete", c), ("deletes", [SON([("q", {}), ("limit", 0)])]), ("$db", db)]))
        return build_msg(ok_reply(), next(_ids), req_id)
    if lname == "insert":
        with _lock:
            _collections.setdefault((db, body[name]), SON())
        docs = body.get("documents", [])
        if any("_id" not in d for d in docs):
            # drivers put a generated _id first; so does the server
            body["documents"] = [d if "_id" in d else SON([("_id", bson.ObjectId())] + list(d.items()))
                                 for d in docs]
        return up.raw(build_msg(body, req_id))
    if lname == "update":
        sts = body.get("updates", [])
        if any(isinstance(s.get("u"), dict) and "$pull" in s["u"] for s in sts):
            n = modified = 0
            for st in sts:
                if "$pull" in st.get("u", {}):
                    a, b = pull_update(up, db, body[name], st)
                else:
                    st["u"] = rewrite_update(st["u"])
                    r = up.command(SON([("update", body[name]), ("updates", [st]), ("$db", db)]))
                    a, b = r.get("n", 0), r.get("nModified", 0)
                n += a
                modified += b
            return build_msg(ok_reply({"n": n, "nModified": modified}), next(_ids), req_id)
        for st in sts:
            st["u"] = rewrite_update(st["u"])
        return up.raw(build_msg(body, req_id))
    if seqs:
        return up.raw(build_msg(body, req_id))
    return up.raw(raw)


class Handler(socketserver.BaseRequestHandler):
    upstream = None

    def handle(self):
        up = Upstream(self.upstream)
        try:
            while True:
                raw, req_id, op = read_message(self.request)
                try:
                    reply = handle(up, raw, req_id) if op == OP_MSG else up.raw(raw)
                except (ValueError, KeyError, TypeError) as e:
                    reply = build_msg(SON([("ok", 0.0), ("errmsg", f"test relay: {e}"), ("code", 2)]),
                                      next(_ids), req_id)
                self.request.sendall(reply)
        except ConnectionError:
            pass
        finally:
            up.sock.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="test relay in front of jongodb (loopback only)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of jongodb")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stop-on-eof", action="store_true")
    ap.add_argument("--refuse-writes", action="store_true", help="answer every write as Unauthorized (code 13)")
    args = ap.parse_args()
    global REFUSE_WRITES
    REFUSE_WRITES = args.refuse_writes
    host, port = args.upstream.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("relay.py: the upstream must be on loopback")
    Handler.upstream = (host, int(port))
    srv = Server(("127.0.0.1", args.port), Handler)
    print(f"RELAY_URI=mongodb://127.0.0.1:{srv.server_address[1]}/", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    if args.stop_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), srv.shutdown()), daemon=True).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
