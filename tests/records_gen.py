#!/usr/bin/env python3
"""records_gen.py - record sets with known ground truth for record matching
(参保信息合并 and 四比对).

    records_gen.py --people N --seed S --out DIR [--encoding utf-8|gbk]
                   [--rate 0.02] [--bench-recipients N --bench-deaths M]

writes
    DIR/insured.csv         one insured-person register (for record-merge):
                            身份证号, 姓名, 出生日期, 性别, 行政区划,
                            参保开始, 参保结束
    DIR/recipients.csv      benefit recipients (for benefit-crosscheck):
                            ..., 待遇类别, 月发放金额, 首次发放, 末次发放
    DIR/deaths.csv          the death registry: ..., 死亡日期
    DIR/prison.csv          the prison registry: ..., 刑期起, 刑期止
    DIR/other.csv           other regions' recipients (recipients' columns)
    DIR/rules-merge.cfg     rules for the register against itself
    DIR/rules-crosscheck.cfg rules for recipients against the registries
    DIR/truth.json          the true duplicate pairs (by line), the rows
                            with an invalid ID or date, and per recipient
                            line the expected case: reasons, exact (suspend)
                            or not (review), payments and amount at risk

Injected (about rate of the people each): duplicates with the same ID in
another region (periods apart, or overlapping = double enrolment), a
15-digit and an 18-digit ID, an ID digit typo, two transposed ID digits,
a name typo, an impossible birth date in the column, a bad check
character on a single record; pairs that must NOT match: the same name
and birthday but different people, twins (same birth, region and
surname). Cross-check: deaths before and after the last payment, a death
registered with an ID typo or with no ID, sentences current and long
over, the same benefit drawn in another region, another benefit there,
a person in both registries, a namesake and a twin who died.

With --bench-recipients/--bench-deaths only recipients.csv, deaths.csv,
insured.csv (= recipients with duplicates) and the rules are written, fast,
for bench/records.sh; truth.json then lists only the injected death hits.

Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import random

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红兰建文辉力国庆新春海波宁斌林飞鹏志云鑫俊浩宇晨瑞琳雪梅婷慧颖佳欣怡思晓东亮成峰龙凤彬燕丹"
REGIONS = ["110101", "110105", "120101", "310104", "310115", "320102",
           "330106", "370102", "420102", "440106", "440305", "500103",
           "510104", "610113", "410105", "430102", "350102", "210102"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECKS = "10X98765432"
BENEFITS = ["基本养老金", "失业保险金"]
INSURED_COLS = ["身份证号", "姓名", "出生日期", "性别", "行政区划", "参保开始", "参保结束"]
RCP_COLS = ["身份证号", "姓名", "出生日期", "性别", "行政区划", "待遇类别",
            "月发放金额", "首次发放", "末次发放"]
DEATH_COLS = ["身份证号", "姓名", "出生日期", "性别", "行政区划", "死亡日期"]
PRISON_COLS = ["身份证号", "姓名", "出生日期", "性别", "行政区划", "刑期起", "刑期止"]
LAST_PAY = datetime.date(2026, 10, 15)
NEXT_PAY = datetime.date(2026, 11, 15)


def check_char(first17):
    return CHECKS[sum(int(c) * w for c, w in zip(first17, WEIGHTS)) % 11]


def add_months(d, n):
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    import calendar
    return datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def payments(first, last):
    out, n = [], 0
    while True:
        d = add_months(first, n)
        if d > last:
            return out
        out.append(d)
        n += 1


class Gen:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.ids = set()
        self.names = set()

    def name(self, surname=None):
        r = self.rnd
        s = surname or r.choice(SURNAMES)
        g = "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2))))
        return s + g

    def birth(self, lo=1945, hi=2000):
        start = datetime.date(lo, 1, 1).toordinal()
        end = datetime.date(hi, 12, 28).toordinal()
        return datetime.date.fromordinal(self.rnd.randint(start, end))

    def person(self, region=None, birth=None, surname=None, sex=None):
        r = self.rnd
        region = region or r.choice(REGIONS)
        birth = birth or self.birth()
        while True:
            seq = r.randint(0, 999)
            if sex is not None and seq % 2 != (1 if sex == 1 else 0):
                seq = (seq + 1) % 1000
            first17 = "%s%s%03d" % (region, birth.strftime("%Y%m%d"), seq)
            pid = first17 + check_char(first17)
            if pid not in self.ids:
                self.ids.add(pid)
                break
        return {"id": pid, "name": self.name(surname), "birth": birth,
                "sex": 1 if int(pid[16]) % 2 else 2, "region": region}


def id15(pid):
    return pid[:6] + pid[8:17]


def typo_digit(gen, pid):
    # one digit of the sequence or day changed; the check char stays the
    # old one, so the typed ID is invalid
    i = gen.rnd.choice([14, 15, 16])
    d = str((int(pid[i]) + gen.rnd.randint(1, 9)) % 10)
    return pid[:i] + d + pid[i + 1:]


def transpose(gen, pid):
    for _ in range(20):
        i = gen.rnd.choice([12, 13, 14, 15])
        if pid[i] != pid[i + 1]:
            return pid[:i] + pid[i + 1] + pid[i] + pid[i + 2:]
    return None


def name_typo(gen, name):
    # a homophone-ish slip: a given-name character swapped for another
    i = len(name) - 1
    while True:
        c = gen.rnd.choice(GIVEN)
        if c != name[i]:
            return name[:i] + c


def fmt_date(gen, d, style=None):
    style = style if style is not None else gen.rnd.choice((0, 0, 0, 1, 2, 3))
    if style == 0:
        return d.strftime("%Y-%m-%d")
    if style == 1:
        return d.strftime("%Y/%m/%d")
    if style == 2:
        return d.strftime("%Y%m%d")
    return "%d年%d月%d日" % (d.year, d.month, d.day)


def sex_text(s):
    return "男" if s == 1 else "女"


def write_csv(path, cols, rows, encoding):
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(",".join(cols) + "\r\n")
        for r in rows:
            f.write(",".join(r) + "\r\n")


def rules(path, encoding, sides):
    enc = "GBK" if encoding == "gbk" else "UTF-8"
    cols = {
        "insured": 'id = "身份证号"; name = "姓名"; birth = "出生日期"; sex = "性别";'
                   ' region = "行政区划"; from = "参保开始"; to = "参保结束";',
        "rcp": 'id = "身份证号"; name = "姓名"; birth = "出生日期"; sex = "性别";'
               ' region = "行政区划"; benefit = "待遇类别"; amount = "月发放金额";'
               ' from = "首次发放"; to = "末次发放";',
        "death": 'id = "身份证号"; name = "姓名"; birth = "出生日期"; sex = "性别";'
                 ' region = "行政区划"; from = "死亡日期";',
        "prison": 'id = "身份证号"; name = "姓名"; birth = "出生日期"; sex = "性别";'
                  ' region = "行政区划"; from = "刑期起"; to = "刑期止";',
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write("# written by tests/records_gen.py\n")
        for side, c in sides:
            f.write('%s = { encoding = "%s"; columns = { %s }; };\n' % (side, enc, cols[c]))
        f.write('blocking = [ "id", "birth_name" ];\n')
        f.write("thresholds = { auto = 90; review = 50; };\n")
        f.write("today = 20261123;\n")


def insured_set(gen, n, rate, enc):
    """The register with duplicates; returns rows and truth."""
    r = gen.rnd
    rows, truth_pairs, issues = [], [], []

    def period(lo=1995, hi=2024):
        a = datetime.date(r.randint(lo, hi), r.randint(1, 12), 1)
        b = add_months(a, r.randint(6, 60)) - datetime.timedelta(days=1)
        return a, b

    def row(p, pid=None, name=None, birth=None, region=None, per=None, birth_text=None):
        a, b = per or period()
        rows.append([pid or p["id"], name or p["name"],
                     birth_text or fmt_date(gen, birth or p["birth"]),
                     sex_text(p["sex"]), region or p["region"],
                     fmt_date(gen, a, 0), fmt_date(gen, b, 0)])
        return len(rows) + 1   # physical line (header is line 1)

    kinds = ["exact", "id15", "overlap", "typo", "transposed", "name_typo",
             "bad_birth", "namesake", "twins", "bad_check"]
    for i in range(n):
        p = gen.person()
        k = kinds[i % len(kinds)] if r.random() < rate * len(kinds) else None
        a1, b1 = period(1995, 2008)
        a2 = add_months(b1, r.randint(1, 24)) + datetime.timedelta(days=1)
        a2 = a2.replace(day=1)
        b2 = add_months(a2, r.randint(6, 120)) - datetime.timedelta(days=1)
        other = r.choice([x for x in REGIONS if x != p["region"]])
        if k is None:
            row(p)
        elif k == "exact":
            la = row(p, per=(a1, b1))
            lb = row(p, region=other, per=(a2, b2))
            truth_pairs.append([la, lb, k, "auto-merge"])
        elif k == "id15":
            if p["birth"].year >= 2000:
                row(p)
                continue
            la = row(p, pid=id15(p["id"]), per=(a1, b1))
            lb = row(p, region=other, per=(a2, b2))
            truth_pairs.append([la, lb, k, "auto-merge"])
        elif k == "overlap":
            la = row(p, per=(a1, b2))
            lb = row(p, region=other, per=(a2, b2))
            truth_pairs.append([la, lb, k, "double-enrolment"])
        elif k == "typo":
            la = row(p, per=(a1, b1))
            lb = row(p, pid=typo_digit(gen, p["id"]), per=(a2, b2))
            truth_pairs.append([la, lb, k, "review"])
            issues.append(lb)
        elif k == "transposed":
            t = transpose(gen, p["id"])
            if t is None:
                row(p)
                continue
            la = row(p, per=(a1, b1))
            lb = row(p, pid=t, per=(a2, b2))
            truth_pairs.append([la, lb, k, "review"])
            if check_char(t[:17]) != t[17]:
                issues.append(lb)
        elif k == "name_typo":
            la = row(p, per=(a1, b1))
            lb = row(p, name=name_typo(gen, p["name"]), region=other, per=(a2, b2))
            truth_pairs.append([la, lb, k, "review"])
        elif k == "bad_birth":
            # the column says 2月30日; the ID still says the truth
            la = row(p, per=(a1, b1))
            lb = row(p, per=(a2, b2), birth_text="%d-02-30" % p["birth"].year)
            truth_pairs.append([la, lb, k, "auto-merge"])
            issues.append(lb)
        elif k == "namesake":
            q = gen.person(birth=p["birth"])
            q["name"] = p["name"]
            row(p)
            row(q)
        elif k == "twins":
            q = gen.person(region=p["region"], birth=p["birth"],
                           surname=p["name"][0])
            row(p)
            row(q)
        elif k == "bad_check":
            bad = p["id"][:17] + r.choice([c for c in CHECKS if c != p["id"][17]])
            issues.append(row(p, pid=bad))
    write_csv(os.path.join(enc[1], "insured.csv"), INSURED_COLS, rows, enc[0])
    return {"pairs": truth_pairs, "issues": issues, "rows": len(rows)}


def crosscheck_sets(gen, n, rate, enc):
    r = gen.rnd
    rcp, deaths, prison, other = [], [], [], []
    cases = {}

    def amount():
        return r.randint(150000, 600000)   # fen

    def rrow(rows, p, benefit, amt, first, last, pid=None):
        rows.append([pid if pid is not None else p["id"], p["name"],
                     fmt_date(gen, p["birth"]), sex_text(p["sex"]), p["region"],
                     benefit, "%d.%02d" % (amt // 100, amt % 100),
                     fmt_date(gen, first, 0), fmt_date(gen, last, 0)])
        return len(rows) + 1

    def reg_row(rows, p, dates, pid=None, name=None):
        rows.append([pid if pid is not None else p["id"], name or p["name"],
                     fmt_date(gen, p["birth"]), sex_text(p["sex"]), p["region"]]
                    + [fmt_date(gen, d, 0) if d else "" for d in dates])

    kinds = ["death_before", "death_after", "death_typo", "death_noid",
             "prison_current", "prison_past", "double_draw", "other_benefit",
             "both", "namesake_died", "twin_died"]
    for i in range(n):
        p = gen.person(birth=gen.birth(1940, 1975))
        k = kinds[i % len(kinds)] if r.random() < rate * len(kinds) else None
        benefit = BENEFITS[0] if r.random() < 0.8 else BENEFITS[1]
        amt = amount()
        first = datetime.date(r.randint(2015, 2025), r.randint(1, 12), 15)
        if first > LAST_PAY:
            first = LAST_PAY
        last = LAST_PAY
        pays = payments(first, last)
        line = rrow(rcp, p, benefit, amt, first, last)
        if k is None:
            continue
        case = {"kind": k, "reasons": [], "exact": True, "at_risk": set()}
        if k in ("death_before", "death_typo", "death_noid", "both"):
            death = pays[0] + datetime.timedelta(days=r.randint(0, (last - pays[0]).days))
            pid = p["id"]
            if k == "death_typo":
                pid = typo_digit(gen, p["id"])
                case["exact"] = False
            if k == "death_noid":
                pid = ""
                case["exact"] = False
            reg_row(deaths, p, [death], pid=pid)
            case["reasons"].append("deceased")
            case["at_risk"] |= {d for d in pays if d > death}
        if k == "death_after":
            death = last + datetime.timedelta(days=r.randint(1, 20))
            reg_row(deaths, p, [death])
            case["reasons"].append("deceased")
        if k in ("prison_current", "both"):
            start = pays[0] + datetime.timedelta(days=r.randint(0, (last - pays[0]).days))
            end = start + datetime.timedelta(days=r.randint(400, 3000))
            reg_row(prison, p, [start, end])
            case["reasons"].append("in_prison")
            case["at_risk"] |= {d for d in pays if start <= d <= end}
        if k == "prison_past":
            end = first - datetime.timedelta(days=r.randint(30, 900))
            start = end - datetime.timedelta(days=r.randint(100, 2000))
            reg_row(prison, p, [start, end])
            case = None
        if k == "double_draw":
            q = dict(p)
            q["region"] = r.choice([x for x in REGIONS if x != p["region"]])
            ofirst = add_months(first, r.randint(0, max(0, len(pays) - 1)))
            rrow(other, q, benefit, amount(), ofirst, last)
            case["reasons"].append("double_draw")
            case["at_risk"] |= {d for d in pays if d >= ofirst}
        if k == "other_benefit":
            q = dict(p)
            q["region"] = r.choice([x for x in REGIONS if x != p["region"]])
            ob = BENEFITS[1] if benefit == BENEFITS[0] else BENEFITS[0]
            rrow(other, q, ob, amount(), first, last)
            case = None
        if k == "namesake_died":
            q = gen.person(birth=p["birth"])
            reg_row(deaths, q, [last - datetime.timedelta(days=40)], name=p["name"])
            case = None
        if k == "twin_died":
            q = gen.person(region=p["region"], birth=p["birth"], surname=p["name"][0])
            reg_row(deaths, q, [last - datetime.timedelta(days=40)])
            case = None
        if case is not None:
            case["payments_at_risk"] = len(case["at_risk"])
            case["amount_at_risk_fen"] = len(case["at_risk"]) * amt
            case["at_risk"] = sorted(d.isoformat() for d in case["at_risk"])
            case["reasons"].sort()
            cases[str(line)] = case
    # the registries' other rows: people who are not recipients
    for _ in range(max(10, n // 5)):
        q = gen.person(birth=gen.birth(1930, 1975))
        reg_row(deaths, q, [gen.birth(2010, 2026)])
    for _ in range(max(10, n // 20)):
        q = gen.person()
        s = gen.birth(2015, 2025)
        reg_row(prison, q, [s, s + datetime.timedelta(days=r.randint(100, 3000))])
    for _ in range(max(10, n // 10)):
        q = gen.person(birth=gen.birth(1940, 1975))
        f = datetime.date(r.randint(2015, 2025), r.randint(1, 12), 15)
        rrow(other, q, BENEFITS[0], amount(), min(f, LAST_PAY), LAST_PAY)
    # registries come in their own order
    for rows in (deaths, prison, other):
        r.shuffle(rows)
    d = enc[1]
    write_csv(os.path.join(d, "recipients.csv"), RCP_COLS, rcp, enc[0])
    write_csv(os.path.join(d, "deaths.csv"), DEATH_COLS, deaths, enc[0])
    write_csv(os.path.join(d, "prison.csv"), PRISON_COLS, prison, enc[0])
    write_csv(os.path.join(d, "other.csv"), RCP_COLS, other, enc[0])
    return {"cases": cases, "next_payment": NEXT_PAY.isoformat()}


def bench_sets(gen, nrcp, ndeath, enc):
    """Big and fast: recipients, deaths (1% of them recipients), and the
    recipients again with 1% duplicates as the register."""
    r = gen.rnd
    d = enc[1]
    hits, dups = [], []
    drows = []
    with open(os.path.join(d, "recipients.csv"), "w", encoding=enc[0], newline="") as f, \
            open(os.path.join(d, "insured.csv"), "w", encoding=enc[0], newline="") as g:
        f.write(",".join(RCP_COLS) + "\r\n")
        g.write(",".join(INSURED_COLS) + "\r\n")
        gline = 1
        for i in range(nrcp):
            # unique IDs by construction: region, birth day and sequence
            # from i (sequences below 500)
            region = REGIONS[i % len(REGIONS)]
            j = i // len(REGIONS)
            b = datetime.date.fromordinal(711858 + j % 12000)   # 1950..1982
            first17 = "%s%s%03d" % (region, b.strftime("%Y%m%d"), j // 12000 % 500)
            pid = first17 + check_char(first17)
            name = r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(GIVEN)
            sx = "男" if int(pid[16]) % 2 else "女"
            bt = b.isoformat()
            f.write("%s,%s,%s,%s,%s,基本养老金,3000.00,2020-01-15,2026-10-15\r\n"
                    % (pid, name, bt, sx, region))
            g.write("%s,%s,%s,%s,%s,2001-01-01,2010-12-31\r\n" % (pid, name, bt, sx, region))
            gline += 1
            if i % 100 == 7:
                g.write("%s,%s,%s,%s,%s,2011-01-01,2020-12-31\r\n"
                        % (pid, name, bt, sx, REGIONS[(i + 1) % len(REGIONS)]))
                gline += 1
                dups.append([gline - 1, gline])
            if i % 100 == 3 and len(drows) < ndeath:
                drows.append("%s,%s,%s,%s,%s,2026-03-04\r\n" % (pid, name, bt, sx, region))
                hits.append(i + 2)
        while len(drows) < ndeath:
            # other people: born 1917..1949 with sequences from 500, so no
            # ID is one typo away from a recipient's
            region = r.choice(REGIONS)
            b = datetime.date.fromordinal(700000 + r.randrange(11800))
            first17 = "%s%s%03d" % (region, b.strftime("%Y%m%d"), 500 + r.randrange(500))
            pid = first17 + check_char(first17)
            name = r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(GIVEN)
            drows.append("%s,%s,%s,%s,%s,2025-06-01\r\n" % (
                pid, name, b.isoformat(), "男" if int(pid[16]) % 2 else "女", region))
    r.shuffle(drows)
    with open(os.path.join(d, "deaths.csv"), "w", encoding=enc[0], newline="") as f:
        f.write(",".join(DEATH_COLS) + "\r\n")
        f.writelines(drows)
    return {"death_hit_lines": hits, "duplicate_pairs": dups}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--encoding", choices=("utf-8", "gbk"), default="utf-8")
    ap.add_argument("--rate", type=float, default=0.02)
    ap.add_argument("--bench-recipients", type=int, default=0)
    ap.add_argument("--bench-deaths", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    gen = Gen(a.seed)
    enc = (a.encoding, a.out)
    rules(os.path.join(a.out, "rules-merge.cfg"), a.encoding, [("left", "insured")])
    rules(os.path.join(a.out, "rules-crosscheck.cfg"), a.encoding,
          [("left", "rcp"), ("death", "death"), ("prison", "prison"), ("recipients", "rcp")])
    if a.bench_recipients:
        truth = bench_sets(gen, a.bench_recipients, a.bench_deaths, enc)
    else:
        truth = {"merge": insured_set(gen, a.people, a.rate, enc),
                 "crosscheck": crosscheck_sets(gen, a.people, a.rate, enc)}
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
