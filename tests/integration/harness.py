"""Integration-test harness: starts the real clerkd on a temporary state
directory and a free loopback port, talks to it over HTTP, and reports TAP.

Used by every tests/integration/test_*.py. Only the Python standard library.

With CLERK_TEST_STORE=pg every Daemon keeps its queue in a fresh database
of a PostgreSQL cluster instead of SQLite: the cluster at CLERK_TEST_PG_URL
(an admin URL, postgresql://clerk@127.0.0.1:PORT/postgres) when set, else
one this process starts with tests/pg/cluster.sh and stops at exit. A test
that needs PostgreSQL and cannot get it fails; it never skips.
"""
import atexit
import itertools
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
STORE = os.environ.get("CLERK_TEST_STORE", "sqlite")
if STORE not in ("sqlite", "pg"):
    sys.exit(f"CLERK_TEST_STORE={STORE!r}: use sqlite or pg")
STORE_PG = STORE == "pg"
PG_CLUSTER_SH = os.path.join(SRCDIR, "tests", "pg", "cluster.sh")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgCluster:
    """A throwaway cluster of tests/pg/cluster.sh, stopped when this process
    exits: by atexit, by SIGTERM/SIGINT turned into SystemExit (meson's
    timeout sends SIGTERM), and by a watchdog process that outlives a
    kill -9 of this one."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clerk-pg-")
        os.chmod(self.dir, 0o755)
        r = subprocess.run(["sh", PG_CLUSTER_SH, "start", self.dir],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("could not start a PostgreSQL cluster with "
                               f"tests/pg/cluster.sh:\n{r.stderr}{r.stdout}")
        self.url = r.stdout.strip().splitlines()[-1]
        self.port = int(open(os.path.join(self.dir, "port")).read())
        self.bindir = open(os.path.join(self.dir, "bindir")).read().strip()
        self.stopped = False
        self.watchdog = subprocess.Popen(
            ["sh", "-c", 'while kill -0 "$1" 2>/dev/null; do sleep 1; done;'
             ' exec sh "$2" stop "$3"', "watchdog", str(os.getpid()),
             PG_CLUSTER_SH, self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        atexit.register(self.stop)
        for sig in (sigmod.SIGTERM, sigmod.SIGINT):
            if sigmod.getsignal(sig) in (sigmod.SIG_DFL, sigmod.default_int_handler):
                sigmod.signal(sig, _exit_on_signal)

    def restart(self):
        """pg_ctl restart -m fast: every connection is cut, the port stays."""
        r = subprocess.run(["sh", PG_CLUSTER_SH, "restart", self.dir],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError("PostgreSQL restart failed:\n" + r.stderr)

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        if os.environ.get("CLERK_KEEP_TMP"):
            print(f"# CLERK_KEEP_TMP: PostgreSQL left running in {self.dir} at"
                  f" {self.url}; stop it with tests/pg/cluster.sh stop {self.dir}",
                  file=sys.stderr, flush=True)
        else:
            subprocess.run(["sh", PG_CLUSTER_SH, "stop", self.dir],
                           capture_output=True, timeout=120)
        self.watchdog.kill()
        self.watchdog.wait()


def _exit_on_signal(signum, frame):
    sys.exit(128 + signum)


_pg_cluster = None
_pg_db_seq = itertools.count(1)


def pg_cluster():
    """This process's own cluster (started on first use), for tests that
    must restart the server; the others use pg_admin_url()."""
    global _pg_cluster
    if _pg_cluster is None:
        _pg_cluster = PgCluster()
    return _pg_cluster


def pg_admin_url():
    """The admin URL of the cluster the test databases are made in. Raises
    RuntimeError with the reason when there is none."""
    return os.environ.get("CLERK_TEST_PG_URL") or pg_cluster().url


def pg_db_url(admin_url, dbname):
    """admin_url with its database replaced by dbname."""
    base, _, rest = admin_url.partition("://")
    hostpart, _, _ = rest.partition("/")
    return f"{base}://{hostpart}/{dbname}"


def psql(url, sql, timeout=60):
    """Runs sql with psql on url; returns its stdout. Raises PgError."""
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                        "-d", url, "-f", "-"], input=sql, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise PgError(f"psql on {url}: {r.stderr.strip()}\nSQL: {sql[:2000]}")
    return r.stdout


def pg_create_db(admin_url=None):
    """A new empty database in the test cluster; returns its URL."""
    admin_url = admin_url or pg_admin_url()
    name = f"clerk_it_{os.getpid()}_{next(_pg_db_seq)}"
    psql(admin_url, f"CREATE DATABASE {name};")
    return pg_db_url(admin_url, name)


def pg_drop_db(url):
    name = url.rsplit("/", 1)[1]
    psql(pg_db_url(url, "postgres"),
         f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


class PgError(RuntimeError):
    pass


def sql_literal(v):
    """v as a PostgreSQL literal, for PgDB's ? placeholders."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x" + bytes(v).hex() + "'::bytea"
    v = str(v)
    if "\0" in v:
        raise ValueError("a NUL byte cannot be sent to PostgreSQL")
    # standard_conforming_strings is on (the default since 9.1): only the
    # quote itself needs doubling.
    return "'" + v.replace("'", "''") + "'"


def _bind(sql, params):
    """sql with each ? outside quotes and comments replaced by a literal."""
    out, i, params = [], 0, list(params)
    n, quote = len(sql), None
    while i < n:
        c = sql[i]
        if quote:
            out.append(c)
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            out.append(c)
        elif c == "?":
            if not params:
                raise PgError(f"more ? than parameters in: {sql}")
            out.append(sql_literal(params.pop(0)))
        else:
            out.append(c)
        i += 1
    if params:
        raise PgError(f"{len(params)} parameter(s) left over for: {sql}")
    return "".join(out)


# SQLite's json_extract(col, '$.key') on a JSON text column is PostgreSQL's
# (col::json ->> 'key'); the value comes back as text either way for the
# string fields the tests read.
_JSON_EXTRACT = re.compile(r"json_extract\(\s*([\w.]+)\s*,\s*'\$\.(\w+)'\s*\)")


class PgCursor:
    def __init__(self, rows):
        self.rows = rows
        self.pos = 0

    def fetchone(self):
        if self.pos >= len(self.rows):
            return None
        self.pos += 1
        return self.rows[self.pos - 1]

    def fetchall(self):
        rest = self.rows[self.pos:]
        self.pos = len(self.rows)
        return rest

    def __iter__(self):
        return iter(self.fetchall())


class PgDB:
    """What the tests use of a sqlite3 connection, on a PostgreSQL
    database through psql: execute(sql, params) with ? placeholders, rows
    as tuples. A SELECT is wrapped so each row comes back as one line of
    JSON (row_to_json): integers stay int, NULL is None and text is never
    guessed at, unlike CSV. Every statement commits on its own."""

    def __init__(self, url):
        self.url = url

    def execute(self, sql, params=()):
        sql = _JSON_EXTRACT.sub(r"(\1::json ->> '\2')", _bind(sql, params))
        body = sql.strip().rstrip(";")
        if re.match(r"(?is)^\s*(select|with|values)\b", body):
            out = psql(self.url, "SELECT row_to_json(q)::text FROM (\n"
                       f"{body}\n) q;")
            rows = [tuple(v for _, v in json.loads(line, object_pairs_hook=list))
                    for line in out.splitlines() if line]
            return PgCursor(rows)
        psql(self.url, body + ";")
        return PgCursor([])

    def commit(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


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

    def __init__(self, workers=2, extra_conf="", keep=False, store_url=None,
                 playbook_dir="playbooks"):
        self.dir = tempfile.mkdtemp(prefix="clerk-it-")
        self.port = free_port()
        # PG mode: a fresh database per Daemon (dropped at cleanup), or the
        # one given by store_url (another node of the same queue). A
        # cluster that cannot start makes the test fail here.
        self.store_url = store_url
        self.own_db = False
        if STORE_PG and store_url is None:
            try:
                self.store_url = pg_create_db()
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                shutil.rmtree(self.dir, ignore_errors=True)
                msg = f"CLERK_TEST_STORE=pg but no PostgreSQL database: {e}"
                for f in (sys.stdout, sys.stderr):
                    print("Bail out! " + msg.replace("\n", "\n# "),
                          file=f, flush=True)
                sys.exit(1)
            self.own_db = True
        store_line = f'store = "{self.store_url}";\n' if self.store_url else ""
        # A second node (node()) reads the first one's playbook folder.
        self.pbdir = os.path.join(self.dir, playbook_dir)
        self.caldir = os.path.join(self.pbdir, "calendars")
        os.makedirs(self.caldir, exist_ok=True)
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
playbook_dir = "{playbook_dir}";
calendar_dir = "{playbook_dir}/calendars";
timezone = "Asia/Shanghai";
lease = "5s";
drain_grace = "5s";
poll = "100ms";
{store_line}{extra_conf}
''')
        self.workers = workers

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

    def node(self, workers=None, extra_conf=""):
        """Another clerkd on the same queue (PG mode): same database and
        playbook folder, its own state directory, port and API token.
        Start it with start(); cleanup() leaves the database to self."""
        if not self.store_url:
            raise RuntimeError("a second node needs a shared database: set"
                               " CLERK_TEST_STORE=pg")
        return Daemon(workers=self.workers if workers is None else workers,
                      extra_conf=extra_conf, keep=self.keep,
                      store_url=self.store_url, playbook_dir=self.pbdir)

    def db(self):
        """A read-only connection to the daemon's database (SQLite), or a
        PgDB on its PostgreSQL database."""
        if self.store_url:
            return PgDB(self.store_url)
        path = os.path.join(self.state, "clerk.db")
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def db_rw(self):
        """A connection that may write (tests that tamper with rows)."""
        if self.store_url:
            return PgDB(self.store_url)
        return sqlite3.connect(os.path.join(self.state, "clerk.db"), timeout=10)

    def db_blobs(self):
        """{name: bytes} of everything the store keeps on disk, for the
        tests that look for secrets in it: the SQLite files, or a pg_dump
        of the PostgreSQL database (what a backup of it would hold)."""
        if self.store_url:
            r = subprocess.run(["pg_dump", "-d", self.store_url],
                               capture_output=True, timeout=120)
            if r.returncode != 0:
                raise PgError("pg_dump: " + r.stderr.decode(errors="replace"))
            return {"pg_dump": r.stdout}
        out = {}
        for name in os.listdir(self.state):
            if name.startswith("clerk.db"):
                with open(os.path.join(self.state, name), "rb") as f:
                    out[name] = f.read()
        return out

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
            if self.own_db:
                try:
                    pg_drop_db(self.store_url)
                except (PgError, subprocess.TimeoutExpired) as e:
                    print(f"# could not drop {self.store_url}: {e}",
                          file=sys.stderr, flush=True)


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
