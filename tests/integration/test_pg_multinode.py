#!/usr/bin/env python3
"""Three clerkd nodes on one PostgreSQL database (issue 13 item 3):

- an interval playbook fires exactly once per slot across the nodes: one
  item per second, no slot missed, no slot twice, its step run once (every
  node arms the same slot and enqueues the same key, interval:TIME; the
  items' UNIQUE(playbook, key) makes the later enqueues duplicates);
- a watch trigger on one inbox that all three nodes watch (their work_dir
  is one shared directory) takes each file once: one item per file, each
  archived once, none left behind;
- two reviewers on two nodes who decide the same escalation at the same
  moment: exactly one wins (200), the other gets 409, and the item goes the
  winner's way;
- a node that starts while the others run items leaves those items alone:
  each is claimed once;
- audit rows written by all nodes at once (comments, decisions) form one
  chain: `clerkctl audit verify` passes and the ids have no gap.

Each node has its own state_dir and port, the same playbooks and timezone.
PostgreSQL whatever CLERK_TEST_STORE says (no PostgreSQL: the test fails).
Each noop step appends "item step nonce" to exec.log in the shared work
dir, so a step run twice by two nodes would show there."""
import collections
import http.client
import json
import os
import shutil
import tempfile
import threading
import time

import harness
from harness import Daemon, Tap

TICK = '''name = "tick";
trigger = { interval = "1s"; };
steps = ( { id = "t"; use = "noop"; journal_file = "exec.log"; } );
'''
INBOX = '''name = "inbox";
trigger = { watch = { dir = "inbox"; pattern = "*.txt"; }; };
steps = (
  { id = "n"; use = "noop"; journal_file = "exec.log"; },
  { id = "archive"; use = "file.move"; to = "archive/"; }
);
'''
GATE = '''name = "gate";
trigger = { manual = true; };
payload = [ "n" ];
steps = (
  { id = "review"; use = "escalate"; reason = "check"; message = "look at ${payload.n}"; },
  { id = "after"; use = "noop"; journal_file = "exec.log"; }
);
'''
# Running when another node starts: its start must leave them alone (the
# start-up recovery of a single clerkd would hand them out again).
SLOW = '''name = "slow";
trigger = { manual = true; };
concurrency = 8;
steps = ( { id = "nap"; use = "sleep"; duration = "3s"; } );
'''
HELD = '''name = "held";
trigger = { manual = true; };
steps = ( { id = "n"; use = "noop"; journal_file = "exec.log"; } );
'''
N_FILES = 60
N_RACES = 20
N_COMMENTS = 40      # per node

t = Tap()
harness.STORE_PG = True
shared = tempfile.mkdtemp(prefix="clerk-it-shared-")
conf = f'work_dir = "{shared}"; users_file = "users.cfg";'
nodes = []


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def items(n, pb, state=None):
    got, before = [], None
    while True:
        q = f"/api/v1/items?playbook={pb}&limit=1000" + (f"&state={state}" if state else "")
        if before:
            q += f"&before={before}"
        st, body = n.api("GET", q)
        assert st == 200, body
        got += body["items"]
        before = body.get("next")
        if not before:
            return got


def exec_log():
    path = os.path.join(shared, "exec.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()[:2]) for line in f if line.strip()]


def errors(n):
    return [r.get("msg", "") for r in n.log_records() if r.get("level") == "error"]


try:
    n1 = Daemon(workers=2, extra_conf=conf)
    nodes = [n1, n1.node(extra_conf=conf), n1.node(extra_conf=conf)]
    print(f"# store {n1.store_url}, shared work dir {shared}", flush=True)
    for name, text in (("tick.cfg", TICK), ("inbox.cfg", INBOX), ("gate.cfg", GATE),
                       ("slow.cfg", SLOW), ("held.cfg", HELD)):
        n1.write_playbook(name, text)
    for n in nodes:
        harness.write_users(t, n, {"rita": ("reviewer", "rita-pass-123")})
        n.start()

    # ---- an interval trigger: once per slot ----
    time.sleep(7)
    os.unlink(os.path.join(n1.pbdir, "tick.cfg"))
    for n in nodes:
        st, _ = n.api("POST", "/api/v1/reload")
        assert st == 200
    time.sleep(1.5)
    ticks = items(n1, "tick")
    keys = [i["key"] for i in ticks]
    slots = sorted(n1.api("GET", f"/api/v1/items/{i['id']}")[1]["payload"]["scheduled"]
                   for i in ticks)
    t.check(len(ticks) >= 5, "the interval playbook fired while the three nodes ran",
            f"{len(ticks)} items")
    t.eq(len(set(keys)), len(keys), "one item per slot key")
    secs = sorted({int(time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")))
                   for s in slots})
    t.eq(secs, list(range(secs[0], secs[0] + len(secs))) if secs else [],
         "every second has its item, none missed")
    t.eq(len(secs), len(ticks), "and no second has two")
    enq = collections.Counter()
    for i, n in enumerate(nodes):
        for r in n.log_records():
            if r.get("playbook") == "tick" and r.get("msg", "").startswith("enqueued interval:"):
                enq[i] += 1
    t.eq(sum(enq.values()), len(ticks), "the nodes' logs together say each slot's item was"
         f" enqueued once (by node: {dict(enq)})")
    t.check(not any("tick" in m for n in nodes for m in errors(n)),
            "no node logged an error for the duplicate enqueues",
            "\n".join(m for n in nodes for m in errors(n)))
    # The last slot may be enqueued by a node that had not reloaded yet
    # after the playbook was gone from the others: that item waits, queued.
    try:
        n1.wait_for(lambda: len(items(n1, "tick", "done")) >= len(ticks) - 1, 20, "ticks done")
    except TimeoutError:
        pass
    time.sleep(1)
    done = sorted(str(i["id"]) for i in items(n1, "tick", "done"))
    rest = collections.Counter(i["state"] for i in items(n1, "tick") if str(i["id"]) not in done)
    ran = collections.Counter(i for i, s in exec_log() if s == "t")
    t.check(len(done) >= len(ticks) - 1 and sorted(ran) == done and set(ran.values()) == {1}
            and set(rest) <= {"queued"},
            "each slot's step ran once, on one node",
            f"{len(ticks)} items, {len(done)} done, others {dict(rest)}, "
            f"runs per item {collections.Counter(ran.values())}")

    # ---- one shared inbox, three watchers ----
    inbox = os.path.join(shared, "inbox")
    n1.wait_for(lambda: os.path.isdir(inbox), 5, "inbox created")
    for k in range(N_FILES):
        tmp = os.path.join(inbox, f".f{k}.tmp")
        with open(tmp, "w") as f:
            f.write(f"upload {k}\n")
        os.rename(tmp, os.path.join(inbox, f"f{k}.txt"))
    try:
        n1.wait_for(lambda: len(items(n1, "inbox", "done")) >= N_FILES, 60, "inbox done")
    except TimeoutError:
        pass
    time.sleep(1)
    got = items(n1, "inbox")
    by_name = collections.Counter(n1.api("GET", f"/api/v1/items/{i['id']}")[1]["payload"]["name"]
                                  for i in got)
    t.eq(len(got), N_FILES, f"{N_FILES} files in the shared inbox make {N_FILES} items")
    t.eq(sorted(by_name.values()) == [1] * N_FILES, True, "one item per file")
    t.eq(collections.Counter(i["state"] for i in got), {"done": N_FILES},
         "every one is done (archived once: a second move would have failed)")
    t.eq(sorted(os.listdir(os.path.join(shared, "archive"))),
         sorted(f"f{k}.txt" for k in range(N_FILES)), "every file is in the archive")
    t.eq([f for f in os.listdir(inbox) if not f.startswith(".")], [], "none is left in the inbox")
    ran = collections.Counter(i for i, s in exec_log() if s == "n")
    t.check(len(ran) == N_FILES and set(ran.values()) == {1}, "each file's step ran once",
            collections.Counter(ran.values()))
    nodes_used = set()
    for i, n in enumerate(nodes):
        for r in n.log_records():
            if r.get("playbook") == "inbox" and "claimed" in r.get("msg", ""):
                nodes_used.add(i)
    print(f"# inbox items were worked by nodes {sorted(nodes_used)}", flush=True)

    # ---- two reviewers, two nodes, one escalation, the same moment ----
    gates = []
    for k in range(N_RACES):
        st, body = nodes[k % 3].api("POST", "/api/v1/playbooks/gate/run",
                                    {"key": f"g{k}", "payload": {"n": k}})
        assert st == 201, body
        gates.append(body["item"])
    n1.wait_for(lambda: len(items(n1, "gate", "escalated")) == N_RACES, 30, "gate escalated")
    escs = {g: n1.api("GET", f"/api/v1/items/{g}")[1]["escalations"][0]["id"] for g in gates}
    outcomes = []
    for g in gates:
        res = {}
        barrier = threading.Barrier(2)

        def decide(node, who, body):
            barrier.wait()
            res[who] = node.api("POST", f"/api/v1/escalations/{escs[g]}/decide", body)

        a = threading.Thread(target=decide, args=(nodes[0], "approve",
                                                  {"decision": "approve", "by": "rita"}))
        b = threading.Thread(target=decide, args=(nodes[1], "reject",
                                                  {"decision": "reject", "reason": "no",
                                                   "by": "rick"}))
        a.start()
        b.start()
        a.join()
        b.join()
        outcomes.append((g, res["approve"][0], res["reject"][0]))
    bad = [o for o in outcomes if sorted(o[1:]) != [200, 409]]
    t.eq(bad, [], f"each of {N_RACES} races: exactly one decision 200, the other 409")
    wins = collections.Counter("approve" if a == 200 else "reject" for _, a, _ in outcomes)
    print(f"# races won: {dict(wins)}", flush=True)

    def settled():
        return all(n1.api("GET", f"/api/v1/items/{g}")[1]["state"] in ("done", "rejected")
                   for g in gates)
    try:
        n1.wait_for(settled, 30, "decided items settled")
    except TimeoutError:
        pass
    wrong = []
    for g, a, r in outcomes:
        it = n1.api("GET", f"/api/v1/items/{g}")[1]
        e = n1.api("GET", f"/api/v1/escalations/{escs[g]}")[1]
        want = ("done", "approve", "rita") if a == 200 else ("rejected", "reject", "rick")
        if (it["state"], e.get("decision"), e.get("decided_by")) != want:
            wrong.append((g, it["state"], e.get("decision"), e.get("decided_by"), want))
    t.eq(wrong, [], "every item went the winner's way and the escalation names the winner")
    ran = collections.Counter(i for i, s in exec_log() if s == "after")
    t.check(set(ran.values()) <= {1} and len(ran) == wins["approve"],
            "the step after an approval ran once per approved item", ran)

    # ---- a node (re)starting while the others run items ----
    # Node 3 stops first: had it claimed some, its drain would finish them
    # and six would never be running at once.
    nodes[2].stop()
    slow = []
    for k in range(6):
        st, body = nodes[k % 2].api("POST", "/api/v1/playbooks/slow/run", {"key": f"s{k}"})
        slow.append(body["item"])
    n1.wait_for(lambda: len(items(n1, "slow", "running")) == 6, 10, "the slow items running")
    nodes[2].start()
    try:
        n1.wait_for(lambda: len(items(n1, "slow", "done")) == 6, 30, "slow items done")
        ok = True
    except TimeoutError:
        ok = False
    claims = collections.Counter()
    for n in nodes:
        for r in n.log_records():
            if r.get("item") in slow and r.get("msg", "").startswith("claimed"):
                claims[r["item"]] += 1
    t.check(ok and [claims[i] for i in slow] == [1] * 6,
            "a node starting while the others run items leaves them alone: each claimed once,"
            " all done", f"done: {ok}, claims per item: {dict(claims)}")

    # ---- a pause on one node holds the playbook on every node ----
    def paused_on(n, name):
        for p in n.api("GET", "/api/v1/playbooks")[1]["playbooks"]:
            if p["name"] == name:
                return p["paused"]
        return None
    st, body = nodes[0].api("POST", "/api/v1/playbooks/held/pause", {"reason": "upgrade"})
    t.eq(st, 200, "a supervisor pauses a playbook on node 1")
    try:
        n1.wait_for(lambda: paused_on(nodes[1], "held") and paused_on(nodes[2], "held"),
                    5, "the pause on the other nodes")
        seen = True
    except TimeoutError:
        seen = False
    t.check(seen, "nodes 2 and 3 show it paused within 5 s",
            f"{paused_on(nodes[1], 'held')} {paused_on(nodes[2], 'held')}")
    held = [nodes[1].api("POST", "/api/v1/playbooks/held/run", {"key": f"h{k}"})[1]["item"]
            for k in range(4)]
    time.sleep(2)
    t.eq(sorted(i["state"] for i in items(n1, "held")), ["queued"] * 4,
         "items queued on node 2 while it is paused stay queued on every node")
    st, body = nodes[0].api("POST", "/api/v1/playbooks/held/resume", {})
    t.eq(st, 200, "node 1 resumes it")
    try:
        n1.wait_for(lambda: len(items(n1, "held", "done")) == 4, 10, "the held items done")
        # each node reads the pauses again at most once a second
        n1.wait_for(lambda: not any(paused_on(n, "held") for n in nodes), 5,
                    "the resume on every node")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok and not any(paused_on(n, "held") for n in nodes),
            "after the resume on node 1 the items run and no node shows it paused",
            f"{[i['state'] for i in items(n1, 'held')]}")

    # ---- a web session works on every node, a logout ends it on all ----
    def call(n, method, path, body=None, sid=None, csrf=None):
        h = {"Content-Type": "application/json"}
        if sid:
            h["Cookie"] = "clerk_session=" + sid
        if csrf:
            h["X-CSRF-Token"] = csrf
        c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, raw, r.getheader("Set-Cookie") or ""
    st, raw, cookie = call(nodes[0], "POST", "/api/v1/login",
                           {"user": "rita", "password": "rita-pass-123"})
    sid, csrf = cookie.split(";")[0].split("=", 1)[1], json.loads(raw)["csrf"]
    t.eq(st, 200, "rita signs in on node 1")
    time.sleep(0.5)        # the session is saved with the next commit
    def me(n):
        return json.loads(call(n, "GET", "/api/v1/me", sid=sid)[1]).get("user")
    t.eq([me(n) for n in nodes], ["rita"] * 3, "her session works on nodes 1, 2 and 3")
    time.sleep(5.5)        # past the grace a node keeps its own fresh save
    st, _, _ = call(nodes[1], "POST", "/api/v1/logout", {}, sid=sid, csrf=csrf)
    t.eq(st, 200, "she logs out on node 2")
    time.sleep(0.5)
    t.eq([me(n) for n in nodes], [None] * 3,
         "after the logout no node takes the session")
    t.eq([call(n, "GET", "/api/v1/escalations", sid=sid)[0] for n in nodes], [401] * 3,
         "and the API answers 401 on every node")

    # ---- audit rows from all nodes at once: one chain ----
    codes = collections.Counter()

    def comment(node, k):
        for j in range(N_COMMENTS):
            st, _ = node.api("POST", f"/api/v1/escalations/{escs[gates[j % N_RACES]]}/comments",
                             {"text": f"node {k} note {j}", "by": f"user{k}"})
            codes[st] += 1
    th = [threading.Thread(target=comment, args=(n, k)) for k, n in enumerate(nodes)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    t.eq(dict(codes), {201: 3 * N_COMMENTS}, "every comment from every node is taken")
    audit, after = [], 0
    while True:
        st, body = n1.api("GET", f"/api/v1/audit?after={after}&limit=1000")
        audit += body["audit"]
        if not body.get("next"):
            break
        after = body["next"]
    t.eq([a["id"] for a in audit], list(range(1, len(audit) + 1)),
         f"the {len(audit)} audit rows have ids 1..N, no gap")
    t.eq(sum(1 for a in audit if a["action"] == "comment"), 3 * N_COMMENTS,
         "one audit row per comment")
    chained = all(audit[k]["prev_hash"] == audit[k - 1]["hash"] for k in range(1, len(audit)))
    t.check(chained, "each row follows the one before it, whichever node wrote it")
    for k, n in enumerate(nodes):
        r = n.ctl("audit", "verify")
        t.check(r.returncode == 0 and "intact" in r.stdout,
                f"clerkctl audit verify passes from node {k + 1}'s config", out(r))
finally:
    for n in reversed(nodes):
        n.cleanup()
    if not os.environ.get("CLERK_KEEP_TMP"):
        shutil.rmtree(shared, ignore_errors=True)
t.done()
