#!/usr/bin/env python3
"""The OCR document check: documents generated now (tests/ocr_gen.py, with
ground truth) checked by `clerkctl ocr check`, then the ocr.check step in a
running clerkd: accept archives, reject and escalate quarantine, the page
image is written, and OMP_THREAD_LIMIT=1 is in the daemon's environment.

CLERK_TEST_ASAN=1 (the sanitizer run) checks fewer documents: OCR under
ASan is ~10x slower.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLERKCTL, SRCDIR, Daemon, Tap  # noqa: E402

t = Tap()
asan = os.environ.get("CLERK_TEST_ASAN") == "1"
tmpl_dir = os.path.join(SRCDIR, "playbooks", "templates")
work = tempfile.mkdtemp(prefix="clerk-ocr-")
fixtures = os.path.join(work, "fixtures")
subprocess.run([sys.executable, os.path.join(SRCDIR, "tests", "ocr_gen.py"),
                "--out", fixtures, "--set", "test", "--seed", "5"], check=True)
with open(os.path.join(fixtures, "truth.json")) as f:
    cases = json.load(f)

QUICK = {"id-clean.png", "id-wrong-check.png", "truncated.png", "empty.png",
         "bomb.png", "many-pages.pdf", "notes.png", "encrypted.pdf"}


def check(path, template, payload):
    r = subprocess.run([CLERKCTL, "--json", "ocr", "check", path,
                        "--template", os.path.join(tmpl_dir, template + ".cfg"),
                        "--payload", json.dumps(payload, ensure_ascii=False)],
                       capture_output=True, text=True, timeout=120)
    try:
        return r.returncode, json.loads(r.stdout), r.stderr
    except ValueError:
        return r.returncode, None, r.stdout + r.stderr


for c in cases:
    if asan and c["file"] not in QUICK:
        continue
    rc, res, err = check(os.path.join(fixtures, c["file"]), c["template"],
                         c["payload"])
    name = f'{c["file"]} ({c["case"]})'
    if not t.check(res is not None, f"{name}: clerkctl ocr check answers", err):
        continue
    v, want = res["verdict"], c["verdict"]
    detail = json.dumps(res["reasons"], ensure_ascii=False)
    if want == "not_accept":
        t.check(v != "accept", f"{name}: not accepted (got {v})", detail)
    elif want == "not_reject":
        # Tesseract may misread a degraded page: unsure is fine, a
        # rejection of a good document is not.
        t.check(v != "reject", f"{name}: not rejected (got {v})", detail)
    else:
        t.eq(v, want, f"{name}: verdict")
    t.eq(rc, {"accept": 0, "reject": 4, "escalate": 5}[v],
         f"{name}: exit status follows the verdict")
    got = {f["name"]: f for f in res["fields"]}
    for k, val in c["fields"].items():
        f = got.get(k)
        if want == "accept":
            t.eq(f and f["value"], val, f"{name}: field {k}")
        elif f and f["status"] == "ok":
            # Whatever was read with confidence must be right.
            t.eq(f["value"], val, f"{name}: field {k} read as ok is right")
    for f in res["fields"]:
        if f["status"] == "ok" and f["box"] is not None:
            t.check(f["box"][2] > 0 and f["box"][3] > 0,
                    f"{name}: field {f['name']} has a box")
            break
    if c["file"] == "id-two-pages.tif":
        t.check(res["mime"] == "image/tiff" and len(res["pages"]) == 2,
                f"{name}: both TIFF pages, told by content",
                (res["mime"], len(res["pages"])))
    if c["file"] == "id-clean.png":
        # The shipped template reads at 150 DPI (preprocess.dpi): the
        # 300 DPI A4 page is read, and shown, at half its size, and
        # measured at its own resolution.
        p = res["pages"][0]
        t.check(p["dpi"] == 150 and p["width"] == 1240 and
                p["checks"]["dpi"]["value"] == 300,
                f"{name}: read at 150 DPI, measured at 300",
                (p["dpi"], p["width"], p["checks"]["dpi"]))
    if c["file"] in ("id-birth-other.png", "id-sex-other.png"):
        # from_id: the card's own ID number says otherwise
        k = "birth" if "birth" in c["file"] else "sex"
        f = got.get(k) or {}
        t.check((f.get("status"), f.get("code")) == ("invalid", "cn_id.inconsistent"),
                f"{name}: {k} is inconsistent with the ID number", f)
        t.check(f"field.invalid" in [r["code"] for r in res["reasons"]
                                     if r.get("field") == k],
                f"{name}: a field.invalid [{k}] reason", res["reasons"])
        ev = f.get("evidence") or {}
        t.eq(ev.get("rule"), "from_id", f"{name}: evidence names the rule")
        t.check(ev.get("page_read") is not None and "raw" in ev["page_read"],
                f"{name}: evidence has the page read", ev)
        t.eq(got.get("id_no", {}).get("status"), "ok",
             f"{name}: the ID number itself is fine")
    if c["file"] == "id-uming.png":
        # the page read misread some field; reading it again settled it
        again = [f["name"] for f in res["fields"]
                 if f.get("second_read") or f.get("line_read")]
        t.check(again, f"{name}: a field was read again", res["fields"])
    if c["file"] == "id-clean.png" and c["verdict"] == "accept":
        t.check(all("evidence" not in f for f in res["fields"]),
                f"{name}: no evidence on an accepted document's fields")
    if c["file"] == "id-really-png.pdf":
        t.eq(res["mime"], "image/png", f"{name}: type by content, not name")
    if c["file"] == "encrypted.pdf":
        t.check("input.encrypted" in [r["code"] for r in res["reasons"]],
                f"{name}: reason input.encrypted", res["reasons"])
    if c["file"] in ("bomb.png", "many-pages.pdf", "truncated.png",
                     "empty.png", "notes.png", "encrypted.pdf"):
        codes = [r["code"] for r in res["reasons"]]
        t.check(any(x.startswith("input.") for x in codes),
                f"{name}: an input.* reason code", codes)

# Fields by zone and by pattern, on the clean ID card.
zp = os.path.join(work, "zone-pattern.cfg")
with open(zp, "w") as f:
    f.write('document_type = "居民身份证";\nidentify = [ "公民身份号码" ];\n'
            'fields = (\n'
            '  { name = "title"; zone = [0.0, 0.0, 1.0, 0.1]; type = "enum";'
            ' values = [ "居民身份证" ]; },\n'
            '  { name = "id_no"; pattern = "公民身份号码\\\\s*([0-9Xx]{18})";'
            ' type = "cn_id"; min_confidence = 80.0; }\n);\n')
clean = [c for c in cases if c["file"] == "id-clean.png" and c["verdict"] == "accept"][0]
r = subprocess.run([CLERKCTL, "--json", "ocr", "check",
                    os.path.join(fixtures, "id-clean.png"), "--template", zp],
                   capture_output=True, text=True, timeout=120)
res = json.loads(r.stdout) if r.returncode in (0, 4, 5) else None
if t.check(res is not None, "zone/pattern template: clerkctl answers", r.stderr):
    got = {f["name"]: f for f in res["fields"]}
    t.eq(res["verdict"], "accept", "zone/pattern template: accepted")
    t.eq(got["title"]["value"], "居民身份证", "a field by zone (top tenth of the page)")
    t.eq(got["id_no"]["value"], clean["fields"]["id_no"],
         "a field by pattern (group 1 of a PCRE2 on the page text)")
    t.check(all(got[k]["box"] and got[k]["box"][2] > 0 for k in got),
            "zone and pattern fields have boxes")

# A template error says where it is.
bad = os.path.join(work, "bad.cfg")
with open(bad, "w") as f:
    f.write('document_type = "x";\nfields = ( { name = "a"; type = "nosuch"; '
            'label = "A"; } );\n')
r = subprocess.run([CLERKCTL, "ocr", "check", os.path.join(fixtures, "id-clean.png"),
                    "--template", bad], capture_output=True, text=True)
t.eq(r.returncode, 1, "a broken template: exit 1")
t.check("bad.cfg:2:" in r.stderr and "nosuch" in r.stderr,
        "a broken template: file:line and what is wrong", r.stderr)

# ---- the ocr.check step in clerkd ----
# The sanitizer run keeps one document per verdict.
tpl = os.path.join(work, "id-nomatch.cfg")
with open(os.path.join(tmpl_dir, "id-card-front.cfg")) as f:
    text = f.read()
# Watch-folder uploads carry no case data to match names against.
with open(tpl, "w") as f:
    f.write(text.replace('match = "name";', '').replace('match = "id_no";', ''))
# the address's divisions table, which the template names beside it
shutil.copy(os.path.join(tmpl_dir, "cn-divisions.txt"), work)

env_before = os.environ.pop("OMP_THREAD_LIMIT", None)
d = Daemon(workers=2)
d.write_playbook("docs.cfg", f'''
name = "docs";
trigger = {{ watch = {{ dir = "inbox"; pattern = "*"; }}; }};
steps = (
  {{ id = "check"; use = "ocr.check"; template = "{tpl}";
    on_business_error = "reject"; }}
);
''')
# The shipped document-intake playbook, with the template it names
# (templates/ next to the playbook): every upload is checked before it
# is filed.
os.makedirs(os.path.join(d.pbdir, "templates"), exist_ok=True)
shutil.copy(os.path.join(SRCDIR, "playbooks", "document-intake.cfg"), d.pbdir)
shutil.copy(os.path.join(tmpl_dir, "upload.cfg"),
            os.path.join(d.pbdir, "templates"))
try:
    d.start()
    with open(f"/proc/{d.proc.pid}/environ", "rb") as f:
        envs = f.read().split(b"\0")
    t.check(b"OMP_THREAD_LIMIT=1" in envs,
            "clerkd re-executed itself with OMP_THREAD_LIMIT=1 in its environment")
    inbox = os.path.join(d.state, "inbox")
    d.wait_for(lambda: os.path.isdir(inbox), 10, "inbox created")
    uploads = {"id-clean.png": "done", "id-wrong-check.png": "rejected",
               "notes.png": "rejected", "id-birth-other.png": "escalated"}
    if not asan:
        uploads["id-bad.png"] = "escalated"
    for name in uploads:
        shutil.copy(os.path.join(fixtures, name), os.path.join(inbox, "." + name))
        os.rename(os.path.join(inbox, "." + name), os.path.join(inbox, name))

    names = {}

    def items():
        st, body = d.api("GET", "/api/v1/items?playbook=docs")
        out = {}
        for i in body.get("items", []):
            if i["id"] not in names:
                st, full = d.api("GET", f"/api/v1/items/{i['id']}")
                p = full.get("payload") if st == 200 else None
                p = json.loads(p) if isinstance(p, str) else (p or {})
                names[i["id"]] = p.get("name", "?")
            out[names[i["id"]]] = i
        return out

    def settled():
        it = items()
        return len(it) == len(uploads) and all(
            i["state"] in ("done", "rejected", "escalated") for i in it.values())
    try:
        d.wait_for(settled, 300 if asan else 120, "uploads checked")
    except TimeoutError:
        pass
    it = items()
    for name, want in uploads.items():
        t.eq(it.get(name, {}).get("state"), want, f"daemon: {name} is {want}")
    qdir = os.path.join(d.state, "quarantine", "documents")
    adir = os.path.join(d.state, "archive", "documents")
    archived = [f for _, _, fs in os.walk(adir) for f in fs]
    quarantined = os.listdir(qdir) if os.path.isdir(qdir) else []
    t.check(any(f.endswith("id-clean.png") for f in archived),
            "daemon: the accepted file is in the archive", archived)
    t.check(any(f.endswith("id-wrong-check.png") for f in quarantined) and
            any(f.endswith("notes.png") for f in quarantined),
            "daemon: rejected files are in quarantine, not deleted", quarantined)
    # (inbox/uploads is document-intake's)
    t.check(not [f for f in os.listdir(inbox) if not f.startswith(".") and
                 not os.path.isdir(os.path.join(inbox, f))],
            "daemon: nothing left in the inbox")
    good = it.get("id-clean.png", {})
    st, body = d.api("GET", f"/api/v1/items/{good.get('id')}")
    blob = json.dumps(body, ensure_ascii=False)
    t.check('"verdict": "accept"' in blob or '\\"verdict\\":\\"accept\\"' in blob,
            "daemon: the step output is the OCR result", blob[:500])
    t.check(os.path.exists(os.path.join(d.state, "artifacts", str(good.get("id")),
                                        "page-1.png")),
            "daemon: the page image is written under artifacts/<item id>/")
    # The page image through the API, for the reviewer UI.
    import urllib.error
    import urllib.request

    def raw_get(path, token=True):
        req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}")
        if token:
            req.add_header("Authorization", "Bearer " + d.token())
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type"), err.read()
    base = f"/api/v1/items/{good.get('id')}/artifacts/"
    st, ctype, body = raw_get(base + "page-1.png")
    t.check(st == 200 and ctype == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n",
            "API: the page image is served as image/png", (st, ctype))
    st, _, _ = raw_get(base + "page-1.png", token=False)
    t.eq(st, 401, "API: an artifact needs a token")
    for bad_name in ("..", ".hidden", "a..b", "%2e%2e", "a%2Fb"):
        st, _, _ = raw_get(base + bad_name)
        t.eq(st, 400, f"API: artifact name {bad_name!r} is refused")
    st, _, _ = raw_get(base + "page-9.png")
    t.eq(st, 404, "API: a missing artifact is 404")
    st, _, _ = raw_get("/api/v1/items/999999/artifacts/page-1.png")
    t.eq(st, 404, "API: an artifact of an unknown item is 404")
    # An escalated field's evidence: the rule, the reads and the crop,
    # served beside the page image.
    inc = it.get("id-birth-other.png", {})
    st, body = d.api("GET", f"/api/v1/items/{inc.get('id')}")
    blob = json.dumps(body, ensure_ascii=False)
    t.check("cn_id.inconsistent" in blob and "field-birth.png" in blob,
            "daemon: the escalation carries the rule and the field's crop",
            blob[:600])
    crop = os.path.join(d.state, "artifacts", str(inc.get("id")), "field-birth.png")
    t.check(os.path.exists(crop), "daemon: the escalated field's crop is written", crop)
    st, ctype, body = raw_get(f"/api/v1/items/{inc.get('id')}/artifacts/field-birth.png")
    t.check(st == 200 and body[:8] == b"\x89PNG\r\n\x1a\n",
            "API: the field's crop is served", (st, ctype))
    if "id-bad.png" in uploads:
        bad_item = it.get("id-bad.png", {})
        st, body = d.api("GET", f"/api/v1/items/{bad_item.get('id')}")
        blob = json.dumps(body, ensure_ascii=False)
        t.check("quality.blur" in blob and "payload" in blob,
                "daemon: the escalation carries the OCR result and the payload",
                blob[:800])
    # document-intake: a readable page is archived, a text file named
    # .png and an empty file are rejected, both kept in quarantine.
    up = os.path.join(d.state, "inbox", "uploads")
    d.wait_for(lambda: os.path.isdir(up), 10, "inbox/uploads created")
    intake = {"id-clean.png": "done", "notes.png": "rejected",
              "empty.png": "rejected"}
    for name in intake:
        shutil.copy(os.path.join(fixtures, name), os.path.join(up, "." + name))
        os.rename(os.path.join(up, "." + name), os.path.join(up, name))

    def intake_items():
        st, body = d.api("GET", "/api/v1/items?playbook=document-intake")
        return body.get("items", []) if st == 200 else []
    try:
        d.wait_for(lambda: len(intake_items()) == len(intake) and all(
            i["state"] in ("done", "rejected", "escalated")
            for i in intake_items()), 120, "uploads checked by document-intake")
    except TimeoutError:
        pass
    got = {}
    for i in intake_items():
        st, full = d.api("GET", f"/api/v1/items/{i['id']}")
        p = full.get("payload") if st == 200 else None
        p = json.loads(p) if isinstance(p, str) else (p or {})
        got[p.get("name", "?")] = i["state"]
    for name, want in intake.items():
        t.eq(got.get(name), want, f"document-intake: {name} is {want}")
    filed = [f for _, _, fs in os.walk(os.path.join(d.state, "archive", "uploads"))
             for f in fs]
    held = [f for _, _, fs in os.walk(os.path.join(d.state, "quarantine", "uploads"))
            for f in fs]
    t.check(any(f.endswith("id-clean.png") for f in filed),
            "document-intake: the readable upload is archived", filed)
    t.check(any(f.endswith("notes.png") for f in held) and
            any(f.endswith("empty.png") for f in held),
            "document-intake: rejected uploads are kept in quarantine", held)
    t.check(d.proc.poll() is None, "daemon: still running after bad input")
finally:
    d.stop()
    d.cleanup()
    if env_before is not None:
        os.environ["OMP_THREAD_LIMIT"] = env_before
    shutil.rmtree(work, ignore_errors=True)
t.done()
