#!/usr/bin/env python3
"""Users and roles end to end: every endpoint x every role (allowed or
403), bad credentials and CSRF (401/403 and nothing changed), two
reviewers deciding the same escalation at once (one 200, one 409), the
login rate limit (429), masking for auditors, and the users file's mode
check at start and on reload."""
import http.client
import json
import urllib.error
import urllib.request
import os
import signal
import subprocess
import threading

from harness import CLERKCTL, Daemon, Tap

t = Tap()

PASSWORDS = {"ann": "ann-admin-pw", "sam": "sam-super-pw", "rita": "rita-rev-pw",
             "rick": "rick-rev-pw", "otto": "otto-audit-pw"}
ROLES = {"ann": "admin", "sam": "supervisor", "rita": "reviewer", "rick": "reviewer",
         "otto": "auditor"}
ID_NO = "110101199003071234"
ACCOUNT = "6222021234567890"


def pw_hash(pw):
    r = subprocess.run([CLERKCTL, "user", "hash"], input=pw + "\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def new_token():
    r = subprocess.run([CLERKCTL, "user", "token"], capture_output=True, text=True, timeout=30)
    lines = dict(line.split(None, 1) for line in r.stdout.splitlines())
    return lines["token:"].strip(), lines["stored:"].strip()


TESS_TOKEN, TESS_STORED = new_token()       # a reviewer's API token
OTTO_TOKEN, OTTO_STORED = new_token()       # the auditor's, besides his password
HASHES = {u: pw_hash(p) for u, p in PASSWORDS.items()}


def users_text():
    out = ["users = ("]
    for i, u in enumerate(PASSWORDS):
        toks = f' tokens = ["{OTTO_STORED}"];' if u == "otto" else ""
        out.append(f'  {{ name = "{u}"; role = "{ROLES[u]}"; password = "{HASHES[u]}";{toks} }},')
    out.append(f'  {{ name = "tess"; role = "reviewer"; tokens = ["{TESS_STORED}"]; }}')
    out.append(");")
    return "\n".join(out) + "\n"


def write_users(d, text, mode=0o600):
    path = os.path.join(d.dir, "users.cfg")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Client:
    """One credential: a bearer token, a session (cookie + CSRF), or none."""

    def __init__(self, d, token=None, sid=None, csrf=None, name="?"):
        self.d, self.token, self.sid, self.csrf, self.name = d, token, sid, csrf, name

    def call(self, method, path, body=None, csrf=True, headers=None):
        h = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        if self.sid is not None:
            h["Cookie"] = "theme=dark; clerk_session=" + self.sid
            if csrf is True and method == "POST" and self.csrf:
                h["X-CSRF-Token"] = self.csrf
            elif isinstance(csrf, str):
                h["X-CSRF-Token"] = csrf
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        try:
            j = json.loads(raw)
        except ValueError:
            j = raw.decode(errors="replace")
        return r.status, j, r


def login(d, user, password):
    """(status, body, Client or None)"""
    st, body, r = Client(d).call("POST", "/api/v1/login", {"user": user, "password": password})
    if st != 200:
        return st, body, None
    cookie = r.getheader("Set-Cookie") or ""
    sid = cookie.split(";")[0].split("=", 1)[1]
    return st, body, Client(d, sid=sid, csrf=body["csrf"], name=user)


d = Daemon(extra_conf='users_file = "users.cfg";')
d2 = None
try:
    write_users(d, users_text())
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
steps = ( { id = "review"; use = "escalate"; reason = "check"; } );
''')
    d.start()
    admin = Client(d, token=d.token(), name="api.token")

    def enqueue(key):
        st, body = d.api("POST", "/api/v1/playbooks/gate/run",
                         {"key": key, "payload": {"id_no": ID_NO, "account": ACCOUNT,
                                                  "note": f"customer {ID_NO}, card {ACCOUNT}"}})
        assert st == 201, body
        item = body["item"]
        d.wait_for(lambda: d.api("GET", f"/api/v1/items/{item}")[1].get("state") == "escalated",
                   10, f"item {item} escalated")
        esc = d.api("GET", f"/api/v1/items/{item}")[1]["escalations"][0]["id"]
        return item, esc

    def item_state(item):
        return d.api("GET", f"/api/v1/items/{item}")[1]["state"]

    def esc_state(esc):
        return d.api("GET", f"/api/v1/escalations/{esc}")[1]["state"]

    item0, esc0 = enqueue("fixture")

    # ---- login, me, the cookie ----
    st, body, r = Client(d).call("POST", "/api/v1/login", {"user": "rita", "password": PASSWORDS["rita"]})
    cookie = r.getheader("Set-Cookie") or ""
    t.check(st == 200 and body["user"] == "rita" and body["role"] == "reviewer"
            and len(body["csrf"]) == 64, "login answers user, role and a CSRF token", body)
    t.check(cookie.startswith("clerk_session=") and "HttpOnly" in cookie
            and "SameSite=Strict" in cookie and "Path=/" in cookie,
            "the session cookie is HttpOnly, SameSite=Strict", cookie)
    t.eq(r.getheader("Cache-Control"), "no-store", "the login reply is not cached")
    clients = {}
    for u in PASSWORDS:
        st, body, c = login(d, u, PASSWORDS[u])
        t.check(st == 200 and body["role"] == ROLES[u], f"{u} logs in as {ROLES[u]}", body)
        clients[u] = c
    st, body, _ = clients["otto"].call("GET", "/api/v1/me")
    t.check(st == 200 and body["user"] == "otto" and body["role"] == "auditor"
            and body["csrf"] == clients["otto"].csrf, "GET /me for a session", body)
    st, body, _ = admin.call("GET", "/api/v1/me")
    t.check(st == 200 and body == {"authenticated": True, "user": "admin", "role": "admin", "via": "token"},
            "GET /me for the api.token: the built-in admin", body)
    tess = Client(d, token=TESS_TOKEN, name="tess")
    st, body, _ = tess.call("GET", "/api/v1/me")
    t.check(st == 200 and body["user"] == "tess" and body["role"] == "reviewer",
            "a user's API token", body)

    # ---- every endpoint x every role ----
    NOID = 999999
    # (method, path, body, roles allowed, status when allowed)
    ALL = {"admin", "supervisor", "reviewer", "auditor"}
    SUP = {"admin", "supervisor"}
    DEC = {"admin", "supervisor", "reviewer"}
    endpoints = [
        ("GET", "/api/v1/status", None, ALL, 200),
        ("GET", "/api/v1/playbooks", None, ALL, 200),
        ("GET", "/api/v1/items", None, ALL, 200),
        ("GET", f"/api/v1/items/{item0}", None, ALL, 200),
        ("GET", "/api/v1/escalations", None, ALL, 200),
        ("GET", f"/api/v1/escalations/{esc0}", None, ALL, 200),
        ("GET", "/api/v1/me", None, ALL, 200),
        ("GET", "/api/v1/audit", None, {"admin", "supervisor", "auditor"}, 200),
        ("GET", "/api/v1/playbooks/gate/history", None, SUP, 200),
        ("POST", "/api/v1/playbooks/nosuch/run", {}, SUP, 404),
        ("POST", "/api/v1/playbooks/nosuch/pause", {"reason": "x"}, SUP, 404),
        ("POST", "/api/v1/playbooks/nosuch/resume", None, SUP, 404),
        ("POST", "/api/v1/playbooks/nosuch/test", {}, SUP, 404),
        ("POST", "/api/v1/reload", None, SUP, 200),
        ("POST", f"/api/v1/items/{NOID}/retry", None, SUP, 404),
        ("POST", f"/api/v1/items/{NOID}/cancel", None, SUP, 404),
        ("POST", f"/api/v1/escalations/{NOID}/decide", {"decision": "approve"}, DEC, 404),
        ("POST", f"/api/v1/escalations/{NOID}/claim", {}, DEC, 404),
        ("POST", f"/api/v1/escalations/{NOID}/release", {}, DEC, 404),
        ("POST", f"/api/v1/escalations/{NOID}/assign", {"to": "rick"}, DEC, 404),
        ("POST", f"/api/v1/escalations/{NOID}/comments", {"text": "x"}, DEC, 404),
        ("GET", f"/api/v1/items/{item0}/artifacts/page-1.png", None, ALL, 404),
        ("GET", "/api/v1/escalations?assignee=me&overdue=1", None, ALL, 200),
    ]
    who = [(ROLES[u], clients[u]) for u in ("ann", "sam", "rita", "otto")]
    who += [("reviewer", tess), ("auditor", Client(d, token=OTTO_TOKEN, name="otto-token")),
            ("admin", admin)]
    bad = []
    for role, c in who:
        for method, path, body, allowed, want in endpoints:
            st, reply, _ = c.call(method, path, body)
            exp = want if role in allowed else 403
            if st != exp:
                bad.append(f"{c.name} ({role}) {method} {path}: {st}, want {exp}: {reply}")
            elif exp == 403 and not (reply.get("error", {}).get("code") == "forbidden"
                                     and reply["error"]["message"].startswith(f"role {role} may not")):
                bad.append(f"{c.name} ({role}) {method} {path}: 403 body {reply}")
    t.check(not bad, f"{len(who)} credentials x {len(endpoints)} endpoints: allowed or 403",
            "\n".join(bad))
    st, body, _ = clients["otto"].call("POST", f"/api/v1/escalations/{esc0}/decide",
                                       {"decision": "approve"})
    t.eq((st, body), (403, {"error": {"code": "forbidden",
                                      "message": "role auditor may not decide escalations"}}),
         "an auditor cannot decide")
    st, body, _ = clients["rita"].call("POST", "/api/v1/playbooks/gate/run", {})
    t.eq(st, 403, "a reviewer cannot run playbooks")
    t.eq((item_state(item0), esc_state(esc0)), ("escalated", "open"),
         "refused requests changed nothing")

    # ---- bad credentials: 401/403 and nothing changed ----
    st, _, dead = login(d, "sam", PASSWORDS["sam"])
    st, body, r = dead.call("POST", "/api/v1/logout")
    t.check(st == 200 and body["logged_out"] is True
            and "Max-Age=0" in (r.getheader("Set-Cookie") or ""), "logout ends the session", body)
    sam = clients["sam"]
    forged_sid = "0" * 64
    cases = [
        ("no credentials", Client(d), True, 401),
        ("a forged bearer token", Client(d, token="f" * 64), True, 401),
        ("the users-file form of a token", Client(d, token=TESS_STORED), True, 401),
        ("a forged session cookie", Client(d, sid=forged_sid, csrf="0" * 64), True, 401),
        ("a logged-out session", dead, True, 401),
        ("a session without a CSRF token", sam, False, 403),
        ("a session with a wrong CSRF token", sam, "1" * 64, 403),
        ("a session with another session's CSRF token", sam, clients["ann"].csrf, 403),
        ("a session with its id as CSRF token", sam, sam.sid, 403),
        ("a good cookie beside a forged bearer token",
         Client(d, token="f" * 64, sid=sam.sid, csrf=sam.csrf), True, 401),
    ]
    for name, c, csrf, want in cases:
        got = []
        for path, body in ((f"/api/v1/escalations/{esc0}/decide", {"decision": "reject", "reason": "x"}),
                           (f"/api/v1/items/{item0}/cancel", None),
                           ("/api/v1/playbooks/gate/run", {"key": "never"})):
            st, reply, _ = c.call("POST", path, body, csrf=csrf)
            got.append(st)
        t.eq(got, [want] * 3, f"{name}: {want}")
    st, body, _ = Client(d).call("GET", "/api/v1/items")
    t.eq(st, 401, "no credentials: reads are refused too")
    st, body, _ = dead.call("GET", "/api/v1/items")
    t.eq(st, 401, "a logged-out session cannot read")
    st, body, _ = dead.call("GET", "/api/v1/me")
    t.eq((st, body), (200, {"authenticated": False}),
         "/me of a logged-out session: nobody is signed in (200, no console error in a browser)")
    st, body, _ = Client(d).call("GET", "/api/v1/me")
    t.eq((st, body), (200, {"authenticated": False}), "/me without credentials: the same")
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}/api/v1/me",
                                 headers={"Authorization": "Bearer wrong"})
    try:
        urllib.request.urlopen(req, timeout=10)
        st = 200
    except urllib.error.HTTPError as err:
        st = err.code
    t.eq(st, 401, "/me with a refused token is still 401")
    st, body, _ = sam.call("GET", "/api/v1/me", csrf=False)
    t.eq(st, 200, "a read needs no CSRF token")
    t.eq((item_state(item0), esc_state(esc0)), ("escalated", "open"),
         "after every refused request the item is still escalated")
    t.eq(d.api("GET", "/api/v1/items?playbook=gate")[1]["items"].__len__(), 1,
         "and no item was queued")

    # ---- decided by the user, not the body's "by" ----
    item1, esc1 = enqueue("by")
    st, body, _ = clients["rita"].call("POST", f"/api/v1/escalations/{esc1}/claim",
                                       {"by": "mallory", "minutes": 5})
    t.check(st == 200 and body["claimed_by"] == "rita", "a claim is the user's, whatever by says", body)
    st, body, _ = clients["rick"].call("POST", f"/api/v1/escalations/{esc1}/decide",
                                       {"decision": "approve", "by": "rita"})
    t.eq(st, 409, "rick cannot decide rita's claim by naming her")
    st, body, _ = clients["rita"].call("POST", f"/api/v1/escalations/{esc1}/decide",
                                       {"decision": "approve", "by": "mallory"})
    t.eq(st, 200, "rita decides")
    st, body = d.api("GET", f"/api/v1/escalations/{esc1}")
    t.eq(body.get("decided_by"), "rita", "recorded as decided by rita")

    # ---- two reviewers at once ----
    races = []
    for k in range(3):
        item, esc = enqueue(f"race{k}")
        barrier = threading.Barrier(2)
        results = {}

        def decide(u, esc=esc, barrier=barrier, results=results):
            barrier.wait()
            results[u] = clients[u].call("POST", f"/api/v1/escalations/{esc}/decide",
                                         {"decision": "approve"})[0]

        ths = [threading.Thread(target=decide, args=(u,)) for u in ("rita", "rick")]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        races.append(sorted(results.values()))
    t.eq(races, [[200, 409]] * 3, "two reviewers deciding at once: one 200, one 409 (3 rounds)")

    # ---- masking ----
    st, body, _ = clients["otto"].call("GET", f"/api/v1/items/{item0}")
    p = body.get("payload", {})
    t.check(st == 200 and p.get("id_no") == "110101********1234"
            and p.get("account") == "************7890"
            and p.get("note") == "customer 110101********1234, card ************7890",
            "an auditor sees ID and account numbers masked", p)
    st, body, _ = clients["otto"].call("GET", f"/api/v1/escalations/{esc0}")
    text = json.dumps(body)
    t.check(st == 200 and ID_NO not in text and ACCOUNT not in text and "110101********1234" in text,
            "masked in an escalation too", text[:600])
    st, body, _ = clients["otto"].call("GET", "/api/v1/items?playbook=gate")
    t.check(ID_NO not in json.dumps(body) and ACCOUNT not in json.dumps(body), "and in lists")
    st, body, _ = clients["otto"].call("GET", "/api/v1/escalations")
    t.check(ID_NO not in json.dumps(body) and ACCOUNT not in json.dumps(body),
            "and in the escalation list")
    st, body, _ = clients["rita"].call("GET", f"/api/v1/items/{item0}")
    t.check(body["payload"]["id_no"] == ID_NO and body["payload"]["account"] == ACCOUNT,
            "a reviewer sees them in full", body["payload"])

    # ---- the users file on reload ----
    path = write_users(d, users_text(), 0o644)
    st, body, _ = admin.call("POST", "/api/v1/reload")
    errs = "\n".join(body.get("errors", []))
    t.check(st == 200 and "readable by group or others (mode 0644)" in errs,
            "reload reports a users file others may read", body)
    st, body, _ = tess.call("GET", "/api/v1/me")
    t.eq(st, 200, "and keeps the users in force")
    os.chmod(path, 0o600)
    with open(path, "w") as f:
        f.write('users = (\n  { name = "tess"; role = "boss"; tokens = []; }\n);\n')
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: any("unknown role" in r.get("msg", "") for r in d.log_records()), 5,
               "SIGHUP reload error")
    t.check(any(f"users.cfg:2: user \"tess\": unknown role \"boss\"" in r.get("msg", "")
                for r in d.log_records()), "a broken users file is reported as file:line")
    st, body, _ = tess.call("GET", "/api/v1/me")
    st2, _, _ = clients["rita"].call("GET", "/api/v1/me")
    t.eq((st, st2), (200, 200), "the previous users and sessions stay")
    # rita demoted to auditor, rick removed: her session follows, his ends
    text = users_text().replace('name = "rita"; role = "reviewer"', 'name = "rita"; role = "auditor"')
    text = "\n".join(line for line in text.splitlines() if '"rick"' not in line) + "\n"
    write_users(d, text)
    st, body, _ = admin.call("POST", "/api/v1/reload")
    t.check(st == 200 and not any("users" in e for e in body["errors"]), "a good users file reloads", body)
    st, body, _ = clients["rita"].call("GET", "/api/v1/me")
    t.check(st == 200 and body["role"] == "auditor", "a demoted user's session has the new role", body)
    st, _, _ = clients["rick"].call("GET", "/api/v1/items")
    t.eq(st, 401, "a removed user's session ends")
    write_users(d, users_text())
    admin.call("POST", "/api/v1/reload")

    # ---- login rate limit (last: it blocks this address) ----
    st, body, _ = login(d, "rick", "wrong")
    t.check(st == 401 and body["error"]["code"] == "unauthorized", "a wrong password: 401", body)
    st, _, _ = login(d, "nosuchuser", "x")
    t.eq(st, 401, "an unknown user: 401, the same answer")
    for _ in range(3):
        login(d, "rick", "wrong")
    st, body, r = Client(d).call("POST", "/api/v1/login", {"user": "rick", "password": PASSWORDS["rick"]})
    t.check(st == 429 and body["error"]["code"] == "too_many_attempts"
            and 800 <= int(r.getheader("Retry-After") or 0) <= 900,
            "after 5 failures even the right password gets 429", body)
    st, body, _ = login(d, "otto", PASSWORDS["otto"])
    t.eq(st, 429, "and the address is blocked for other users too")
    st, body, _ = tess.call("GET", "/api/v1/me")
    t.eq(st, 200, "API tokens still work")

    # ---- the audit trail has the logins and logouts ----
    # Login rows are appended without waiting for the commit (queue_audit):
    # give the writer a moment on a busy disk.
    def failed_logins():
        rows = d.api("GET", "/api/v1/audit?limit=1000")[1]["audit"]
        return rows if sum(1 for r in rows if r["action"] == "login"
                           and not r["details"]["ok"]) >= 5 else None
    try:
        d.wait_for(failed_logins, 5, "the failed logins' audit rows")
    except TimeoutError:
        pass
    st, body = d.api("GET", "/api/v1/audit?limit=1000")
    rows = body["audit"]
    logins = [(r["actor"], r["details"]["ok"]) for r in rows if r["action"] == "login"]
    t.check(("rita", True) in logins and ("rick", False) in logins and ("nosuchuser", False) in logins
            and all(r["details"]["ip"] == "127.0.0.1" for r in rows if r["action"] == "login"),
            "logins are audited with ok and ip", logins)
    t.eq(sum(1 for r in rows if r["action"] == "login" and not r["details"]["ok"]), 5,
         "5 failed logins audited, the refused (429) ones not")
    t.check(any(r["actor"] == "sam" and r["action"] == "logout" for r in rows), "the logout is audited")
    t.check(any(r["actor"] == "rita" and r["action"] == "decide" for r in rows),
            "decisions are audited under the user's name")
    t.eq(d.stop(), 0, "clean stop")

    # ---- the users file at start ----
    d2 = Daemon(extra_conf='users_file = "users.cfg";')
    write_users(d2, users_text(), 0o644)
    proc = d2.start(wait=False)
    rc = proc.wait(15)
    t.check(rc == 78 and "readable by group or others (mode 0644)" in d2.log_text(),
            "a users file others may read is refused at start (exit 78)", d2.log_text()[-800:])
    write_users(d2, 'users = (\n  { name = "x"; role = "auditor"; }\n);\n')
    rc = d2.start(wait=False).wait(15)
    t.check(rc == 78 and any('users.cfg:2: user "x" has neither a password nor a token'
                             in r.get("msg", "") for r in d2.log_records()),
            "a broken users file is refused at start with file:line", d2.log_text()[-800:])
    r = subprocess.run([os.environ.get("CLERKD", "build/clerkd"), "--config", d2.conf, "--check"],
                       capture_output=True, text=True, timeout=30)
    t.check(r.returncode == 1 and "users.cfg:2:" in r.stdout, "clerkd --check reports it too",
            r.stdout + r.stderr)
finally:
    d.cleanup()
    if d2 is not None:
        d2.cleanup()
t.done()
