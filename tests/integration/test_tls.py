#!/usr/bin/env python3
"""HTTPS: clerkd with tls_cert and tls_key serves the API over TLS (and
nothing in plain text), marks the session cookie Secure, clerkctl follows
it, and bad TLS settings stop clerkd at start with a message that names the
file."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

from harness import CLERKCTL, Daemon, Tap

t = Tap()


def skip(why):
    print(f"1..0 # SKIP {why}", flush=True)
    raise SystemExit(0)


if not shutil.which("openssl"):
    skip("the openssl command is not installed")


def make_cert(d, name):
    cert, key = os.path.join(d.dir, name + ".pem"), os.path.join(d.dir, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    os.chmod(key, 0o600)
    return cert, key


def pw_hash(pw):
    r = subprocess.run([CLERKCTL, "user", "hash"], input=pw + "\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


d = Daemon(extra_conf='tls_cert = "tls.pem";\ntls_key = "tls.key";\nusers_file = "users.cfg";\n')
bad = None
try:
    cert, key = make_cert(d, "tls")
    users = os.path.join(d.dir, "users.cfg")
    with open(users, "w") as f:
        f.write(f'users = ( {{ name = "rita"; role = "reviewer"; password = "{pw_hash("rita-pw")}"; }} );\n')
    os.chmod(users, 0o600)
    d.start(wait=False)
    ctx = ssl.create_default_context(cafile=cert)
    base = f"https://127.0.0.1:{d.port}"

    def get(path, **kw):
        req = urllib.request.Request(base + path, **kw)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, r.read(), r
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e

    deadline = time.time() + 15
    status = None
    while time.time() < deadline and status is None:
        try:
            status = get("/healthz")[0]
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    t.eq(status, 200, "GET /healthz over HTTPS, the certificate verified")

    st, body, _ = get("/api/v1/me", headers={"Authorization": "Bearer " + d.token()})
    t.check(st == 200 and json.loads(body)["user"] == "admin", "the API over HTTPS", body)

    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        plain = s.recv(4096)
    except OSError:
        plain = b""
    s.close()
    t.check(b"200 OK" not in plain and b"status" not in plain,
            "plain HTTP on the TLS port gets no answer", plain[:200])

    st, body, r = get("/api/v1/login", data=json.dumps({"user": "rita", "password": "rita-pw"}).encode(),
                      headers={"Content-Type": "application/json"}, method="POST")
    cookie = r.headers.get("Set-Cookie", "")
    t.check(st == 200 and "; Secure" in cookie and "HttpOnly" in cookie,
            "over TLS the session cookie is Secure", cookie)

    r = d.ctl("status")
    t.check(r.returncode == 0 and f"https://127.0.0.1:{d.port}" in r.stdout and "health       ok" in r.stdout,
            "clerkctl talks HTTPS to clerkd, trusting its certificate", r.stdout + r.stderr)
    t.eq(d.stop(), 0, "clean stop")

    # ---- bad settings stop clerkd at start, naming the file ----
    bad = Daemon(extra_conf='tls_cert = "tls.pem";\n')
    rc = bad.start(wait=False).wait(15)
    t.check(rc == 78 and "tls_cert and tls_key go together" in bad.log_text(),
            "tls_cert without tls_key: exit 78, file:line", bad.log_text()[-600:])
    with open(bad.conf, "a") as f:
        f.write('tls_key = "other.key";\n')
    make_cert(bad, "tls")
    make_cert(bad, "other")
    rc = bad.start(wait=False).wait(15)
    t.check(rc != 0 and "mismatch" in bad.log_text() and "other.key" in bad.log_text(), "a key that does not match the certificate: refused",
            bad.log_text()[-600:])
finally:
    d.cleanup()
    if bad is not None:
        bad.cleanup()
t.done()
