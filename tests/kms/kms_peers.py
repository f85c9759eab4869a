#!/usr/bin/python3
"""Loopback KMS peers for tests/test_kms.c (run with /usr/bin/python3).

Usage: kms_peers.py DIR
Creates a CA and certificates in DIR, starts every peer on 127.0.0.1 with
port 0, writes DIR/env (NAME=VALUE lines for sh, values quoted: ports, file
names, skip reasons) once all listen, and serves until SIGTERM or stdin
closes. Nothing here talks to a real cloud.

Peers (each a real implementation with a key of its own):
  aws    AWS KMS Encrypt/Decrypt (JSON 1.1), SigV4 verified with botocore
  azure  Azure Key Vault wrapkey/unwrapkey + the OAuth token endpoint
  gcp    Cloud KMS encrypt/decrypt + the OAuth token endpoint (JWT checked
         with python3-jwt)
Fault peers speak the AWS protocol: fail500 (every other request is HTTP
500), bad400, badjson, hang, drip; plus a silent port (TCP accepted, no TLS)
and a refused port. TLS fault peers (the client must refuse them during the
handshake, whatever the provider, KMIP included, so they serve HTTP behind
it): unknownca (certificate from a CA the client does not know), wronghost
(issued by the test CA for wrong.example / 127.0.0.2, not 127.0.0.1),
selfsigned (a self-signed certificate for localhost / 127.0.0.1), expired
(issued by the test CA, notAfter yesterday), tls11 (offers TLS 1.0 and 1.1
only; probed at start with a TLS 1.1 and a TLS 1.2 client, and if it cannot
be made PHI_KMS_TLS11_SKIP gives the reason). Instance metadata (EC2 IMDSv2,
ECS, Azure IMDS, GCP) is served over plain HTTP on the "meta" port, STS
AssumeRoleWithWebIdentity on the "ok" port.
"""
import base64
import hashlib
import hmac
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
import urllib.parse
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
import ipaddress
import jwt

AWS_KEYS = {"AKIDPHICRYPTTEST": "phicrypt-test-secret-key", "AKIDEXPIRED": "expired-secret"}
AZURE_CLIENT = ("phicrypt-tenant", "phicrypt-client", "phicrypt-client-secret")
GCP_EMAIL = "phicrypt@test.iam.gserviceaccount.com"
SERVER_KEY = AESGCM.generate_key(bit_length=256)  # the peers' own master key


# Hostile reply shapes: (what comes first, the line repeated forever).
ENDLESS = {
    "repeatcl": (b"HTTP/1.1 200 OK\r\n", b"Content-Length: 5\r\n"),
    "repeatte": (b"HTTP/1.1 200 OK\r\n", b"Transfer-Encoding: chunked\r\n"),
    "trailers": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", b"X-Trailer: 1\r\n"),
}


def wrap(plain, aad):
    nonce = os.urandom(12)
    return nonce + AESGCM(SERVER_KEY).encrypt(nonce, plain, aad)


def unwrap(blob, aad):
    return AESGCM(SERVER_KEY).decrypt(blob[:12], blob[12:], aad)


# ---------------------------------------------------------------- certificates
def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_pem(path, *parts):
    with open(path, "wb") as f:
        for p in parts:
            f.write(p)
    os.chmod(path, 0o600)


def key_pem(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def make_ca(name):
    k = new_key()
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj).public_key(k.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(k, hashes.SHA256()))
    return k, cert


def make_leaf(ca_key, ca_cert, cn, dns=(), ips=(), client=False, expired=False, self_signed=False):
    k = new_key()
    now = datetime.utcnow()
    # expired: valid for a day that ended yesterday.
    nb, na = (now - timedelta(days=10), now - timedelta(days=1)) if expired else \
        (now - timedelta(days=1), now + timedelta(days=2))
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    if self_signed:
        ca_key, issuer = k, subj
    else:
        issuer = ca_cert.subject
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    b = (x509.CertificateBuilder().subject_name(subj)
         .issuer_name(issuer).public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return k, b.sign(ca_key, hashes.SHA256())


def certs(d):
    ca_key, ca = make_ca("phicrypt test CA")
    other_key, other = make_ca("phicrypt unknown CA")
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    write_pem(os.path.join(d, "ca.pem"), pem(ca))
    files = {}
    for name, (ck, cc, dns, ips, kw) in {
        "server": (ca_key, ca, ["localhost"], ["127.0.0.1"], {}),
        "unknownca": (other_key, other, ["localhost"], ["127.0.0.1"], {}),
        "wronghost": (ca_key, ca, ["wrong.example"], ["127.0.0.2"], {}),
        "selfsigned": (None, None, ["localhost"], ["127.0.0.1"], {"self_signed": True}),
        "expired": (ca_key, ca, ["localhost"], ["127.0.0.1"], {"expired": True}),
    }.items():
        k, c = make_leaf(ck, cc, name, dns, ips, **kw)
        files[name] = os.path.join(d, name + ".pem")
        write_pem(files[name], pem(c), key_pem(k))
    k, c = make_leaf(ca_key, ca, "phicrypt client", client=True)
    write_pem(os.path.join(d, "client.pem"), pem(c), key_pem(k))
    # The client key encrypted, to test cert_key_password.
    enc = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.BestAvailableEncryption(b"client-pass"))
    write_pem(os.path.join(d, "client-enc.pem"), pem(c), enc)
    # Separate key and cert files for PyKMIP.
    k, c = make_leaf(ca_key, ca, "kmip", ["localhost"], ["127.0.0.1"])
    write_pem(os.path.join(d, "kmip-cert.pem"), pem(c))
    write_pem(os.path.join(d, "kmip-key.pem"), key_pem(k))
    gk = new_key()
    write_pem(os.path.join(d, "gcp-key.pem"), key_pem(gk))
    with open(os.path.join(d, "gcp-key.b64"), "w") as f:
        f.write(base64.b64encode(gk.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption())).decode())
    return files, gk.public_key()


# ---------------------------------------------------------------- HTTP peers
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "ok"
    gcp_public = None
    counter = None

    def log_message(self, *a):
        pass

    def reply(self, status, obj, ctype="application/x-amz-json-1.1", raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        if self.mode == "drip":
            head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(body))
            for ch in head.encode() + body:
                self.wfile.write(bytes([ch]))
                self.wfile.flush()
                time.sleep(0.3)
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if self.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.mode == "evil":
            with open(self.evil_log, "ab") as f:
                f.write(b"POST %s %s\n%s\n%s\n" % (self.path.encode(), self.headers.get("Host", "").encode(),
                                                   str(self.headers).encode(), body))
        with self.counter["lock"]:
            self.counter["n"] += 1
            seq = self.counter["n"]
        if self.mode == "hang":
            time.sleep(60)
            return
        if self.mode in ENDLESS:
            return self.endless()
        if self.mode == "fail500" and seq % 2 == 1:
            return self.reply(500, {"__type": "KMSInternalException", "message": "try again"})
        if self.mode == "bad400":
            return self.reply(400, {"__type": "ValidationException", "message": "bad request"})
        if self.mode == "badjson":
            return self.reply(200, None, raw=b'{"CiphertextBlob": ')
        target = self.headers.get("X-Amz-Target")
        if target:
            return self.aws(body, target)
        if b"Action=AssumeRoleWithWebIdentity" in body:
            return self.sts(body)
        path = urllib.parse.urlsplit(self.path).path
        if path.endswith("/oauth2/v2.0/token"):
            return self.azure_token(body)
        if path.endswith("/wrapkey") or path.endswith("/unwrapkey"):
            return self.azure_key(body, path)
        if path == "/token":
            return self.gcp_token(body)
        if path.endswith(":encrypt") or path.endswith(":decrypt"):
            return self.gcp_key(body, path)
        self.reply(404, {"error": "no such endpoint"}, "application/json")

    def endless(self):
        """A hostile reply that never ends: the same header line over and
        over (repeatcl, repeatte), or a chunked body whose trailers never
        end (trailers). Written until the client hangs up."""
        head, line = ENDLESS[self.mode]
        block = line * (65536 // len(line))
        try:
            self.wfile.write(head)
            while True:
                self.wfile.write(block)
        except (OSError, ssl.SSLError):
            pass
        self.close_connection = True

    # AWS KMS ------------------------------------------------------------
    def aws_check_signature(self, body):
        auth = self.headers.get("Authorization", "")
        try:
            algo, rest = auth.split(" ", 1)
            parts = dict(p.strip().split("=", 1) for p in rest.split(","))
            akid, date, region, service, _ = parts["Credential"].split("/")
            signed = parts["SignedHeaders"].split(";")
        except (ValueError, KeyError):
            return "MissingAuthenticationTokenException", "no SigV4 authorization"
        if akid not in AWS_KEYS:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        req = AWSRequest(method="POST", url="https://%s/" % self.headers["Host"], data=body,
                         headers={h: self.headers[h] for h in signed if self.headers.get(h) is not None})
        req.context["timestamp"] = self.headers["X-Amz-Date"]
        signer = SigV4Auth(Credentials(akid, AWS_KEYS[akid], self.headers.get("X-Amz-Security-Token")), service,
                           region)
        want = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
        if not hmac.compare_digest(want, parts["Signature"]):
            return "InvalidSignatureException", "The request signature we calculated does not match"
        if akid == "AKIDEXPIRED":
            return "ExpiredTokenException", "The security token included in the request is expired"
        return None

    def aws(self, body, target):
        bad = self.aws_check_signature(body)
        if bad:
            return self.reply(400, {"__type": bad[0], "message": bad[1]})
        req = json.loads(body)
        arn = "arn:aws:kms:us-east-1:000000000000:key/phicrypt-test"
        if target.endswith(".Encrypt"):
            blob = wrap(base64.b64decode(req["Plaintext"]), b"aws")
            return self.reply(200, {"CiphertextBlob": base64.b64encode(blob).decode(), "KeyId": arn})
        if target.endswith(".Decrypt"):
            try:
                plain = unwrap(base64.b64decode(req["CiphertextBlob"]), b"aws")
            except Exception:
                return self.reply(400, {"__type": "InvalidCiphertextException", "message": "bad ciphertext"})
            return self.reply(200, {"Plaintext": base64.b64encode(plain).decode(), "KeyId": arn})
        self.reply(400, {"__type": "UnknownOperationException"})

    def sts(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("WebIdentityToken") != WEB_IDENTITY_TOKEN or not form.get("RoleArn", "").startswith("arn:aws:iam"):
            return self.reply(403, {"Error": {"Code": "AccessDenied"}}, "application/json")
        creds = dict(aws_creds("AKIDPHICRYPTTEST"), SessionToken="sts-session")
        del creds["Token"]
        self.reply(200, {"AssumeRoleWithWebIdentityResponse": {"AssumeRoleWithWebIdentityResult": {
            "Credentials": creds}}}, "application/json")

    # Azure ---------------------------------------------------------------
    def azure_token(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        tenant = urllib.parse.urlsplit(self.path).path.split("/")[1]
        if (tenant, form.get("client_id"), form.get("client_secret")) != AZURE_CLIENT or \
                form.get("grant_type") != "client_credentials":
            return self.reply(401, {"error": "invalid_client"}, "application/json")
        self.reply(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": "azure-token-1"},
                   "application/json")

    def azure_key(self, body, path):
        if self.headers.get("Authorization") != "Bearer azure-token-1":
            return self.reply(401, {"error": {"code": "Unauthorized"}}, "application/json")
        req = json.loads(body)
        val = base64.urlsafe_b64decode(req["value"] + "=" * (-len(req["value"]) % 4))
        kid = "https://%s%s" % (self.headers["Host"], path.rsplit("/", 1)[0])
        if path.endswith("/wrapkey"):
            out = wrap(val, b"azure")
        else:
            try:
                out = unwrap(val, b"azure")
            except Exception:
                return self.reply(400, {"error": {"code": "BadParameter"}}, "application/json")
        self.reply(200, {"kid": kid, "value": base64.urlsafe_b64encode(out).decode().rstrip("=")},
                   "application/json")

    # GCP -------------------------------------------------------------------
    def gcp_token(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        try:
            claims = jwt.decode(form["assertion"], self.gcp_public, algorithms=["RS256"],
                                options={"verify_aud": False})
            if claims.get("iss") != GCP_EMAIL or "cloudkms" not in claims.get("scope", ""):
                raise ValueError("claims")
        except Exception:
            return self.reply(400, {"error": "invalid_grant"}, "application/json")
        self.reply(200, {"access_token": "gcp-token-1", "expires_in": 3599, "token_type": "Bearer"},
                   "application/json")

    def gcp_key(self, body, path):
        if self.headers.get("Authorization") != "Bearer gcp-token-1":
            return self.reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, "application/json")
        req = json.loads(body)
        if path.endswith(":encrypt"):
            out = {"name": path, "ciphertext": base64.b64encode(wrap(base64.b64decode(req["plaintext"]),
                                                                      b"gcp")).decode()}
        else:
            try:
                out = {"plaintext": base64.b64encode(unwrap(base64.b64decode(req["ciphertext"]), b"gcp")).decode()}
            except Exception:
                return self.reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, "application/json")
        self.reply(200, out, "application/json")


WEB_IDENTITY_TOKEN = "phicrypt-web-identity-token"
TLS_FAULTS = ("unknownca", "wronghost", "selfsigned", "expired")


def aws_creds(akid):
    exp = (datetime.utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"AccessKeyId": akid, "SecretAccessKey": AWS_KEYS[akid], "Token": "session-" + akid,
            "Expiration": exp}


class MetaHandler(BaseHTTPRequestHandler):
    """Instance metadata over plain HTTP: EC2 IMDSv2, ECS, Azure IMDS, GCP."""
    protocol_version = "HTTP/1.1"
    counts = {}

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="application/json"):
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.send(200, b"imds-session-token", "text/plain")
        self.send(400, b"", "text/plain")

    def do_GET(self):
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        path = self.path
        if path == "/stats":
            return self.send(200, self.counts)
        if path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
                return self.send(401, b"", "text/plain")
            role = path.rsplit("/", 1)[1]
            if role == "":
                return self.send(200, b"phicrypt-role", "text/plain")
            if role == "phicrypt-role":
                return self.send(200, aws_creds("AKIDPHICRYPTTEST"))
            return self.send(404, b"", "text/plain")
        if path == "/ecs/creds":
            return self.send(200, aws_creds("AKIDPHICRYPTTEST"))
        if path == "/ecs/expired":
            return self.send(200, aws_creds("AKIDEXPIRED"))
        if path.startswith("/metadata/identity/oauth2/token"):
            if self.headers.get("Metadata") != "true" or "resource=https%3A%2F%2Fvault.azure.net" not in path:
                return self.send(400, {"error": "invalid_request"})
            return self.send(200, {"access_token": "azure-token-1", "expires_in": "3600",
                                   "token_type": "Bearer"})
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.send(403, b"", "text/plain")
            return self.send(200, {"access_token": "gcp-token-1", "expires_in": 3599, "token_type": "Bearer"})
        self.send(404, b"", "text/plain")


def legacy_tls(ctx):
    """TLS 1.0 and 1.1 only. Debian's OpenSSL 3 forbids them at its default
    security level (SHA-1 signatures), hence @SECLEVEL=0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")


def probe_legacy(port, env):
    """Proves that the tls11 peer speaks TLS 1.1 and refuses TLS 1.2; returns
    None (and sets PHI_KMS_TLS11_PROBE to what was seen), or why not."""
    def hello(max_legacy):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if max_legacy:
            legacy_tls(ctx)
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s) as t:
                return t.version()
    try:
        got = hello(True)
    except Exception as e:
        return "no TLS 1.1 peer can be served here: a TLS <= 1.1 client failed: %s" % e
    if got not in ("TLSv1", "TLSv1.1"):
        return "the legacy peer negotiated %s" % got
    try:
        got2 = hello(False)
        return "the legacy peer accepted a TLS >= 1.2 client (%s)" % got2
    except ssl.SSLError as e:
        env["PHI_KMS_TLS11_PROBE"] = "TLS <= 1.1 client: %s; TLS >= 1.2 client: %s" % (
            got, (e.reason or str(e)).replace("\n", " "))
        return None
    except Exception as e:
        return "probing the legacy peer with TLS 1.2: %s" % e


class EvilServer(ThreadingHTTPServer):
    """Logs every connection it accepts, before TLS and HTTP: a client
    that honours the endpoint allow-list never appears in its log."""
    log = None

    def get_request(self):
        sock, addr = self.socket.accept()
        with open(self.log, "ab") as f:
            f.write(b"CONNECT %s\n" % str(addr).encode())
        return sock, addr


def serve(mode, certfile, gcp_public, legacy=False, evil_log=None):
    h = type("H_" + mode, (Handler,), {"mode": mode, "gcp_public": gcp_public, "evil_log": evil_log,
                                       "counter": {"n": 0, "lock": threading.Lock()}})
    srv = (EvilServer if evil_log else ThreadingHTTPServer)(("127.0.0.1", 0), h)
    if evil_log:
        srv.log = evil_log
        open(evil_log, "wb").close()
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile)
    if legacy:
        legacy_tls(ctx)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def start_kmip(d, env):
    """PyKMIP's server in its own process (it installs signal handlers and
    a multiprocessing manager). If it cannot start, the KMIP tests skip
    with the reason instead of passing."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kmip_peer.py")
    log = open(os.path.join(d, "kmip.out"), "w")
    try:
        p = subprocess.Popen(["/usr/bin/python3", script, d], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
    except OSError as e:
        env["PHI_KMS_KMIP_SKIP"] = "cannot run PyKMIP: %s" % e
        return None
    port_file = os.path.join(d, "kmip_port")
    for _ in range(300):
        if os.path.exists(port_file):
            with open(port_file) as f:
                env["PHI_KMS_PORT_KMIP"] = f.read().strip()
            return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    p.wait()
    with open(os.path.join(d, "kmip.out")) as f:
        last = [l.strip() for l in f if l.strip()][-1:] or ["no output"]
    env["PHI_KMS_KMIP_SKIP"] = "PyKMIP server did not start: " + last[0].replace("\n", " ")[:200]
    return None


def main():
    d = sys.argv[1]
    files, gcp_public = certs(d)
    env = {"PHI_KMS_DIR": d}
    servers = []
    for mode, cert in [("ok", "server"), ("chunked", "server"), ("fail500", "server"), ("bad400", "server"),
                       ("badjson", "server"), ("hang", "server"), ("drip", "server"), ("repeatcl", "server"),
                       ("repeatte", "server"), ("trailers", "server"), ("unknownca", "unknownca"),
                       ("wronghost", "wronghost"), ("selfsigned", "selfsigned"), ("expired", "expired")]:
        srv = serve(mode if mode not in TLS_FAULTS else "ok", files[cert], gcp_public)
        servers.append(srv)
        env["PHI_KMS_PORT_" + mode.upper()] = str(srv.server_address[1])
    # A host with a valid certificate for its own name that a tampered key
    # document points at: it serves like "ok" and logs what reaches it.
    srv = serve("evil", files["server"], gcp_public, evil_log=os.path.join(d, "evil.log"))
    servers.append(srv)
    env["PHI_KMS_PORT_EVIL"] = str(srv.server_address[1])
    env["PHI_KMS_EVIL_LOG"] = os.path.join(d, "evil.log")
    # TLS <= 1.1 only, with a certificate the client would otherwise accept.
    try:
        srv = serve("ok", files["server"], gcp_public, legacy=True)
        servers.append(srv)
        env["PHI_KMS_PORT_TLS11"] = str(srv.server_address[1])
        why = probe_legacy(srv.server_address[1], env)
    except (ssl.SSLError, ValueError, OSError) as e:
        why = "cannot configure a TLS <= 1.1 server here: %s" % e
    if why:
        env["PHI_KMS_TLS11_SKIP"] = why
    meta = ThreadingHTTPServer(("127.0.0.1", 0), MetaHandler)
    meta.daemon_threads = True
    threading.Thread(target=meta.serve_forever, daemon=True).start()
    servers.append(meta)
    env["PHI_KMS_PORT_META"] = str(meta.server_address[1])
    with open(os.path.join(d, "web-identity-token"), "w") as f:
        f.write(WEB_IDENTITY_TOKEN + "\n")
    # A peer that completes TCP (the kernel does) but never speaks TLS.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    env["PHI_KMS_PORT_SILENT"] = str(silent.getsockname()[1])
    # A port nobody listens on: bind, read the number, close.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    env["PHI_KMS_PORT_REFUSED"] = str(s.getsockname()[1])
    s.close()
    kmip = start_kmip(d, env)
    with open(os.path.join(d, "env.tmp"), "w") as f:
        for k, v in env.items():
            # run_kms_tests.sh sources this file: quote for sh (reasons
            # hold spaces, "<", ...).
            f.write("%s=%s\n" % (k, shlex.quote(v)))
    os.rename(os.path.join(d, "env.tmp"), os.path.join(d, "env"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    # The HTTP peers run in daemon threads and end with the process.
    if kmip:
        # SIGINT: PyKMIP's accept loop retries through SIGTERM until its
        # 10 s socket timeout, but leaves at once on KeyboardInterrupt.
        kmip.send_signal(signal.SIGINT)
        try:
            kmip.wait(10)
        except subprocess.TimeoutExpired:
            kmip.kill()
            kmip.wait()


if __name__ == "__main__":
    main()
