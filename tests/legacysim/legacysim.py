#!/usr/bin/env python3
"""Legacy-system simulator for clerk's connector tests.

Four old-fashioned social-insurance web systems behind one HTTP/1.1 server
on 127.0.0.1: /out (转出地, transfer-out: registers a case and issues the
参保缴费凭证), /in (转入地, transfer-in: accepts the certificate and decides
the case), /ben (失业保险待遇, benefits: registers unemployment-benefit
claims and suspends the next payment of a recipient) and /reg (参保登记,
the insured-person register: merges duplicate records). Login forms with CSRF tokens, sessions that expire, idempotency
keys, business refusals, a SOAP endpoint, and injectable faults (5xx before
or after processing, hangs, maintenance windows, garbage answers), all
decided by a seeded RNG. /_sim/* lets a test inspect every submission.

Only the Python standard library. See README.md next to this file.
"""
import argparse
import html
import json
import random
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SYSTEMS = {
    "out": "转出地社会保险关系转移系统",
    "in": "转入地社会保险关系转移系统",
    "ben": "失业保险待遇经办系统",
    "reg": "参保登记信息系统",
}
MSG_DUPLICATE = "参保人已在转入地存在未完结转移业务"
MSG_NO_CERT = "缴费凭证不存在"
MSG_CERT_MISMATCH = "缴费凭证与参保人不符"
MSG_REFUSED = "业务不予受理"
MSG_REJECTED = "材料不全，退回转出地"
MSG_MAINTENANCE = "系统维护中，请于维护结束后访问"
REGISTER_FIELDS = ("request_key", "id_no", "name", "from_uscc", "to_uscc",
                   "to_region", "periods", "months")
ACCEPT_FIELDS = ("request_key", "id_no", "name", "cert_no")
CLAIM_FIELDS = ("request_key", "id_no", "name", "amount")
MSG_CLAIM_DUPLICATE = "参保人已有未完结的失业保险金申领"
MERGE_FIELDS = ("request_key", "survivor", "survivor_name", "merged", "periods")
SUSPEND_FIELDS = ("request_key", "id_no", "name", "next_payment", "amount", "reasons")
MSG_LOCKED = "参保记录已锁定，不能合并"
MSG_MERGED_ELSEWHERE = "参保记录已并入其他记录"
MSG_MERGE_DUPLICATE = "该参保记录已有合并业务"
MSG_SUSPEND_DUPLICATE = "该发放期已暂停发放"
MSG_BENEFIT_ENDED = "待遇已终止，无需暂停"
GARBAGE_KINDS = ("truncated", "content_type", "login_page", "short_read")
MAX_BODY = 4 << 20
# Pre-login sessions are created by every GET of a login page; keep the
# newest ones only so a client that never logs in cannot grow memory.
MAX_PRESESSIONS = 50000

DEFAULT_FAULTS = {
    "error_rate": 0.0,
    "error_after_rate": 0.0,
    "timeout_rate": 0.0,
    "hang_s": 30.0,
    "process_before_hang": 0.5,
    "process_after_hang": False,
    "latency_ms": 0,
    "session_expire_every": 0,
    "session_ttl_s": 600.0,
    "maintenance": False,
    "garbage_rate": 0.0,
    "garbage_kinds": ["truncated", "content_type", "login_page"],
    "refuse_ids": {},
    "reject_ids": {},
    "locked_ids": {},
    "accept_after_polls": 2,
    "lock_after": 5,
    "fault_paths": [],
    "page_script": "",
}


class FaultError(ValueError):
    pass


def _rate(v, k):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise FaultError(f"{k}: want a number between 0 and 1, got {v!r}")
    return float(v)


def _nonneg(v, k, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 \
            or (integer and int(v) != v):
        kind = "integer" if integer else "number"
        raise FaultError(f"{k}: want a non-negative {kind}, got {v!r}")
    return int(v) if integer else float(v)


def _id_map(v, k, default_msg):
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return {x: default_msg for x in v}
    if isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str)
                                   for a, b in v.items()):
        return dict(v)
    raise FaultError(f"{k}: want an object {{id_no: message}} or a list of id_no strings")


def check_faults(update):
    """Validates a (partial) fault update; returns it normalised or raises
    FaultError with a message naming the key and what is wanted."""
    if not isinstance(update, dict):
        raise FaultError("faults must be a JSON object, e.g. {\"error_rate\": 0.2}")
    out = {}
    for k, v in update.items():
        if k not in DEFAULT_FAULTS:
            raise FaultError(f"unknown fault {k!r}; known: {', '.join(sorted(DEFAULT_FAULTS))}")
        if k in ("error_rate", "error_after_rate", "timeout_rate",
                 "process_before_hang", "garbage_rate"):
            out[k] = _rate(v, k)
        elif k in ("hang_s", "session_ttl_s"):
            out[k] = _nonneg(v, k)
        elif k in ("latency_ms", "session_expire_every", "accept_after_polls", "lock_after"):
            out[k] = _nonneg(v, k, integer=True)
        elif k == "process_after_hang":
            if not isinstance(v, bool):
                raise FaultError(f"{k}: want true or false, got {v!r}")
            out[k] = v
        elif k == "maintenance":
            if isinstance(v, bool):
                out[k] = v
            elif (isinstance(v, list) and len(v) == 2
                  and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                  and v[0] <= v[1]):
                out[k] = [float(v[0]), float(v[1])]
            else:
                raise FaultError(f"{k}: want true, false or [start_s, end_s] "
                                 f"(seconds after server start, start <= end), got {v!r}")
        elif k == "garbage_kinds":
            if (not isinstance(v, list) or not v
                    or any(x not in GARBAGE_KINDS for x in v)):
                raise FaultError(f"{k}: want a non-empty list of {', '.join(GARBAGE_KINDS)}")
            out[k] = list(v)
        elif k == "refuse_ids":
            out[k] = _id_map(v, k, MSG_REFUSED)
        elif k == "reject_ids":
            out[k] = _id_map(v, k, MSG_REJECTED)
        elif k == "locked_ids":
            out[k] = _id_map(v, k, MSG_LOCKED)
        elif k == "fault_paths":
            if not isinstance(v, list) or any(not isinstance(x, str) or not x.startswith("/")
                                              for x in v):
                raise FaultError(f"{k}: want a list of path prefixes like \"/out/transfer/\"")
            out[k] = list(v)
        elif k == "page_script":
            if not isinstance(v, str) or "</script" in v.lower():
                raise FaultError(f"{k}: want the text of a script (no </script>), got {v!r}")
            out[k] = v
    return out


class Resp:
    __slots__ = ("status", "ctype", "body", "headers", "fault", "short_read")

    def __init__(self, status, ctype, body, headers=None, fault=None):
        self.status = status
        self.ctype = ctype
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = headers or []
        self.fault = fault
        self.short_read = False


HTML = "text/html;charset=UTF-8"
JSONT = "application/json;charset=UTF-8"
XMLT = "text/xml;charset=UTF-8"


def esc(s):
    return html.escape(str(s), quote=True)


def page(system, title, body, head=""):
    name = SYSTEMS.get(system, "社会保险信息系统")
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
{head}<title>{esc(title)} - {esc(name)}</title>
</head>
<body bgcolor="#EEF3FA" leftmargin="0" topmargin="0">
<table width="100%" border="0" cellspacing="0" cellpadding="6" bgcolor="#1F4E8C">
<tr><td><font color="#FFFFFF" size="4"><b>{esc(name)}</b></font></td></tr>
</table>
<br>
{body}
<br><hr size="1">
<table width="100%"><tr><td align="center"><font size="2" color="#666666">
版权所有 人力资源和社会保障局 信息中心　建议使用IE8及以上浏览器，分辨率1024×768
</font></td></tr></table>
</body>
</html>
"""


def html_resp(system, status, title, body, head="", headers=None):
    return Resp(status, HTML, page(system, title, body, head), headers)


def json_resp(obj, status=200):
    return Resp(status, JSONT, json.dumps(obj, ensure_ascii=False))


def redirect(location, headers=None):
    h = [("Location", location)] + (headers or [])
    body = (f'<html><head><title>302 Found</title></head><body>'
            f'<a href="{esc(location)}">{esc(location)}</a></body></html>')
    return Resp(302, HTML, body, h)


def error_page(system, status):
    titles = {500: "服务器内部错误", 502: "服务器内部错误", 503: "服务器内部错误",
              504: "网关超时"}
    title = titles.get(status, "服务器内部错误")
    body = (f'<table align="center" border="1" cellpadding="10" cellspacing="0">'
            f'<tr><td><h2>{title}</h2><p>HTTP {status}：请稍后重试，如问题持续请联系系统管理员。</p>'
            f'</td></tr></table>')
    return html_resp(system, status, title, body)


def make_pdf(lines):
    """A small, valid one-page PDF (correct xref offsets) with ASCII lines."""
    def pdf_str(s):
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    text = "BT /F1 14 Tf 72 770 Td 20 TL " + " ".join(
        f"({pdf_str(line)}) '" for line in lines) + " ET"
    stream = text.encode("ascii", "replace")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def soap_envelope(inner):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<soap:Body>{inner}</soap:Body></soap:Envelope>\n')


def soap_fault(code, message, status=500):
    inner = (f'<soap:Fault><faultcode>soap:Client</faultcode>'
             f'<faultstring>{esc(message)}</faultstring>'
             f'<detail><ErrorCode>{esc(code)}</ErrorCode></detail></soap:Fault>')
    return Resp(status, XMLT, soap_envelope(inner))


def local(tag):
    return tag.rsplit("}", 1)[-1]


class Sim:
    """All simulator state; every mutation happens under self.lock, and no
    one sleeps while holding it."""

    def __init__(self, user, password, seed, faults, log_path, verbose):
        self.user = user
        self.password = password
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.ids = random.Random(seed)
        self.start = time.monotonic()
        self.stop = threading.Event()
        self.initial_faults = dict(DEFAULT_FAULTS)
        self.initial_faults.update(check_faults(faults))
        self.faults = dict(self.initial_faults)
        self.verbose = verbose
        self.logf = open(log_path, "a", encoding="utf-8") if log_path else None
        self.log_lock = threading.Lock()
        self.cert_seq = self.ids.randrange(10 ** 11, 9 * 10 ** 11)
        self.case_seq = self.ids.randrange(10 ** 9, 9 * 10 ** 9)
        self.claim_seq = self.ids.randrange(10 ** 9, 9 * 10 ** 9)
        self.merge_seq = self.ids.randrange(10 ** 9, 9 * 10 ** 9)
        self.susp_seq = self.ids.randrange(10 ** 9, 9 * 10 ** 9)
        self.clear()

    def clear(self):
        self.presessions = OrderedDict()   # id -> (system, csrf)
        self.sessions = {}                 # id -> dict
        self.issued_sessions = []
        self.failures = {}                 # (system, user) -> consecutive wrong passwords
        self.locked = set()                # (system, user)
        self.out_cases = {}                # id_no -> case
        self.certs = {}                    # cert_no -> id_no
        self.in_cases = {}                 # id_no -> case
        self.in_by_id = {}                 # case_id -> case
        self.ben_claims = {}               # id_no -> claim
        self.suspensions = {}              # (id_no, next_payment) -> suspension
        self.merges = {}                   # survivor record -> merge
        self.merged_into = {}              # merged record -> survivor record
        self.submissions = []
        self.dup_ids = set()               # (system, id_no) with a "duplicate" attempt
        self.new_count = {}                # (system, id_no, op) -> "new" count
        self.counters = {"requests": 0, "logins": 0, "failed_logins": 0,
                         "locked_logins": 0, "csrf_failures": 0,
                         "sessions_expired": 0, "polls": 0, "soap_requests": 0}
        self.by_status = {}
        self.by_system = {s: {"requests": 0, "logins": 0, "failed_logins": 0}
                          for s in SYSTEMS}
        self.kinds = {s: {"new": 0, "replay": 0, "duplicate": 0, "refused": 0, "invalid": 0}
                      for s in SYSTEMS}
        self.faults_injected = {"error": 0, "error_after": 0, "timeout": 0,
                                "maintenance": 0, "garbage": 0, "latency": 0}

    # --- helpers (call with the lock held where they touch state) ---

    def roll(self, p):
        if p <= 0:
            return False
        if p >= 1:
            return True
        with self.lock:
            return self.rng.random() < p

    def choice(self, seq):
        with self.lock:
            return self.rng.choice(list(seq))

    def elapsed(self):
        return time.monotonic() - self.start

    def in_maintenance(self, f):
        m = f["maintenance"]
        if isinstance(m, list):
            now = self.elapsed()
            return m[0] <= now < m[1], max(1, int(m[1] - now + 0.999))
        return bool(m), 60

    def record(self, system, id_no, key, kind, code=None, ref=None, op=None):
        sub = {"system": system, "id_no": id_no, "request_key": key, "kind": kind,
               "t": round(time.time(), 3)}
        if op:
            sub["op"] = op
        if code:
            sub["code"] = code
        if ref:
            sub["ref"] = ref
        self.submissions.append(sub)
        self.kinds[system][kind] += 1
        if kind == "duplicate":
            self.dup_ids.add((system, id_no))
        elif kind == "new":
            # A claim and a suspension of the same person are two things.
            k = (system, id_no, op)
            self.new_count[k] = self.new_count.get(k, 0) + 1

    def new_token(self):
        return secrets.token_hex(16)

    def log(self, rec):
        if not self.logf:
            return
        line = json.dumps(rec, ensure_ascii=False)
        if self.password and self.password in line:
            line = line.replace(self.password, "***")
        with self.log_lock:
            try:
                self.logf.write(line + "\n")
                self.logf.flush()
            except (OSError, ValueError):
                pass

    def close(self):
        with self.log_lock:
            if self.logf:
                self.logf.close()
                self.logf = None

    # --- the request pipeline ---

    def handle(self, req):
        """req: dict(method, path, query, form, body, cookies, headers).
        Returns a Resp. May sleep (latency, hangs) outside the lock."""
        r = self.handle_request(req)
        with self.lock:
            script = self.faults["page_script"]
        # Old systems put inline scripts in their pages; a client that
        # shows a page to a person must not run them.
        if script and r.ctype == HTML and b"</head>" in r.body:
            tag = f'<script type="text/javascript">{script}</script>\n</head>'
            r.body = r.body.replace(b"</head>", tag.encode("utf-8"), 1)
        return r

    def handle_request(self, req):
        path = req["path"]
        parts = path.split("/")
        system = parts[1] if len(parts) > 1 and parts[1] in SYSTEMS else None
        req["system"] = system
        with self.lock:
            self.counters["requests"] += 1
            if system:
                self.by_system[system]["requests"] += 1
            f = dict(self.faults)
        if f["latency_ms"]:
            with self.lock:
                self.faults_injected["latency"] += 1
            self.stop.wait(f["latency_ms"] / 1000.0)
        if system is None:
            return html_resp(None, 404, "页面不存在",
                             '<div class="error">页面不存在</div>'
                             '<p><a href="/out/login">转出地系统</a>　<a href="/in/login">转入地系统</a>　<a href="/ben/login">失业保险待遇系统</a>　<a href="/reg/login">参保登记系统</a></p>')
        on, retry = self.in_maintenance(f)
        if on:
            with self.lock:
                self.faults_injected["maintenance"] += 1
            r = html_resp(system, 503, MSG_MAINTENANCE,
                          f'<table align="center" border="1" cellpadding="10" cellspacing="0">'
                          f'<tr><td><h2>{MSG_MAINTENANCE}</h2></td></tr></table>',
                          headers=[("Retry-After", str(retry))])
            r.fault = "maintenance"
            return r
        applies = not f["fault_paths"] or any(path.startswith(p) for p in f["fault_paths"])
        if not applies:
            return self.process(req, f)
        if self.roll(f["error_rate"]):
            with self.lock:
                self.faults_injected["error"] += 1
            r = error_page(system, self.choice((500, 502, 503)))
            r.fault = "error"
            return r
        if self.roll(f["timeout_rate"]):
            with self.lock:
                self.faults_injected["timeout"] += 1
            if req["method"] == "POST" and not self.roll(f["process_before_hang"]):
                self.stop.wait(f["hang_s"])
                if f["process_after_hang"]:
                    r = self.process(req, f)
                    r.fault = "timeout-processed-late"
                else:
                    r = error_page(system, 504)
                    r.fault = "timeout-not-processed"
                return r
            r = self.process(req, f)
            self.stop.wait(f["hang_s"])
            r.fault = "timeout-processed"
            return r
        r = self.process(req, f)
        if self.roll(f["error_after_rate"]):
            with self.lock:
                self.faults_injected["error_after"] += 1
            r = error_page(system, 502)
            r.fault = "error_after"
            return r
        if self.roll(f["garbage_rate"]):
            with self.lock:
                self.faults_injected["garbage"] += 1
            return self.garbage(r, req, f)
        return r

    def garbage(self, r, req, f):
        kinds = list(f["garbage_kinds"])
        if req["path"].endswith("/login") and len(kinds) > 1 and "login_page" in kinds:
            kinds.remove("login_page")   # a login page is the right answer there
        kind = self.choice(kinds)
        if kind == "login_page":
            g = self.login_page(req["system"])
        elif kind == "content_type":
            wrong = HTML if r.ctype.startswith("application/json") else "application/octet-stream"
            g = Resp(200, wrong, r.body)
        else:
            body = r.body
            cut = max(1, len(body) // 2)
            if kind == "truncated":
                g = Resp(200, r.ctype, body[:cut])
            else:
                g = Resp(200, r.ctype, body)
                g.short_read = cut
        g.fault = "garbage-" + kind
        return g

    def process(self, req, f):
        system, path, method = req["system"], req["path"], req["method"]
        rest = path[len(system) + 1:]
        if rest in ("", "/"):
            return redirect(f"/{system}/login")
        if rest == "/login":
            if method == "GET":
                return self.login_page(system, expired=req["query"].get("expired") == "1")
            if method == "POST":
                return self.login_post(req, f)
            return self.not_allowed("GET, POST")
        if rest == "/logout":
            sid = req["cookies"].get("JSESSIONID")
            with self.lock:
                self.sessions.pop(sid, None)
            return redirect(f"/{system}/login")
        if system == "in" and rest == "/ws/CaseService":
            if method != "POST":
                return soap_fault("E0405", "只接受 POST 的 SOAP 1.1 请求", 405)
            return self.soap(req, f)
        routes = {
            "/home": ("GET", self.home),
        }
        if system == "out":
            routes["/transfer/register"] = ("GET POST", self.register)
            routes["/transfer/lookup"] = ("GET", self.out_lookup)
            m = re.fullmatch(r"/certificate/([^/]+)", rest)
            if m:
                req["arg"] = m.group(1)
                routes[rest] = ("GET", self.certificate)
        elif system == "ben":
            routes["/claim/register"] = ("GET POST", self.claim_register)
            routes["/claim/lookup"] = ("GET", self.claim_lookup)
            routes["/payment/suspend"] = ("POST", self.suspend)
            routes["/payment/suspend/lookup"] = ("GET", self.suspend_lookup)
        elif system == "reg":
            routes["/merge"] = ("POST", self.merge)
            routes["/merge/lookup"] = ("GET", self.merge_lookup)
        else:
            routes["/transfer/accept"] = ("POST", self.accept)
            routes["/transfer/lookup"] = ("GET", self.in_lookup)
            m = re.fullmatch(r"/transfer/status/([^/]+)", rest)
            if m:
                req["arg"] = m.group(1)
                routes[rest] = ("GET", self.status)
        route = routes.get(rest)
        if route is None:
            return html_resp(system, 404, "页面不存在", '<div class="error">页面不存在</div>')
        allowed, fn = route
        if method not in allowed.split():
            return self.not_allowed(", ".join(allowed.split()))
        sess = self.session(req, f)
        if sess is None:
            return redirect(f"/{system}/login?expired=1")
        if method == "POST" and req["form"].get("_csrf") != sess["csrf"]:
            with self.lock:
                self.counters["csrf_failures"] += 1
            return self.forbidden(system)
        return fn(req, sess, f)

    def not_allowed(self, allow):
        r = html_resp(None, 405, "请求方法不允许", '<div class="error">请求方法不允许</div>')
        r.headers.append(("Allow", allow))
        return r

    def forbidden(self, system):
        return html_resp(system, 403, "非法请求",
                         '<table align="center" border="1" cellpadding="10" cellspacing="0">'
                         '<tr><td><h2>非法请求</h2><p>请求校验失败，请重新登录后再试。</p></td></tr></table>')

    def session(self, req, f):
        sid = req["cookies"].get("JSESSIONID")
        now = time.monotonic()
        with self.lock:
            s = self.sessions.get(sid) if sid else None
            if s is None or s["system"] != req["system"]:
                return None
            expired = now - s["last"] > f["session_ttl_s"]
            n = f["session_expire_every"]
            if not expired and n > 0 and s["count"] >= n:
                expired = True
            if expired:
                del self.sessions[sid]
                self.counters["sessions_expired"] += 1
                return None
            s["last"] = now
            s["count"] += 1
            return s

    # --- login ---

    def login_page(self, system, error=None, expired=False):
        pid, tok = self.new_token(), self.new_token()
        with self.lock:
            self.presessions[pid] = (system, tok)
            while len(self.presessions) > MAX_PRESESSIONS:
                self.presessions.popitem(last=False)
        return self.render_login(system, pid, tok, error, expired)

    def render_login(self, system, pid, tok, error=None, expired=False, status=200):
        msg = ""
        if error:
            msg = f'<tr><td colspan="2" align="center"><div class="error">{esc(error)}</div></td></tr>\n'
        elif expired:
            msg = ('<tr><td colspan="2" align="center"><div class="notice">'
                   '会话已超时，请重新登录</div></td></tr>\n')
        body = f"""<form method="post" action="/{system}/login">
<input type="hidden" name="_csrf" value="{tok}">
<table align="center" border="1" cellspacing="0" cellpadding="6" bgcolor="#FFFFFF">
<tr><th colspan="2" bgcolor="#D6E3F5">用户登录</th></tr>
{msg}<tr><td align="right">用户名：</td><td><input type="text" name="username" size="20" maxlength="32"></td></tr>
<tr><td align="right">密　码：</td><td><input type="password" name="password" size="20" maxlength="32"></td></tr>
<tr><td colspan="2" align="center"><input type="submit" value="登 录">　<input type="reset" value="重 置"></td></tr>
</table>
</form>"""
        cookie = f"PRESESSION={pid}; Path=/{system}; HttpOnly"
        return html_resp(system, status, "用户登录", body, headers=[("Set-Cookie", cookie)])

    def login_post(self, req, f):
        system, form = req["system"], req["form"]
        pid = req["cookies"].get("PRESESSION")
        with self.lock:
            pre = self.presessions.get(pid) if pid else None
            ok_csrf = (pre is not None and pre[0] == system
                       and form.get("_csrf") == pre[1])
            if not ok_csrf:
                self.counters["csrf_failures"] += 1
        if not ok_csrf:
            return self.forbidden(system)
        user, pw = form.get("username", ""), form.get("password", "")
        acct = (system, user)
        with self.lock:
            if acct in self.locked:
                self.counters["locked_logins"] += 1
                state = "locked"
            elif user == self.user and pw == self.password:
                self.failures.pop(acct, None)
                self.counters["logins"] += 1
                self.by_system[system]["logins"] += 1
                state = "ok"
            else:
                self.counters["failed_logins"] += 1
                self.by_system[system]["failed_logins"] += 1
                n = self.failures.get(acct, 0) + 1
                self.failures[acct] = n
                if f["lock_after"] and n >= f["lock_after"]:
                    self.locked.add(acct)
                state = "wrong"
            if state == "ok":
                self.presessions.pop(pid, None)
                sid = self.new_token()
                self.sessions[sid] = {"id": sid, "system": system, "user": user,
                                      "csrf": self.new_token(), "last": time.monotonic(),
                                      "count": 0}
                self.issued_sessions.append(sid)
        if state == "ok":
            return redirect(f"/{system}/home",
                            [("Set-Cookie", f"JSESSIONID={sid}; Path=/{system}; HttpOnly")])
        err = "账户已锁定，请联系系统管理员解锁" if state == "locked" else "用户名或密码错误"
        return self.render_login(system, pid, pre[1], error=err)

    # --- pages ---

    def home(self, req, sess, f):
        system = req["system"]
        if system == "out":
            menu = ('<a href="/out/transfer/register">转移登记</a>　'
                    '<a href="/out/transfer/lookup">登记查询</a>')
        elif system == "ben":
            menu = ('<a href="/ben/claim/register">失业保险金申领登记</a>　'
                    '<a href="/ben/claim/lookup">申领查询</a>　'
                    '<a href="/ben/payment/suspend/lookup">暂停发放查询</a>')
        elif system == "reg":
            menu = '<a href="/reg/merge/lookup">合并查询</a>'
        else:
            menu = '<a href="/in/transfer/lookup">接续查询</a>'
        body = f"""<table align="center" border="1" cellspacing="0" cellpadding="8" bgcolor="#FFFFFF">
<tr><td><h3>欢迎您，{esc(sess['user'])}</h3>
<p>当前系统：{esc(SYSTEMS[system])}</p>
<p>{menu}　<a href="/{system}/logout">退出</a></p></td></tr>
</table>"""
        head = f'<meta name="csrf" content="{sess["csrf"]}">\n'
        return html_resp(system, 200, "欢迎", body, head)

    def biz_error(self, system, code, message):
        body = (f'<table align="center" border="1" cellspacing="0" cellpadding="8" bgcolor="#FFFFFF">'
                f'<tr><td><div class="biz-error" data-code="{esc(code)}">{esc(message)}</div>'
                f'</td></tr></table>')
        return html_resp(system, 200, "业务办理失败", body)

    def register_page(self, case):
        rows = [("凭证编号", "cert_no", case["cert_no"]), ("公民身份号码", "id_no", case["id_no"]),
                ("姓名", "name", case["name"]), ("转出单位", "from_uscc", case["from_uscc"]),
                ("转入单位", "to_uscc", case["to_uscc"]), ("转入地", "to_region", case["to_region"]),
                ("缴费期间", "periods", case["periods"]), ("缴费月数", "months", case["months"]),
                ("业务状态", "status", case["status"])]
        trs = "\n".join(f'<tr><th align="right" bgcolor="#D6E3F5">{label}</th>'
                        f'<td id="{fid}">{esc(v)}</td></tr>' for label, fid, v in rows)
        body = (f'<table align="center" border="1" cellspacing="0" cellpadding="6" '
                f'bgcolor="#FFFFFF" id="result">\n<tr><th colspan="2">参保缴费凭证</th></tr>\n'
                f'{trs}\n</table>\n<p align="center"><a href="/out/certificate/{esc(case["cert_no"])}">'
                f'下载凭证</a></p>')
        return html_resp("out", 200, "转移登记结果", body)

    def register(self, req, sess, f):
        if req["method"] == "GET":
            fields = "\n".join(
                f'<tr><td align="right">{k}</td><td><input type="text" name="{k}"></td></tr>'
                for k in REGISTER_FIELDS)
            body = (f'<form method="post" action="/out/transfer/register">\n'
                    f'<input type="hidden" name="_csrf" value="{sess["csrf"]}">\n'
                    f'<table align="center" border="1" cellspacing="0" cellpadding="6">\n{fields}\n'
                    f'<tr><td colspan="2" align="center"><input type="submit" value="提 交"></td></tr>'
                    f'</table></form>')
            return html_resp("out", 200, "转移登记", body)
        form = req["form"]
        missing = [k for k in REGISTER_FIELDS if not form.get(k, "").strip()]
        id_no, key = form.get("id_no", ""), form.get("request_key", "")
        with self.lock:
            if missing:
                self.record("out", id_no, key, "invalid", "E0001")
                return self.biz_error("out", "E0001", "必填项缺失：" + "、".join(missing))
            if not form["months"].strip().isdigit():
                self.record("out", id_no, key, "invalid", "E0002")
                return self.biz_error("out", "E0002", "缴费月数须为整数")
            case = self.out_cases.get(id_no)
            if case is not None:
                if case["request_key"] == key:
                    self.record("out", id_no, key, "replay", ref=case["cert_no"])
                    return self.register_page(case)
                self.record("out", id_no, key, "duplicate", "E1002")
                return self.biz_error("out", "E1002", MSG_DUPLICATE)
            refusal = f["refuse_ids"].get(id_no)
            if refusal is not None:
                self.record("out", id_no, key, "refused", "E2001")
                return self.biz_error("out", "E2001", refusal)
            self.cert_seq += 1
            cert = f"JZ{self.cert_seq:012d}"
            case = {k: form[k].strip() for k in REGISTER_FIELDS}
            case.update(cert_no=cert, status="已登记", t=round(time.time(), 3))
            self.out_cases[id_no] = case
            self.certs[cert] = id_no
            self.record("out", id_no, key, "new", ref=cert)
            return self.register_page(case)

    @staticmethod
    def found(rec, *fields):
        """A lookup's answer: found, with those fields of rec, or not."""
        if rec is None:
            return json_resp({"found": False})
        return json_resp(dict(found=True, **{k: rec[k] for k in fields}))

    def out_lookup(self, req, sess, f):
        with self.lock:
            return self.found(self.out_cases.get(req["query"].get("id_no", "")),
                              "cert_no", "request_key", "status")

    def certificate(self, req, sess, f):
        cert = req["arg"]
        with self.lock:
            id_no = self.certs.get(cert)
            case = self.out_cases.get(id_no) if id_no else None
        if case is None:
            return html_resp("out", 404, "凭证不存在", f'<div class="error">{MSG_NO_CERT}</div>')
        pdf = make_pdf(["Basic pension insurance contribution certificate",
                        f"Certificate No: {case['cert_no']}", f"ID No: {case['id_no']}",
                        f"From: {case['from_uscc']}  To: {case['to_uscc']}",
                        f"Periods: {case['periods']}  Months: {case['months']}"])
        return Resp(200, "application/pdf", pdf,
                    [("Content-Disposition", f'attachment; filename="{cert}.pdf"')])

    def accept(self, req, sess, f):
        form = req["form"]
        missing = [k for k in ACCEPT_FIELDS if not form.get(k, "").strip()]
        id_no, key = form.get("id_no", ""), form.get("request_key", "")
        cert = form.get("cert_no", "")
        with self.lock:
            if missing:
                self.record("in", id_no, key, "invalid", "E0001")
                return json_resp({"error": "E0001", "message": "必填项缺失：" + "、".join(missing)})
            case = self.in_cases.get(id_no)
            if case is not None:
                if case["request_key"] == key:
                    self.record("in", id_no, key, "replay", ref=case["case_id"])
                    return json_resp({"case_id": case["case_id"], "status": "处理中"})
                self.record("in", id_no, key, "duplicate", "E1002")
                return json_resp({"error": "E1002", "message": MSG_DUPLICATE})
            owner = self.certs.get(cert)
            if owner is None:
                self.record("in", id_no, key, "refused", "E3001")
                return json_resp({"error": "E3001", "message": MSG_NO_CERT})
            if owner != id_no:
                self.record("in", id_no, key, "refused", "E3002")
                return json_resp({"error": "E3002", "message": MSG_CERT_MISMATCH})
            self.case_seq += 1
            cid = f"IN{self.case_seq:010d}"
            case = {"case_id": cid, "id_no": id_no, "name": form["name"].strip(),
                    "cert_no": cert, "request_key": key, "status": "处理中",
                    "reason": None, "polls": 0, "t": round(time.time(), 3)}
            self.in_cases[id_no] = case
            self.in_by_id[cid] = case
            self.record("in", id_no, key, "new", ref=cid)
            return json_resp({"case_id": cid, "status": "处理中"})

    def claim_page(self, claim):
        rows = [("申领编号", "claim_no", claim["claim_no"]), ("公民身份号码", "id_no", claim["id_no"]),
                ("姓名", "name", claim["name"]), ("月发放金额", "amount", claim["amount"]),
                ("业务状态", "status", claim["status"])]
        trs = "\n".join(f'<tr><th align="right" bgcolor="#D6E3F5">{label}</th>'
                        f'<td id="{fid}">{esc(v)}</td></tr>' for label, fid, v in rows)
        body = (f'<table align="center" border="1" cellspacing="0" cellpadding="6" '
                f'bgcolor="#FFFFFF" id="result">\n<tr><th colspan="2">失业保险金申领登记</th></tr>\n'
                f'{trs}\n</table>')
        return html_resp("ben", 200, "申领登记结果", body)

    def claim_register(self, req, sess, f):
        if req["method"] == "GET":
            fields = "\n".join(
                f'<tr><td align="right">{k}</td><td><input type="text" name="{k}"></td></tr>'
                for k in CLAIM_FIELDS)
            body = (f'<form method="post" action="/ben/claim/register">\n'
                    f'<input type="hidden" name="_csrf" value="{sess["csrf"]}">\n'
                    f'<table align="center" border="1" cellspacing="0" cellpadding="6">\n{fields}\n'
                    f'<tr><td colspan="2" align="center"><input type="submit" value="提 交"></td></tr>'
                    f'</table></form>')
            return html_resp("ben", 200, "失业保险金申领登记", body)
        form = req["form"]
        missing = [k for k in CLAIM_FIELDS if not form.get(k, "").strip()]
        id_no, key = form.get("id_no", ""), form.get("request_key", "")
        with self.lock:
            if missing:
                self.record("ben", id_no, key, "invalid", "E0001")
                return self.biz_error("ben", "E0001", "必填项缺失：" + "、".join(missing))
            if not re.fullmatch(r"\d{1,7}(\.\d{1,2})?", form["amount"].strip()) or \
                    float(form["amount"]) <= 0:
                self.record("ben", id_no, key, "invalid", "E0002")
                return self.biz_error("ben", "E0002", "月发放金额须为正数，最多两位小数")
            claim = self.ben_claims.get(id_no)
            if claim is not None:
                if claim["request_key"] == key:
                    self.record("ben", id_no, key, "replay", ref=claim["claim_no"])
                    return self.claim_page(claim)
                self.record("ben", id_no, key, "duplicate", "E1002")
                return self.biz_error("ben", "E1002", MSG_CLAIM_DUPLICATE)
            refusal = f["refuse_ids"].get(id_no)
            if refusal is not None:
                self.record("ben", id_no, key, "refused", "E4001")
                return self.biz_error("ben", "E4001", refusal)
            self.claim_seq += 1
            claim = {k: form[k].strip() for k in CLAIM_FIELDS}
            claim.update(claim_no=f"SY{self.claim_seq:010d}", status="已受理",
                         t=round(time.time(), 3))
            self.ben_claims[id_no] = claim
            self.record("ben", id_no, key, "new", ref=claim["claim_no"])
            return self.claim_page(claim)

    def claim_lookup(self, req, sess, f):
        with self.lock:
            return self.found(self.ben_claims.get(req["query"].get("id_no", "")),
                              "claim_no", "request_key", "status", "amount")

    # --- /ben: suspending the next payment of a recipient (四比对) ---

    def again(self, system, op, who, key, rec, ref, dup_msg):
        """(Lock held.) A JSON submission of something already done: the
        same answer for the same key (replay), E1002 for another key."""
        if rec["request_key"] == key:
            self.record(system, who, key, "replay", ref=rec[ref], op=op)
            return json_resp({ref: rec[ref], "status": rec["status"]})
        self.record(system, who, key, "duplicate", "E1002", op=op)
        return json_resp({"error": "E1002", "message": dup_msg})

    def suspend(self, req, sess, f):
        form = req["form"]
        missing = [k for k in SUSPEND_FIELDS if not form.get(k, "").strip()]
        id_no, key = form.get("id_no", "").strip(), form.get("request_key", "")
        nxt = form.get("next_payment", "").strip()
        with self.lock:
            if missing:
                self.record("ben", id_no, key, "invalid", "E0001", op="suspend")
                return json_resp({"error": "E0001", "message": "必填项缺失：" + "、".join(missing)})
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", nxt) or \
                    not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", form["amount"].strip()):
                self.record("ben", id_no, key, "invalid", "E0002", op="suspend")
                return json_resp({"error": "E0002",
                                  "message": "暂停发放期须为 YYYY-MM-DD，金额最多两位小数"})
            s = self.suspensions.get((id_no, nxt))
            if s is not None:
                return self.again("ben", "suspend", id_no, key, s, "suspension_no",
                                  MSG_SUSPEND_DUPLICATE)
            refusal = f["refuse_ids"].get(id_no)
            if refusal is not None:
                self.record("ben", id_no, key, "refused", "E6001", op="suspend")
                return json_resp({"error": "E6001", "message": refusal})
            self.susp_seq += 1
            s = {k: form[k].strip() for k in SUSPEND_FIELDS}
            s.update(suspension_no=f"ZT{self.susp_seq:010d}", status="已暂停发放",
                     t=round(time.time(), 3))
            self.suspensions[(id_no, nxt)] = s
            self.record("ben", id_no, key, "new", ref=s["suspension_no"], op="suspend")
            return json_resp({"suspension_no": s["suspension_no"], "status": s["status"]})

    def suspend_lookup(self, req, sess, f):
        q = req["query"]
        with self.lock:
            return self.found(self.suspensions.get((q.get("id_no", ""), q.get("next_payment", ""))),
                              "suspension_no", "request_key", "status")

    # --- /reg: merging duplicate insured-person records (参保信息合并) ---

    def merge(self, req, sess, f):
        """A record is "LINE:ID" (its row in the register export and its
        ID); merged is the other records, separated by ";"."""
        form = req["form"]
        missing = [k for k in MERGE_FIELDS if not form.get(k, "").strip()]
        surv, key = form.get("survivor", "").strip(), form.get("request_key", "")
        others = [x.strip() for x in form.get("merged", "").split(";") if x.strip()]
        with self.lock:
            if missing:
                self.record("reg", surv, key, "invalid", "E0001", op="merge")
                return json_resp({"error": "E0001", "message": "必填项缺失：" + "、".join(missing)})
            bad = [x for x in [surv] + others if not re.fullmatch(r"\d+:[0-9X]{15,18}", x)]
            if bad or surv in others:
                self.record("reg", surv, key, "invalid", "E0002", op="merge")
                return json_resp({"error": "E0002", "message": "参保记录编号有误：" +
                                  "、".join(bad or [surv])})
            m = self.merges.get(surv)
            if m is not None:
                return self.again("reg", "merge", surv, key, m, "merge_no", MSG_MERGE_DUPLICATE)
            for x in [surv] + others:
                msg = f["locked_ids"].get(x.split(":", 1)[1])
                if msg is not None:
                    self.record("reg", surv, key, "refused", "E5001", op="merge")
                    return json_resp({"error": "E5001", "message": f"{msg}（{x}）"})
                into = self.merged_into.get(x)
                if into is not None and into != surv:
                    self.record("reg", surv, key, "refused", "E5002", op="merge")
                    return json_resp({"error": "E5002",
                                      "message": f"{MSG_MERGED_ELSEWHERE}（{x} → {into}）"})
            self.merge_seq += 1
            m = {k: form[k].strip() for k in MERGE_FIELDS}
            m.update(merge_no=f"HB{self.merge_seq:010d}", status="已合并", t=round(time.time(), 3))
            self.merges[surv] = m
            for x in others:
                self.merged_into[x] = surv
            self.record("reg", surv, key, "new", ref=m["merge_no"], op="merge")
            return json_resp({"merge_no": m["merge_no"], "status": m["status"]})

    def merge_lookup(self, req, sess, f):
        with self.lock:
            return self.found(self.merges.get(req["query"].get("survivor", "")),
                              "merge_no", "request_key", "status", "merged")

    def poll(self, case, f):
        """One status poll of an in case (lock held): advances it after
        accept_after_polls polls."""
        self.counters["polls"] += 1
        if case["status"] == "处理中":
            case["polls"] += 1
            if case["polls"] > f["accept_after_polls"]:
                reason = f["reject_ids"].get(case["id_no"])
                if reason is not None:
                    case["status"], case["reason"] = "已退回", reason
                else:
                    case["status"] = "已接收"

    def case_json(self, case):
        out = {"case_id": case["case_id"], "status": case["status"]}
        if case["reason"] is not None:
            out["reason"] = case["reason"]
        return out

    def in_lookup(self, req, sess, f):
        id_no = req["query"].get("id_no", "")
        with self.lock:
            case = self.in_cases.get(id_no)
            if case is None:
                return json_resp({"found": False})
            return json_resp(dict(found=True, **self.case_json(case)))

    def status(self, req, sess, f):
        with self.lock:
            case = self.in_by_id.get(req["arg"])
            if case is None:
                return json_resp({"error": "E3003", "message": "业务不存在"}, 404)
            self.poll(case, f)
            return json_resp(self.case_json(case))

    def soap(self, req, f):
        with self.lock:
            self.counters["soap_requests"] += 1
        try:
            root = ET.fromstring(req["body"])
        except ET.ParseError as e:
            return soap_fault("E0400", f"报文格式错误：{e}")
        if local(root.tag) != "Envelope":
            return soap_fault("E0400", "缺少 SOAP Envelope")
        body = next((c for c in root if local(c.tag) == "Body"), None)
        op = None
        if body is not None:
            op = next((c for c in body if local(c.tag) == "QueryCase"), None)
        if op is None:
            return soap_fault("E0404", "不支持的操作，只支持 QueryCase")
        idn = next((c for c in op if local(c.tag) == "IdNo"), None)
        id_no = (idn.text or "").strip() if idn is not None else ""
        if not id_no:
            return soap_fault("E0001", "必填项缺失：IdNo")
        with self.lock:
            case = self.in_cases.get(id_no)
            if case is None:
                inner = ("<QueryCaseResponse><Found>false</Found>"
                         "<Status>无记录</Status></QueryCaseResponse>")
            else:
                self.poll(case, f)
                reason = f"<Reason>{esc(case['reason'])}</Reason>" if case["reason"] else ""
                inner = (f"<QueryCaseResponse><Found>true</Found>"
                         f"<CaseId>{case['case_id']}</CaseId><IdNo>{esc(id_no)}</IdNo>"
                         f"<CertNo>{esc(case['cert_no'])}</CertNo>"
                         f"<Status>{case['status']}</Status>{reason}</QueryCaseResponse>")
        return Resp(200, XMLT, soap_envelope(inner))

    # --- control ---

    def control(self, method, path, query, body):
        if path == "/_sim/submissions" and method == "GET":
            with self.lock:
                subs = [s for s in self.submissions
                        if all(s.get(k) == query[k] for k in ("system", "id_no", "kind", "op")
                               if k in query)]
                return json_resp(subs)
        if path == "/_sim/stats" and method == "GET":
            return json_resp(self.stats())
        if path == "/_sim/faults":
            if method == "GET":
                with self.lock:
                    return json_resp(self.faults)
            if method == "POST":
                try:
                    upd = check_faults(json.loads(body.decode("utf-8") or "{}"))
                except (ValueError, UnicodeDecodeError) as e:
                    return json_resp({"error": f"POST /_sim/faults: {e}"}, 400)
                with self.lock:
                    self.faults.update(upd)
                    return json_resp(self.faults)
        if path == "/_sim/reset" and method == "POST":
            try:
                opts = json.loads(body.decode("utf-8") or "{}")
                if not isinstance(opts, dict):
                    raise ValueError("want a JSON object like {\"faults\": true}")
            except (ValueError, UnicodeDecodeError) as e:
                return json_resp({"error": f"POST /_sim/reset: {e}"}, 400)
            with self.lock:
                self.clear()
                if opts.get("faults"):
                    self.faults = dict(self.initial_faults)
            return json_resp({"ok": True})
        if path == "/_sim/sessions" and method == "GET":
            with self.lock:
                return json_resp({
                    "active": [{"system": s["system"], "user": s["user"], "id": s["id"],
                                "requests": s["count"]} for s in self.sessions.values()],
                    "issued": list(self.issued_sessions)})
        if path == "/_sim/cases" and method == "GET":
            with self.lock:
                return json_resp({
                    "out": [{k: c[k] for k in REGISTER_FIELDS + ("cert_no", "status")}
                            for c in self.out_cases.values()],
                    "in": [dict(id_no=c["id_no"], request_key=c["request_key"],
                                cert_no=c["cert_no"], polls=c["polls"], **self.case_json(c))
                           for c in self.in_cases.values()],
                    "ben": [{k: c[k] for k in ("id_no", "name", "request_key", "claim_no", "amount",
                                               "status")}
                            for c in self.ben_claims.values()],
                    "suspensions": [{k: s[k] for k in ("id_no", "name", "next_payment", "amount",
                                                       "reasons", "request_key", "suspension_no",
                                                       "status")}
                                    for s in self.suspensions.values()],
                    "merges": [{k: m[k] for k in ("survivor", "survivor_name", "merged", "periods",
                                                  "request_key", "merge_no", "status")}
                               for m in self.merges.values()]})
        if path == "/_sim/health" and method == "GET":
            return json_resp({"ok": True, "uptime_s": round(self.elapsed(), 3)})
        return json_resp({"error": f"{method} {path}: no such control endpoint; see "
                                   "tests/legacysim/README.md"}, 404)

    def stats(self):
        with self.lock:
            c = dict(self.counters)
            kinds = {k: sum(self.kinds[s][k] for s in SYSTEMS)
                     for k in ("new", "replay", "duplicate", "refused", "invalid")}
            systems = {s: dict(self.by_system[s], **self.kinds[s]) for s in SYSTEMS}
            c.update(
                submissions=len(self.submissions),
                kinds=kinds,
                systems=systems,
                duplicates=len(self.dup_ids),
                duplicate_ids=sorted(f"{s}:{i}" for s, i in self.dup_ids),
                double_registrations=sum(1 for n in self.new_count.values() if n > 1),
                cases={"out": len(self.out_cases), "in": len(self.in_cases),
                       "ben": len(self.ben_claims), "suspensions": len(self.suspensions),
                       "merges": len(self.merges)},
                locked_accounts=sorted(f"{s}:{u}" for s, u in self.locked),
                active_sessions=len(self.sessions),
                by_status=dict(self.by_status),
                faults_injected=dict(self.faults_injected),
                uptime_s=round(self.elapsed(), 3))
            return c

    def count_status(self, status):
        with self.lock:
            k = str(status)
            self.by_status[k] = self.by_status.get(k, 0) + 1


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def parse_cookies(header):
    out = {}
    for part in (header or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out.setdefault(k.strip(), v.strip())
    return out


def redact_path(raw):
    """The request target for the log, without any password in the query."""
    path, sep, query = raw.partition("?")
    if not sep:
        return path
    parts = []
    for pair in query.split("&"):
        k = pair.split("=", 1)[0].lower()
        parts.append(pair.split("=", 1)[0] + "=***" if "pass" in k or "pwd" in k else pair)
    return path + "?" + "&".join(parts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache-Coyote/1.1"
    # A request line too broken to carry a version still gets a status line.
    default_request_version = "HTTP/1.0"
    # Headers and body are two writes; without TCP_NODELAY, Nagle plus the
    # peer's delayed ACK stalls every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.sim.verbose:
            sys.stderr.write("legacysim: %s - %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadRequest(400, "bad chunk size")
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise BadRequest(413, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise BadRequest(400, "bad Content-Length")
        if n < 0:
            raise BadRequest(400, "bad Content-Length")
        if n > MAX_BODY:
            raise BadRequest(413, "request body too large")
        body = self.rfile.read(n)
        if len(body) != n:
            raise BadRequest(400, "request body shorter than Content-Length")
        return body

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch(head=True)

    def dispatch(self, head=False):
        sim = self.server.sim
        t0 = time.monotonic()
        u = urlsplit(self.path)
        path = u.path
        method = "GET" if head else self.command
        system = None
        try:
            body = self.read_body()
            if path.startswith("/_sim/"):
                system = "_sim"
                if self.client_address[0] != "127.0.0.1":
                    r = json_resp({"error": "control endpoints answer 127.0.0.1 only"}, 403)
                else:
                    r = sim.control(method, path, {k: v[0] for k, v in
                                                   parse_qs(u.query).items()}, body)
            else:
                form = {}
                ctype = (self.headers.get("Content-Type") or "").lower()
                if method == "POST" and "application/x-www-form-urlencoded" in ctype:
                    form = {k: v[0] for k, v in parse_qs(
                        body.decode("utf-8", "replace"), keep_blank_values=True).items()}
                req = {"method": method, "path": path,
                       "query": {k: v[0] for k, v in parse_qs(u.query).items()},
                       "form": form, "body": body, "headers": self.headers,
                       "cookies": parse_cookies(self.headers.get("Cookie"))}
                r = sim.handle(req)
                system = req.get("system")
                sim.count_status(r.status)
        except BadRequest as e:
            self.close_connection = True
            r = Resp(e.status, "text/plain;charset=UTF-8", str(e) + "\n")
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            r = Resp(500, "text/plain;charset=UTF-8", "legacysim internal error\n")
        # Logged before the answer goes out, so a client that has the
        # answer finds the line in the log.
        rec = {"t": round(time.time(), 3), "method": self.command,
               "path": redact_path(self.path), "status": r.status,
               "ms": round((time.monotonic() - t0) * 1000, 1)}
        if system:
            rec["system"] = system
        if r.fault:
            rec["fault"] = r.fault
        sim.log(rec)
        self.send(r, head)

    def send(self, r, head=False):
        self.send_response(r.status)
        for k, v in r.headers:
            self.send_header(k, v)
        self.send_header("Content-Type", r.ctype)
        self.send_header("Content-Length", str(len(r.body)))
        if r.short_read or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head:
            return
        if r.short_read:
            self.wfile.write(r.body[:r.short_read])
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(r.body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name, which can stall on
        # a machine without DNS; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return   # the client went away, typically after its own timeout
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Legacy-system simulator (/out, /in and /ben) "
                                             "for clerk's connector tests.")
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1, 0 = any free one")
    ap.add_argument("--faults", default="{}",
                    help="JSON object of faults, or @FILE to read it from a file")
    ap.add_argument("--log", help="append JSON lines of every request to this file")
    ap.add_argument("--user", default="clerk", help="login user name (default clerk)")
    ap.add_argument("--password", default="sim-password", help="login password")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault RNG (default 1)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    a = ap.parse_args(argv)
    text = a.faults
    try:
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read()
        faults = json.loads(text)
        sim = Sim(a.user, a.password, a.seed, faults, a.log, a.verbose)
    except OSError as e:
        sys.stderr.write(f"legacysim: {e}\n")
        return 2
    except ValueError as e:
        sys.stderr.write(f"legacysim: --faults: {e}\n")
        return 2
    try:
        srv = Server(("127.0.0.1", a.port), Handler)
    except OSError as e:
        sys.stderr.write(f"legacysim: cannot listen on 127.0.0.1:{a.port}: {e}; "
                         "pick another port or 0 for any free one\n")
        return 2
    srv.sim = sim

    def on_signal(signum, frame):
        sim.stop.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"listening 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
