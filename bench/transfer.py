#!/usr/bin/env python3
"""Benchmark of the pension-transfer playbook and the HTTP connector
against the legacy-system simulator on loopback (docs/BENCHMARKS.md).

  nice python3 bench/transfer.py [--clean N] [--faulty N] [--requests N]

1. Connector overhead per request: build/bench/bench_conn (the connector
   vs one reused libcurl handle, same URL, same run) and the curl program
   run once per request in a loop, as a person would script it.
2. Cases per second through the whole playbook (validate, register,
   accept, poll until accepted, SOAP confirm) with clerkd, no faults.
3. The same with the fault mix of the tests: 20% 5xx (a quarter after
   processing), 10% hangs past the timeout, session expiry every 50
   requests, a maintenance window; checks zero duplicates.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("CLERKD", os.path.join(TOP, "build", "clerkd"))
os.environ.setdefault("CLERKCTL", os.path.join(TOP, "build", "clerkctl"))
os.environ.setdefault("SRCDIR", TOP)
from harness import Daemon  # noqa: E402
import pension  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--clean", type=int, default=300, help="cases without faults (0: skip)")
ap.add_argument("--faulty", type=int, default=1000, help="cases with the fault mix (0: skip)")
ap.add_argument("--requests", type=int, default=2000, help="requests per overhead round")
ap.add_argument("--rounds", type=int, default=3)
args = ap.parse_args()


def overhead():
    sim = pension.Sim()
    try:
        url = sim.url + "/out/login"
        out = subprocess.run([os.path.join(TOP, "build", "bench", "bench_conn"),
                              "-u", url, "-n", str(args.requests), "-r", str(args.rounds)],
                             capture_output=True, text=True, check=True).stdout
        print(out, end="")
        med = next(line for line in out.splitlines() if line.startswith("median of"))
        conn_us = float(med.split("clerk connector ")[1].split(" us")[0])
        meds = []
        n = max(50, args.requests // 10)
        for r in range(args.rounds):
            t = []
            for i in range(n):
                t0 = time.perf_counter()
                subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True)
                t.append((time.perf_counter() - t0) * 1e6)
            meds.append(statistics.median(t))
        cli = statistics.median(meds)
        print(f"curl program in a loop ({n} runs x {args.rounds} rounds): median"
              f" {cli:.0f} us/request; the connector is {cli / conn_us:.1f}x faster")
    finally:
        sim.stop()


def cases(n, faults, label):
    sim = pension.Sim(faults=faults, seed=5)
    d = Daemon(workers=24)
    try:
        over = dict(poll="200ms")
        if faults:
            over.update(timeout="600ms", unavailable_wait="1s")
        text = pension.playbook_text(**over)
        text = text.replace('retry = { attempts = 8; initial = "500ms"; max = "20s"; };',
                            'retry = { attempts = 10; initial = "200ms"; max = "2s"; };')
        text = text.replace("concurrency = 8;", "concurrency = 24;")
        text = text.replace("max_concurrent = 4;", "max_concurrent = 12;")
        text = text.replace('open = "3s";', 'open = "500ms";')
        text = text.replace('log_level = "debug";', 'log_level = "info";')
        d.write_playbook("pension-transfer.cfg", text)
        with open(d.conf) as f:
            conf = f.read().replace('log_level = "debug";', 'log_level = "info";')
        with open(d.conf, "w") as f:
            f.write(conf)
        os.makedirs(d.state, exist_ok=True)
        pension.write_credentials(os.path.join(d.state, "credentials.cfg"), sim.url)
        d.start()
        t0 = time.time()
        for i in range(n):
            st, body = d.api("POST", "/api/v1/playbooks/pension-transfer/run",
                             {"key": f"c{i}", "payload": pension.case(i)})
            assert st in (200, 201), body

        def settled():
            c = d.counts().get("pension-transfer", {})
            return c.get("done", 0) + c.get("escalated", 0) == n
        d.wait_for(settled, 1800, "cases settled")
        el = time.time() - t0
        c = d.counts().get("pension-transfer", {})
        st = sim.stats()
        print(f"{label}: {n} cases in {el:.1f} s = {n / el:.1f} cases/s"
              f" ({c.get('done', 0)} done, {c.get('escalated', 0)} escalated);"
              f" simulator: {st['requests']} requests, duplicates {st['duplicates']},"
              f" second-key attempts {st['kinds']['duplicate']}")
    finally:
        d.cleanup()
        sim.stop()


overhead()
if args.clean > 0:
    cases(args.clean, {}, "no faults")
if args.faulty > 0:
    cases(args.faulty, {"error_rate": 0.15, "error_after_rate": 0.05, "timeout_rate": 0.1,
                        "hang_s": 0.8, "session_expire_every": 50, "maintenance": [4, 8]},
          "fault mix")
