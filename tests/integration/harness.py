"""Integration-test harness: starts the real clerkd on a temporary state
directory and a free loopback port, talks to it over HTTP, and reports TAP.

Used by every tests/integration/test_*.py. Only the Python standard library.
"""
import json
import os
import re
import shutil
import signal as sigmod
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CLERKD = os.environ.get("CLERKD", "build/clerkd")
CLERKCTL = os.environ.get("CLERKCTL", "build/clerkctl")
SRCDIR = os.environ.get("SRCDIR", os.getcwd())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Tap:
    """Minimal TAP producer: ok()/fail() lines, plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, name, detail=""):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            for line in str(detail).splitlines():
                print(f"# {line}", flush=True)
            # meson shows a failing TAP test's stderr, not its stdout: the
            # why goes there too, so a CI log says what failed.
            print(f"not ok {self.n} - {name}", file=sys.stderr, flush=True)
            for line in str(detail).splitlines()[:80]:
                print(f"# {line}", file=sys.stderr, flush=True)
        return cond

    def eq(self, got, want, name):
        return self.check(got == want, name, f"got {got!r}\nwant {want!r}")

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


class Daemon:
    """A clerkd on its own temp directory. Playbooks are written into
    DIR/playbooks, calendars into DIR/playbooks/calendars."""

    def __init__(self, workers=2, extra_conf="", keep=False):
        self.dir = tempfile.mkdtemp(prefix="clerk-it-")
        self.port = free_port()
        self.pbdir = os.path.join(self.dir, "playbooks")
        self.caldir = os.path.join(self.pbdir, "calendars")
        os.makedirs(self.caldir)
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "clerkd.conf")
        self.log = os.path.join(self.dir, "clerkd.log")
        self.proc = None
        self.keep = keep
        with open(self.conf, "w") as f:
            f.write(f'''state_dir = "state";
listen = "127.0.0.1:{self.port}";
workers = {workers};
log_level = "debug";
playbook_dir = "playbooks";
calendar_dir = "playbooks/calendars";
timezone = "Asia/Shanghai";
lease = "5s";
drain_grace = "5s";
poll = "100ms";
{extra_conf}
''')

    def write_playbook(self, name, text):
        path = os.path.join(self.pbdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def write_calendar(self, name, text):
        path = os.path.join(self.caldir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, wait=True, env=None):
        e = dict(os.environ)
        e.update(env or {})
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([CLERKD, "--config", self.conf],
                                     stdout=logf, stderr=logf, env=e)
        logf.close()
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clerkd exited with {self.proc.returncode}:\n"
                                   + self.log_text()[-3000:])
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("clerkd did not become ready:\n" + self.log_text()[-3000:])

    def token(self):
        with open(os.path.join(self.state, "api.token")) as f:
            return f.read().strip()

    def api(self, method, path, body=None, token=True):
        """Returns (status, parsed JSON or text)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + self.token())
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def ctl(self, *args, input=None):
        """Runs clerkctl against this daemon; returns CompletedProcess."""
        return subprocess.run([CLERKCTL, "--config", self.conf, *args],
                              capture_output=True, text=True, input=input,
                              timeout=60)

    def db(self):
        """A read-only connection to the daemon's database."""
        path = os.path.join(self.state, "clerk.db")
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def counts(self):
        st, body = self.api("GET", "/api/v1/status")
        return body.get("counts", {}) if st == 200 else {}

    def wait_for(self, cond, timeout=60, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=sigmod.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_records(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def cleanup(self):
        self.stop()
        if not self.keep and not os.environ.get("CLERK_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def run_node_tests(t, script, cwd, env, timeout):
    """Runs `node --test` on a browser test file and passes each of its
    top-level TAP results on to t, with the diagnostics of failures."""
    name = os.path.basename(script)
    try:
        r = subprocess.run(["node", "--test", "--test-reporter=tap", script],
                           cwd=cwd, capture_output=True, text=True, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        r = subprocess.CompletedProcess(e.cmd, -1, text(e.stdout),
                                        text(e.stderr) + f"\ntimed out after {timeout} s")
    lines = r.stdout.splitlines()
    # node's TAP nests the file's tests; keep the outermost level that has
    # results, and pass each result on with its diagnostics.
    results = [(len(m.group(1)), m.group(2) == "ok", m.group(3), i)
               for i, line in enumerate(lines)
               for m in [re.match(r"^(\s*)(not ok|ok) \d+ - (.*)$", line)] if m]
    if results:
        top = min(x[0] for x in results)
        for indent, ok, title, i in results:
            if indent != top:
                continue
            detail = ""
            if not ok:
                j, block = i + 1, []
                while j < len(lines) and not re.match(r"^\s*(not ok|ok) \d+ ", lines[j]):
                    block.append(lines[j])
                    j += 1
                detail = "\n".join(block[:60])
            t.check(ok, title.replace("#", "\\#"), detail)
    t.check(r.returncode == 0 and results, f"node --test {name} exits 0",
            "exit %d\n%s\n%s" % (r.returncode, r.stdout[-4000:], r.stderr[-3000:]))
    return r


BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def browser_tap():
    """The Tap of a browser test: skips the whole file (1..0 # SKIP) when
    node or chromium is missing, and installs playwright-core from
    tests/browser/package-lock.json (npm ci) when it is not there yet."""
    if not shutil.which("node"):
        print("1..0 # SKIP node is not installed", flush=True)
        sys.exit(0)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"1..0 # SKIP {CHROMIUM} is not installed", flush=True)
        sys.exit(0)
    t = Tap()
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        npm = shutil.which("npm")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"] if npm else ["false"],
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
        if not t.check(r.returncode == 0, "npm ci installs playwright-core in tests/browser",
                       (r.stdout + r.stderr)[-2000:]):
            t.done()
    return t


def write_users(t, d, users):
    """Writes d's users file (mode 0600) from {name: (role, password)},
    hashing each password with `clerkctl user hash`."""
    rows = []
    for name, (role, pw) in users.items():
        r = d.ctl("user", "hash", input=pw + "\n")
        t.check(r.returncode == 0, f"clerkctl user hash for {name}", r.stderr)
        rows.append(f'  {{ name = "{name}"; role = "{role}";'
                    f' password = "{r.stdout.strip().splitlines()[-1]}"; }}')
    path = os.path.join(d.dir, "users.cfg")
    with open(path, "w") as f:
        f.write("users = (\n" + ",\n".join(rows) + "\n);\n")
    os.chmod(path, 0o600)
