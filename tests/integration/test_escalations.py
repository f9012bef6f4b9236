#!/usr/bin/env python3
"""The escalation queue's reviewer actions end to end: re-assignment and
comments (who may, what is kept across a restart, what the audit trail
records), the list's server-side filters (assignee, overdue, reason, with
the cursor), reloads audited under the user who asked, page images served
from the work folder with no way out of it, and logins whose password check
does not hold up the event loop."""
import http.client
import json
import os
import signal
import statistics
import subprocess
import threading
import time

from harness import CLERKCTL, Daemon, Tap

t = Tap()

PASSWORDS = {"sam": "sam-super-pw", "rita": "rita-rev-pw", "rick": "rick-rev-pw",
             "otto": "otto-audit-pw"}
ROLES = {"sam": "supervisor", "rita": "reviewer", "rick": "reviewer", "otto": "auditor"}


def pw_hash(pw):
    r = subprocess.run([CLERKCTL, "user", "hash"], input=pw + "\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def users_text():
    return "users = (\n" + ",\n".join(
        f'  {{ name = "{u}"; role = "{ROLES[u]}"; password = "{pw_hash(p)}"; }}'
        for u, p in PASSWORDS.items()) + "\n);\n"


def raw(d, method, path, body=None, headers=None, timeout=30):
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data, r


class Session:
    def __init__(self, d, user):
        st, data, r = raw(d, "POST", "/api/v1/login", {"user": user, "password": PASSWORDS[user]})
        assert st == 200, data
        self.d = d
        self.sid = (r.getheader("Set-Cookie") or "").split(";")[0].split("=", 1)[1]
        self.csrf = json.loads(data)["csrf"]
        self.name = user

    def call(self, method, path, body=None):
        h = {"Cookie": "clerk_session=" + self.sid}
        if method == "POST":
            h["X-CSRF-Token"] = self.csrf
        st, data, _ = raw(self.d, method, path, body, h)
        try:
            return st, json.loads(data)
        except ValueError:
            return st, data


d = Daemon(extra_conf='users_file = "users.cfg";')
try:
    path = os.path.join(d.dir, "users.cfg")
    with open(path, "w") as f:
        f.write(users_text())
    os.chmod(path, 0o600)
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
sla = "1h";
steps = ( { id = "review"; use = "escalate"; reason = "check"; },
          { id = "after"; use = "noop"; } );
''')
    d.write_playbook("late.cfg", '''
name = "late";
trigger = { manual = true; };
sla = "1s";
steps = ( { id = "review"; use = "escalate"; reason = "late_check"; } );
''')
    d.start()
    s = {u: Session(d, u) for u in PASSWORDS}

    def enqueue(pb, key):
        st, body = d.api("POST", f"/api/v1/playbooks/{pb}/run", {"key": key, "payload": {"k": key}})
        assert st == 201, body
        item = body["item"]
        d.wait_for(lambda: d.api("GET", f"/api/v1/items/{item}")[1].get("state") == "escalated",
                   10, f"item {item} escalated")
        return item, d.api("GET", f"/api/v1/items/{item}")[1]["escalations"][0]["id"]

    (i1, e1), (i2, e2), (i3, e3) = enqueue("gate", "one"), enqueue("gate", "two"), enqueue("gate", "three")
    (i4, e4) = enqueue("late", "four")

    def esc(e):
        return d.api("GET", f"/api/v1/escalations/{e}")[1]

    # ---- re-assignment ----
    st, body = s["sam"].call("POST", f"/api/v1/escalations/{e1}/assign", {"to": "rita"})
    t.check(st == 200 and body["assignee"] == "rita" and body["from"] == "" and body["by"] == "sam",
            "a supervisor assigns an escalation to a reviewer", body)
    t.eq(esc(e1).get("assignee"), "rita", "the escalation shows its assignee")
    st, body = s["rick"].call("POST", f"/api/v1/escalations/{e1}/assign", {"to": "rick"})
    t.check(st == 403 and body["error"]["code"] == "forbidden" and "not yours" in body["error"]["message"],
            "a reviewer cannot take one assigned to someone else", body)
    st, body = s["rita"].call("POST", f"/api/v1/escalations/{e1}/assign", {"to": "rick"})
    t.check(st == 200 and body["from"] == "rita" and body["assignee"] == "rick",
            "the assignee hands it over", body)
    st, body = s["rita"].call("POST", f"/api/v1/escalations/{e1}/assign", {"to": "rita"})
    t.eq(st, 403, "and then it is no longer hers to hand over")
    st, body = s["rita"].call("POST", f"/api/v1/escalations/{e2}/claim", {"minutes": 5})
    t.eq(st, 200, "rita claims another")
    st, body = s["rita"].call("POST", f"/api/v1/escalations/{e2}/assign", {"to": "rick"})
    e = esc(e2)
    t.check(st == 200 and e["assignee"] == "rick" and e["claimed_by"] == "rick",
            "a reviewer hands over what she claimed, and the claim goes along", e)
    st, body = s["rick"].call("POST", f"/api/v1/escalations/{e2}/decide", {"decision": "retry"})
    t.eq(st, 200, "the new holder can decide it")
    st, body = s["sam"].call("POST", f"/api/v1/escalations/{e2}/assign", {"to": "rita"})
    t.eq(st, 409, "a decided escalation cannot be re-assigned")
    # the retried step escalates again: a new, unassigned escalation
    e5 = d.wait_for(lambda: [x["id"] for x in d.api("GET", f"/api/v1/items/{i2}")[1]["escalations"]
                             if x["state"] == "open"], 10, "the retried item escalated again")[0]
    for to, why in (("mallory", "an unknown user"), ("otto", "an auditor"), ("", "nobody")):
        st, body = s["sam"].call("POST", f"/api/v1/escalations/{e3}/assign", {"to": to})
        t.check(st == 400 and body["error"]["code"] == "invalid", f"assigning to {why}: 400", body)
    st, body = s["otto"].call("POST", f"/api/v1/escalations/{e3}/assign", {"to": "rita"})
    t.check(st == 403 and body["error"]["message"] == "role auditor may not re-assign escalations",
            "an auditor cannot assign", body)
    st, body = s["sam"].call("POST", f"/api/v1/escalations/{e4}/assign", {"to": "rita"})
    t.eq(st, 200, "sam assigns the late one to rita")
    t.eq(esc(e3).get("assignee"), None, "refused assignments changed nothing")

    # ---- comments ----
    XSS = '<img src=x onerror="document.title=\'pwned\'"><script>alert(1)</script>'
    st, body = s["rita"].call("POST", f"/api/v1/escalations/{e3}/comments", {"text": XSS})
    t.check(st == 201 and body["author"] == "rita" and body["comment"] > 0, "a reviewer comments", body)
    st, body = s["sam"].call("POST", f"/api/v1/escalations/{e3}/comments", {"text": "请核对身份证 ✓"})
    t.eq(st, 201, "a supervisor comments, in Chinese")
    c = esc(e3).get("comments", [])
    t.check([(x["author"], x["text"]) for x in c] == [("rita", XSS), ("sam", "请核对身份证 ✓")]
            and all(x["ts"] > 0 for x in c), "show lists the comments, text kept as written", c)
    bad = [("", 400), ("   \n", 400), ("x" * 4001, 400), (None, 400), (5, 400)]
    got = [s["rita"].call("POST", f"/api/v1/escalations/{e3}/comments", {"text": v})[0] for v, _ in bad]
    t.eq(got, [w for _, w in bad], "empty, blank, over 4000 bytes and non-string comments: 400")
    st, _ = s["rita"].call("POST", f"/api/v1/escalations/{e3}/comments", {"text": "字" * 1333})
    t.eq(st, 201, "a comment of 3999 bytes is kept")
    st, body = s["rita"].call("POST", "/api/v1/escalations/999999/comments", {"text": "x"})
    t.eq(st, 404, "a comment on no escalation: 404")
    st, body = s["otto"].call("POST", f"/api/v1/escalations/{e3}/comments", {"text": "x"})
    t.eq(st, 403, "an auditor cannot comment")
    st, body = d.api("POST", f"/api/v1/escalations/{e2}/comments", {"text": "after the fact", "by": "lead"})
    t.eq(st, 201, "a decided escalation still takes comments (the api.token acting for someone)")
    t.eq(len(esc(e3)["comments"]), 3, "refused comments were not kept")

    r = d.ctl("escalation", "comment", str(e3), "from the terminal", "--by", "ops")
    t.check(r.returncode == 0 and "comment" in r.stdout, "clerkctl escalation comment", r.stdout + r.stderr)
    r = d.ctl("escalation", "assign", str(e3), "rick", "--by", "ops")
    t.check(r.returncode == 0 and "assigned to rick" in r.stdout, "clerkctl escalation assign",
            r.stdout + r.stderr)
    r = d.ctl("escalation", "assign", str(e3), "nobody-here")
    t.check(r.returncode == 1 and "nobody-here" in r.stderr, "clerkctl assign to an unknown user fails",
            r.stdout + r.stderr)
    r = d.ctl("escalation", "show", str(e3))
    t.check(r.returncode == 0 and "assigned to" in r.stdout and "rick" in r.stdout
            and "from the terminal" in r.stdout and "请核对身份证" in r.stdout,
            "clerkctl escalation show lists the assignee and the comments", r.stdout)

    # ---- the list's filters ----
    time.sleep(1.2)   # the late one is overdue now

    def ids(who, q):
        st, body = s[who].call("GET", "/api/v1/escalations?" + q)
        return [x["id"] for x in body["escalations"]] if st == 200 else (st, body)

    t.eq(ids("sam", "assignee=rick"), [e1, e3], "assignee=NAME")
    t.eq(ids("rick", "assignee=me"), [e1, e3], "assignee=me is the caller")
    t.eq(ids("rita", "assignee=me"), [e4], "assignee=me for another reviewer")
    t.eq(ids("sam", "assignee=none"), [e5], "assignee=none")
    t.eq(ids("sam", "overdue=1"), [e4], "overdue=1")
    t.eq(ids("sam", "overdue=1&assignee=rick"), [], "filters combine")
    t.eq(ids("sam", "reason=check"), [e1, e3, e5], "reason=")
    t.eq(ids("sam", "playbook=late&reason=late_check&assignee=rita"), [e4], "playbook, reason, assignee")
    t.eq(ids("sam", "assignee=rick&limit=1"), [e1], "a filtered first page")
    st, body = s["sam"].call("GET", "/api/v1/escalations?assignee=rick&limit=1")
    t.eq(ids("sam", f"assignee=rick&limit=1&after={body['next']}"), [e3], "and its next page")
    t.eq(ids("sam", "open=0&assignee=rick"), [e1, e2, e3], "assignee with decided ones too (open=0)")
    t.eq(ids("sam", "state=all&assignee=rick&limit=2"), [e1, e2], "state=all is open=0")
    st, brief = s["sam"].call("GET", "/api/v1/escalations?limit=2")
    st2, full = s["sam"].call("GET", "/api/v1/escalations?limit=2&context=1")
    st3, masked = s["otto"].call("GET", "/api/v1/escalations?limit=2")
    t.check(st == st2 == st3 == 200 and brief["next"] == full["next"] == masked["next"]
            and all("context" not in x for x in brief["escalations"])
            and [dict(x, context=None) for x in brief["escalations"]]
            == [dict(x, context=None) for x in full["escalations"]]
            and [dict(x, context=None) for x in masked["escalations"]]
            == [dict(x, context=None) for x in full["escalations"]],
            "list rows leave the context out unless context=1; the same rows and cursor otherwise,"
            " as SQLite writes them and as jansson does (auditors)", (brief, full, masked))
    t.eq(ids("sam", "sort=id"), sorted([e1, e3, e4, e5]), "sort=id: open ones, oldest first")
    st, body = s["sam"].call("GET", "/api/v1/escalations?sort=id&limit=2")
    t.check(st == 200 and body["next"] == sorted([e1, e3, e4, e5])[1], "sort=id pages by id", body)
    t.eq(ids("sam", f"sort=id&limit=2&after={body['next']}"), sorted([e1, e3, e4, e5])[2:],
         "and its next page")
    t.eq(ids("sam", "sort=due"), ids("sam", ""), "sort=due is the default")
    st, body = s["sam"].call("GET", "/api/v1/escalations?sort=priority")
    t.eq(st, 400, "sort=priority: 400")
    st, body = s["sam"].call("GET", "/api/v1/escalations?overdue=yes")
    t.eq(st, 400, "overdue=yes: 400")
    st, body = s["sam"].call("GET", "/api/v1/escalations?state=closed")
    t.eq(st, 400, "state=closed: 400")
    r = d.ctl("escalation", "list", "--assignee", "rick", "--json")
    t.check(r.returncode == 0 and [x["id"] for x in json.loads(r.stdout)["escalations"]] == [e1, e3],
            "clerkctl escalation list --assignee", r.stdout + r.stderr)
    r = d.ctl("escalation", "list", "--overdue", "--json")
    t.check(r.returncode == 0 and [x["id"] for x in json.loads(r.stdout)["escalations"]] == [e4],
            "clerkctl escalation list --overdue", r.stdout + r.stderr)

    # ---- reload audited under the user ----
    st, body = s["sam"].call("POST", "/api/v1/reload")
    t.eq(st, 200, "sam reloads through the API")
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: sum("reloaded" in r.get("msg", "") for r in d.log_records()) >= 2, 5, "SIGHUP")
    d.wait_for(lambda: [r for r in d.api("GET", "/api/v1/audit?limit=1000")[1]["audit"]
                        if r["action"] == "reload"][1:], 5, "two reload rows")
    rows = d.api("GET", "/api/v1/audit?limit=1000")[1]["audit"]
    t.eq([r["actor"] for r in rows if r["action"] == "reload"], ["sam", "clerkd (SIGHUP)"],
         "an API reload is audited as the user, SIGHUP as clerkd (SIGHUP)")
    assigns = [(r["actor"], r["target"], r["details"]) for r in rows if r["action"] == "assign"]
    t.check(("sam", f"escalation:{e1}", {"to": "rita", "from": None}) in assigns
            and ("rita", f"escalation:{e1}", {"to": "rick", "from": "rita"}) in assigns
            and ("ops", f"escalation:{e3}", {"to": "rick", "from": None}) in assigns
            and len(assigns) == 5,
            "every assignment is audited with from and to", assigns)
    comments = [(r["actor"], r["details"]["text"]) for r in rows if r["action"] == "comment"]
    t.check(("rita", XSS) in comments and len(comments) == 5, "every comment is audited", comments)

    # ---- page images from the work folder ----
    art = os.path.join(d.state, "artifacts", str(i3))
    os.makedirs(art)
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    with open(os.path.join(art, "page-1.png"), "wb") as f:
        f.write(png)
    with open(os.path.join(d.state, "artifacts", "secret.txt"), "w") as f:
        f.write("secret")
    with open(os.path.join(art, "notes.txt"), "w") as f:
        f.write("ok")
    st, data, r = raw(d, "GET", f"/api/v1/items/{i3}/artifacts/page-1.png",
                      headers={"Cookie": "clerk_session=" + s["otto"].sid})
    t.check(st == 200 and data == png and r.getheader("Content-Type") == "image/png"
            and r.getheader("X-Content-Type-Options") == "nosniff",
            "an item's page image, for any role that reads items", (st, r.getheaders()))
    st, data, r = raw(d, "GET", f"/api/v1/items/{i3}/artifacts/notes.txt",
                      headers={"Authorization": "Bearer " + d.token()})
    t.check(st == 200 and r.getheader("Content-Type").startswith("text/plain"),
            "Content-Type by the name's extension", r.getheaders())
    auth = {"Authorization": "Bearer " + d.token()}
    traversal = [f"/api/v1/items/{i3}/artifacts/../secret.txt",
                 f"/api/v1/items/{i3}/artifacts/..%2fsecret.txt",
                 f"/api/v1/items/{i3}/artifacts/%2e%2e%2fsecret.txt",
                 f"/api/v1/items/{i3}/artifacts/%2E%2E/secret.txt",
                 f"/api/v1/items/{i3}/artifacts//etc/passwd",
                 f"/api/v1/items/{i3}/artifacts/%2fetc%2fpasswd",
                 f"/api/v1/items/{i3}/artifacts/..",
                 f"/api/v1/items/{i3}/artifacts/.hidden",
                 f"/api/v1/items/{i3}/artifacts/page..png",
                 f"/api/v1/items/{i3}/artifacts/"]
    got = [(p, raw(d, "GET", p, headers=auth)[:2]) for p in traversal]
    t.check(all(st == 400 and b"secret" not in body and b"root:" not in body for _, (st, body) in got),
            "../, encoded %2e%2e%2f, absolute and dot names: 400, never a file outside",
            "\n".join(f"{p}: {st} {body[:80]!r}" for p, (st, body) in got))
    st, _, _ = raw(d, "GET", f"/api/v1/items/{i3}/artifacts/page-2.png", headers=auth)
    t.eq(st, 404, "a missing artifact: 404")
    st, _, _ = raw(d, "GET", "/api/v1/items/999999/artifacts/page-1.png", headers=auth)
    t.eq(st, 404, "an unknown item: 404")
    st, _, _ = raw(d, "GET", f"/api/v1/items/{i3}/artifacts/page-1.png")
    t.eq(st, 401, "no credential: 401")

    # ---- logins checked at once cannot outrun the rate limit ----
    statuses = []
    barrier = threading.Barrier(4)

    def guess():
        barrier.wait()
        statuses.append(raw(d, "POST", "/api/v1/login", {"user": "mallory", "password": "guess"})[0])

    ths = [threading.Thread(target=guess) for _ in range(4)]
    for x in ths:
        x.start()
    for x in ths:
        x.join()
    t.eq(sorted(statuses), [401, 401, 429, 429],
         "4 guesses for one user at once: 2 checked, 2 refused while those are")

    # ---- logins verify off the event loop ----
    N = 6
    lat, results, stop = [], [], threading.Event()

    def one_login(u):
        st, _, _ = raw(d, "POST", "/api/v1/login", {"user": u, "password": PASSWORDS[u]})
        results.append(st)

    def probe():
        while not stop.is_set():
            t0 = time.monotonic()
            st, _, _ = raw(d, "GET", "/healthz", timeout=10)
            lat.append((time.monotonic() - t0) * 1000)
            time.sleep(0.01)

    users = ["sam", "rita", "rick", "otto"] * 2
    th = [threading.Thread(target=one_login, args=(users[k],)) for k in range(N)]
    pr = threading.Thread(target=probe)
    t0 = time.monotonic()
    for x in th:
        x.start()
    pr.start()
    for x in th:
        x.join()
    wall = (time.monotonic() - t0) * 1000
    stop.set()
    pr.join()
    t.eq(sorted(results), [200] * N, f"{N} concurrent logins succeed")
    med = statistics.median(lat) if lat else 1e9
    t.check(len(lat) >= 5 and med < 50 and max(lat) < max(200, wall / 3),
            f"/healthz answers while {N} logins verify: median {med:.1f} ms, max"
            f" {max(lat or [0]):.1f} ms over {len(lat)} probes; logins took {wall:.0f} ms",
            f"latencies {sorted(round(x, 1) for x in lat)}")

    # ---- durable: assignee, comments and web sessions survive a restart ----
    gone = Session(d, "rick")
    st, _ = gone.call("POST", "/api/v1/logout")
    t.eq(st, 200, "a session logged out before the restart")
    t.eq(d.stop(), 0, "clean stop")
    with d.db() as con:
        keys = [r[0] for r in con.execute("SELECT key FROM sessions")]
    t.check(len(keys) >= 4 and s["rita"].sid not in keys and gone.sid not in keys,
            "the database keeps sessions by a hash of the cookie, never the cookie", keys)
    d.start()
    st, body = s["rita"].call("GET", "/api/v1/me")
    t.check(st == 200 and body["user"] == "rita" and body["csrf"] == s["rita"].csrf,
            "a session from before the restart still works, with its CSRF token", body)
    st, body = s["rita"].call("POST", f"/api/v1/escalations/{e3}/comments", {"text": "after restart"})
    t.eq(st, 201, "and may POST with it")
    # (/me answers {"authenticated": false} to one without a session)
    st, body = gone.call("GET", "/api/v1/me")
    st2, _ = gone.call("GET", "/api/v1/escalations")
    t.check(body.get("authenticated") is False and st2 == 401,
            "a logged-out session stays ended", (st, body, st2))
    st, _ = s["sam"].call("POST", "/api/v1/logout")
    st, body = s["sam"].call("GET", "/api/v1/me")
    st2, _ = s["sam"].call("GET", "/api/v1/escalations")
    t.check(body.get("authenticated") is False and st2 == 401,
            "logout after a restart ends a restored session", (st, body, st2))
    e = esc(e3)
    t.check(e.get("assignee") == "rick" and len(e.get("comments", [])) == 5,
            "assignee and comments survive a restart", e)
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout, "the audit chain verifies",
            r.stdout + r.stderr)
    t.eq(d.stop(), 0, "clean stop after restart")
finally:
    d.cleanup()
t.done()
