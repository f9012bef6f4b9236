#!/usr/bin/env python3
"""bench/escalations.py - the escalation API with 100,000 open escalations
(DESIGN.md section 13: p99 < 10 ms at 500 req/s on loopback).

1. Seeds a fresh database with N open escalations through clerk's own queue
   (build/bench/escalations_seed) and starts the real clerkd on it.
2. Fixed-rate load (open loop): requests go out at exactly --rate per second
   on a pool of keep-alive connections, whether or not earlier ones have
   been answered, and each latency is measured from the moment its request
   was due, so a stall counts for every request it delays (no coordinated
   omission). wrk cannot hold a fixed rate, hence this generator.
3. Maximum sustained rate with wrk (closed loop, --wrk-connections).

Baseline in the same run: GET /healthz, which does no database work, at the
same rate through the same generator: the floor of the HTTP path and of the
generator itself. The ratios are list or show over /healthz (p50 and p99).
A second baseline shows why the list pages with a cursor: the same deep
page read with SQL OFFSET, on the same database, in-process.

Only the Python standard library; wrk must be installed (scripts/deps.sh).
"""
import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


async def http_get(reader, writer, path, headers):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    body = await reader.readexactly(int(m.group(1))) if m else b""
    status = int(head.split(b" ", 2)[1])
    return status, body


async def fixed_rate(port, paths, rate, seconds, headers, conns):
    """Sends rate*seconds requests at fixed times; returns (latencies ms,
    errors, achieved rate)."""
    pool = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    n = int(rate * seconds)
    lat, errors = [], []
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def one(i):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        try:
            status, body = await http_get(*conn, paths(i), headers)
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
        except (OSError, asyncio.IncompleteReadError) as e:
            errors.append(str(e))
            conn = await asyncio.open_connection("127.0.0.1", port)
        lat.append((loop.time() - due) * 1000.0)
        pool.put_nowait(conn)

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    await asyncio.gather(*tasks)
    wall = loop.time() - t0
    while not pool.empty():
        _, w = pool.get_nowait()
        w.close()
    return lat, errors, n / wall


def wrk(port, path, token, seconds, conns, lua=None):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency",
           "-H", f"Authorization: Bearer {token}"]
    if lua:
        cmd += ["-s", lua]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    r = subprocess.run(["nice"] + cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"Requests/sec:\s*([\d.]+)", r.stdout)
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", r.stdout)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", r.stdout)
    p99ms = None
    if p99:
        p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return (float(m.group(1)) if m else 0.0, int(bad.group(1)) if bad else 0, p99ms,
            r.stdout if not m else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build dir (default build)")
    ap.add_argument("-n", type=int, default=100000, help="open escalations (default 100000)")
    ap.add_argument("--rate", type=float, default=500, help="fixed request rate (default 500/s)")
    ap.add_argument("--seconds", type=float, default=10, help="per fixed-rate run (default 10)")
    ap.add_argument("--conns", type=int, default=16, help="keep-alive connections (default 16)")
    ap.add_argument("--warmup", type=float, default=5,
                    help="seconds of unmeasured load over all cases first (default 5)")
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--wrk-connections", type=int, default=16)
    ap.add_argument("--dir", help="where the database goes (default a new dir in /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the directory")
    o = ap.parse_args()

    clerkd = os.path.join(o.build, "clerkd")
    seed = os.path.join(o.build, "bench", "escalations_seed")
    for p in (clerkd, seed):
        if not os.access(p, os.X_OK):
            sys.exit(f"{p}: not built; run meson setup {o.build} && ninja -C {o.build}")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk; scripts/deps.sh --test)")
    base = o.dir or tempfile.mkdtemp(prefix="clerk-esc-bench-", dir="/var/tmp")
    state = os.path.join(base, "state")
    os.makedirs(os.path.join(base, "playbooks"), exist_ok=True)
    os.makedirs(state, exist_ok=True)
    db = os.path.join(state, "clerk.db")
    proc = None
    try:
        t = time.time()
        r = subprocess.run(["nice", seed, "-n", str(o.n), db], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("seeding failed: " + r.stderr)
        print(f"seeded {o.n} open escalations in {time.time() - t:.1f} s ({db})")
        print("load average before the runs: %.2f %.2f %.2f (%d CPUs)"
              % (os.getloadavg() + (os.cpu_count(),)))
        port = free_port()
        conf = os.path.join(base, "clerkd.conf")
        with open(conf, "w") as f:
            f.write(f'state_dir = "state";\nlisten = "127.0.0.1:{port}";\nworkers = 1;\n'
                    f'log_level = "warn";\nplaybook_dir = "playbooks";\n')
        log = open(os.path.join(base, "clerkd.log"), "wb")
        proc = subprocess.Popen([clerkd, "--config", conf], stdout=log, stderr=log)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        with open(os.path.join(state, "api.token")) as f:
            token = f.read().strip()
        hdr = f"Authorization: Bearer {token}\r\n"

        rng = random.Random(6)
        cases = [
            ("healthz (baseline)", lambda i: "/healthz"),
            ("list, first page (100)", lambda i: "/api/v1/escalations?limit=100"),
            ("list, playbook+reason", lambda i: "/api/v1/escalations?limit=100&playbook=transfer&reason=mismatch"),
            ("list, assignee=rita", lambda i: "/api/v1/escalations?limit=100&assignee=rita"),
            ("list, overdue=1", lambda i: "/api/v1/escalations?limit=100&overdue=1"),
            ("show (random id)", lambda i: f"/api/v1/escalations/{rng.randint(1, o.n)}"),
        ]
        # every case answers as expected before it is timed
        for name, path in cases[1:]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path(0)}",
                                         headers={"Authorization": "Bearer " + token})
            body = json.loads(urllib.request.urlopen(req, timeout=10).read())
            rows = body.get("escalations")
            if rows is not None and not rows:
                sys.exit(f"{name}: empty answer; the seed is not what the benchmark expects")
        # Warm-up, not measured: every case in turn at the fixed rate, so
        # the first measured case does not also pay for clerkd's first
        # minutes (page cache, the WAL checkpoint after the seed's writes).
        if o.warmup > 0:
            asyncio.run(fixed_rate(port, lambda i: cases[i % len(cases)][1](i), o.rate,
                                   o.warmup, hdr, o.conns))
        print(f"\nfixed rate {o.rate:.0f} req/s for {o.seconds:.0f} s each, {o.conns} keep-alive"
              f" connections, after {o.warmup:.0f} s of warm-up; latency from when each request was"
              f" due (ms)")
        print(f"{'':26} {'p50':>7} {'p99':>7} {'max':>7} {'rate':>7}  p50/base p99/base")
        res = {}
        for name, path in cases:
            lat, errors, got = asyncio.run(fixed_rate(port, path, o.rate, o.seconds, hdr, o.conns))
            if errors:
                sys.exit(f"{name}: {len(errors)} failed requests, e.g. {errors[0]}")
            p50, p99 = statistics.median(lat), pct(lat, 99)
            res[name] = (p50, p99)
            b50, b99 = res["healthz (baseline)"]
            print(f"{name:26} {p50:7.2f} {p99:7.2f} {max(lat):7.2f} {got:7.0f}"
                  f"  {p50 / b50:7.1f}x {p99 / b99:7.1f}x")
        worst = max(v[1] for k, v in res.items() if not k.startswith("healthz"))
        print(f"target p99 < 10 ms for list and show: {'met' if worst < 10 else 'NOT met'}"
              f" (worst p99 {worst:.2f} ms)")

        print(f"\nmaximum rate, wrk -t2 -c{o.wrk_connections} -d{o.wrk_seconds}s (closed loop)")
        lua = os.path.join(base, "show.lua")
        with open(lua, "w") as f:
            f.write(f'math.randomseed(6)\nrequest = function()\n  return wrk.format("GET",'
                    f' "/api/v1/escalations/" .. math.random(1, {o.n}))\nend\n')
        rates = {}
        for name, path, script in (("healthz (baseline)", "/healthz", None),
                                   ("list, first page (100)", "/api/v1/escalations?limit=100", None),
                                   ("list, playbook+reason",
                                    "/api/v1/escalations?limit=100&playbook=transfer&reason=mismatch", None),
                                   ("show (random id)", "/api/v1/escalations/1", lua)):
            rps, bad, p99, out = wrk(port, path, token, o.wrk_seconds, o.wrk_connections, script)
            if bad or rps == 0:
                sys.exit(f"wrk {name}: {bad} bad responses\n{out}")
            rates[name] = rps
            print(f"{name:26} {rps:9.0f} req/s  p99 {p99 or 0:6.2f} ms"
                  f"  {rps / rates['healthz (baseline)']:.2f}x of healthz")

        # the cursor against OFFSET for the same deep page, in-process
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        deep = o.n * 9 // 10
        due, eid = con.execute("SELECT due, id FROM escalations WHERE state = 'open'"
                               " ORDER BY due, id LIMIT 1 OFFSET ?", (deep - 1,)).fetchone()
        cols = "id, item, playbook, reason, message, context, due"

        def timed(sql, args, reps=20):
            ts = []
            for _ in range(reps):
                t = time.perf_counter()
                rows = con.execute(sql, args).fetchall()
                ts.append((time.perf_counter() - t) * 1000)
            return statistics.median(ts), rows

        k_ms, krows = timed(f"SELECT {cols} FROM escalations WHERE state = 'open' AND"
                            " (due, id) > (?, ?) ORDER BY due, id LIMIT 100", (due, eid))
        o_ms, orows = timed(f"SELECT {cols} FROM escalations WHERE state = 'open'"
                            " ORDER BY due, id LIMIT 100 OFFSET ?", (deep,))
        if krows != orows:
            sys.exit("the cursor page and the OFFSET page differ")
        print("load average after the runs: %.2f %.2f %.2f" % os.getloadavg())
        print(f"\npage at row {deep}: cursor (what clerkd does) {k_ms:.2f} ms, SQL OFFSET"
              f" {o_ms:.2f} ms: the cursor is {o_ms / k_ms:.0f}x faster (medians of 20)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if not o.keep and not o.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
