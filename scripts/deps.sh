#!/bin/sh
# Install the Debian packages nightshift needs to build and test, when they
# are missing. Idempotent: with everything present it only asks dpkg.
set -eu

pkgs="gcc make pkg-config git clang clang-format libclang-rt-14-dev sqlite3
libjansson-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libsodium-dev
libseccomp-dev libyaml-dev libxml2-dev libssl-dev zlib1g-dev libpq-dev postgresql e2fsprogs util-linux bubblewrap
curl jq wrk
python3-pytest python3-coverage flake8 mypy golang-go mocha eslint node-typescript"
# Maven's plugins for the verify tests, where Maven itself is installed (about
# 38 MiB; Maven and a JDK would add some 320 MiB, so they are not pulled in).
if command -v mvn >/dev/null 2>&1; then
	pkgs="$pkgs libsurefire-java libmaven-compiler-plugin-java libmaven-resources-plugin-java junit4"
fi

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing </dev/null
