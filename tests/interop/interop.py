#!/usr/bin/python3
"""phicrypt's interop suite with the official MongoDB drivers (see README.md here).

  interop.py fixture --phicrypt BIN --out FILE [--workdir DIR]
        phicrypt encrypts every case (deterministic and random) under a fresh local key
        set: a fixture v1 in FILE.
  interop.py run --driver python|node|php|go --phicrypt BIN [--workdir DIR]
        both directions with one driver: the driver decrypts phicrypt's fixture and
        re-encrypts its deterministic cases byte for byte; the driver writes its own
        fixture (its own key document and ciphertexts) and phicrypt decrypts and
        re-encrypts it, through a JSONL vault and (node) through the shared mongodb://
        vault of the test server (read with the CLI's --key-vault). python3-cryptography
        recomputes both fixtures.
  interop.py selftest --phicrypt BIN [--workdir DIR]
        proves the checks can fail: corrupted fixtures (a flipped tag byte, a changed
        expected value, a damaged key document, a wrong blob subtype) must be refused by
        the Python recomputation and by phicrypt's checks.

Exit status 0 pass, 1 a check failed, 77 (meson's skip) when a driver is not installed.
Messages name cases, never values or keys (the values are synthetic, but the habit holds).
"""
import argparse
import base64
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "python"))
import aead_check  # noqa: E402
import ejson_bson  # noqa: E402

DET = aead_check.DET
RND = aead_check.RND
NS = "encryption.__keyVault"
SKIP = 77

# Every BSON type CSFLE encrypts; deterministic is not allowed for double, decimal128,
# bool, object and array (the specification's list), so those are random only.
VALUES = [
    ("string-ascii", "123-45-6789", True),
    ("string-empty", "", True),
    ("string-non-ascii", "Zo\u00eb \u00d1\u00fa\u00f1ez \u60a3\u8005 \U0001fa7a", True),
    ("int32", {"$numberInt": "-42"}, True),
    ("int64", {"$numberLong": "9007199254740993"}, True),
    ("double", {"$numberDouble": "98.6"}, False),
    ("decimal128", {"$numberDecimal": "1234.5600"}, False),
    ("date", {"$date": {"$numberLong": "1700000000123"}}, True),
    ("objectId", {"$oid": "65f0c0ffee0123456789abcd"}, True),
    ("binData", {"$binary": {"base64": "AAECAwT/", "subType": "00"}}, True),
    ("regex", {"$regularExpression": {"pattern": "^Sm(i|y)th$", "options": "im"}}, True),
    ("code", {"$code": "function () { return 1; }"}, True),
    ("timestamp", {"$timestamp": {"t": 1700000000, "i": 7}}, True),
    ("bool", True, False),
    ("object", {"name": "Ann", "age": {"$numberInt": "3"}}, False),
    # int64 values beyond int32: PHP reads an int64 that fits in int32 as a PHP int and
    # writes it back as int32 (its type map, not a CSFLE matter)
    ("array", ["a", {"$numberInt": "1"}, {"x": {"$numberLong": "4294967296"}}], False),
]


def cases():
    out = []
    for name, value, det_ok in VALUES:
        for alg in ([DET] if det_ok else []) + [RND]:
            out.append({"name": name + ("-det" if alg == DET else "-rnd"), "algorithm": alg, "value": value})
    return out


class Failed(Exception):
    pass


def run(cmd, stdin=None, env=None, what=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        # stderr of phicrypt and the drivers never holds values; keep it short anyway
        raise Failed("%s failed (exit %d): %s" % (what or cmd[0], p.returncode, p.stderr.strip()[-800:]))
    return p.stdout


def b64bin(v, subtype):
    return aead_check._bin(v, subtype)


def uuid_text(key_id):
    return str(uuid.UUID(bytes=b64bin(key_id, "04")))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def new_master_key():
    return {"local": {"key": {"$binary": {"base64": base64.b64encode(os.urandom(96)).decode(), "subType": "00"}}}}


def request():
    return {"kms_providers": new_master_key(), "key_vault_namespace": NS, "cases": cases()}


# ---------------------------------------------------------------- phicrypt side

def phicrypt_fixture(bin_, work):
    """phicrypt init + keys create + encrypt: a fixture v1 of phicrypt's ciphertexts."""
    d = os.path.join(work, "phicrypt-keys")
    if os.path.exists(d):
        shutil.rmtree(d)
    run([bin_, "init", "--dir", d], what="phicrypt init")
    cfg = os.path.join(d, "phicrypt.json")
    alt = "interop-phicrypt"
    kid = run([bin_, "--config", cfg, "keys", "create", "--provider", "local", "--alt-name", alt],
              what="phicrypt keys create").strip()
    cs = cases()
    for alg, flag in ((DET, "deterministic"), (RND, "random")):
        mine = [c for c in cs if c["algorithm"] == alg]
        lines = "".join(json.dumps(c["value"]) + "\n" for c in mine)
        out = run([bin_, "--config", cfg, "encrypt", "--key-alt-name", alt, "--algorithm", flag, "--lines"],
                  stdin=lines, what="phicrypt encrypt --algorithm " + flag).splitlines()
        if len(out) != len(mine):
            raise Failed("phicrypt encrypt printed %d lines for %d values" % (len(out), len(mine)))
        for c, line in zip(mine, out):
            c["ciphertext"] = json.loads(line)
            c["key_id"] = {"$binary": {"base64": base64.b64encode(uuid.UUID(kid).bytes).decode(), "subType": "04"}}
    with open(os.path.join(d, "master.key"), "rb") as f:
        mk = f.read()
    with open(os.path.join(d, "keyvault.jsonl"), encoding="utf-8") as f:
        keys = [json.loads(line) for line in f if line.strip()]
    version = run([bin_, "--version"], what="phicrypt --version").strip().splitlines()[0]
    return {
        "format": "phicrypt-interop-fixture",
        "version": 1,
        "producer": {"name": "phicrypt", "version": version},
        "kms_providers": {"local": {"key": {"$binary": {"base64": base64.b64encode(mk).decode(), "subType": "00"}}}},
        "key_vault_namespace": NS,
        "keys": keys,
        "cases": cs,
    }


def phicrypt_config(fx, d):
    """A phicrypt configuration for fixture fx: its master key, and its key documents in a
    JSONL vault."""
    os.makedirs(d, mode=0o700, exist_ok=True)
    mk = os.path.join(d, "master.key")
    fd = os.open(mk, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(aead_check.master_key(fx))
    with open(os.path.join(d, "keyvault.jsonl"), "w", encoding="utf-8") as f:
        for k in fx["keys"]:
            f.write(json.dumps(k, separators=(",", ":")) + "\n")
    cfg = os.path.join(d, "phicrypt.json")
    write_json(cfg, {
        "kms_providers": {"local": {"key_file": "master.key"}},
        "key_vault": "file:keyvault.jsonl",
        "key_vault_namespace": fx["key_vault_namespace"],
    })
    return cfg


def phicrypt_check(bin_, fx, d, key_vault=None):
    """phicrypt decrypts fx and re-encrypts its deterministic cases: (decrypted, reencrypted).
    key_vault (a mongodb:// URI holding fx's keys) is given with the CLI's --key-vault."""
    cfg = phicrypt_config(fx, d)
    pc = [bin_, "--config", cfg] + (["--key-vault", key_vault] if key_vault else [])
    lines = "".join(json.dumps(c["ciphertext"]) + "\n" for c in fx["cases"])
    out = run(pc + ["decrypt", "--lines", "--canonical"], stdin=lines,
              what="phicrypt decrypt").splitlines()
    if len(out) != len(fx["cases"]):
        raise Failed("phicrypt decrypt printed %d lines for %d ciphertexts" % (len(out), len(fx["cases"])))
    decrypted = {c["name"]: line for c, line in zip(fx["cases"], out)}
    reencrypted = {}
    by_key = {}
    for c in fx["cases"]:
        if c["algorithm"] == DET:
            by_key.setdefault(uuid_text(c["key_id"]), []).append(c)
    for kid, cs in by_key.items():
        lines = "".join(json.dumps(c["value"]) + "\n" for c in cs)
        out = run(pc + ["encrypt", "--key-id", kid, "--algorithm", "deterministic", "--lines"],
                  stdin=lines, what="phicrypt encrypt").splitlines()
        for c, line in zip(cs, out):
            reencrypted[c["name"]] = json.loads(line)["$binary"]["base64"]
    return decrypted, reencrypted


# ---------------------------------------------------------------- comparisons

def compare(fx, decrypted, reencrypted, who):
    """Failures (case names only): every case decrypts to its value's exact BSON bytes, and
    every deterministic case re-encrypts to the very same bytes."""
    failures = []
    for c in fx["cases"]:
        name = c["name"]
        want = ejson_bson.value(c["value"])
        got = decrypted.get(name)
        if got is None:
            failures.append("%s: %s returned no value" % (name, who))
        else:
            try:
                if ejson_bson.value(json.loads(got) if isinstance(got, str) else got) != want:
                    failures.append("%s: %s decrypted a different value (type or bytes)" % (name, who))
            except (ValueError, ejson_bson.EjsonError) as e:
                failures.append("%s: %s printed an unreadable value (%s)" % (name, who, e))
        if c["algorithm"] == DET:
            r = reencrypted.get(name)
            if r is None:
                failures.append("%s: %s did not re-encrypt" % (name, who))
            elif base64.b64decode(r) != b64bin(c["ciphertext"], "06"):
                failures.append("%s: %s's deterministic ciphertext differs from %s's" % (name, who, fx["producer"]["name"]))
    return failures


def report(failures, label, n):
    for f in failures:
        print("FAIL %s: %s" % (label, f))
    print("%s: %d failure(s) over %d cases" % (label, len(failures), n))
    return not failures


# ---------------------------------------------------------------- drivers

class Server:
    """The suite's MongoDB test server (tests/mongo/server.sh: jongodb + relay, 127.0.0.1)."""

    def __init__(self, work):
        self.dir = os.path.join(work, "server")
        self.sh = os.path.join(ROOT, "tests", "mongo", "server.sh")

    def __enter__(self):
        self.uri = run([self.sh, "start", self.dir], what="tests/mongo/server.sh start").strip()
        return self

    def __exit__(self, *a):
        subprocess.run([self.sh, "stop", self.dir], capture_output=True)


def node_cmd():
    d = os.path.join(HERE, "node")
    addon = os.path.join(d, "node_modules", "mongodb-client-encryption", "build", "Release", "mongocrypt.node")
    if not (shutil.which("node") and os.path.exists(addon)):
        return None, "the Node driver is not installed (tests/run.sh runs npm ci in tests/interop/node)"
    return ["node", os.path.join(d, "interop.js")], None


def php_cmd():
    php = shutil.which("php")
    if not php or "mongodb" not in subprocess.run([php, "-m"], capture_output=True, text=True).stdout.split():
        return None, "php with the mongodb extension is not installed (Debian php8.2-cli php8.2-mongodb)"
    return [php, os.path.join(HERE, "php", "interop.php")], None


GOCODE = "/usr/share/gocode"


def go_cmd(work):
    """Builds go/interop.go against Debian's mongo-driver (GOPATH mode, -tags cse)."""
    go = shutil.which("go")
    if not go or not os.path.isdir(os.path.join(GOCODE, "src", "go.mongodb.org", "mongo-driver")):
        return None, "go and the Go driver are not installed (Debian golang-go golang-mongodb-mongo-driver-dev)"
    exe = os.path.join(work, "interop-go")
    env = dict(os.environ, GO111MODULE="off", GOPATH=os.path.join(work, "gopath") + ":" + GOCODE, GOFLAGS="")
    if "GOCACHE" not in env and not os.access(os.path.expanduser("~"), os.W_OK):
        env["GOCACHE"] = os.path.join(work, "gocache")
    run([go, "build", "-tags", "cse", "-o", exe, os.path.join(HERE, "go", "interop.go")], env=env,
        what="go build -tags cse")
    return [exe], None


DRIVERS = {"node": lambda work: node_cmd(), "php": lambda work: php_cmd(), "go": go_cmd}


def run_python(args, work):
    """The independent check: python3-cryptography recomputes phicrypt's ciphertexts, and
    phicrypt decrypts and re-encrypts ciphertexts made by that implementation."""
    ok = True
    fx = phicrypt_fixture(args.phicrypt, work)
    write_json(os.path.join(work, "fixture-phicrypt.json"), fx)
    ok &= report(aead_check.check_fixture(fx), "python recomputes phicrypt", len(fx["cases"]))
    theirs = aead_check.produce(request())
    write_json(os.path.join(work, "fixture-python.json"), theirs)
    dec, reenc = phicrypt_check(args.phicrypt, theirs, os.path.join(work, "pc-python"))
    ok &= report(compare(theirs, dec, reenc, "phicrypt"), "phicrypt reads python", len(theirs["cases"]))
    return ok


PATIENTS = [
    {"_id": {"$oid": "65f0c0ffee0123456789ab01"}, "name": "Ann Example", "ssn": "123-45-6789",
     "diagnosis": "J45.909 asthma", "age": {"$numberInt": "41"}},
    {"_id": {"$oid": "65f0c0ffee0123456789ab02"}, "name": "Bo Sample", "ssn": "987-65-4321",
     "diagnosis": "E11.9 type 2 diabetes", "age": {"$numberInt": "67"}},
]


def is_ciphertext(v):
    return isinstance(v, dict) and v.get("$binary", {}).get("subType") == "06"


def run_auto_path(args, work, fx, cmd, env):
    """phicrypt encrypt-command (schema map: ssn deterministic, diagnosis random) makes an
    insert and a find by SSN that the driver sends; the driver reads the documents back
    decrypted (bypassAutoEncryption). A document the driver encrypted and wrote is
    decrypted by phicrypt decrypt-document."""
    failures = []
    kid = fx["cases"][0]["key_id"]
    d = os.path.join(work, "phicrypt-keys")
    enc = lambda alg: {"encrypt": {"keyId": [kid], "bsonType": "string", "algorithm": alg}}  # noqa: E731
    cfg = os.path.join(d, "auto.json")
    write_json(cfg, {
        "kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:keyvault.jsonl",
        "schema_map": {"hospital.patients": {"bsonType": "object", "properties": {"ssn": enc(DET), "diagnosis": enc(RND)}}},
    })
    os.chmod(cfg, 0o600)
    commands = []
    for c in ({"insert": "patients", "documents": PATIENTS}, {"find": "patients", "filter": {"ssn": PATIENTS[0]["ssn"]}}):
        out = run([args.phicrypt, "--config", cfg, "encrypt-command", "--db", "hospital"], stdin=json.dumps(c),
                  what="phicrypt encrypt-command")
        commands.append(json.loads(out))
    sent = commands[0]["documents"]
    if not all(is_ciphertext(x["ssn"]) and is_ciphertext(x["diagnosis"]) for x in sent):
        failures.append("encrypt-command left ssn or diagnosis in the clear")
    spec = os.path.join(work, "command-spec.json")
    write_json(spec, {"fixture": os.path.join(work, "fixture-phicrypt.json"), "db": "hospital", "commands": commands})
    out = os.path.join(work, "command-out.json")
    run(cmd + ["command", spec, out], env=env, what=args.driver + " command")
    r = read_json(out)
    if [x["_id"] for x in r["found"]] != [PATIENTS[0]["_id"]]:
        failures.append("the find by the encrypted SSN did not return exactly the first patient")
    elif not is_ciphertext(r["found"][0]["ssn"]):
        failures.append("the server returned the SSN in the clear")
    if len(r["decrypted"]) != len(PATIENTS):
        failures.append("%s read back %d of %d documents" % (args.driver, len(r["decrypted"]), len(PATIENTS)))
    for want, got in zip(PATIENTS, r["decrypted"]):
        if ejson_bson.value(got) != ejson_bson.value(want):
            failures.append("%s decrypted an inserted document differently" % args.driver)
    # the other way: the driver encrypts and writes, phicrypt decrypt-document reads
    doc = {k: v for k, v in PATIENTS[1].items() if k != "_id"}
    spec = os.path.join(work, "write-spec.json")
    write_json(spec, {"fixture": os.path.join(work, "fixture-phicrypt.json"), "db": "hospital",
                      "coll": "patients_" + args.driver, "doc": doc})
    out = os.path.join(work, "write-out.json")
    run(cmd + ["write", spec, out], env=env, what=args.driver + " write")
    raw = read_json(out)
    if not (is_ciphertext(raw.get("ssn")) and is_ciphertext(raw.get("diagnosis"))):
        failures.append("the driver's document is not encrypted")
    if "$oid" not in raw.get("_id", {}):
        failures.append("the driver's document has no client-generated ObjectId")
    got = run([args.phicrypt, "--config", os.path.join(d, "phicrypt.json"), "decrypt-document", "--canonical"],
              stdin=json.dumps(raw), what="phicrypt decrypt-document")
    g = json.loads(got)  # field by field: the driver put its _id first
    if set(g) != set(doc) | {"_id"} or g["_id"] != raw["_id"] or any(
            ejson_bson.value(g[k]) != ejson_bson.value(v) for k, v in doc.items()):
        failures.append("phicrypt decrypt-document read the driver's document differently")
    return failures


def run_driver(args, work):
    """Both directions with one official driver, against the suite's test server."""
    name = args.driver
    cmd, why = DRIVERS[name](work)
    if not cmd:
        print("interop: " + why)
        return None
    ok = True
    fx = phicrypt_fixture(args.phicrypt, work)
    fx_path = os.path.join(work, "fixture-phicrypt.json")
    write_json(fx_path, fx)
    with Server(work) as srv:
        env = dict(os.environ, MONGODB_URI=srv.uri)
        # phicrypt -> driver (the driver puts the fixture's keys into the server's vault)
        out = os.path.join(work, name + "-read-phicrypt.json")
        run(cmd + ["check", fx_path, out], env=env, what=name + " check")
        r = read_json(out)
        ok &= report(compare(fx, r["decrypted"], r["reencrypted"], name), name + " reads phicrypt", len(fx["cases"]))
        # driver -> phicrypt, JSONL vault and the shared mongodb:// vault
        rq_path = os.path.join(work, "request.json")
        write_json(rq_path, request())
        theirs_path = os.path.join(work, "fixture-%s.json" % name)
        run(cmd + ["produce", rq_path, theirs_path], env=env, what=name + " produce")
        theirs = read_json(theirs_path)
        print("interop: %s producer: %s" % (name, theirs["producer"]["version"]))
        ok &= report(aead_check.check_fixture(theirs), "python recomputes " + name, len(theirs["cases"]))
        dec, reenc = phicrypt_check(args.phicrypt, theirs, os.path.join(work, "pc-%s-file" % name))
        ok &= report(compare(theirs, dec, reenc, "phicrypt"), "phicrypt reads %s (JSONL vault)" % name, len(theirs["cases"]))
        dec, reenc = phicrypt_check(args.phicrypt, theirs, os.path.join(work, "pc-%s-mongo" % name), key_vault=srv.uri)
        ok &= report(compare(theirs, dec, reenc, "phicrypt"), "phicrypt reads %s (--key-vault mongodb://)" % name,
                     len(theirs["cases"]))
        if name == "node":
            ok &= report(run_auto_path(args, work, fx, cmd, env), "encrypt-command insert/find via node, "
                         "node-written document via decrypt-document", 2)
    return ok


# ---------------------------------------------------------------- selftest

def corruptions(fx):
    """(label, corrupted copy) pairs: each must make every check fail."""
    out = []

    def flip_tag(f):
        c = next(c for c in f["cases"] if c["algorithm"] == DET)
        b = bytearray(b64bin(c["ciphertext"], "06"))
        b[-1] ^= 1
        c["ciphertext"]["$binary"]["base64"] = base64.b64encode(bytes(b)).decode()

    def change_value(f):
        c = next(c for c in f["cases"] if c["name"] == "int32-det")
        c["value"] = {"$numberInt": "-43"}

    def change_type(f):
        c = next(c for c in f["cases"] if c["name"] == "int64-det")
        c["value"] = {"$numberInt": "1"}

    def damage_key(f):
        b = bytearray(b64bin(f["keys"][0]["keyMaterial"], "00"))
        b[20] ^= 0x80
        f["keys"][0]["keyMaterial"]["$binary"]["base64"] = base64.b64encode(bytes(b)).decode()

    def wrong_subtype(f):
        c = next(c for c in f["cases"] if c["algorithm"] == RND)
        b = bytearray(b64bin(c["ciphertext"], "06"))
        b[0] = 1
        c["ciphertext"]["$binary"]["base64"] = base64.b64encode(bytes(b)).decode()

    for label, fn in (("flipped tag byte", flip_tag), ("changed expected value", change_value),
                      ("changed expected type", change_type), ("damaged key document", damage_key),
                      ("wrong blob subtype", wrong_subtype)):
        f = copy.deepcopy(fx)
        fn(f)
        out.append((label, f))
    return out


def selftest(args, work):
    fx = phicrypt_fixture(args.phicrypt, work)
    ok = True
    # the unchanged fixture passes both checks: the corruptions below are what fails
    if aead_check.check_fixture(fx):
        print("FAIL selftest: python rejects the unchanged fixture")
        ok = False
    dec, reenc = phicrypt_check(args.phicrypt, fx, os.path.join(work, "pc-clean"))
    if compare(fx, dec, reenc, "phicrypt"):
        print("FAIL selftest: phicrypt's check rejects the unchanged fixture")
        ok = False
    for i, (label, bad) in enumerate(corruptions(fx)):
        py = aead_check.check_fixture(bad)
        try:
            dec, reenc = phicrypt_check(args.phicrypt, bad, os.path.join(work, "pc-bad-%d" % i))
            pc = compare(bad, dec, reenc, "phicrypt")
        except Failed as e:
            pc = [str(e)]
        print("selftest %-24s python: %s, phicrypt: %s" % (label, "refused" if py else "ACCEPTED",
                                                         "refused" if pc else "ACCEPTED"))
        ok &= bool(py) and bool(pc)
    # A driver's report is checked by the same compare(): the Node driver, given a fixture
    # whose expected value was changed, must produce a report that compare() refuses (a
    # script that echoed the fixture instead of decrypting would pass here and be caught).
    cmd, why = node_cmd()
    if cmd:
        bad = dict(corruptions(fx))["changed expected value"]
        path = os.path.join(work, "fixture-bad.json")
        write_json(path, bad)
        with Server(work) as srv:
            out = os.path.join(work, "node-read-bad.json")
            run(cmd + ["check", path, out], env=dict(os.environ, MONGODB_URI=srv.uri), what="node check")
            r = read_json(out)
            refused = compare(bad, r["decrypted"], r["reencrypted"], "node")
        print("selftest %-24s node: %s" % ("changed expected value", "refused" if refused else "ACCEPTED"))
        ok &= bool(refused)
    else:
        print("selftest: node not installed, its check not exercised (" + why + ")")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fixture", "run", "selftest"])
    ap.add_argument("--phicrypt", required=True, help="the phicrypt CLI binary")
    ap.add_argument("--driver", choices=["python"] + sorted(DRIVERS))
    ap.add_argument("--out", help="fixture: where to write it")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one, removed)")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="phicrypt-interop-")
    os.makedirs(work, mode=0o700, exist_ok=True)
    try:
        if args.command == "fixture":
            if not args.out:
                ap.error("fixture needs --out")
            write_json(args.out, phicrypt_fixture(args.phicrypt, work))
            return 0
        if args.command == "selftest":
            return 0 if selftest(args, work) else 1
        if not args.driver:
            ap.error("run needs --driver")
        ok = run_python(args, work) if args.driver == "python" else run_driver(args, work)
        return SKIP if ok is None else (0 if ok else 1)
    except Failed as e:
        print("FAIL " + str(e))
        return 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
