#!/usr/bin/env python3
"""Benchmark of file.put over SFTP and FTP (docs/BENCHMARKS.md).

  nice python3 bench/fileio_remote.py [--files N] [--rounds R] [--size BYTES]

Starts sshd and vsftpd on 127.0.0.1 (as tests/integration/fileservers.py
does; needs root) and, per protocol and round, uploads N files of SIZE
bytes:

  clerk: one file.put item per file through clerkd (workers 4,
         concurrency 4): existence check, upload under a temp name with
         the rename, read back and SHA-256 compare, on one login (the
         step's handle keeps the connection); from the first enqueue to
         the last item done.
  curl:  the curl program once per file, 4 at a time, uploading under a
         temp name with the same rename as a post-quote command (-Q), as
         a person would script it; no existence check, no read-back.

Prints the median over the rounds of files/s for both and their ratio.
"""
import argparse
import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("CLERKD", os.path.join(TOP, "build", "clerkd"))
os.environ.setdefault("CLERKCTL", os.path.join(TOP, "build", "clerkctl"))
from harness import Daemon  # noqa: E402
import fileservers as fs  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--files", type=int, default=100)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--size", type=int, default=64 * 1024)
args = ap.parse_args()
if os.geteuid() != 0 or not (fs.have_sshd() and fs.have_vsftpd()):
    sys.exit("needs root, sshd and vsftpd (scripts/deps.sh --test)")

PASSWORD = "bench-Pw-5521"
tmp = tempfile.mkdtemp(prefix="clerk-fsb-")
os.chmod(tmp, 0o755)
user = fs.User(os.path.join(tmp, "home"), PASSWORD)
os.chown(user.home, user.uid, user.gid)
ssh = ftp = None
d = Daemon(workers=4)
try:
    key = os.path.join(tmp, "k")
    ssh = fs.Sshd(tmp, user, fs.keygen(key))
    ftp = fs.Vsftpd(tmp)
    os.makedirs(d.state)
    kh = os.path.join(d.state, "known_hosts")
    with open(kh, "w") as f:
        f.write(ssh.known_hosts_line())
    cred = os.path.join(d.state, "credentials.cfg")
    with open(cred, "w") as f:
        f.write(f'srv = {{ username = "{user.name}"; password = "{PASSWORD}"; }};\n')
    os.chmod(cred, 0o600)
    payload = os.urandom(args.size)
    with open(os.path.join(d.state, "data.bin"), "wb") as f:
        f.write(payload)
    bases = {"sftp": f"sftp://127.0.0.1:{ssh.port}{user.home}",
             "ftp": f"ftp://127.0.0.1:{ftp.port}"}
    for proto, base in bases.items():
        extra = 'known_hosts = "known_hosts";' if proto == "sftp" else ""
        d.write_playbook(f"{proto}.cfg", f'''
name = "{proto}";
trigger = {{ manual = true; }};
concurrency = 4;
steps = (
  {{ id = "put"; use = "file.put"; to = "{base}/${{dir}}/"; name = "${{n}}.bin";
    from = "data.bin"; credentials = "srv"; {extra} }}
);
''')
    d.start()

    def clerk_round(proto, r):
        sub = f"c{proto}{r}"
        user.mkdir(sub)
        t0 = time.perf_counter()
        for i in range(args.files):
            st, _ = d.api("POST", f"/api/v1/playbooks/{proto}/run",
                          {"key": f"{sub}-{i}", "payload": {"dir": sub, "n": str(i)}})
            assert st in (200, 201), st
        d.wait_for(lambda: d.counts().get(proto, {}).get("done", 0) == args.files * (r + 1),
                   600, "puts")
        dt = time.perf_counter() - t0
        c = d.counts().get(proto, {})
        assert c.get("done", 0) == args.files * (r + 1), c
        assert len(os.listdir(os.path.join(user.home, sub))) == args.files
        return args.files / dt

    def curl_round(proto, r):
        sub = f"u{proto}{r}"
        path = user.mkdir(sub)
        src = os.path.join(d.state, "data.bin")

        def one(i):
            if proto == "sftp":
                url = f"{bases[proto]}/{sub}/.tmp-{i}"
                q = f"rename {path}/.tmp-{i} {path}/{i}.bin"
                extra = ["--hostpubsha256", ssh_sha]
            else:
                url = f"{bases[proto]}/{sub}/.tmp-{i}"
                q = None
                extra = ["--ftp-method", "nocwd", "-Q", f"-RNFR {sub}/.tmp-{i}",
                         "-Q", f"-RNTO {sub}/{i}.bin"]
            cmd = ["curl", "-sS", "-u", f"{user.name}:{PASSWORD}", "-T", src, url, *extra]
            if q:
                cmd += ["-Q", "-" + q]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(one, range(args.files)))
        dt = time.perf_counter() - t0
        assert sorted(os.listdir(path)) == sorted(f"{i}.bin" for i in range(args.files))
        return args.files / dt

    # The curl program checks the host key too, by its SHA-256.
    ssh_sha = base64.b64encode(hashlib.sha256(base64.b64decode(
        ssh.hostpub.split()[1])).digest()).decode().rstrip("=")

    for proto in bases:
        cl, cu = [], []
        for r in range(args.rounds):
            cl.append(clerk_round(proto, r))
            cu.append(curl_round(proto, r))
            print(f"{proto} round {r + 1}: clerk {cl[-1]:.1f} files/s,"
                  f" curl program {cu[-1]:.1f} files/s", flush=True)
        db = d.db()
        ms = [r[0] for r in db.execute(
            "SELECT s.ms FROM steps s JOIN items i ON i.id = s.item"
            " WHERE i.playbook = ?", (proto,))]
        db.close()
        print(f"{proto}: file.put step time, median {statistics.median(ms)} ms"
              f" per file (one login: check, upload + rename, read back)", flush=True)
        mc, mu = statistics.median(cl), statistics.median(cu)
        print(f"{proto}: median of {args.rounds} rounds, {args.files} files of"
              f" {args.size} bytes: clerk file.put {mc:.1f} files/s, curl program"
              f" {mu:.1f} files/s: ratio clerk/curl {mc / mu:.2f}", flush=True)
finally:
    d.cleanup()
    for s in (ssh, ftp):
        if s is not None:
            s.stop()
    user.remove()
    shutil.rmtree(tmp, ignore_errors=True)
