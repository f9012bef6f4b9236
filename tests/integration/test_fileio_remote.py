#!/usr/bin/env python3
"""file.put and file.get against real SFTP (OpenSSH sshd) and FTP (vsftpd)
servers started on 127.0.0.1: atomic upload (never a partial file under the
final name) with its SHA-256, get by pattern with pick-up-once through the
server's rename (a second run takes nothing), key and password logins, a
wrong password and an unknown host key escalated at once, and no password
in the log or the database."""
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time

from harness import Daemon, Tap
import fileservers as fs

if os.geteuid() != 0:
    print("1..0 # SKIP needs root: sshd runs as root, the test adds a local user")
    sys.exit(0)
if not fs.have_sshd() and not fs.have_vsftpd():
    print("1..0 # SKIP sshd and vsftpd not installed (scripts/deps.sh --test)")
    sys.exit(0)

PASSWORD = "Pw-sftp-7731-secret"
WRONG = "Wrong-pw-4410-secret"

t = Tap()
tmp = tempfile.mkdtemp(prefix="clerk-fs-")
os.chmod(tmp, 0o755)
user = fs.User(os.path.join(tmp, "home"), PASSWORD)
os.chown(user.home, user.uid, user.gid)
ssh = ftp = None
d = Daemon(workers=3)


def item(i):
    return d.api("GET", f"/api/v1/items/{i}")[1]


def run(pb, key, payload=None):
    st, body = d.api("POST", f"/api/v1/playbooks/{pb}/run",
                     {"key": key, "payload": payload or {}})
    assert st in (200, 201), (st, body)
    return body["item"]


def settle(ids, timeout=30):
    d.wait_for(lambda: all(item(i)["state"] in ("done", "escalated", "rejected")
                           for i in ids), timeout, f"items {ids}")
    return [item(i)["state"] for i in ids]


def output(i, step):
    db = d.db()
    row = db.execute("SELECT output FROM steps WHERE item = ? AND step_id = ?",
                     (i, step)).fetchone()
    db.close()
    return json.loads(row[0]) if row and row[0] else None


def escalation(i):
    db = d.db()
    row = db.execute("SELECT reason, message FROM escalations WHERE item = ?"
                     " ORDER BY id DESC LIMIT 1", (i,)).fetchone()
    db.close()
    return row or ("", "")


def skip(n, why):
    for _ in range(n):
        t.n += 1
        print(f"ok {t.n} # SKIP {why}", flush=True)


try:
    # Settings a playbook check refuses, with file:line.
    bad = {
        "no known_hosts": ('to = "sftp://127.0.0.1:2222/x/"; credentials = "srv";',
                           "needs known_hosts"),
        "password in the URL": ('to = "ftp://u:Pw-in-url-99@127.0.0.1/x/";',
                                "go in the credentials file"),
        "server settings on a local folder": ('to = "out"; credentials = "srv";',
                                              "only for sftp:// and ftp://"),
    }
    for what, (setting, want) in bad.items():
        path = os.path.join(tmp, "bad.cfg")
        with open(path, "w") as f:
            f.write(f'''name = "bad";
trigger = {{ manual = true; }};
steps = (
  {{ id = "put"; use = "file.put"; name = "a.txt"; content = "x";
    {setting} }}
);
''')
        r = d.ctl("playbook", "check", path)
        t.check(r.returncode != 0 and re.search(re.escape(path) + r":\d+: ", r.stdout + r.stderr) and
                want in r.stdout + r.stderr and "Pw-in-url" not in r.stdout + r.stderr,
                f"playbook check refuses {what}",
                r.stdout + r.stderr)

    client_key = os.path.join(tmp, "client_key")
    client_pub = fs.keygen(client_key)
    if fs.have_sshd():
        ssh = fs.Sshd(tmp, user, client_pub)
    if fs.have_vsftpd():
        ftp = fs.Vsftpd(tmp)
    os.makedirs(d.state, exist_ok=True)
    shutil.copy(client_key, os.path.join(d.state, "client_key"))
    cred = os.path.join(d.state, "credentials.cfg")
    with open(cred, "w") as f:
        f.write(f'''srv = {{ username = "{user.name}"; password = "{PASSWORD}"; }};
srv-key = {{ username = "{user.name}"; private_key = "client_key"; }};
srv-bad = {{ username = "{user.name}"; password = "{WRONG}"; }};
''')
    os.chmod(cred, 0o600)
    other = os.path.join(tmp, "other_key")
    other_pub = fs.keygen(other)
    if ssh:
        with open(os.path.join(d.state, "known_hosts"), "w") as f:
            f.write(ssh.known_hosts_line())
        with open(os.path.join(d.state, "other_known_hosts"), "w") as f:
            kind, key = other_pub.split()[:2]
            f.write(f"[127.0.0.1]:{ssh.port} {kind} {key}\n")
    sftp_url = f"sftp://127.0.0.1:{ssh.port if ssh else 1}{user.home}"
    ftp_url = f"ftp://127.0.0.1:{ftp.port if ftp else 1}"
    def put_playbook(name, base, cred="srv", kh="known_hosts"):
        extra = f'known_hosts = "{kh}";' if base.startswith("sftp") else ""
        d.write_playbook(f"{name}.cfg", f'''
name = "{name}";
trigger = {{ manual = true; }};
payload = [ "dir", "case", "name" ];
steps = (
  {{ id = "put"; use = "file.put"; to = "{base}/${{dir}}/"; name = "${{case}}.txt";
    content = "case ${{case}}: ${{name}}\\n"; credentials = "{cred}"; {extra} }}
);
''')

    for proto, base in (("sftp", sftp_url), ("ftp", ftp_url)):
        extra = 'known_hosts = "known_hosts";' if proto == "sftp" else ""
        put_playbook(f"{proto}-put", base)
        put_playbook(f"{proto}-put-srv-bad", base, cred="srv-bad")
        d.write_playbook(f"{proto}-putbig.cfg", f'''
name = "{proto}-putbig";
trigger = {{ manual = true; }};
steps = (
  {{ id = "put"; use = "file.put"; to = "{base}/big/"; name = "big.bin";
    from = "big.bin"; credentials = "srv"; {extra} }}
);
''')
        d.write_playbook(f"{proto}-get.cfg", f'''
name = "{proto}-get";
trigger = {{ manual = true; }};
concurrency = 3;
steps = (
  {{ id = "get"; use = "file.get"; from = "{base}/drop{proto}"; pattern = "*.csv";
    to = "got-{proto}"; poll = "200ms"; wait_max = "2s"; credentials = "srv"; {extra} }}
);
''')
    d.write_playbook("sftp-getkill.cfg", f'''
name = "sftp-getkill";
trigger = {{ manual = true; }};
steps = (
  {{ id = "get"; use = "file.get"; from = "{sftp_url}/dropkill/"; pattern = "*.csv";
    to = "got-kill"; poll = "200ms"; credentials = "srv"; known_hosts = "known_hosts"; }}
);
''')
    put_playbook("sftp-put-srv-key", sftp_url, cred="srv-key")
    put_playbook("sftp-put-hostkey", sftp_url, kh="other_known_hosts")
    big = os.urandom(24 << 20)
    with open(os.path.join(d.state, "big.bin"), "wb") as f:
        f.write(big)
    d.start()

    for proto, srv in (("sftp", ssh), ("ftp", ftp)):
        if srv is None:
            skip(17 if proto == "sftp" else 15, f"{proto} server not installed")
            continue
        out = user.mkdir(f"out{proto}")
        drop = user.mkdir(f"drop{proto}")
        user.mkdir("big")
        # put: three cases, the content and its SHA-256.
        ids = [run(f"{proto}-put", f"p{i}", {"dir": f"out{proto}", "case": f"C{i}",
                                               "name": "张伟"}) for i in range(3)]
        t.eq(settle(ids), ["done"] * 3, f"{proto}: file.put of three cases done")
        t.eq(sorted(os.listdir(out)), ["C0.txt", "C1.txt", "C2.txt"],
             f"{proto}: three files under their final names, no temp file left")
        body = open(os.path.join(out, "C0.txt"), "rb").read()
        o = output(ids[0], "put")
        t.check(body == "case C0: 张伟\n".encode() and o and
                o["sha256"] == hashlib.sha256(body).hexdigest() and
                o["bytes"] == len(body), f"{proto}: content and SHA-256 in the step output", o)

        # A folder not there yet is made.
        i = run(f"{proto}-put", "p-fresh", {"dir": f"fresh{proto}", "case": "F1", "name": "x"})
        settle([i])
        t.check(item(i)["state"] == "done" and
                os.path.exists(os.path.join(user.home, f"fresh{proto}", "F1.txt")),
                f"{proto}: file.put makes a missing folder", escalation(i))

        # The same name with other content is not overwritten.
        i = run(f"{proto}-put", "p-other", {"dir": f"out{proto}", "case": "C0", "name": "李娜"})
        settle([i])
        t.check(item(i)["state"] == "escalated" and
                escalation(i)[0] == "destination_exists" and
                open(os.path.join(out, "C0.txt"), "rb").read() == body,
                f"{proto}: another file of the same name is not overwritten",
                escalation(i))

        # Atomic: a watcher on the server's folder never sees big.bin short.
        seen, tmp_seen, stop = [], [], threading.Event()
        bigdir = os.path.join(user.home, "big")
        for n in os.listdir(bigdir):
            os.unlink(os.path.join(bigdir, n))

        def watch():
            while not stop.is_set():
                for n in os.listdir(bigdir):
                    try:
                        size = os.stat(os.path.join(bigdir, n)).st_size
                    except FileNotFoundError:
                        continue
                    (seen if n == "big.bin" else tmp_seen).append(size)
        w = threading.Thread(target=watch)
        w.start()
        i = run(f"{proto}-putbig", f"big-{time.time()}")
        settle([i], 60)
        stop.set()
        w.join()
        t.check(item(i)["state"] == "done" and seen and
                all(s == len(big) for s in seen),
                f"{proto}: the final name only ever shows the whole file"
                f" ({len(seen)} looks)", f"{item(i)['state']} sizes seen: {sorted(set(seen))[:5]}")
        t.check(any(s < len(big) for s in tmp_seen),
                f"{proto}: the upload was watched in progress under its temp name",
                f"temp sizes: {sorted(set(tmp_seen))[:5]}")
        t.eq(hashlib.sha256(open(os.path.join(bigdir, "big.bin"), "rb").read()).hexdigest(),
             (output(i, "put") or {}).get("sha256"), f"{proto}: big file's SHA-256 as recorded")

        # get with a pattern: two .csv files for three items.
        for n, text in (("a.csv", "1;2\n"), ("b.csv", "3;4\n"), ("c.txt", "no\n")):
            with open(os.path.join(drop, n), "w") as f:
                f.write(text)
            os.chown(os.path.join(drop, n), user.uid, user.gid)
        ids = [run(f"{proto}-get", f"g{i}") for i in range(2)]
        settle(ids)
        outs = [output(i, "get") or {} for i in ids]
        t.eq(sorted(o.get("name") for o in outs), ["a.csv", "b.csv"],
             f"{proto}: file.get took each matching file once")
        ok = True
        for o in outs:
            data = open(o["path"], "rb").read() if o.get("path") else b""
            ok = ok and hashlib.sha256(data).hexdigest() == o.get("sha256")
        t.check(ok and len(outs) == 2, f"{proto}: downloaded files match their SHA-256", outs)
        t.eq(sorted(os.listdir(drop)), [".clerk-taken", "c.txt"],
             f"{proto}: the taken files left the drop folder; c.txt stays")
        t.eq(len(os.listdir(os.path.join(drop, ".clerk-taken"))), 2,
             f"{proto}: the server keeps both in its folder of taken files")
        # A second run takes nothing and escalates after wait_max.
        i = run(f"{proto}-get", "g-again")
        settle([i], 30)
        t.check(item(i)["state"] == "escalated" and escalation(i)[0] == "missing_file"
                and len(os.listdir(os.path.join(d.state, f"got-{proto}"))) == 2,
                f"{proto}: a second run takes nothing", escalation(i))

        if proto == "sftp":
            i = run("sftp-put-srv-key", "key", {"dir": "outsftp", "case": "K1", "name": "x"})
            settle([i])
            t.check(item(i)["state"] == "done" and
                    os.path.exists(os.path.join(out, "K1.txt")),
                    "sftp: login with a private key", escalation(i))
            i = run("sftp-put-hostkey", "hk", {"dir": "outsftp", "case": "H1", "name": "x"})
            settle([i])
            r = escalation(i)
            t.check(item(i)["state"] == "escalated" and r[0] == "host_key_refused"
                    and not os.path.exists(os.path.join(out, "H1.txt")),
                    "sftp: an unknown host key is refused, nothing sent", r)
        # A wrong password: escalated at once, no retries.
        i = run(f"{proto}-put-srv-bad", "bad", {"dir": f"out{proto}", "case": "B1", "name": "x"})
        settle([i])
        r = escalation(i)
        t.check(item(i)["state"] == "escalated" and r[0] == "auth_failed" and
                "refused the login" in r[1] and user.name in r[1],
                f"{proto}: a wrong password escalates as auth_failed", r)
        t.check(not os.path.exists(os.path.join(out, "B1.txt")),
                f"{proto}: nothing written with the wrong password")

    # kill -9 while a claimed file downloads: after the restart the item
    # finds its claim on the server; no second file is taken.
    if ssh:
        drop = user.mkdir("dropkill")
        for n, data in (("k.csv", big), ("z.csv", b"small\n")):
            with open(os.path.join(drop, n), "wb") as f:
                f.write(data)
        taken = os.path.join(drop, ".clerk-taken")
        i = run("sftp-getkill", "gk")
        d.wait_for(lambda: os.path.isdir(taken) and os.listdir(taken), 30,
                   "the claim on the server")
        d.kill9()
        db = d.db()
        early = db.execute("SELECT count(*) FROM steps WHERE item = ?", (i,)).fetchone()[0]
        db.close()
        print(f"# the kill landed {'after' if early else 'before'} the step's commit",
              flush=True)
        d.start()
        settle([i], 60)
        o = output(i, "get") or {}
        t.check(item(i)["state"] == "done" and o.get("name") == "k.csv" and
                o.get("sha256") == hashlib.sha256(big).hexdigest() and
                hashlib.sha256(open(o["path"], "rb").read()).hexdigest() == o["sha256"],
                "sftp: after kill -9 mid-download the item gets its claimed file", o)
        t.check(sorted(os.listdir(drop)) == [".clerk-taken", "z.csv"] and
                len(os.listdir(taken)) == 1 and
                len(os.listdir(os.path.join(d.state, "got-kill"))) == 1,
                "sftp: nothing else taken after the restart",
                f"{os.listdir(drop)} {os.listdir(taken)}")
    else:
        skip(2, "sftp server not installed")

    # Secrets: neither password in the log or the database files.
    t.eq(d.stop(), 0, "clerkd stops cleanly (exit 0; under ASan: no leak)")
    leaks = []
    blobs = {d.log: open(d.log, "rb").read()}
    blobs.update(d.db_blobs())
    for path, data in blobs.items():
        for pw in (PASSWORD, WRONG):
            if pw.encode() in data:
                leaks.append((path, pw))
    t.check(not leaks, "no password in the log or the database", leaks)
finally:
    d.cleanup()
    for s in (ssh, ftp):
        if s is not None:
            s.stop()
    user.remove()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
