#!/usr/bin/env python3
"""Calendars and cron: a playbook bound to a calendar starts steps only
inside its hours (a public holiday keeps work waiting, a 调休 make-up
workday opens a weekend-style day), reloads apply new calendar files, and a
cron trigger with a seconds field fires in the configured time zone."""
import datetime
import time
import zoneinfo

from harness import Daemon, Tap

tz = zoneinfo.ZoneInfo("Asia/Shanghai")
today = datetime.datetime.now(tz).date()
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
wd = today.weekday()
other = days[(wd + 1) % 7]
ALL_DAY = "\n".join(f'  {d} = ["00:00-24:00"];' for d in days)


def calendar(extra):
    return f'''name = "office";
hours = {{
{ALL_DAY}
}};
{extra}
'''


t = Tap()
d = Daemon()
try:
    # Today is a public holiday: closed all day.
    d.write_calendar("office.cfg", calendar(f'holidays = ["{today.isoformat()}"];'))
    d.write_playbook("cal.cfg", '''
name = "cal";
trigger = { manual = true; };
calendar = "office";
steps = ( { id = "a"; use = "noop"; } );
''')
    d.write_playbook("free.cfg", '''
name = "free";
trigger = { manual = true; };
steps = ( { id = "a"; use = "noop"; } );
''')
    d.write_playbook("clock.cfg", '''
name = "clock";
trigger = { cron = "*/2 * * * * *"; };
steps = ( { id = "a"; use = "noop"; } );
''')
    d.start()
    st, body = d.api("POST", "/api/v1/playbooks/cal/run", {"key": "c1"})
    held = body["item"]
    st, body = d.api("POST", "/api/v1/playbooks/free/run", {"key": "f1"})
    free = body["item"]

    def state(i):
        return d.api("GET", f"/api/v1/items/{i}")[1]["state"]

    d.wait_for(lambda: state(free) == "done", 10, "uncalendared item done")
    time.sleep(1.5)
    t.eq(state(held), "queued", "on a public holiday the calendared item waits")

    # A make-up workday: weekly hours only on another weekday, today listed
    # as 调休 with that weekday's hours.
    d.write_calendar("office.cfg", f'''name = "office";
hours = {{ {other} = ["00:00-24:00"]; }};
makeup_workdays = ["{today.isoformat()}"];
makeup_hours = "{other}";
''')
    st, body = d.api("POST", "/api/v1/reload")
    t.eq(body["errors"], [], "the edited calendar loads")
    try:
        d.wait_for(lambda: state(held) == "done", 10, "held item runs")
        ok = True
    except TimeoutError:
        ok = False
    t.check(ok, "on a make-up workday the same item runs after the reload")

    # Closed again (no hours today at all): new work waits.
    d.write_calendar("office.cfg", f'''name = "office";
hours = {{ {other} = ["00:00-24:00"]; }};
''')
    d.api("POST", "/api/v1/reload")
    st, body = d.api("POST", "/api/v1/playbooks/cal/run", {"key": "c2"})
    c2 = body["item"]
    time.sleep(1.5)
    t.eq(state(c2), "queued", "outside weekly hours the item waits")

    # A bad calendar file is reported as file:line and the old one stays.
    d.write_calendar("office.cfg", '''name = "office";
hours = { mon = ["25:00-26:00"]; };
''')
    st, body = d.api("POST", "/api/v1/reload")
    t.check(any("office.cfg:2" in e for e in body["errors"]),
            "a bad calendar is reported with file:line", body["errors"])

    # cron with seconds: fires every 2 s, one item per slot
    def clock_items():
        return d.api("GET", "/api/v1/items?playbook=clock")[1]["items"]
    d.wait_for(lambda: len(clock_items()) >= 2, 8, "two cron items")
    items = clock_items()
    keys = [i["key"] for i in items]
    t.eq(len(keys), len(set(keys)), "cron items have distinct keys")
    secs = sorted(int(k.split(":")[3][:2]) for k in keys)
    t.check(all(s % 2 == 0 for s in secs), "cron */2 seconds fires on even seconds", keys)
    t.check(all(k.startswith("cron:") and k.endswith("+08:00") for k in keys),
            "cron keys are in the configured time zone (Asia/Shanghai)", keys)
    t.eq(d.stop(), 0, "clean stop")
finally:
    d.cleanup()
t.done()
