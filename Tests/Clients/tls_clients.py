#!/usr/bin/env python3
"""TLS through real clients (issue 11): redis-py with ssl=True in RESP2 and RESP3, and
redis-cli --tls, against a TLS listener that requires client certificates.

Usage: tls_clients.py TLS_PORT PLAIN_PORT CERT_DIR REDIS_CLI   (CERT_DIR holds ca.crt,
client.crt, client.key and stranger.crt/.key, signed by another CA; exits non-zero on
the first mismatch)."""
import os
import ssl
import subprocess
import sys

import redis

tls_port, plain_port, certs, cli = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ca, crt, key = (os.path.join(certs, f) for f in ("ca.crt", "client.crt", "client.key"))


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


for protocol in (2, 3):
    r = redis.Redis(host="127.0.0.1", port=tls_port, ssl=True, ssl_ca_certs=ca, ssl_certfile=crt, ssl_keyfile=key,
                    protocol=protocol, socket_timeout=10)
    check(f"PING over TLS (RESP{protocol})", r.ping(), True)
    check("USER.SET over TLS", r.execute_command("USER.SET", f"tls{protocol}", "plan", "pro"), b"OK")
    check("SEGMENT.CHECK over TLS", r.execute_command("SEGMENT.CHECK", 'plan = "pro"', f"tls{protocol}"), 1)
    count = r.execute_command("SEGMENT.COUNT", "verified")
    plain = redis.Redis(host="127.0.0.1", port=plain_port, socket_timeout=10)
    check("the same answer on the plain port", plain.execute_command("SEGMENT.COUNT", "verified"), count)
    # A large reply crosses many TLS records.
    cursor, members = plain.execute_command("SEGMENT.MEMBERS", "verified", "COUNT", "100000")
    check("a large reply over TLS", r.execute_command("SEGMENT.MEMBERS", "verified", "COUNT", "100000")[1], members)
    r.close()

# Client certificates are required: none, or one from another CA, is refused.
for what, cert in (("no client certificate", None), ("a stranger's certificate", "stranger")):
    try:
        kwargs = {"ssl_certfile": os.path.join(certs, cert + ".crt"), "ssl_keyfile": os.path.join(certs, cert + ".key")} if cert else {}
        redis.Redis(host="127.0.0.1", port=tls_port, ssl=True, ssl_ca_certs=ca, socket_timeout=5, **kwargs).ping()
        sys.exit(f"{what}: the TLS listener answered")
    except (redis.exceptions.ConnectionError, ssl.SSLError, OSError):
        pass

out = subprocess.run([cli, "--tls", "--cacert", ca, "--cert", crt, "--key", key, "-h", "127.0.0.1", "-p", str(tls_port), "PING"],
                     capture_output=True, text=True, timeout=20)
check("redis-cli --tls PING", out.stdout.strip(), "PONG")
out = subprocess.run([cli, "--tls", "--cacert", ca, "--cert", crt, "--key", key, "-h", "127.0.0.1", "-p", str(tls_port),
                      "SEGMENT.CHECK", 'plan = "pro"', "tls2"], capture_output=True, text=True, timeout=20)
check("redis-cli --tls SEGMENT.CHECK", out.stdout.strip(), "(integer) 1" if out.stdout.startswith("(") else "1")
print("tls clients: ok")
