#!/bin/sh
# The web UI in a real browser: headless Debian chromium driven by
# playwright-core (tests/e2e/web.test.js). tests/e2e/setup.sh installs both
# when missing; where that cannot be done the browser tests are reported as
# skipped, never as passed. Screenshots are kept in build/e2e/artifacts/.
set -u
: "${NSH_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${NSH_BIN:=$NSH_TOP/build/asan/nightshift}"
: "${NSH_HELPERS:=$NSH_TOP/build/asan/tests/helpers}"
export NSH_BIN
. "$NSH_TOP/tests/e2e/daemon.sh"

if ! sh "$NSH_TOP/tests/e2e/setup.sh"; then
	echo "# skipped: browser tests (chromium or playwright-core cannot be installed here)"
	echo "0 passed, 0 failed"
	exit 0
fi

GIT_CONFIG_GLOBAL=/dev/null
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL \
	GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

trash=$(mktemp -d "${TMPDIR:-/tmp}/nsh-web-XXXXXX")
PGDIR=
trap 'nsh_daemon_stop; [ -z "$PGDIR" ] || sh "$NSH_TOP/tests/integ/pgcluster.sh" stop "$PGDIR"; sh "$NSH_TOP/tests/integ/rmtrash.sh" "$trash"' EXIT
NSH_E2E_MODULES=$NSH_TOP/build/e2e/node_modules
NSH_E2E_ARTIFACTS=$NSH_TOP/build/e2e/artifacts
rm -rf "$NSH_E2E_ARTIFACTS"
export NSH_E2E_MODULES NSH_E2E_ARTIFACTS

# With NSH_TEST_DB=pg each group keeps its store in a database of its own on
# a throw-away PostgreSQL cluster; pg_db NAME creates one and prints its url.
PG_URL=
if [ "${NSH_TEST_DB:-}" = pg ]; then
	PGDIR=$(mktemp -u "${TMPDIR:-/tmp}/nsh-pg-XXXXXX")
	PG_URL=$(sh "$NSH_TOP/tests/integ/pgcluster.sh" start "$PGDIR") || {
		echo "not ok - the PostgreSQL cluster did not start"
		echo "0 passed, 1 failed"
		exit 1
	}
fi
pg_db() {
	psql -qAtX -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE $1" >/dev/null &&
		echo "${PG_URL%/*}/$1"
}

# The UI group: a daemon without a scheduler, an org with a pull request and a learned rule.
if [ -n "$PG_URL" ]; then
	NIGHTSHIFT_DB=$(pg_db ui) || { echo "0 passed, 1 failed"; exit 1; }
	export NIGHTSHIFT_DB
fi
NIGHTSHIFT_HOME=$trash/ui
export NIGHTSHIFT_HOME
mkdir -p "$NIGHTSHIFT_HOME"
(
	cd "$trash" &&
	git init -q -b main api &&
	mkdir -p api/src &&
	printf 'const _ = require("lodash");\nmodule.exports = _.map;\n' >api/src/app.js &&
	git -C api add -A && git -C api commit -q -m "first commit" &&
	"$NSH_BIN" forge import acme api >/dev/null &&
	git clone -q "$("$NSH_BIN" forge path acme/api)" ws &&
	printf 'const _ = require("lodash");\nmodule.exports = _.map;\nexports.v = 4;\n' >ws/src/app.js &&
	git -C ws commit -q -am "use lodash 4" &&
	"$NSH_BIN" forge push acme/api ws nightshift/lodash >/dev/null &&
	"$NSH_BIN" pr create acme/api --head nightshift/lodash --title "Upgrade lodash" \
		--body "### Summary
Moves to **lodash 4**.

| check | result |
|---|---|
| tests | \`12 passed\` |
| a \\| b | kept |" >/dev/null &&
	seed="INSERT INTO memories (rule, scope, scope_value, state, source, created_at) VALUES ('Prefer _.flatMap over _.flatten(_.map())', 'org', 'acme', 'active', '{\"pr\":\"acme/api#1\",\"author\":\"rev\"}', 1000);" &&
	if [ -n "$PG_URL" ]; then
		psql -qAtX -v ON_ERROR_STOP=1 "$NIGHTSHIFT_DB" -c "$seed"
	else
		sqlite3 "$NIGHTSHIFT_HOME/nightshift.db" "$seed"
	fi &&
	"$NSH_HELPERS/nsh-test-memory" "$NIGHTSHIFT_HOME" learn kind=preference recipe=lodash-3-to-4 \
		choice=contains-style alt=native "text=Use native includes instead of _.contains" \
		repo=acme/api reviewer=alice pr=acme/api#1 comment=4
) >"$trash/seed.log" 2>&1 || {
	cat "$trash/seed.log"
	echo "0 passed, 1 failed"
	exit 1
}
nsh_daemon_start --no-scheduler --rate-limit 0 || { echo "0 passed, 1 failed"; exit 1; }
NSH_E2E_GROUP=ui node "$NSH_TOP/tests/e2e/web.test.js" >"$trash/ui.out" 2>&1
cat "$trash/ui.out"
nsh_daemon_stop
stop_rc=$?
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$trash/ui.out" | tail -n 1)
pass=${line%% passed*}
fail=${line#*passed, }
fail=${fail%% failed}
[ -n "$line" ] || { pass=0; fail=1; }
# The daemon served the browser without a leak or a sanitizer report.
if [ "$stop_rc" -ne 0 ] || grep -q "Sanitizer\|runtime error" "$NIGHTSHIFT_HOME/daemon.log"; then
	echo "not ok - the daemon did not stop cleanly (exit $stop_rc):"
	tail -n 30 "$NIGHTSHIFT_HOME/daemon.log"
	fail=$((fail + 1))
fi

if [ -n "$PG_URL" ]; then
	NIGHTSHIFT_DB=$(pg_db demo) || { echo "$pass passed, $((fail + 1)) failed"; exit 1; }
	export NIGHTSHIFT_DB
fi

# The demo group: the real pipeline on the demo org, when this build has one.
NIGHTSHIFT_HOME=$trash/demo
export NIGHTSHIFT_HOME
mkdir -p "$NIGHTSHIFT_HOME"
if nsh_daemon_start --rate-limit 0 &&
	curl -s "$NSH_URL/api/health" | jq -e .scheduler >/dev/null; then
	nsh_daemon_stop
	"$NSH_BIN" demo init >"$trash/demo.log" 2>&1 || { cat "$trash/demo.log"; fail=$((fail + 1)); }
	nsh_daemon_start --rate-limit 0
	NSH_E2E_GROUP=demo node "$NSH_TOP/tests/e2e/web.test.js" >"$trash/demo.out" 2>&1
	cat "$trash/demo.out"
	if grep -q '^not ok' "$trash/demo.out"; then
		# what the daemon had to say goes with the failure: the home is removed at exit
		echo "# daemon.log, its warnings and errors:"
		grep -E 'warn|error|fail' "$NIGHTSHIFT_HOME/daemon.log" | tail -n 40 | sed 's/^/#   /'
	fi
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$trash/demo.out" | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*passed, }
		pass=$((pass + p))
		fail=$((fail + ${f%% failed}))
	else
		fail=$((fail + 1))
	fi
else
	echo "# skipped: the demo-org scenario (this build's daemon runs no scheduler yet)"
fi
nsh_daemon_stop
echo "screenshots: $NSH_E2E_ARTIFACTS"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
