#!/usr/bin/env python3
"""ocr_fonts.py - a varied set for the OCR document check: ID-card fronts
(居民身份证) and unemployment claim forms (失业保险金申领登记表) rendered in
several CJK font families and degraded several ways, with ground truth.

    ocr_fonts.py --out DIR [--seed S] [--per-cell N]
                 [--fonts KEY,...] [--degrade KEY,...] [--address-alike]

Every cell (font x degradation) gets N documents (default 20), half ID
cards and half claim forms; of each half one in five carries a planted
defect that must not be accepted (wrong check digit, the case's name is
another, the case's ID is another, the ID number left blank), the rest
are valid and legible. DIR/truth.json lists every file with its
template, payload, cell, whether it is valid, the defect and the field
values it must read.

Fonts (Debian packages): noto-sans (fonts-noto-cjk, the one the test
fixtures use), noto-serif (fonts-noto-cjk), wqy-zenhei
(fonts-wqy-zenhei), ukai (fonts-arphic-ukai), uming (fonts-arphic-uming).
Degradations: clean (300 DPI, as rendered), jpeg35 (JPEG quality 35),
noise-rot (Gaussian noise, turned 1-2 degrees either way), dpi150 (the
page at 150 DPI), photo (perspective as a phone held over the page,
uneven light, soft focus, noise, JPEG, no resolution in the file).

Use a different --seed to tune (bench/ocr_fonts.sh: 41) than to
evaluate (43).

--address-alike makes a set of ID cards only, each printed with an
address one character off a real county (成都市武候区 for 武侯区, 上海市
黄埔区 for 黄浦区: ADDRESS_ALIKE) - no address of GB/T 2260, so none may
be accepted with the table's county in its place: the check that
address_verify (ocr/check.c) mends a misread, not a misprint.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import ocr_gen  # noqa: E402

FONTS = {
    "noto-sans": "Noto Sans CJK SC",
    "noto-serif": "Noto Serif CJK SC",
    "wqy-zenhei": "WenQuanYi Zen Hei Medium",
    "ukai": "AR PL UKai CN",
    "uming": "AR PL UMing CN Light",
}
DEGRADE = ["clean", "jpeg35", "noise-rot", "dpi150", "photo"]
DEFECTS = ["wrong-check", "other-name", "other-id", "missing-id"]

ADDRESSES = ["北京市东城区景山前街4号", "上海市黄浦区南京东路100号",
             "广州市越秀区中山五路219号", "南京市玄武区中山路18号",
             "杭州市西湖区文三路90号", "成都市武侯区人民南路四段27号",
             "天津市和平区南京路189号", "武汉市江汉区解放大道688号"]
# each one character off exactly one county of its city, the character a
# look-alike of the real one's
ADDRESS_ALIKE = ["成都市武候区人民南路四段27号", "上海市黄埔区南京东路100号",
                 "南京市亥武区中山路18号", "杭州市西胡区文三路90号",
                 "武汉市青出区和平大道688号", "北京市东诚区景山前街4号",
                 "天津市和乎区南京路189号", "广州市越绣区中山五路219号"]
ETHNIC = ["汉"] * 6 + ["回", "满", "壮", "蒙古"]


def other_name(rng, name):
    while True:
        n = (rng.choice(ocr_gen.SURNAMES) + rng.choice(ocr_gen.GIVEN) +
             rng.choice(ocr_gen.GIVEN))
        if n != name:
            return n


def other_id(rng, cid):
    while True:
        n, _ = ocr_gen.make_cnid(rng)
        if n != cid:
            return n


def degrade(rng, kind, src, out_base):
    """src: the rendered TIFF; returns the file name written."""
    if kind == "clean":
        out = out_base + ".png"
        ops = []
    elif kind == "jpeg35":
        out = out_base + ".jpg"
        ops = ["-colorspace", "Gray", "-quality", "35"]
    elif kind == "noise-rot":
        # JPEG at quality 90: noise does not compress, a PNG is 5 MB
        out = out_base + ".jpg"
        angle = rng.uniform(1.0, 2.0) * rng.choice([-1, 1])
        # bilinear, not ImageMagick's default EWA resampling: as good
        # for print and 4x faster
        ops = ["-colorspace", "Gray", "-depth", "8", "-attenuate", "0.6",
               "+noise", "Gaussian", "-virtual-pixel", "white",
               "-interpolate", "bilinear", "-filter", "point", "-distort",
               "SRT", "%.2f" % angle, "-quality", "90"]
    elif kind == "dpi150":
        out = out_base + ".png"
        ops = ["-colorspace", "Gray", "-depth", "8", "-resize", "50%",
               "-units", "PixelsPerInch", "-density", "150"]
    elif kind == "photo":
        out = out_base + ".jpg"
        w, h = 2480, 3508

        def j(m):
            return rng.randint(0, m)
        pts = [(0, 0, j(90), j(90)), (w, 0, w - j(90), j(90)),
               (w, h, w - j(90), h - j(90)), (0, h, j(90), h - j(90))]
        persp = " ".join("%d,%d %d,%d" % p for p in pts)
        ox, oy = rng.randint(0, w), rng.randint(0, h)
        dark = rng.randint(50, 65)
        # the light: a radial gradient (made at a quarter of the size),
        # its bright spot anywhere on the page; the camera's 80 % of the
        # page's pixels softens the print as a lens does
        ops = ["-colorspace", "Gray", "-depth", "8", "-virtual-pixel",
               "white", "-interpolate", "bilinear", "-filter", "point",
               "-distort", "Perspective", persp,
               "(", "-size", "%dx%d" % (w // 2, h // 2),
               "radial-gradient:white-gray%d" % dark, "-crop",
               "%dx%d+%d+%d" % (w // 4, h // 4, ox // 4, oy // 4),
               "+repage", "-resize", "%dx%d!" % (w, h), ")",
               "-compose", "Multiply", "-composite", "-resize", "80%",
               "-attenuate", "0.4", "+noise", "Gaussian", "-strip",
               "-quality", "85"]
    else:
        raise SystemExit("ocr_fonts: unknown degradation %r" % kind)
    ocr_gen.convert(src, ops, out)
    return os.path.basename(out)


def gen(out, rng, fonts, degr, per_cell, address_alike=False):
    tmp = tempfile.mkdtemp(prefix="ocrfonts-")
    cases = []
    k = 0
    for fk in fonts:
        for dk in degr:
            for i in range(per_cell):
                kind = "id" if i % 2 == 0 or address_alike else "claim"
                half_i = i // 2
                defect = "address-alike" if address_alike else None
                # one in five of each half, cycling through the defects
                if half_i % 5 == 4 and not address_alike:
                    defect = DEFECTS[k % len(DEFECTS)]
                    k += 1
                ptsize = rng.choice([15, 16, 17])
                if kind == "id":
                    cid, _ = ocr_gen.make_cnid(rng)
                    addr, eth = rng.choice(ADDRESS_ALIKE if address_alike
                                           else ADDRESSES), rng.choice(ETHNIC)
                    text, fields, payload = ocr_gen.id_card(
                        rng, cnid=cid, address=addr, ethnic=eth)
                    fields.update(address=addr, ethnic=eth)
                    template = "id-card-front"
                    if defect == "address-alike":
                        fields = {}
                    elif defect == "wrong-check":
                        wrong = ocr_gen.bad_cnid(cid)
                        text = text.replace(cid, wrong)
                        payload["id_no"] = wrong
                        fields = {}
                    elif defect == "missing-id":
                        text = text.replace(" " + cid, "")
                        fields = {}
                else:
                    text, fields, case = ocr_gen.claim_form(
                        rng, blank_field="id_no" if defect == "missing-id"
                        else None, bad_id=defect == "wrong-check")
                    if defect == "wrong-check":
                        case["id_no"] = fields["id_no"]
                    payload = case
                    template = "unemployment-claim"
                    if defect:
                        fields = {}
                if defect == "other-name":
                    payload["name"] = other_name(rng, payload["name"])
                elif defect == "other-id":
                    payload["id_no"] = other_id(rng, payload["id_no"])
                if kind == "claim":
                    payload = {"case": payload}
                base = os.path.join(out, "%s-%s-%s-%02d" % (kind, fk, dk, i))
                ocr_gen.render(text, os.path.join(tmp, "page.tif"),
                               ptsize=ptsize, tmp=tmp, font=FONTS[fk])
                fname = degrade(rng, dk, os.path.join(tmp, "page.tif"), base)
                cases.append({"file": fname, "template": template,
                              "payload": payload, "font": fk, "degrade": dk,
                              "valid": defect is None, "defect": defect,
                              "ptsize": ptsize, "fields": fields})
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=43)
    ap.add_argument("--per-cell", type=int, default=20)
    ap.add_argument("--fonts", default=",".join(FONTS))
    ap.add_argument("--degrade", default=",".join(DEGRADE))
    ap.add_argument("--address-alike", action="store_true")
    a = ap.parse_args()
    fonts = [f for f in a.fonts.split(",") if f]
    degr = [d for d in a.degrade.split(",") if d]
    for f in fonts:
        if f not in FONTS:
            raise SystemExit("ocr_fonts: unknown font %r (known: %s)" % (
                f, ", ".join(FONTS)))
    for d in degr:
        if d not in DEGRADE:
            raise SystemExit("ocr_fonts: unknown degradation %r (known: %s)"
                             % (d, ", ".join(DEGRADE)))
    os.makedirs(a.out, exist_ok=True)
    cases = gen(a.out, random.Random(a.seed), fonts, degr, a.per_cell,
                a.address_alike)
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
