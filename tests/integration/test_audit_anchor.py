#!/usr/bin/env python3
"""The audit trail's end is anchored: clerkd appends the chain's head to
DATABASE.audit-anchor (and logs it) after each commit that added audit
rows, so `clerkctl audit verify` notices rows deleted from the END of the
table, which leave a shorter chain that still verifies. An anchor behind
the database (a crash between the commit and the anchor write) is no
tampering; a restore is recorded, and a truncation after it is caught;
a database without an anchor (a backup) says its end cannot be checked."""
import os
import re
import shutil
import sqlite3
import stat

from harness import Daemon, Tap

t = Tap()
d = Daemon()


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def last_row():
    con = sqlite3.connect(db_path)
    try:
        return con.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        con.close()


def entries():
    with open(anchor) as f:
        return [line for line in f.read().splitlines() if line and not line.startswith("#")]


def reload(n):
    """n audit rows, one commit each (a reload is audited)."""
    for _ in range(n):
        before = last_row()[0]
        st, _ = d.api("POST", "/api/v1/reload")
        assert st == 200
        d.wait_for(lambda: last_row()[0] > before, 10, "the reload's audit row")


def delete_tail(k):
    con = sqlite3.connect(db_path)
    con.execute("DELETE FROM audit WHERE id > (SELECT max(id) FROM audit) - ?", (k,))
    con.commit()
    con.close()


try:
    d.write_playbook("noop.cfg", '''
name = "noop";
trigger = { manual = true; };
steps = ( { id = "n"; use = "noop"; } );
''')
    db_path = os.path.join(d.state, "clerk.db")
    anchor = db_path + ".audit-anchor"
    d.start()
    reload(3)
    # Items write no audit rows, so they write no anchor lines.
    n_before = len(entries())
    for k in range(20):
        d.api("POST", "/api/v1/playbooks/noop/run", {"key": f"k{k}"})
    d.wait_for(lambda: d.counts().get("noop", {}).get("done") == 20, 20, "items done")
    t.eq(len(entries()), n_before, "work items add no anchor lines")
    backup = os.path.join(d.dir, "at-4.db")
    r = d.ctl("backup", backup)
    t.eq(r.returncode, 0, "a backup with 4 audit rows")
    kept_anchor = os.path.join(d.dir, "at-4.audit-anchor")
    shutil.copy(anchor, kept_anchor)
    reload(2)
    t.eq(d.stop(), 0, "clean stop")

    head = last_row()
    t.eq(head[0], 6, "six audit rows: start and five reloads")
    st = os.stat(anchor)
    t.eq(stat.S_IMODE(st.st_mode), 0o600, "the anchor file is mode 0600")
    lines = entries()
    t.eq(lines[-1].split(" ")[:4], ["head", "id=6", "rows=6", f"hash={head[1]}"],
         "the anchor's last line is the chain's head")
    t.eq([int(re.search(r"id=(\d+)", x).group(1)) for x in lines], [1, 2, 3, 4, 5, 6],
         "one anchor line per commit with audit rows")
    logged = [r["msg"] for r in d.log_records() if r.get("msg", "").startswith("audit anchor: ")]
    t.check(len(logged) == 6 and logged[-1] == "audit anchor: " + lines[-1],
            "the journal (JSON log) keeps a copy of each anchor line", logged)

    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "6 row(s)" in r.stdout and "intact; its end matches" in r.stdout
            and "(row 6)" in r.stdout, "intact: verify passes and says the end matches", out(r))

    # A crash between the commit and the anchor write: the database is ahead.
    with open(anchor) as f:
        whole = f.read()
    with open(anchor, "w") as f:
        f.write(whole[:whole.rstrip("\n").rindex("\n") + 1])
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "1 row(s) after the last anchored row 5" in r.stdout,
            "anchor one line behind the database (crash ordering): passes, says so", out(r))
    # ... or in the middle of the anchor write: a torn last line.
    with open(anchor, "a") as f:
        f.write(lines[-1][:30])
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "is incomplete" in r.stdout and "row(s) after" in r.stdout,
            "a torn last anchor line is ignored with a note", out(r))
    d.start()   # appends start's row 7, on a line of its own after the torn one
    t.eq(d.stop(), 0, "clerkd runs on after the torn line")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "(row 7)" in r.stdout and "line 9 is not an anchor entry" in r.stdout,
            "the next anchor line starts on its own line", out(r))

    # Deleting the last rows leaves a chain that verifies: the anchor catches it.
    intact = os.path.join(d.dir, "intact.db")
    src, dst = sqlite3.connect(db_path), sqlite3.connect(intact)
    src.backup(dst)
    src.close()
    dst.close()
    delete_tail(2)
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 1 and "audit rows 6..7: missing from the end (deleted)" in r.stdout
            and "2 row(s) are gone" in r.stdout and "tampered with" in r.stdout,
            "two rows deleted from the end: verify fails and says how many", out(r))
    # clerkd says so at start, and its new rows do not hide the truncation
    # (row 6's anchor line went in the crash case above, row 7's is kept).
    d.start()
    reload(1)
    t.eq(d.stop(), 0, "clerkd starts on a truncated trail")
    t.check(any(r.get("level") == "error" and "missing from the end" in r.get("msg", "")
                for r in d.log_records()), "clerkd logs the truncation at start")
    t.eq(last_row()[0], 7, "the truncated trail grew back to 7 rows")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 1 and "audit row 7: not the row" in r.stdout
            and "rewritten from row 7 on" in r.stdout and "missing from the end" not in r.stdout,
            "rows written after the truncation do not launder it", out(r))

    # A backup verified on its own: the end cannot be checked, and it says so.
    r = d.ctl("audit", "verify", backup)
    t.check(r.returncode == 0 and "4 row(s)" in r.stdout and "its end cannot be checked" in r.stdout
            and "does not exist" in r.stdout, "a backup without an anchor: a clear note, not a silent pass", out(r))
    r = d.ctl("audit", "verify", backup, "--anchor", kept_anchor)
    t.check(r.returncode == 0 and "its end matches" in r.stdout and "(row 4)" in r.stdout,
            "a backup against the anchor kept with it: passes", out(r))
    short = os.path.join(d.dir, "at-3.db")
    shutil.copy(backup, short)
    con = sqlite3.connect(short)
    con.execute("DELETE FROM audit WHERE id = 4")
    con.commit()
    con.close()
    r = d.ctl("audit", "verify", short, "--anchor", kept_anchor)
    t.check(r.returncode == 1 and "audit rows 4..4: missing from the end" in r.stdout,
            "a truncated backup against its kept anchor: fails", out(r))
    r = d.ctl("audit", "verify", backup, "--anchor", os.path.join(d.dir, "nope"))
    t.check(r.returncode == 1 and "--anchor" in r.stderr, "a missing --anchor file is an error", out(r))

    # A restore puts an older trail in place deliberately: recorded, clean.
    r = d.ctl("restore", intact)
    t.check(r.returncode == 0 and "records the restore (trail ends at row 7)" in r.stdout,
            "clerkctl restore records itself in the anchor", out(r))
    t.check(entries()[-1].startswith("restore id=7 rows=7 hash=") and
            entries()[-1].endswith(" from=" + os.path.realpath(intact)),
            "a restore line with the restored head", entries()[-1])
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "(row 7, anchored since a restore)" in r.stdout,
            "verify after the restore is clean", out(r))
    r = d.ctl("restore", backup)
    t.eq(r.returncode, 0, "restoring the older backup (4 rows)")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "4 row(s)" in r.stdout and "(row 4, anchored since a restore)" in r.stdout,
            "a restore to an older trail is no truncation", out(r))
    d.start()
    reload(1)
    t.eq(d.stop(), 0, "clerkd runs on the restored trail")
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "6 row(s)" in r.stdout and "(row 6, anchored since a restore)" in r.stdout,
            "rows after the restore are anchored", out(r))
    delete_tail(1)
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 1 and "audit rows 6..6: missing from the end" in r.stdout
            and "1 row(s) are gone" in r.stdout, "a truncation after a restore is caught", out(r))
    delete_tail(2)
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 1 and "audit rows 4..6: missing from the end" in r.stdout,
            "cutting into the restored rows is caught too", out(r))

    # Without any anchor (an install from before it, or a deleted file).
    os.unlink(anchor)
    r = d.ctl("audit", "verify")
    t.check(r.returncode == 0 and "its end cannot be checked" in r.stdout,
            "no anchor file: the note that the end cannot be checked", out(r))
finally:
    d.cleanup()
t.done()
