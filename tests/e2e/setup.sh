#!/bin/sh
# Make the browser tests runnable: Debian's chromium, and playwright-core
# from the npm registry installed into build/e2e/node_modules (never
# globally). Prints nothing and exits 0 when both are there already.
#
# Exit codes: 0 ready; 3 cannot be set up here (no root for apt-get, no
# registry): the caller counts the browser tests as skipped.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/build/e2e
PLAYWRIGHT_VERSION=1.49.1

if [ ! -x /usr/bin/chromium ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "e2e: chromium is missing and installing it needs root (apt-get install chromium)" >&2
		exit 3
	fi
	echo "e2e: installing chromium" >&2
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } \
		</dev/null >"${TMPDIR:-/tmp}/nsh-e2e-apt.log" 2>&1 || {
		echo "e2e: cannot install chromium (see ${TMPDIR:-/tmp}/nsh-e2e-apt.log)" >&2
		exit 3
	}
fi
if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "e2e: npm is missing; cannot install playwright-core" >&2
		exit 3
	fi
	mkdir -p "$dir"
	[ -f "$dir/package.json" ] || echo '{"name":"nightshift-e2e","private":true}' >"$dir/package.json"
	echo "e2e: installing playwright-core $PLAYWRIGHT_VERSION into $dir" >&2
	(cd "$dir" && npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION") \
		</dev/null >"$dir/npm.log" 2>&1 || {
		echo "e2e: cannot install playwright-core from the npm registry (see $dir/npm.log)" >&2
		exit 3
	}
fi
exit 0
