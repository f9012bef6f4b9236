#!/usr/bin/env python3
"""Three clerkd nodes on one PostgreSQL database work one queue of 2,000
pension-transfer cases, each with two side effects on the legacy-system
simulator (a registration at the transfer-out system, an acceptance at the
transfer-in one). Meanwhile a random node is killed with kill -9 ten times
at random moments (and started again), and PostgreSQL itself is restarted
once (pg_ctl restart -m fast) mid-run. In the end: no case lost, none
registered or accepted twice, none stuck (every one done), the audit chain
one chain. Prints items, kills, duration and what each node finished.

Issue 13 item 6. Runs on its own cluster (harness.pg_cluster()), since it
restarts the server. CLERK_PG_NODES_ITEMS, CLERK_PG_NODES_KILLS and
CLERK_SEED change the size, the number of kills and the randomness."""
import collections
import json
import os
import random
import signal as sigmod
import threading
import time
import urllib.error
import urllib.request

import harness
from harness import Daemon, Tap
import pension

N = int(os.environ.get("CLERK_PG_NODES_ITEMS", "2000"))
KILLS = int(os.environ.get("CLERK_PG_NODES_KILLS", "10"))
NODES = 3
SETTLE_S = 150
seed = int(os.environ.get("CLERK_SEED", str(int(time.time()))))
rng = random.Random(seed)
print(f"# seed {seed} (set CLERK_SEED to repeat)", flush=True)

t = Tap()
try:
    cluster = harness.pg_cluster()
except RuntimeError as e:
    # No PostgreSQL is a failure of this test, never a skip.
    t.check(False, "a PostgreSQL cluster starts (tests/pg/cluster.sh)", e)
    t.done()
url = harness.pg_create_db(cluster.url)

# A little latency keeps requests in flight when a kill lands; no other
# fault, so that every case can end done and a stuck one means a bug.
sim = pension.Sim(faults={"latency_ms": 3, "accept_after_polls": 1}, seed=seed)
nodes = []
t0 = time.time()
try:
    text = pension.playbook_text(timeout="5s", poll="200ms")
    text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                        'retry = { attempts = 20; initial = "200ms"; max = "2s"; };')
    text = text.replace("concurrency = 8;", "concurrency = 16;")
    for i in range(NODES):
        d = (Daemon(workers=8, store_url=url) if i == 0 else
             nodes[0].node(workers=8))
        nodes.append(d)
    nodes[0].write_playbook("pension-transfer.cfg", text)
    for d in nodes:
        os.makedirs(d.state, exist_ok=True)
        pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url)
    # The first node creates the schema; the others then find it.
    nodes[0].start()
    for d in nodes[1:]:
        d.start()
    t.check(all(d.proc.poll() is None for d in nodes), f"{NODES} clerkd nodes run on one database")

    cases = [pension.case(i) for i in range(N)]
    t.eq(len({c["id_no"] for c in cases}), N, f"the {N} cases have distinct ID numbers")

    lock = threading.Lock()
    enqueue_errors = []

    def api(d, method, path, body=None):
        """d.api with a short timeout: a node being killed must not hold
        the enqueue up for long. Down is an OSError."""
        req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}",
                                     data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + d.token()})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def enqueue():
        # Round-robin over the nodes; a node that is being killed and
        # restarted is skipped and the case tried on the next one. The key
        # makes a retried enqueue a duplicate, never a second item.
        for i, c in enumerate(cases):
            for attempt in range(60):
                with lock:
                    d = nodes[(i + attempt) % NODES]
                try:
                    st, body = api(d, "POST", "/api/v1/playbooks/pension-transfer/run",
                                   {"key": f"case-{i}", "payload": c})
                except (OSError, urllib.error.URLError, ValueError):
                    st, body = 0, "connection"
                if st in (200, 201):
                    break
                time.sleep(0.1)
            else:
                enqueue_errors.append((i, st, body))

    def done_count():
        db = harness.PgDB(url)
        try:
            return db.execute("SELECT count(*) FROM items WHERE state = 4").fetchone()[0]
        except harness.PgError:
            return None     # the server is restarting

    start_failures = []

    def start_node(k):
        """Starts node k again; a start that fails is recorded (and
        tried again) rather than ending the run before its checks."""
        for _ in range(3):
            try:
                nodes[k].start()
                return
            except RuntimeError as e:
                start_failures.append((k, str(e)[-1500:]))
                nodes[k].stop(sigmod.SIGKILL)
                time.sleep(1)

    enq = threading.Thread(target=enqueue)
    enq.start()

    # Kills and the restart are spread over the run by progress, so that
    # they land while work is in flight however fast this machine is: the
    # k-th kill once about k/(KILLS+2) of the cases are done, plus a random
    # delay; the PostgreSQL restart half-way.
    kills = []
    self_exits = []
    pg_restarted = None
    marks = sorted([(N * (k + 1) // (KILLS + 2), "kill") for k in range(KILLS)] +
                   [(N // 2, "pg")], key=lambda m: m[0])
    deadline = time.time() + SETTLE_S
    last_done = 0
    while marks and time.time() < deadline:
        n = done_count()
        if n is not None:
            last_done = n
        if last_done < marks[0][0]:
            time.sleep(0.1)
            continue
        _, what = marks.pop(0)
        time.sleep(rng.uniform(0, 0.5))
        if what == "pg":
            before = time.time()
            cluster.restart()
            pg_restarted = (last_done, round(time.time() - before, 2))
            print(f"# PostgreSQL restarted at {last_done} done"
                  f" ({pg_restarted[1]} s)", flush=True)
            continue
        k = rng.randrange(NODES)
        with lock:
            d = nodes[k]
            if d.proc.poll() is not None:
                self_exits.append((k, d.proc.returncode, d.log_text()[-1500:]))
            else:
                d.kill9()
            kills.append((k, last_done))
            time.sleep(rng.uniform(0, 1.0))
            start_node(k)
        print(f"# kill -9 of node {k} at {last_done} done", flush=True)
    enq.join(120)
    t.check(not enq.is_alive() and not enqueue_errors,
            f"all {N} cases enqueued through the nodes", enqueue_errors[:5])
    t.eq(len(kills), KILLS, f"{KILLS} kill -9 of a random node, each started again")
    t.check(pg_restarted is not None, "PostgreSQL restarted once mid-run", marks)

    def settled():
        n = done_count()
        return n is not None and n >= N

    try:
        nodes[0].wait_for(settled, max(10, deadline - time.time()), "every case done")
    except TimeoutError:
        pass
    duration = time.time() - t0
    # A node that died on its own (a store error it did not survive) is
    # a bug even when the others finished its work.
    for k, d in enumerate(nodes):
        if d.proc.poll() is not None:
            self_exits.append((k, d.proc.returncode, d.log_text()[-1500:]))
    t.check(not start_failures, "every node starts again after its kill -9",
            "\n".join(f"node {k}: {m}" for k, m in start_failures))
    t.check(not self_exits, "no node exited by itself (kill -9 and the"
            " PostgreSQL restart are survived)",
            "\n".join(f"node {k}: exit {rc}\n{log}" for k, rc, log in self_exits))

    db = harness.PgDB(url)
    rows = db.execute("SELECT key, state, id FROM items WHERE playbook = ?",
                      ("pension-transfer",)).fetchall()
    states = collections.Counter(r[1] for r in rows)
    t.eq(len(rows), N, "0 lost: one item per case")
    t.eq(len({r[0] for r in rows}), N, "every key appears once")
    stuck = db.execute(
        "SELECT id, state, owner, lease_expires -"
        " (extract(epoch from clock_timestamp()) * 1000)::bigint, attempts,"
        " last_error, (SELECT string_agg(step_id, ',' ORDER BY finished)"
        " FROM steps WHERE item = items.id) FROM items"
        " WHERE playbook = ? AND state <> 4 ORDER BY id LIMIT 10",
        ("pension-transfer",)).fetchall()
    owners = [f"node {k}: {open(os.path.join(d.state, 'node-owner')).read().strip()}"
              for k, d in enumerate(nodes)
              if os.path.exists(os.path.join(d.state, "node-owner"))]
    t.check(dict(states) == {4: N}, "0 stuck: every item is done (state 4)",
            f"states {dict(states)}; not done (id, state, owner, lease ms left"
            f" on the database clock, attempts, last error, steps done):\n" +
            "\n".join(map(str, stuck)) + "\nowners now: " + "; ".join(owners))
    escs = db.execute("SELECT count(*) FROM escalations").fetchone()[0]
    t.eq(escs, 0, "no case was escalated")

    for d in nodes:
        d.stop()
    st = sim.stats()
    t.eq(st["duplicates"], 0, "0 duplicate side effects: the simulator saw no second registration")
    t.eq(st["kinds"]["duplicate"], 0, "zero submission attempts under a second key")
    new = collections.Counter((s["system"], s["id_no"]) for s in sim.submissions()
                              if s["kind"] == "new")
    twice = [k for k, v in new.items() if v != 1]
    t.check(not twice, "no ID number registered twice in either system", twice[:10])
    t.eq(sum(1 for (system, _) in new if system == "out"), N,
         "each case registered once at the transfer-out system")
    t.eq(sum(1 for (system, _) in new if system == "in"), N,
         "each case accepted once at the transfer-in system")

    r = nodes[0].ctl("audit", "verify")
    t.check(r.returncode == 0 and "intact" in r.stdout,
            "clerkctl audit verify: the nodes' audit rows are one intact chain",
            r.stdout + r.stderr)

    # Who finished what: each node's "done" log lines (over its restarts).
    per_node = []
    seen = collections.Counter()
    for d in nodes:
        ids = {rec.get("item") for rec in d.log_records() if rec.get("msg") == "done"}
        ids.discard(None)
        per_node.append(len(ids))
        seen.update(ids)
    print(f"# items {N}, nodes {NODES}, kills {len(kills)} "
          f"(node, done at the kill: {kills}), PostgreSQL restart "
          f"(done, seconds): {pg_restarted}, duration {duration:.1f} s, "
          f"{N / duration:.0f} items/s", flush=True)
    print(f"# done per node: {per_node} (sum {sum(per_node)}); items whose"
          f" 'done' two nodes logged: {sum(1 for v in seen.values() if v > 1)}",
          flush=True)
    print(f"# simulator: {json.dumps(st.get('kinds', {}))}", flush=True)
    t.check(sum(1 for v in seen.values() if v > 1) == 0,
            "no item finished on two nodes", seen.most_common(3))
    # A node that is alive renews its leases, so no other node may take
    # its items: a step result thrown away because the item "is not
    # running here any more", or a second result for the same step,
    # means two nodes ran one item at once. The simulator's lookups keep
    # that from becoming a duplicate side effect, but it must not happen.
    stolen = [(k, rec.get("item"), rec.get("msg", "")[:200])
              for k, d in enumerate(nodes) for rec in d.log_records()
              if "not running here any more" in rec.get("msg", "") or
              "steps_pkey" in rec.get("msg", "")]
    t.check(not stolen, "no live node's item was taken over by another node"
            " (no step result discarded, none recorded twice)",
            f"{len(stolen)} such log lines, e.g.:\n" +
            "\n".join(f"node {k} item {i}: {m}" for k, i, m in stolen[:8]))
except Exception as e:  # a crash is a failed test, not a hidden one
    import traceback
    t.check(False, "test ran to the end",
            traceback.format_exc() + "\n" +
            "\n".join(d.log_text()[-1500:] for d in nodes))
finally:
    for d in nodes:
        d.cleanup()
    sim.stop()
    if not os.environ.get("CLERK_KEEP_TMP"):
        try:
            harness.pg_drop_db(url)
        except (harness.PgError, OSError):
            pass
t.done()
