#!/usr/bin/env python3
"""Bounded waits (issue 15): a connector's system kept in maintenance, or
a login kept refused, sends the waiting items to a reviewer once they have
waited longer than unavailable_max / auth_max - not before, not never, and
not later because clerkd restarted meanwhile. A system back before the
bound lets the items finish with no escalation. The bounds are seconds
here so the test stays fast."""
import json
import os
import time

from harness import Daemon, Tap
import pension

PASSWORD = "Pw-waits-4410-secret"
UNAVAILABLE_MAX = 6.0
AUTH_MAX = 4.0

t = Tap()


def playbook(unavailable_max="6s", auth_max="4s"):
    text = pension.playbook_text(timeout="3s", poll="300ms")
    text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                        'retry = { attempts = 3; initial = "200ms"; max = "1s"; };')
    text = text.replace('unavailable_wait = "5s";',
                        f'unavailable_wait = "1s"; unavailable_max = "{unavailable_max}";')
    text = text.replace('auth_wait = "30s";', f'auth_wait = "1s"; auth_max = "{auth_max}";')
    return text


def setup(sim, password=PASSWORD):
    d = Daemon(workers=4)
    d.write_playbook("pension-transfer.cfg", playbook())
    os.makedirs(d.state, exist_ok=True)
    pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url,
                              password=password)
    d.start()
    return d


def run(d, key, payload):
    st, body = d.api("POST", "/api/v1/playbooks/pension-transfer/run",
                     {"key": key, "payload": payload})
    assert st in (200, 201), (st, body)
    return body["item"]


def rows(d, ids):
    """{item: (state, created ms, payload's _waiting or None)}"""
    db = d.db()
    out = {}
    for i in ids:
        st, created, payload = db.execute(
            "SELECT state, created, payload FROM items WHERE id = ?", (i,)).fetchone()
        out[i] = (st, created, json.loads(payload).get("_waiting"))
    db.close()
    return out


def escalations(d, ids):
    db = d.db()
    out = db.execute("SELECT item, reason, message, created, context, kind FROM escalations"
                     f" WHERE item IN ({','.join('?' * len(ids))}) ORDER BY id",
                     list(ids)).fetchall()
    db.close()
    return out


def waited(d, cond, timeout, what):
    """d.wait_for, as a failed check (not a crash) when it times out."""
    try:
        d.wait_for(cond, timeout, what)
        return True
    except TimeoutError as e:
        t.check(False, str(e), d.log_text()[-2000:])
        return False


def states(d, ids):
    return [r[0] for r in rows(d, ids).values()]


# ---- clerkctl playbook check: the new keys ----
d = Daemon()
try:
    def check(text):
        path = d.write_playbook("waits-check.cfg", text)
        r = d.ctl("playbook", "check", path)
        return path, r.returncode, r.stdout + r.stderr
    path, rc, out = check(playbook())
    t.check(rc == 0, "a playbook with unavailable_max and auth_max checks clean", out)
    path, rc, out = check(playbook(unavailable_max="soon"))
    line = next(n for n, l in enumerate(open(path), 1) if "unavailable_max" in l)
    t.check(rc == 1 and f"{path}:{line}: unavailable_max must be a duration" in out,
            "a bad unavailable_max: file:line, what it must be", out)
    path, rc, out = check(playbook(auth_max="500ms"))
    line = next(n for n, l in enumerate(open(path), 1) if "auth_max" in l)
    t.check(rc == 1 and f"{path}:{line}: auth_max = \"500ms\" is shorter than auth_wait (1s)"
            in out, "auth_max below auth_wait: file:line, both values, what to do", out)
    path, rc, out = check(playbook().replace('unavailable_max = "6s"', 'unavailable_max = "0s"'))
    t.check(rc == 1 and "unavailable_max = \"0s\" is shorter" in out,
            "a zero bound is refused (nothing may wait for ever, nor not at all)", out)
    path, rc, out = check(playbook().replace('unavailable_max = "6s";', '')
                          .replace('unavailable_wait = "1s";', 'unavailable_wait = "9h";'))
    t.check(rc == 0, "a wait longer than the default bound, no bound written: checks clean"
            " (the bound is raised to one wait)", out)
finally:
    d.cleanup()

# ---- the system comes back before the bound: done, no escalation ----
sim = pension.Sim(password=PASSWORD, faults={"maintenance": True})
d = setup(sim)
try:
    ids = [run(d, f"back-{i}", pension.case(700 + i)) for i in range(3)]
    d.wait_for(lambda: all(w for _, _, w in rows(d, ids).values()), 10,
               "the waits kept with the items")
    kept = rows(d, ids)
    t.check(all(w["on"] == "system.unavailable" and w["step"] == "register"
                and w["since"] >= c for _, c, w in kept.values()),
            "each waiting item keeps what it waits on, where, and since when", kept)
    time.sleep(2.5)
    again = rows(d, ids)
    t.check(all(again[i][2] and again[i][2]["since"] == kept[i][2]["since"] for i in ids),
            "waiting again keeps the first start, not the latest try", again)
    sim.faults(maintenance=False)
    waited(d, lambda: all(s in (4, 3, 5) for s in states(d, ids)), 30,
           "items after the system is back")
    t.eq(states(d, ids), [4] * len(ids), "back before unavailable_max: every item done")
    t.eq(escalations(d, ids), [], "and none escalated")
    t.check(all(w is None for _, _, w in rows(d, ids).values()),
            "the kept wait ended with the wait", rows(d, ids))
finally:
    d.cleanup()
    sim.stop()

# ---- kept in maintenance, with a kill -9 and a SIGTERM restart during the wait ----
sim = pension.Sim(password=PASSWORD, faults={"maintenance": True})
d = setup(sim)
try:
    ids = [run(d, f"maint-{i}", pension.case(710 + i)) for i in range(3)]
    d.wait_for(lambda: all(w for _, _, w in rows(d, ids).values()), 10,
               "the waits kept with the items")
    since = {i: r[2]["since"] for i, r in rows(d, ids).items()}
    time.sleep(1.5)
    d.kill9()
    d.start()
    time.sleep(1.5)
    t.eq(escalations(d, ids), [], "nothing escalated before unavailable_max")
    t.eq(d.stop(), 0, "clerkd drains on SIGTERM during the wait")
    restarted = time.time()
    d.start()
    kept = {i: r[2]["since"] if r[2] else None for i, r in rows(d, ids).items()}
    t.eq(kept, since, "after a kill -9 and a SIGTERM restart each item keeps its first start")
    # Before the bound is over no item may have escalated; measured from
    # the kept start, not from the restart.
    waited(d, lambda: len(escalations(d, ids)) == len(ids), 30, "the escalations")
    escs = escalations(d, ids)
    t.check(len(escs) == len(ids) and all(e[1] == "system.unavailable_too_long" for e in escs),
            "kept in maintenance: every item escalates as system.unavailable_too_long",
            [e[:2] for e in escs])
    t.check(all(e[3] >= since[e[0]] + UNAVAILABLE_MAX * 1000 for e in escs),
            "not before unavailable_max since the item began to wait",
            [(e[0], e[3] - since[e[0]]) for e in escs])
    t.check(all(e[3] < restarted * 1000 + UNAVAILABLE_MAX * 1000 for e in escs),
            "the restart did not start the clock again (escalated before restart +"
            " unavailable_max)",
            [(e[0], e[3] - restarted * 1000) for e in escs])
    t.check(all(e[3] < since[e[0]] + (UNAVAILABLE_MAX + 3) * 1000 for e in escs),
            "and on time: within a few seconds of the bound",
            [(e[0], e[3] - since[e[0]]) for e in escs])
    if not escs:
        escs = [(0, "", "", 0, "{}", 0)]
    msg = escs[0][2]
    t.check("pension-out" in msg and "since 20" in msg and "unavailable_max = 6s" in msg
            and "retry this item" in msg and "reject" in msg,
            "the message says which system, since when, the bound, and what to do", msg)
    ctx = json.loads(escs[0][4])
    t.check(ctx.get("waiting_on") == "system.unavailable" and ctx.get("wait_max") == "6s"
            and ctx.get("waiting_since", "").startswith("20") and ctx.get("evidence"),
            "the evidence carries the wait and the maintenance page", escs[0][4][:600])
    t.eq(escs[0][5], 2, "a business error (kind 2), for a reviewer")
    t.check(all(w is None for _, _, w in rows(d, ids).values()),
            "the escalation ended the kept wait (a retry waits with a new clock)")
    # The system is back; a reviewer retries one, rejects another.
    sim.faults(maintenance=False)
    db = d.db()
    esc_ids = {i: db.execute("SELECT id FROM escalations WHERE item = ?", (i,)).fetchone()[0]
               for i in ids}
    db.close()
    r = d.ctl("escalation", "decide", str(esc_ids[ids[0]]), "retry", "--by", "tester")
    t.check(r.returncode == 0, "the reviewer retries one", r.stderr)
    r = d.ctl("escalation", "decide", str(esc_ids[ids[1]]), "reject", "--by", "tester",
              "--reason", "the case was filed on paper meanwhile")
    t.check(r.returncode == 0, "and rejects another", r.stderr)
    waited(d, lambda: states(d, ids)[0] == 4, 30, "the retried item")
    t.eq(states(d, ids)[:2], [4, 5], "the retried item is done, the rejected one rejected")
finally:
    d.cleanup()
    sim.stop()

# ---- a refused login kept refused: one escalation at once, the rest after auth_max ----
sim = pension.Sim(password=PASSWORD)
d = setup(sim, password="wrong-password")
try:
    ids = [run(d, f"auth-{i}", pension.case(720 + i)) for i in range(3)]
    d.wait_for(lambda: len(escalations(d, ids)) >= 1, 15, "the first escalation")
    first = escalations(d, ids)
    t.check(len(first) == 1 and first[0][1] == "connector_auth_failed",
            "the refused login escalates once at once", [e[:2] for e in first])
    d.wait_for(lambda: len([w for _, _, w in rows(d, ids).values() if w]) == 2, 10,
               "the other items' kept waits")
    since = {i: r[2]["since"] for i, r in rows(d, ids).items() if r[2]}
    t.check(all(r[2]["on"] == "login.refused" for r in rows(d, ids).values() if r[2]),
            "the others wait on login.refused", rows(d, ids))
    time.sleep(1.5)
    t.eq(len(escalations(d, ids)), 1, "nothing more before auth_max")
    waited(d, lambda: len(escalations(d, ids)) == 3, 30, "the bounded escalations")
    later = escalations(d, ids)[1:]
    t.check(len(later) == 2 and all(e[1] == "login.refused_too_long" for e in later),
            "after auth_max the others escalate as login.refused_too_long",
            [e[:2] for e in later])
    t.check(all(e[3] >= since[e[0]] + AUTH_MAX * 1000 for e in later),
            "not before auth_max", [(e[0], e[3] - since[e[0]]) for e in later])
    msg = later[0][2] if later else ""
    t.check("pension-out" in msg and "since 20" in msg and "auth_max = 4s" in msg
            and "credentials file" in msg and "retry this item" in msg,
            "the message says which system, since when, and what to do", msg)
    t.eq(sim.stats()["systems"]["out"]["failed_logins"], 1,
         "the wrong password was tried once in all")
finally:
    d.cleanup()
    sim.stop()

t.done()
