# Shared set-up for integration scripts (after git's test-lib.sh).
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what the user relies on' '
#       nsh tasks >out &&
#       grep -q "no tasks" out
#   '
#   test_done
#
# Each test runs in a subshell inside a fresh directory, with a fresh
# NIGHTSHIFT_HOME. "nsh" runs the binary under test ($NSH_BIN).
#
# NSH_TEST_DB=pg runs the tests on PostgreSQL: the first test starts a
# throw-away cluster (tests/integ/pgcluster.sh), stopped at exit, and every
# test gets a new database of its own in NIGHTSHIFT_DB. Read the store with
# nsh_sql, whichever engine it is on. A script that starts its own clusters
# sets nsh_own_pg=1 before it sources this file.

set -u
: "${NSH_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${NSH_BIN:=$NSH_TOP/build/asan/nightshift}"
: "${NSH_HELPERS:=$NSH_TOP/build/asan/tests/helpers}"

unset NIGHTSHIFT_DB # a test names its store itself (NSH_TEST_DB)
T_TRASH=$(mktemp -d "${TMPDIR:-/tmp}/nsh-integ-XXXXXX")
t_pg_dir=
t_pg_url=
# t_cleanup: what the EXIT trap does; a script that sets its own trap calls it.
t_cleanup() {
	if [ -n "$t_pg_dir" ]; then
		sh "$NSH_TOP/tests/integ/pgcluster.sh" stop "$t_pg_dir" 2>/dev/null
		t_pg_dir=
	fi
	sh "$NSH_TOP/tests/integ/rmtrash.sh" "$T_TRASH"
}
trap t_cleanup EXIT
t_count=0
t_pass=0
t_fail=0

nsh() {
	"$NSH_BIN" "$@"
}

# expect_code N CMD...: run CMD, succeed only when it exits with N.
expect_code() {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "expected exit $want, got $got: $*" >&2
		return 1
	fi
	return 0
}

# nsh_on_pg: true when the current test's store is PostgreSQL.
nsh_on_pg() {
	[ -n "${NIGHTSHIFT_DB:-}" ]
}

# nsh_sql SQL: run SQL on the current home's store, the SQLite file or the
# test's PostgreSQL database; rows one a line, columns separated by '|'
# (sqlite3's list mode; booleans print as 1/0 there, t/f on PostgreSQL).
nsh_sql() {
	nsh_sql_at "${NIGHTSHIFT_DB:-$NIGHTSHIFT_HOME/nightshift.db}" "$1"
}

# nsh_sql_at STORE SQL: the same on STORE, a postgres:// url or a SQLite file.
nsh_sql_at() {
	case $1 in
	postgres://* | postgresql://*)
		psql -qAtX -F'|' -v ON_ERROR_STOP=1 -d "$1" -c "$2"
		;;
	*)
		sqlite3 -cmd ".timeout 5000" "$1" "$2"
		;;
	esac
}

# nsh_shared_store HOME: the store of a home that several tests share (a
# daemon for the whole script). Sets NSH_SHARED_DB to read it with
# nsh_sql_at: HOME's SQLite file, or on PostgreSQL a database for the
# script, exported as NIGHTSHIFT_DB to what the script starts (each test
# still gets its own database for its own home). NSH_SHARED_URL is that
# database's url, empty on SQLite: a command a test runs on HOME takes
# NIGHTSHIFT_DB=$NSH_SHARED_URL (empty means the home's file).
nsh_shared_store() {
	NSH_SHARED_DB=$1/nightshift.db
	NSH_SHARED_URL=
	t_pg_use shared || return 1
	if [ -n "$t_db" ]; then
		NSH_SHARED_DB=$t_db
		NSH_SHARED_URL=$t_db
		NIGHTSHIFT_DB=$t_db
		export NIGHTSHIFT_DB
	fi
}

# nsh_dump: all of the store's rows as SQL text (to look for a value anywhere).
nsh_dump() {
	if nsh_on_pg; then
		"$(t_pg_bin)/pg_dump" --data-only -d "$NIGHTSHIFT_DB"
	else
		sqlite3 "$NIGHTSHIFT_HOME/nightshift.db" .dump
	fi
}

# t_pg_bin: the directory of the PostgreSQL programs that match the server.
t_pg_bin() {
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/pg_dump" ] && b=$d
	done
	echo "${b:-/usr/bin}"
}

t_pg_skip=
# test_skip_pg REASON: on PostgreSQL (NSH_TEST_DB=pg) the next test is
# skipped, with REASON, and counted as skipped; elsewhere it runs as usual.
test_skip_pg() {
	t_pg_skip=$1
}

t_pg_skip_all=
# test_skip_pg_all REASON: the same for every test that follows.
test_skip_pg_all() {
	t_pg_skip_all=$1
}

# nsh_template_store HOME: HOME is copied for each test (made once by the
# script). On PostgreSQL each test's database is then made as a copy of a
# database made for HOME, whose url NSH_TEMPLATE_URL is (empty on SQLite):
# the script fills HOME with NIGHTSHIFT_DB=$NSH_TEMPLATE_URL.
nsh_template_store() {
	NSH_TEMPLATE_URL=
	t_pg_use template || return 1
	if [ -n "$t_db" ]; then
		NSH_TEMPLATE_URL=$t_db
		t_pg_template=template
	fi
}

t_pg_template=
# t_pg_use [NAME]: on PostgreSQL, start the cluster (first use) and make a
# new database (the test's, t<number>, or NAME); sets t_db to its url, or to
# nothing on SQLite.
t_pg_use() {
	t_db=
	[ "${NSH_TEST_DB:-}" = pg ] && [ -z "${nsh_own_pg:-}" ] || return 0
	if [ -z "$t_pg_url" ]; then
		t_pg_dir=$(mktemp -u "${TMPDIR:-/tmp}/nsh-pg-XXXXXX")
		if ! t_pg_url=$(sh "$NSH_TOP/tests/integ/pgcluster.sh" start "$t_pg_dir"); then
			echo "NSH_TEST_DB=pg: the PostgreSQL cluster did not start" >&2
			t_pg_dir=
			exit 1
		fi
	fi
	psql -qAtX -v ON_ERROR_STOP=1 -h "$t_pg_dir/sock" -p "$(cat "$t_pg_dir/port")" \
		-U nsh -d postgres -c "CREATE DATABASE ${1:-t$t_count}${t_pg_template:+ TEMPLATE $t_pg_template}" \
		>/dev/null || exit 1
	t_db=${t_pg_url%/*}/${1:-t$t_count}
}

# t_pg_drop: drop the test's database (its disk space) after the test.
t_pg_drop() {
	[ -n "$t_db" ] || return 0
	psql -qAtX -h "$t_pg_dir/sock" -p "$(cat "$t_pg_dir/port")" -U nsh -d postgres \
		-c "DROP DATABASE t$t_count WITH (FORCE)" >/dev/null 2>&1
}

test_expect_success() {
	t_pg_skip=${t_pg_skip:-$t_pg_skip_all}
	if [ -n "$t_pg_skip" ] && [ "${NSH_TEST_DB:-}" = pg ] && [ -z "${nsh_own_pg:-}" ]; then
		test_skip "$1" "postgresql: $t_pg_skip"
		t_pg_skip=
		return 0
	fi
	t_pg_skip=
	t_count=$((t_count + 1))
	dir=$T_TRASH/t$t_count
	mkdir -p "$dir/home"
	t_pg_use
	(
		cd "$dir" || exit 1
		NIGHTSHIFT_HOME=$dir/home
		export NIGHTSHIFT_HOME
		if [ -n "$t_db" ]; then
			NIGHTSHIFT_DB=$t_db
			export NIGHTSHIFT_DB
		fi
		eval "$2"
	) >"$T_TRASH/out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		t_pass=$((t_pass + 1))
		echo "ok $t_count - $1"
	else
		t_fail=$((t_fail + 1))
		echo "not ok $t_count - $1"
		sed 's/^/#   /' "$T_TRASH/out"
	fi
	t_pg_drop
}

# test_skip TITLE REASON: a check that could not run here (say a registry
# that cannot be reached); reported, and counted neither passed nor failed.
t_skip=0
test_skip() {
	t_count=$((t_count + 1))
	t_skip=$((t_skip + 1))
	echo "ok $t_count # skip $1 ($2)"
}

test_done() {
	[ "$t_skip" -eq 0 ] || echo "# $t_skip skipped"
	echo "$t_pass passed, $t_fail failed"
	[ "$t_fail" -eq 0 ]
}
