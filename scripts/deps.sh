#!/bin/sh
# Installs the Debian packages clerk needs to build, test and run its demo,
# only those that are missing. Needs root (or sudo) when something is missing.
set -eu
MODE=${1:-}

PKGS="gcc pkg-config meson ninja-build libevent-dev libsqlite3-dev
libconfig-dev libjansson-dev libssl-dev libcurl4-openssl-dev libcmocka-dev
libxml2-dev libpcre2-dev libicu-dev python3 tzdata sqlite3 procps
tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng libtesseract-dev
libleptonica-dev libmagic-dev libpoppler-glib-dev libcairo2-dev
imagemagick fonts-noto-cjk fontconfig libpq-dev curl"
# (The demo renders its claim forms with text2image in Noto Sans CJK and
# degrades them with ImageMagick, hence the last line. clerkd links libpq
# for its PostgreSQL store, so every build needs libpq-dev.)
# The test suite also replays the fuzz corpora (clang) and drives the
# reviewer UI in Debian's chromium; bench/escalations.py drives clerkd with wrk;
# the SFTP/FTP tests start their own sshd and vsftpd on loopback; the man
# pages are checked with groff and man; tests/package builds the Debian
# package, runs lintian on it and installs it. The PostgreSQL tests start
# their own throwaway server (tests/pg/cluster.sh), so they need the server
# binaries and psql, not a configured cluster.
[ "${1:-}" = "--test" ] && PKGS="$PKGS clang libclang-rt-14-dev chromium wrk vsftpd openssh-server
groff-base man-db curl debhelper dpkg-dev fakeroot lintian postgresql postgresql-client"

# The document check's second recogniser: Tesseract's legacy (shape
# classifier) engine for chi_sim, which Debian's tesseract-ocr-chi-sim
# does not ship (its models are LSTM only). It verifies a case's name that
# the LSTM misreads (磊 as 舌); without it the check runs and escalates
# those names. It is tessdata's chi_sim.traineddata, as the npm package
# @tesseract.js-data/chi_sim 1.0.0 holds it (4.0.0/), pinned by checksum.
# CLERK_LEGACY_TESSDATA=DIR puts it elsewhere; clerk looks there first.
LEGACY_DIR=${CLERK_LEGACY_TESSDATA:-/usr/local/share/clerk/tessdata-legacy}
LEGACY_URL=https://registry.npmjs.org/@tesseract.js-data/chi_sim/-/chi_sim-1.0.0.tgz
LEGACY_TGZ_SHA256=850d4a217c87808ef765385cbe5825f4ae99047a49b17e024069ceb663f01c33
LEGACY_SHA256=fc05d89ab31d8b4e226910f16a8bcbf78e43bae3e2580bb5feefd052efdab363
legacy_model() {
	[ -f "$LEGACY_DIR/chi_sim.traineddata" ] && return 0
	echo "clerk: installing the legacy-engine chi_sim model in $LEGACY_DIR" >&2
	t=$(mktemp -d)
	if curl -fsSL --retry 3 -o "$t/m.tgz" "$LEGACY_URL" &&
	    echo "$LEGACY_TGZ_SHA256  $t/m.tgz" | sha256sum -c --status &&
	    tar -xzf "$t/m.tgz" -C "$t" package/4.0.0/chi_sim.traineddata.gz &&
	    gzip -dc "$t/package/4.0.0/chi_sim.traineddata.gz" > "$t/chi_sim.traineddata" &&
	    echo "$LEGACY_SHA256  $t/chi_sim.traineddata" | sha256sum -c --status &&
	    ${SUDO:-} mkdir -p "$LEGACY_DIR" &&
	    ${SUDO:-} install -m 0644 "$t/chi_sim.traineddata" "$LEGACY_DIR/"; then
		rm -rf "$t"
		return 0
	fi
	rm -rf "$t"
	echo "clerk: could not install the legacy-engine model from $LEGACY_URL;" \
	    "the document check will escalate the names only it verifies" >&2
	[ "${1:-}" = "--test" ] && exit 1
	return 0
}

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO=sudo
	legacy_model "$MODE"
	exit 0
fi

echo "clerk: installing missing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "clerk: run as root (or install sudo) to install:$missing" >&2
		exit 1
	}
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
legacy_model "$MODE"
