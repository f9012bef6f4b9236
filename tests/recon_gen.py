#!/usr/bin/env python3
"""recon_gen.py - statement/ledger CSV pairs with known ground truth.

    recon_gen.py --lines N --seed S --out DIR [--diff-rate 0.01]
                 [--encoding utf-8|gbk]

writes
    DIR/bank.csv          the bank statement for November 2026, with a
                          running balance (余额) so the proof can tie
    DIR/bank-overlap.csv  a second, overlapping export: only lines that
                          are also in bank.csv (its 余额 cells are empty);
                          written only when duplicates were injected
    DIR/ledger.csv        the fund ledger's bank journal, with a balance
    DIR/rules.cfg         the rules (libconfig) to read and match them
    DIR/truth.json        every expected match and every expected
                          difference, by file and line number

Lines are "file:line", the line being the physical line in the file
(line 1 is the header, so data starts at line 2). About diff-rate of the
events are injected cases, spread over: timing differences (ledger booked
1-3 days after the bank; same reference), typos in references (pass 1
fails, pass 2 matches), fees (the bank amount lower by 0.01-0.50), batches
(one bank debit = 2-6 ledger lines sharing a batch id), reversals on
either side, duplicate bank lines (in bank-overlap.csv), the same amount
on the same day for different payees (resolved by the counterparty), the
same amount where nothing decides (DIFF_AMBIGUOUS), and plain bank-only
and ledger-only lines. Every other event is a plain pair with the same
reference.

Every amount is drawn once (no two unrelated lines share an absolute
amount), and names and references are unique per event, so no pass can
find a pairing the truth does not list.

Python 3 standard library only; 1,000,000 lines take well under a minute.
"""

import argparse
import datetime
import json
import os
import random
import sys

KINDS = ["timing", "typo", "fee", "batch", "bank_reversal",
         "ledger_reversal", "duplicate", "same_amount", "ambiguous",
         "bank_only", "ledger_only"]

YEAR, MONTH, DAYS = 2026, 11, 30
FIRST = datetime.date(YEAR, MONTH, 1).toordinal()

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
ORGS = ["医院", "药房", "社区卫生服务中心", "人力资源有限公司", "街道办事处",
        "职业技术学院", "建筑工程有限公司", "物业管理有限公司"]
CITIES = ["北京市", "上海市", "广州市", "深圳市", "成都市", "武汉市", "西安市",
          "南京市", "杭州市", "重庆市"]

BANK_COLS = ["交易日期", "金额", "余额", "流水号", "对方户名", "摘要", "批次号"]
LEDGER_COLS = ["记账日期", "金额", "余额", "银行流水号", "对方单位", "摘要",
               "批次号"]

RULES = """\
# written by tests/recon_gen.py
bank = {
  encoding = "%(enc)s";
  header_rows = 1;
  date_format = "%%Y-%%m-%%d";
  columns = {
    date = "交易日期";
    amount = "金额";
    ref = "流水号";
    counterparty = "对方户名";
    text = "摘要";
    batch = "批次号";
    balance = "余额";
  };
  sign = "amount";
};
ledger = {
  encoding = "%(enc)s";
  header_rows = 1;
  date_format = "%%Y-%%m-%%d";
  columns = {
    date = "记账日期";
    amount = "金额";
    ref = "银行流水号";
    counterparty = "对方单位";
    text = "摘要";
    batch = "批次号";
    balance = "余额";
  };
  sign = "amount";
};
match = {
  window = [-1, 3];
  subset_max_parts = 8;
  subset_max_candidates = 30;
  fee_tolerance = "0.50";
};
"""


class Gen:
    def __init__(self, seed, rate):
        self.rng = random.Random(seed)
        self.rate = rate
        self.used = set()
        # rows: [day, amount, ref, cp, text, batch, key]; key links the
        # row to truth once its line number is known
        self.bank, self.ledger, self.overlap = [], [], []
        self.matches = []   # (kind, [bank keys], [ledger keys], difference)
        self.diffs = []     # (kind, key, [candidate keys], amount)
        self.nkey = 0
        self.nev = 0

    def amount(self, lo=100, hi=50_000_000):
        """A fresh absolute amount in fen, never drawn before."""
        r = self.rng
        while True:
            a = r.randrange(lo, hi)
            if a not in self.used:
                self.used.add(a)
                return a

    def day(self, lo=0, hi=DAYS - 1):
        return self.rng.randint(lo, hi)

    def name(self):
        self.nev += 1
        r = self.rng
        if r.random() < 0.5:
            return "%s%s%s%d" % (r.choice(SURNAMES), r.choice("伟芳娜敏静丽强磊军洋"),
                                 r.choice("明华国建平"), self.nev)
        return "%s第%d%s" % (r.choice(CITIES), self.nev, r.choice(ORGS))

    def ref(self):
        self.nev += 1
        return "HX%02d%08d" % (MONTH, self.nev)

    def row(self, side, day, amount, ref, cp, text, batch=""):
        self.nkey += 1
        key = ("B" if side is self.bank else
               "O" if side is self.overlap else "L") + str(self.nkey)
        side.append([day, amount, ref, cp, text, batch, key])
        return key

    def sign(self):
        return 1 if self.rng.random() < 0.5 else -1

    # ---- events -------------------------------------------------------

    def plain(self, shift=0, typo=False):
        s, a, d = self.sign(), self.amount(), self.day(0, DAYS - 4)
        ref, cp = self.ref(), self.name()
        text = "收款" if s > 0 else "付款"
        b = self.row(self.bank, d, s * a, ref, cp, text)
        lref = ref
        if typo:
            # two digits swapped, or a character lost
            i = self.rng.randrange(2, len(ref) - 1)
            lref = ref[:i] + ref[i + 1] + ref[i] + ref[i + 2:]
            if lref == ref:
                lref = ref[:-1]
            shift = self.rng.randint(-1, 3)
            if d + shift < 0:
                shift = 0
        l = self.row(self.ledger, d + shift, s * a, lref, cp, text)
        self.matches.append(("amount_date" if typo else "reference", [b], [l],
                             0))
        return b, l

    def fee(self):
        d, f = self.day(0, DAYS - 2), self.rng.randint(1, 50)
        s = self.sign()
        while True:
            # the bank's amount must be as unique as any other
            a = self.amount(1000)
            if a + f not in self.used and a - f not in self.used:
                self.used.add(a + f if s < 0 else a - f)
                break
        ref, cp = self.ref(), self.name()
        # the bank takes the fee: a receipt arrives short, a payment
        # leaves with the fee on top; either way bank - ledger = -fee
        b = self.row(self.bank, d, s * a - f, ref, cp,
                     "收款（扣手续费）" if s > 0 else "付款（含手续费）")
        l = self.row(self.ledger, d + self.rng.randint(0, 1), s * a, ref, cp,
                     "收款" if s > 0 else "付款")
        self.matches.append(("tolerance", [b], [l], -f))
        self.diffs.append(("fee", b, [l], -f))

    def batch(self):
        k = self.rng.randint(2, 6)
        parts = [self.amount(1000, 5_000_000) for _ in range(k)]
        total = sum(parts)
        if total in self.used:
            return self.batch()
        self.used.add(total)
        d = self.day(0, DAYS - 3)
        self.nev += 1
        bid = "PB%02d%06d" % (MONTH, self.nev)
        b = self.row(self.bank, d, -total, self.ref(), "批量代发",
                     "批量代发%d笔" % k, bid)
        ls = [self.row(self.ledger, d + self.rng.randint(0, 1), -p, "",
                       self.name(), "养老金发放", bid) for p in parts]
        self.matches.append(("batch", [b], ls, 0))

    def reversal(self, side):
        a, d = self.amount(), self.day(0, DAYS - 3)
        ref, cp = self.ref(), self.name()
        o = self.row(side, d, -a, ref, cp, "付款")
        r = self.row(side, d + self.rng.randint(0, 2), a, ref, cp, "冲正 退回")
        if side is self.bank:
            self.matches.append(("reversal", [o, r], [], 0))
        else:
            self.matches.append(("reversal", [], [o, r], 0))

    def duplicate(self):
        b, _ = self.plain()
        row = next(x for x in reversed(self.bank) if x[6] == b)
        o = self.row(self.overlap, *row[:6])
        self.diffs.append(("duplicate", o, [b], row[1]))

    def same_amount(self):
        s, a, d = self.sign(), self.amount(), self.day(0, DAYS - 4)
        c1, c2 = self.name(), self.name()
        b1 = self.row(self.bank, d, s * a, self.ref(), c1, "转账")
        b2 = self.row(self.bank, d, s * a, self.ref(), c2, "转账")
        # the ledger has no bank reference for either, and books them
        # in the other order
        l2 = self.row(self.ledger, d, s * a, "", c2, "转账")
        l1 = self.row(self.ledger, d + self.rng.randint(0, 1), s * a, "", c1,
                      "转账")
        self.matches.append(("amount_date", [b1], [l1], 0))
        self.matches.append(("amount_date", [b2], [l2], 0))

    def ambiguous(self):
        s, a, d = self.sign(), self.amount(), self.day(0, DAYS - 4)
        b = self.row(self.bank, d, s * a, self.ref(), "", "转账")
        l1 = self.row(self.ledger, d, s * a, "", self.name(), "转账")
        l2 = self.row(self.ledger, d, s * a, "", self.name(), "转账")
        self.diffs.append(("ambiguous", b, [l1, l2], s * a))
        k = "booked_in_not_bank" if s > 0 else "booked_out_not_bank"
        self.diffs.append((k, l1, [], s * a))
        self.diffs.append((k, l2, [], s * a))

    def one_side(self, side):
        s, a, d = self.sign(), self.amount(), self.day()
        x = self.row(side, d, s * a, self.ref(), self.name(),
                     "收款" if s > 0 else "付款")
        if side is self.bank:
            k = "bank_in_not_booked" if s > 0 else "bank_out_not_booked"
        else:
            k = "booked_in_not_bank" if s > 0 else "booked_out_not_bank"
        self.diffs.append((k, x, [], s * a))

    def run(self, n):
        r = self.rng
        while len(self.bank) < n:
            if r.random() >= self.rate:
                self.plain()
                continue
            k = r.choice(KINDS)
            if k == "timing":
                self.plain(shift=r.randint(1, 3))
            elif k == "typo":
                self.plain(typo=True)
            elif k == "fee":
                self.fee()
            elif k == "batch":
                self.batch()
            elif k == "bank_reversal":
                self.reversal(self.bank)
            elif k == "ledger_reversal":
                self.reversal(self.ledger)
            elif k == "duplicate":
                self.duplicate()
            elif k == "same_amount":
                self.same_amount()
            elif k == "ambiguous":
                self.ambiguous()
            elif k == "bank_only":
                self.one_side(self.bank)
            else:
                self.one_side(self.ledger)


def yuan(v):
    s = "-" if v < 0 else ""
    v = abs(v)
    return "%s%d.%02d" % (s, v // 100, v % 100)


def cell(s):
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def write_side(path, cols, rows, opening, enc, name, where, balance=True):
    """Sorts rows by date (stable), writes them, records key -> file:line."""
    rows.sort(key=lambda x: x[0])
    bal = opening
    out = [",".join(cols)]
    for i, (day, amount, ref, cp, text, batch, key) in enumerate(rows):
        bal += amount
        date = datetime.date.fromordinal(FIRST + day).isoformat()
        out.append(",".join([date, yuan(amount), yuan(bal) if balance else "",
                             cell(ref), cell(cp), cell(text), batch]))
        where[key] = "%s:%d" % (name, i + 2)
    data = "\n".join(out) + "\n"
    with open(path, "wb") as f:
        f.write(data.encode("gbk" if enc == "gbk" else "utf-8"))
    return bal


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--diff-rate", type=float, default=0.01)
    ap.add_argument("--encoding", choices=["utf-8", "gbk"], default="utf-8")
    a = ap.parse_args()
    if a.lines < 1 or not 0 <= a.diff_rate <= 1:
        ap.error("--lines must be >= 1 and --diff-rate within [0, 1]")
    os.makedirs(a.out, exist_ok=True)

    g = Gen(a.seed, a.diff_rate)
    g.run(a.lines)
    # an account does not go overdrawn: open high enough for the lowest
    # point of either side's running balance
    low = 0
    for rows in (g.bank, g.ledger):
        rows.sort(key=lambda x: x[0])
        run = 0
        for x in rows:
            run += x[1]
            low = min(low, run)
    opening = g.rng.randrange(10_000_000, 10_000_000_000) - low
    where = {}
    bank_close = write_side(os.path.join(a.out, "bank.csv"), BANK_COLS,
                            g.bank, opening, a.encoding, "bank.csv", where)
    ledger_close = write_side(os.path.join(a.out, "ledger.csv"), LEDGER_COLS,
                              g.ledger, opening, a.encoding, "ledger.csv",
                              where)
    bank_files = ["bank.csv"]
    if g.overlap:
        # only when there are duplicates: an empty statement is an error
        write_side(os.path.join(a.out, "bank-overlap.csv"), BANK_COLS,
                   g.overlap, 0, a.encoding, "bank-overlap.csv", where,
                   balance=False)
        bank_files.append("bank-overlap.csv")
    with open(os.path.join(a.out, "rules.cfg"), "w", encoding="utf-8") as f:
        f.write(RULES % {"enc": "GBK" if a.encoding == "gbk" else "UTF-8"})

    # The 余额调节表 the matcher must arrive at: the unmatched lines (and
    # ambiguous subjects) by side and sign, the fees as bank items.
    adj = {"bank_in_not_booked": 0, "bank_out_not_booked": 0,
           "booked_in_not_bank": 0, "booked_out_not_bank": 0}
    for kind, key, cands, amount in g.diffs:
        if kind in adj:
            adj[kind] += abs(amount)
        elif kind in ("fee", "ambiguous"):
            bankside = key[0] != "L"
            if bankside:
                adj["bank_in_not_booked" if amount > 0 else
                    "bank_out_not_booked"] += abs(amount)
            else:
                adj["booked_in_not_bank" if amount > 0 else
                    "booked_out_not_bank"] += abs(amount)
    adjusted_book = (ledger_close + adj["bank_in_not_booked"] -
                     adj["bank_out_not_booked"])
    adjusted_bank = (bank_close + adj["booked_in_not_bank"] -
                     adj["booked_out_not_bank"])
    assert adjusted_book == adjusted_bank, "generator bug: table does not tie"

    truth = {
        "seed": a.seed, "lines": a.lines, "diff_rate": a.diff_rate,
        "encoding": a.encoding,
        "files": {"bank": bank_files,
                  "ledger": ["ledger.csv"]},
        "bank": {"opening": yuan(opening), "closing": yuan(bank_close),
                 "lines": len(g.bank) + len(g.overlap)},
        "ledger": {"opening": yuan(opening), "closing": yuan(ledger_close),
                   "lines": len(g.ledger)},
        "reconciliation": dict(
            {k: yuan(v) for k, v in adj.items()},
            book_balance=yuan(ledger_close), bank_balance=yuan(bank_close),
            adjusted_book=yuan(adjusted_book),
            adjusted_bank=yuan(adjusted_bank), ties=True),
        "matches": [{"kind": k, "bank": [where[x] for x in b],
                     "ledger": [where[x] for x in l],
                     "difference": yuan(d)} for k, b, l, d in g.matches],
        "differences": [{"kind": k,
                         "side": "ledger" if key[0] == "L" else "bank",
                         "line": where[key],
                         "candidates": [where[x] for x in c],
                         "amount": yuan(amt)}
                        for k, key, c, amt in g.diffs],
    }
    with open(os.path.join(a.out, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=0)
        f.write("\n")
    kinds = {}
    for d in truth["differences"]:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    print("bank %d lines (+%d overlapping), ledger %d lines, %d matches, "
          "%d differences %s" % (len(g.bank), len(g.overlap), len(g.ledger),
                                 len(g.matches), len(g.diffs),
                                 json.dumps(kinds, sort_keys=True)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
