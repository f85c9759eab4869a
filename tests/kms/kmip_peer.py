#!/usr/bin/python3
"""A KMIP peer for tests/test_kms.c: Debian's PyKMIP server on 127.0.0.1,
port 0, mutual TLS with the certificates kms_peers.py made in DIR.

Usage: kmip_peer.py DIR   (writes DIR/kmip_port once listening)
"""
import logging
import os
import sys

from kmip.services.server import KmipServer


def main():
    d = sys.argv[1]
    os.makedirs(os.path.join(d, "kmip-policies"), exist_ok=True)
    # PyKMIP reads /etc/pykmip/server.conf unless given another file.
    conf = os.path.join(d, "kmip-server.conf")
    settings = {
        "hostname": "127.0.0.1", "port": "5696",
        "certificate_path": os.path.join(d, "kmip-cert.pem"), "key_path": os.path.join(d, "kmip-key.pem"),
        "ca_path": os.path.join(d, "ca.pem"), "auth_suite": "TLS1.2",
        "policy_path": os.path.join(d, "kmip-policies"), "enable_tls_client_auth": "True",
        "logging_level": "INFO", "database_path": os.path.join(d, "kmip.sqlite"),
    }
    with open(conf, "w") as f:
        f.write("[server]\n")
        for k, v in settings.items():
            f.write("%s=%s\n" % (k, v))
    server = KmipServer(config_path=conf, log_path=os.path.join(d, "kmip.log"), logging_level=logging.INFO)
    # The configuration refuses port 0; bind an ephemeral port anyway.
    server.config.settings["port"] = 0
    server.start()
    port = server._socket.getsockname()[1]
    with open(os.path.join(d, "kmip_port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(d, "kmip_port.tmp"), os.path.join(d, "kmip_port"))
    try:
        server.serve()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
