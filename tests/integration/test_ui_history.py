#!/usr/bin/env python3
"""A playbook's run history and an item's timeline in the web UI, in a real
browser: starts clerkd with a supervisor and a reviewer (password sign-in)
and one cron playbook (validate -> sleep -> a webhook notify), and makes
items with known outcomes at three times of the last day (clerkd restarted
under CLERK_TEST_CLOCK_OFFSET -18h, then -7h, then none): seven done, one
of them after a webhook that answered 503 once (and then slowly), and one
escalated (an empty name). Then runs tests/browser/history.test.mjs
(node --test, playwright-core driving /usr/bin/chromium headless), which
checks the bars per bucket and state, the rates, the steps slowest first,
the slowest run's timeline with its failed attempt, that a reviewer gets
no history link and a clear message on the page itself, that an auditor
sees the timeline with the ID number masked, and takes the
screenshots (CLERK_SHOTS, default /tmp).

Skips (1..0 # SKIP) only when chromium or node is missing.
"""
import datetime
import http.server
import json
import os
import sys
import threading
import time
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BROWSER_DIR, CHROMIUM, SRCDIR, Daemon, browser_tap, run_node_tests, write_users  # noqa: E402


t = browser_tap()

PASSWORDS = {"sam": "sam-super-pw-9", "rita": "rita-review-pw-9", "audrey": "audrey-audit-pw-9"}
# The webhook answers 503 to the first call for this key, then takes
# SLOW_MS: that send is the slowest step run, and its item the one item
# with a retried attempt.
LATE, SLOW_MS = "late", 700
calls = {}


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        key = body.get("key")
        calls[key] = calls.get(key, 0) + 1
        code = 200
        if key == LATE and calls[key] == 1:
            code = 503
        elif key == LATE:
            time.sleep(SLOW_MS / 1000)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()

# A daily cron half a day away (in clerkd's timezone, Asia/Shanghai): it
# shows next runs and never fires while the test runs.
HOUR = (datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).hour + 12) % 24

d = Daemon(extra_conf='users_file = "users.cfg";')
try:
    write_users(t, d, {"sam": ("supervisor", PASSWORDS["sam"]), "rita": ("reviewer", PASSWORDS["rita"]), "audrey": ("auditor", PASSWORDS["audrey"])})
    d.write_playbook("intake.cfg", f'''name = "intake";
description = "申请受理 claim intake";
trigger = {{ cron = "0 {HOUR} * * *"; catch_up = "none"; }};
payload = [ "name" ];
retry = {{ attempts = 3; initial = "300ms"; max = "500ms"; }};
steps = (
  {{ id = "check"; use = "validate"; fields = {{ name = "nonempty"; }}; }},
  {{ id = "wait"; use = "sleep"; duration = "250ms"; }},
  {{ id = "send"; use = "notify"; message = "intake ${{name}}";
     webhook = "http://127.0.0.1:{hook.server_port}/hook"; }}
);
''')

    # (clock offset, [(key, name)], what they end as): the bucket of each
    # phase in a 24 h window of 1 h buckets is 23 - hours back.
    phases = [("-18h", 18, [("a1", "张三"), ("a2", "李四"), ("a3", "王五")]),
              ("-7h", 7, [("b1", "赵六"), (LATE, "钱七"), ("bad", "")]),
              ("", 0, [("c1", "孙八"), ("c2", "周九")])]
    expect = {}
    ids = {}
    for offset, back, keys in phases:
        d.start(env={"CLERK_TEST_CLOCK_OFFSET": offset} if offset else None)
        for key, name in keys:
            st, body = d.api("POST", "/api/v1/playbooks/intake/run",
                             {"key": key, "payload": {"name": name, "id_number": "110101199003071234"}})
            t.eq(st, 201, f"item {key} queued (clock {offset or 'now'})")
            ids[key] = body.get("item")
        want_done = sum(1 for k, _ in keys if k != "bad")
        want_esc = len(keys) - want_done

        def settled():
            states = [d.api("GET", f"/api/v1/items/{ids[k]}")[1].get("state") for k, _ in keys]
            return states.count("done") == want_done and states.count("escalated") == want_esc
        d.wait_for(settled, 30, f"the items of the phase at {offset or 'now'} settle")
        bucket = str(23 - back)
        expect[bucket] = {"done": want_done}
        if want_esc:
            expect[bucket]["escalated"] = want_esc
        if offset:
            t.eq(d.stop(), 0, f"clean stop after the phase at {offset}")

    st, item = d.api("GET", f"/api/v1/items/{ids[LATE]}")
    t.check([f["reason"] for f in item.get("failures", [])] == ["retry"] and item["state"] == "done",
            "the late item failed once (retried) and then finished", item)
    st, esc = d.api("GET", f"/api/v1/escalations?open=1&playbook=intake")
    open_esc = esc.get("escalations", [])
    t.check(len(open_esc) == 1 and open_esc[0]["item"] == ids["bad"],
            "the item with an empty name is escalated", esc)

    env = dict(os.environ,
               CLERK_URL=f"http://127.0.0.1:{d.port}",
               CLERK_TOKEN=d.token(),
               CLERK_SUPERVISOR="sam", CLERK_SUPERVISOR_PASSWORD=PASSWORDS["sam"],
               CLERK_REVIEWER="rita", CLERK_REVIEWER_PASSWORD=PASSWORDS["rita"],
               CLERK_AUDITOR="audrey", CLERK_AUDITOR_PASSWORD=PASSWORDS["audrey"],
               CLERK_EXPECT=json.dumps({"buckets": expect, "hour": HOUR,
                                        "late": ids[LATE], "bad": ids["bad"],
                                        "escalation": open_esc[0]["id"] if open_esc else None,
                                        "slow_ms": SLOW_MS}),
               CHROMIUM=CHROMIUM,
               CLERK_SHOTS=os.environ.get("CLERK_SHOTS", "/tmp"))
    run_node_tests(t, os.path.join(BROWSER_DIR, "history.test.mjs"), BROWSER_DIR, env, 300)
    t.eq(d.stop(), 0, "clean stop")
    if t.failed:
        for line in d.log_text().splitlines()[-40:]:
            print("# clerkd: " + line)
finally:
    hook.shutdown()
    d.cleanup()
t.done()
