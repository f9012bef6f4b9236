#!/usr/bin/env python3
"""ocr_gen.py - documents for the OCR document check, with ground truth.

    ocr_gen.py --out DIR [--set test|bench|demo] [--count N] [--seed S]

Renders forms with text2image (tesseract-ocr) in Noto Sans CJK SC
(fonts-noto-cjk), degrades them with ImageMagick's convert, and writes the
files and DIR/truth.json: for every file its template, the payload to
check it with, the verdict it must get (or the verdicts it may get:
"not_accept" for anything but accept) and the field values it must read.

Sets: "test" (one of every case the suite covers), "bench" (N clean and
mildly degraded claim forms plus some that must not be accepted), "demo"
(a few uploads for scripts/demo.sh).
"""
import argparse
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

FONT = "Noto Sans CJK SC"
FONT_DIRS = ["/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto"]

CNID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
USCC_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

SURNAMES = "张王李赵刘陈杨周吴孙马朱胡郭何林高"
GIVEN = "伟芳敏静丽强磊军洋勇杰涛明超平刚华兰"
REGIONS = ["110105", "310104", "440106", "320102", "330106", "510107"]
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "中国银行"]
COMPANIES = ["北京市星河科技有限公司", "上海市东方贸易有限公司",
             "广州市南方物流有限公司", "南京市长江机械有限公司"]
DIGITS_CN = "零壹贰叁肆伍陆柒捌玖"
# A look-alike for every character of SURNAMES and GIVEN (a stroke more
# or less, a radical changed): the case's name with one of them swapped
# is another person whose name a misread could turn into the one printed.
LOOKALIKE = dict(zip("张王李赵刘陈杨周吴孙马朱胡郭何林高"
                     "伟芳敏静丽强磊军洋勇杰涛明超平刚华兰",
                     "弦玉季起划阵扬同昊逊乌末湖廓河材亮"
                     "纬方繁睁面弘晶车祥男木寿朋起乎冈毕兰"))
LOOKALIKE = {k: v for k, v in LOOKALIKE.items() if k != v}


def cnid_check(first17):
    s = sum(int(c) * w for c, w in zip(first17, CNID_W))
    return "10X98765432"[s % 11]


def make_cnid(rng, year=None):
    region = rng.choice(REGIONS)
    y = year or rng.randint(1960, 2000)
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    seq = "%03d" % rng.randint(1, 999)
    first = "%s%04d%02d%02d%s" % (region, y, m, d, seq)
    return first + cnid_check(first), (y, m, d)


def bad_cnid(good):
    c = good[-1]
    wrong = "0" if c != "0" else "1"
    return good[:-1] + wrong


def uscc_check(first17):
    s = sum(USCC_ALPHA.index(c) * w for c, w in zip(first17, USCC_W))
    return USCC_ALPHA[(31 - s % 31) % 31]


def make_uscc(rng):
    first = "91" + rng.choice(["110000", "310000", "440100"]) + "".join(
        rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return first + uscc_check(first)


def luhn_digit(body):
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make_card(rng):
    body = "622202" + "".join(str(rng.randint(0, 9)) for _ in range(12))
    return body + luhn_digit(body)


def amount_cn(fen):
    """大写 for whole yuan below 10000 (what the forms use)."""
    yuan = fen // 100
    units = [(1000, "仟"), (100, "佰"), (10, "拾"), (1, "")]
    out, zero = "", False
    for u, name in units:
        d = yuan // u % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += DIGITS_CN[d] + name
    return "人民币" + out + "元整"


def fonts_dir(font=FONT):
    if font != FONT:
        # other families (fonts-wqy-zenhei, fonts-arphic-*) live elsewhere
        return "/usr/share/fonts"
    for d in FONT_DIRS:
        if os.path.isdir(d):
            return d
    raise SystemExit("ocr_gen: no Noto CJK fonts; install fonts-noto-cjk")


def render(text, out, ptsize=16, tmp=None, font=FONT):
    """text2image writes a 1-bit 300 DPI A4 TIFF; out is PNG (or TIFF).
    font is a family as `text2image --list_available_fonts` names it."""
    tmp = tmp or tempfile.mkdtemp(prefix="ocrgen-")
    txt = os.path.join(tmp, "page.txt")
    with open(txt, "w") as f:
        f.write(text)
    base = os.path.join(tmp, "page")
    subprocess.run(["text2image", "--text", txt, "--outputbase", base,
                    "--fonts_dir", fonts_dir(font), "--font", font,
                    "--ptsize", str(ptsize), "--xsize", "2480", "--ysize",
                    "3508", "--resolution", "300", "--margin", "200",
                    "--leading", "48", "--char_spacing", "0.1"],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=tmp)
    convert(base + ".tif", [], out)


def convert(src, ops, out):
    subprocess.run(["convert", src] + ops + [out], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


MILD = ["-colorspace", "Gray", "-depth", "8", "-blur", "0x0.7",
        "-attenuate", "0.3", "+noise", "Gaussian", "-rotate", "0.8",
        "-quality", "75"]
BAD = ["-colorspace", "Gray", "-depth", "8", "-resize", "25%", "-blur",
       "0x1.5", "-resize", "400%"]


def huge_png(out, w=100000, h=100000):
    """A valid PNG signature and IHDR declaring w x h, and one tiny IDAT."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with open(out, "wb") as f:
        f.write(data)


def write_pdf(out, objs):
    """objs: bytes or str of objects 1..n; object 1 is the catalog."""
    body, offs = b"%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offs.append(len(body))
        o = o.encode() if isinstance(o, str) else o
        body += ("%d 0 obj\n" % (i + 1)).encode() + o + b"\nendobj\n"
    xref = len(body)
    body += ("xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)).encode()
    for o in offs:
        body += ("%010d 00000 n \n" % o).encode()
    body += ("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
             % (len(objs) + 1, xref)).encode()
    with open(out, "wb") as f:
        f.write(body)


def pdf_pages(out, n):
    """A minimal PDF of n empty A4 pages (a hand-written xref)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [%s] /Count %d >>" % (
                " ".join("%d 0 R" % (3 + i) for i in range(n)), n)]
    for _ in range(n):
        objs.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>")
    write_pdf(out, objs)


def pdf_encrypted(out):
    """A one-page PDF behind the Standard security handler (RC4, R 2)
    whose empty user password does not open it: poppler asks for one."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            "<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>" % (
                "11" * 32, "22" * 32)]
    body, offs = b"%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offs.append(len(body))
        body += ("%d 0 obj\n%s\nendobj\n" % (i + 1, o)).encode()
    xref = len(body)
    body += ("xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)).encode()
    for o in offs:
        body += ("%010d 00000 n \n" % o).encode()
    body += ("trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s><%s>]"
             " >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, "ab" * 16,
                                                  "ab" * 16, xref)).encode()
    with open(out, "wb") as f:
        f.write(body)


def pdf_of_image(src, out, tmp):
    """One A4 page showing src as a JPEG (ImageMagick's policy on Debian
    forbids writing PDF)."""
    jpg = os.path.join(tmp, "page.jpg")
    convert(src, ["-colorspace", "Gray", "-quality", "90"], jpg)
    w, h = subprocess.run(["identify", "-format", "%w %h", jpg], check=True,
                          capture_output=True, text=True).stdout.split()
    with open(jpg, "rb") as f:
        data = f.read()
    content = b"q 595 0 0 842 0 0 cm /Im0 Do Q"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>",
            ("<< /Type /XObject /Subtype /Image /Width %s /Height %s "
             "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode "
             "/Length %d >>\nstream\n" % (w, h, len(data))).encode() + data +
            b"\nendstream",
            ("<< /Length %d >>\nstream\n" % len(content)).encode() + content +
            b"\nendstream"]
    write_pdf(out, objs)


def id_card(rng, name=None, cnid=None, address="北京市东城区景山前街4号",
            ethnic="汉"):
    name = name or rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    cid, (y, m, d) = make_cnid(rng)
    cid = cnid or cid
    y, m, d = int(cid[6:10]), int(cid[10:12]), int(cid[12:14])
    sex = "男" if int(cid[16]) % 2 else "女"
    text = ("居民身份证\n\n姓名 %s\n性别 %s  民族 %s\n出生 %d年%d月%d日\n"
            "住址 %s\n公民身份号码 %s\n" % (
                name, sex, ethnic, y, m, d, address, cid))
    fields = {"name": name, "sex": sex, "birth": "%04d-%02d-%02d" % (y, m, d),
              "id_no": cid}
    return text, fields, {"name": name, "id_no": cid}


def claim_form(rng, blank_field=None, bad_id=False):
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    cid, _ = make_cnid(rng)
    shown_id = bad_cnid(cid) if bad_id else cid
    card = make_card(rng)
    uscc = make_uscc(rng)
    date = (2024, rng.randint(1, 12), rng.randint(1, 28))
    values = {
        "name": name, "id_no": shown_id, "employer": rng.choice(COMPANIES),
        "uscc": uscc, "end_date": "%d年%d月%d日" % date,
        "bank": rng.choice(BANKS), "account": card,
    }
    labels = [("name", "姓名"), ("id_no", "公民身份号码"), ("employer", "参保单位"),
              ("uscc", "统一社会信用代码"), ("end_date", "失业日期"),
              ("bank", "开户银行"), ("account", "银行账号")]
    lines = ["失业保险金申领登记表", ""]
    for key, lab in labels:
        v = "" if key == blank_field else values[key]
        lines.append("%s %s" % (lab, v) if v else lab)
    truth = {"name": name, "id_no": shown_id, "uscc": uscc,
             "end_date": "%04d-%02d-%02d" % date, "account": card}
    if blank_field:
        truth.pop(blank_field, None)
    return "\n".join(lines) + "\n", truth, {"name": name, "id_no": cid}


def certificate(rng, yuan, words_yuan):
    """参保缴费凭证 with 缴费金额 in figures and in words (大写)."""
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    cid, _ = make_cnid(rng)
    text = ("参保缴费凭证\n\n姓名 %s\n公民身份号码 %s\n参保日期 2012年3月15日\n"
            "累计缴费月数 142\n缴费金额 %d.00\n大写金额 %s\n出具日期 2024年5月20日\n"
            "经办机构 北京市社会保险事业管理中心\n" % (
                name, cid, yuan, amount_cn(words_yuan * 100)))
    fields = {"name": name, "id_no": cid, "insured_from": "2012-03-15",
              "months": "142", "amount": "%d.00" % yuan}
    return text, fields, {"name": name, "id_no": cid}


def gen_test(out, rng):
    tmp = tempfile.mkdtemp(prefix="ocrgen-")
    cases = []

    def add(fname, template, verdict, payload=None, fields=None, why=""):
        cases.append({"file": fname, "template": template,
                      "verdict": verdict, "payload": payload or {},
                      "fields": fields or {}, "case": why})

    text, fields, payload = id_card(rng)
    render(text, os.path.join(out, "id-clean.png"), tmp=tmp)
    add("id-clean.png", "id-card-front", "accept", payload, fields, "clean")
    convert(os.path.join(out, "id-clean.png"), MILD,
            os.path.join(out, "id-mild.jpg"))
    add("id-mild.jpg", "id-card-front", "not_reject", payload, fields,
        "mildly degraded (blur, noise, 0.8 deg skew, JPEG)")
    convert(os.path.join(out, "id-clean.png"), BAD,
            os.path.join(out, "id-bad.png"))
    add("id-bad.png", "id-card-front", "not_accept", payload, {},
        "badly degraded (25% resolution, blurred, scaled back)")
    convert(os.path.join(out, "id-clean.png"), ["-rotate", "180"],
            os.path.join(out, "id-upside-down.png"))
    add("id-upside-down.png", "id-card-front", "accept", payload, fields,
        "upside down")
    add("id-clean.png", "id-card-front", "escalate",
        {"name": "王五", "id_no": payload["id_no"]}, {},
        "name does not match the case")
    shutil.copy(os.path.join(out, "id-clean.png"),
                os.path.join(out, "id-really-png.pdf"))
    add("id-really-png.pdf", "id-card-front", "accept", payload, fields,
        "misleading extension (a PNG named .pdf)")

    text, fields, payload = id_card(rng)
    wrong = bad_cnid(fields["id_no"])
    render(text.replace(fields["id_no"], wrong),
           os.path.join(out, "id-wrong-check.png"), tmp=tmp)
    add("id-wrong-check.png", "id-card-front", "reject",
        {"name": payload["name"], "id_no": wrong}, {"id_no": wrong},
        "wrong check digit")

    text, fields, payload = id_card(rng)
    render(re.sub(r"出生 [^\n]*", "出生", text),
           os.path.join(out, "id-missing.png"), tmp=tmp)
    add("id-missing.png", "id-card-front", "reject", payload, {},
        "the birth date left blank")

    subprocess.run(["convert", "-size", "2480x3508", "xc:white", "-density",
                    "300", "-units", "PixelsPerInch",
                    os.path.join(out, "blank.png")], check=True)
    add("blank.png", "id-card-front", "reject", payload, {}, "blank page")
    subprocess.run(["convert", os.path.join(out, "id-clean.png"),
                    os.path.join(out, "blank.png"), "-compress", "Group4",
                    os.path.join(out, "id-two-pages.tif")], check=True)
    first = [c for c in cases if c["file"] == "id-clean.png"][0]
    add("id-two-pages.tif", "id-card-front", "accept", first["payload"],
        first["fields"], "two-page TIFF, the second page blank")

    with open(os.path.join(out, "id-clean.png"), "rb") as f:
        data = f.read()
    with open(os.path.join(out, "truncated.png"), "wb") as f:
        f.write(data[:len(data) // 3])
    add("truncated.png", "id-card-front", "reject", payload, {},
        "truncated PNG")
    open(os.path.join(out, "empty.png"), "wb").close()
    add("empty.png", "id-card-front", "reject", payload, {}, "zero bytes")
    huge_png(os.path.join(out, "bomb.png"))
    add("bomb.png", "id-card-front", "reject", payload, {},
        "PNG declaring 100000x100000")
    pdf_pages(os.path.join(out, "many-pages.pdf"), 40)
    add("many-pages.pdf", "id-card-front", "reject", payload, {},
        "PDF with 40 pages")
    pdf_encrypted(os.path.join(out, "encrypted.pdf"))
    add("encrypted.pdf", "id-card-front", "reject", payload, {},
        "password-protected PDF")
    with open(os.path.join(out, "notes.png"), "w") as f:
        f.write("这不是图片 just text with a .png name\n")
    add("notes.png", "id-card-front", "reject", payload, {},
        "text file named .png")

    text, fields, payload = claim_form(rng)
    render(text, os.path.join(out, "claim-clean.png"), tmp=tmp)
    pdf_of_image(os.path.join(out, "claim-clean.png"),
                 os.path.join(out, "claim-clean.pdf"), tmp)
    os.unlink(os.path.join(out, "claim-clean.png"))
    add("claim-clean.pdf", "unemployment-claim", "not_reject", payload, fields,
        "claim form as a PDF")
    # Tesseract's chi_sim reads few capital numerals reliably (玖 伍 肆
    # 零 拾 佰, and 仟/叁 as 什/参): the amounts keep to those.
    text, fields, payload = certificate(rng, 9050, 9050)
    render(text, os.path.join(out, "cert-clean.png"), tmp=tmp)
    add("cert-clean.png", "contribution-certificate", "accept", payload,
        fields, "contribution certificate, 大写金额 agrees")
    text, fields, payload = certificate(rng, 9050, 9040)
    render(text, os.path.join(out, "cert-amounts.png"), tmp=tmp)
    add("cert-amounts.png", "contribution-certificate", "escalate", payload,
        {}, "大写金额 differs from the figures")

    # The birth date and the sex printed on a card repeat its ID number
    # (from_id): a card that says otherwise contradicts itself.
    text, fields, payload = id_card(rng)
    y, m, d = (int(x) for x in fields["birth"].split("-"))
    render(text.replace("出生 %d年%d月%d日" % (y, m, d),
                        "出生 %d年%d月%d日" % (y + 1, m, d)),
           os.path.join(out, "id-birth-other.png"), tmp=tmp)
    add("id-birth-other.png", "id-card-front", "escalate", payload, {},
        "the birth date is not the one the ID number says")
    # A card in AR PL UMing (fonts-arphic-uming), whose 年月日 and 女
    # the page read misreads: the second and third reads and the ID
    # number settle them (its own random numbers: the cases above do
    # not move).
    if os.path.exists("/usr/share/fonts/truetype/arphic/uming.ttc"):
        urng = random.Random(7)
        for _ in range(3):
            text, fields, payload = id_card(urng)
        render(text, os.path.join(out, "id-uming.png"), tmp=tmp,
               font="AR PL UMing CN Light")
        add("id-uming.png", "id-card-front", "accept", payload, fields,
            "AR PL UMing, read again")
    text, fields, payload = id_card(rng)
    other = "女" if fields["sex"] == "男" else "男"
    render(text.replace("性别 " + fields["sex"], "性别 " + other),
           os.path.join(out, "id-sex-other.png"), tmp=tmp)
    add("id-sex-other.png", "id-card-front", "escalate", payload, {},
        "the sex is not the one the ID number says")
    shutil.rmtree(tmp)
    return cases


def gen_bench(out, rng, count):
    tmp = tempfile.mkdtemp(prefix="ocrgen-")
    cases = []
    for i in range(count):
        kind = i % 10
        bad_id = kind == 8
        blank = "account" if kind == 9 else None
        text, fields, payload = claim_form(rng, blank_field=blank,
                                           bad_id=bad_id)
        name = "claim-%03d.png" % i
        render(text, os.path.join(out, name), tmp=tmp)
        degr = "clean"
        if kind in (1, 3, 5, 7):
            jpg = name.replace(".png", ".jpg")
            convert(os.path.join(out, name), MILD, os.path.join(out, jpg))
            os.unlink(os.path.join(out, name))
            name, degr = jpg, "mild"
        if bad_id:
            payload["id_no"] = fields["id_no"]
        cases.append({"file": name, "template": "unemployment-claim",
                      "verdict": "reject" if (bad_id or blank) else "accept",
                      "payload": payload, "fields": fields, "case": degr if
                      not (bad_id or blank) else ("wrong check digit" if
                                                   bad_id else "missing")})
    shutil.rmtree(tmp)
    return cases


def gen_demo(out, rng):
    tmp = tempfile.mkdtemp(prefix="ocrgen-")
    cases = []
    for fname, kw in (("claim-good.png", {}), ("claim-wrong-id.png", {"bad_id": True}),
                      ("claim-no-account.png", {"blank_field": "account"}),
                      ("claim-blurred.png", None)):
        text, fields, _ = claim_form(rng, **(kw or {}))
        if kw is None:
            render(text, os.path.join(tmp, "x.png"), tmp=tmp)
            convert(os.path.join(tmp, "x.png"), BAD, os.path.join(out, fname))
        else:
            render(text, os.path.join(out, fname), tmp=tmp)
        cases.append({"file": fname, "template": "unemployment-claim",
                      "fields": fields})
    shutil.rmtree(tmp)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", default="test", choices=["test", "bench", "demo"])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    if a.set == "test":
        cases = gen_test(a.out, rng)
    elif a.set == "bench":
        cases = gen_bench(a.out, rng, a.count)
    else:
        cases = gen_demo(a.out, rng)
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
