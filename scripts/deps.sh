#!/bin/sh
# Installs the Debian packages clerk needs to build, test and run its demo,
# only those that are missing. Needs root (or sudo) when something is missing.
set -eu

PKGS="gcc pkg-config meson ninja-build libevent-dev libsqlite3-dev
libconfig-dev libjansson-dev libssl-dev libcurl4-openssl-dev libcmocka-dev
libxml2-dev libpcre2-dev libicu-dev python3 tzdata sqlite3 procps
tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng libtesseract-dev
libleptonica-dev libmagic-dev libpoppler-glib-dev libcairo2-dev
imagemagick fonts-noto-cjk fontconfig libpq-dev"
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

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

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
