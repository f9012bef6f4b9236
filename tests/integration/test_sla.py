#!/usr/bin/env python3
"""SLA: an escalation that passes its due time is handed once to every
playbook triggered by `overdue` (here one that POSTs to a webhook), also
across a restart, and counted in /metrics."""
import http.server
import json
import threading
import time

from harness import Daemon, Tap

received = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((self.headers.get("Idempotency-Key"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{srv.server_address[1]}/alert"

t = Tap()
d = Daemon()
try:
    d.write_playbook("gate.cfg", '''
name = "gate";
trigger = { manual = true; };
payload = [ "case" ];
sla = "1s";
steps = ( { id = "review"; use = "escalate"; reason = "check"; message = "case ${case}"; } );
''')
    d.write_playbook("slow-review.cfg", '''
name = "slow-review";
trigger = { manual = true; };
sla = "1h";
steps = ( { id = "review"; use = "escalate"; } );
''')
    d.write_playbook("alert.cfg", f'''
name = "overdue-alert";
trigger = {{ overdue = true; }};
steps = ( {{ id = "tell"; use = "notify";
            message = "escalation ${{escalation}} of ${{playbook}} is overdue since ${{due_text}}: ${{message}}";
            webhook = "{url}"; }} );
''')
    d.start()
    for k in ("A", "B"):
        d.api("POST", "/api/v1/playbooks/gate/run", {"key": k, "payload": {"case": k}})
    d.api("POST", "/api/v1/playbooks/slow-review/run", {"key": "C"})
    try:
        d.wait_for(lambda: len(received) >= 2, 15, "two alerts")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok, "both overdue escalations raised an alert", received)
    time.sleep(1.5)
    msgs = sorted(b["message"] for _, b in received)
    t.eq(len(received), 2, "once each, and none for the escalation still within its SLA")
    t.check(all("of gate is overdue since" in m for m in msgs) and
            msgs[0].endswith(": case A") and msgs[1].endswith(": case B"),
            "the alert names the escalation, its playbook and due time", msgs)
    t.check(all(k and k.startswith("clerk-") for k, _ in received), "with an idempotency key")
    st, text = d.api("GET", "/metrics", token=False)
    t.check("clerk_overdue_total 2" in text, "counted in /metrics")
    t.eq(d.stop(), 0, "clean stop")
    d.start()
    time.sleep(2)
    t.eq(len(received), 2, "a restart raises no alert twice")
    t.eq(d.stop(), 0, "clean stop")
finally:
    d.cleanup()
    srv.shutdown()
t.done()
