"""Helpers for the pension-transfer tests and benchmark: valid transfer
cases (GB 11643 ID numbers, GB 32100 USCCs), the legacy-system simulator
(tests/legacysim/legacysim.py) as a child process, and the credentials
file the connectors read. Only the Python standard library."""
import json
import os
import random
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR", os.path.dirname(os.path.dirname(HERE)))
SIM = os.path.join(SRCDIR, "tests", "legacysim", "legacysim.py")
PLAYBOOK = os.path.join(SRCDIR, "playbooks", "pension-transfer.cfg")

ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
USCC_CS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
REGIONS = ["110105", "310115", "440305", "130102", "320505", "430102"]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]


def cn_id(region, birth, seq):
    body = f"{region}{birth}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_W)) % 11]


def uscc(body17):
    c = 31 - sum(USCC_CS.index(ch) * w for ch, w in zip(body17, USCC_W)) % 31
    return body17 + USCC_CS[0 if c == 31 else c]


def case(i, rng=None):
    rng = rng or random.Random(i)
    y = 1965 + i % 35
    birth = f"{y}{1 + i % 12:02d}{1 + i % 28:02d}"
    return {
        "id_no": cn_id(REGIONS[i % len(REGIONS)], birth, i % 1000),
        "name": NAMES[i % len(NAMES)],
        "from_uscc": uscc("91110105" + f"{rng.randrange(10**9):09d}"),
        "to_uscc": uscc("91130102" + f"{rng.randrange(10**9):09d}"),
        "to_region": "河北省石家庄市",
        "periods": "2015-01..2023-12",
        "months": "108",
    }


class Sim:
    """The simulator on a free loopback port."""

    def __init__(self, faults=None, password="sim-password", seed=1, log=None):
        args = [sys.executable, SIM, "--port", "0", "--password", password,
                "--seed", str(seed), "--faults", json.dumps(faults or {})]
        if log:
            args += ["--log", log]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError(f"legacysim did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def faults(self, **f):
        return self.post("/_sim/faults", f)

    def stats(self):
        return self.get("/_sim/stats")

    def submissions(self):
        return self.get("/_sim/submissions")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_credentials(path, url, user="clerk", password="sim-password"):
    """The connectors' credentials file, mode 0600 from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'pension-out = {{ username = "{user}"; password = "{password}";'
                f' base_url = "{url}/out"; }};\n'
                f'pension-in = {{ username = "{user}"; password = "{password}";'
                f' base_url = "{url}/in"; }};\n')
    os.chmod(path, 0o600)


def playbook_text(**overrides):
    """The bundled playbook, with settings replaced for a test
    (e.g. timeout="1s"): every `key = "old";` inside the connectors."""
    text = open(PLAYBOOK, encoding="utf-8").read()
    import re
    for k, v in overrides.items():
        text = re.sub(rf'(\n\s*{k} = )"[^"]*";', rf'\1"{v}";', text)
    return text
