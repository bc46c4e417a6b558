#!/bin/sh
# nightshift memory list|show|forget|promote on a PostgreSQL store
# (NIGHTSHIFT_DB=postgres://...): rules learned as the feedback flow learns
# them (through the test driver), provenance, promotion, conflicts, expiry,
# forgetting and errors, and the full-text index of migration 15 that
# retrieval searches. The script starts its own cluster on loopback
# (tests/integ/pgcluster.sh), a database per test; without the PostgreSQL
# server binaries every check is skipped, not passed.
. "$(dirname "$0")/lib.sh"

PGDIR=$(mktemp -u "${TMPDIR:-/tmp}/nsh-pg-XXXXXX")
trap 'sh "$NSH_TOP/tests/integ/pgcluster.sh" stop "$PGDIR" 2>/dev/null; t_cleanup' EXIT

# use_db: a new database for this test in NIGHTSHIFT_DB (named after the test's number).
use_db() {
	psql -qAtX -d "$PGURL" -c "CREATE DATABASE m$t_count" >/dev/null || return 1
	NIGHTSHIFT_DB=${PGURL%/*}/m$t_count
	export NIGHTSHIFT_DB
}

sql() {
	psql -qAtX -d "$NIGHTSHIFT_DB" -c "$1"
}

# The driver opens the database NIGHTSHIFT_DB names.
learn() {
	"$NSH_HELPERS/nsh-test-memory" "$NIGHTSHIFT_HOME" learn "$@"
}

native() {
	learn kind=preference recipe=lodash-3-to-4 choice=contains-style alt=native \
		"text=Use native methods instead of _.contains" task=t-aaaaaa "$@"
}

URL=$(sh "$NSH_TOP/tests/integ/pgcluster.sh" start "$PGDIR" 2>"$T_TRASH/pg.err")
case $? in
0) PGURL=$URL ;;
3)
	why=$(sed 's/^skip: //' "$T_TRASH/pg.err")
	test_skip "nightshift memory on postgresql" "$why"
	test_done
	exit
	;;
*)
	cat "$T_TRASH/pg.err" >&2
	echo "postgresql did not start" >&2
	exit 1
	;;
esac

test_expect_success 'an empty memory lists nothing; the schema is at version 15 or later' '
	use_db &&
	nsh memory list >out &&
	grep -q "^no memories" out &&
	nsh memory list --json >out &&
	test "$(tr -d " \n" <out)" = "[]" &&
	test "$(sql "SELECT max(version) FROM schema_migrations")" -ge 15
'

test_expect_success 'list and show a learned rule with its provenance' '
	use_db &&
	id=$(native repo=demo-org/pricing reviewer=alice pr=demo-org/pricing#1 comment=11) &&
	test "$id" = 1 &&
	nsh memory list >out &&
	grep -Eq "^1 +active +repo demo-org/pricing +preference +0 +Use native methods" out &&
	nsh memory show 1 >out &&
	grep -q "^memory 1: Use native methods instead of _.contains" out &&
	grep -q "why: *repo demo-org/pricing, said by alice" out &&
	grep -Eq "alice in demo-org/pricing, demo-org/pricing#1 comment 11, task t-aaaaaa" out &&
	nsh memory show 1 --json >out &&
	jq -e ".id == 1 and .kind == \"preference\" and .alt == \"native\" and .scope == \"repo\"
		and .reviewers == [\"alice\"] and .sources[0].comment == 11
		and .state == \"active\"" out >/dev/null &&
	test "$(sql "SELECT rule_len FROM memory_scopes WHERE memory_id = 1")" = 6
'

test_expect_success 'the full-text index has the scoped words of each rule' '
	use_db &&
	learn "text=Retry HTTP calls with backoff" repo=acme/api reviewer=alice >/dev/null &&
	learn "text=Retry HTTP calls with backoff" repo=other/api reviewer=alice >/dev/null &&
	test "$(sql "SELECT count(*) FROM pg_indexes WHERE indexname = '"'"'memories_terms'"'"'")" = 1 &&
	# "retry" in repo acme/api: zr, hex of acme/api, x, hex of retry
	tok="zr$(printf acme/api | od -An -tx1 | tr -d " \n")x$(printf retry | od -An -tx1 | tr -d " \n")" &&
	test "$(sql "SELECT id FROM memories WHERE terms @@ '"'"'$tok'"'"'::tsquery")" = 1 &&
	test "$(sql "SELECT length(terms) FROM memories WHERE id = 1")" = 5
'

test_expect_success 'a second reviewer promotes a rule to its org' '
	use_db &&
	native repo=demo-org/pricing reviewer=alice comment=1 >/dev/null &&
	nsh memory list --repo demo-org/billing --json >out &&
	jq -e "length == 0" out >/dev/null &&
	native repo=demo-org/billing reviewer=bob comment=2 >/dev/null &&
	nsh memory show 1 >out &&
	grep -q "scope: *org demo-org" out &&
	grep -q "why: *org demo-org, promoted by 2 reviewers" out &&
	nsh memory list --repo demo-org/billing --json >out &&
	jq -e "length == 1 and .[0].scope == \"org\"" out >/dev/null &&
	nsh memory list --org other-org --json >out &&
	jq -e "length == 0" out >/dev/null &&
	test "$(sql "SELECT key || '"'"' '"'"'|| scope FROM memory_scopes")" = "org:demo-org org"
'

test_expect_success 'a conflicting preference supersedes the older one' '
	use_db &&
	native repo=demo-org/pricing reviewer=alice comment=1 >/dev/null &&
	learn kind=preference recipe=lodash-3-to-4 choice=contains-style alt=lodash \
		"text=Keep _.includes from lodash" repo=demo-org/pricing reviewer=bob comment=2 >/dev/null &&
	nsh memory list >out &&
	grep -Eq "^2 +active" out &&
	! grep -Eq "^1 " out &&
	nsh memory show 1 >out &&
	grep -q "state: *superseded (by memory 2)" out &&
	test "$(sql "SELECT state FROM memory_scopes WHERE memory_id = 1")" = superseded
'

test_expect_success 'forget and promote by hand; expiry' '
	use_db &&
	learn "text=Name feature flags in kebab case" repo=acme/api reviewer=carol comment=5 >/dev/null &&
	nsh memory promote 1 >out &&
	grep -q "memory 1 now applies to org acme" out &&
	nsh memory forget 1 >out &&
	grep -q "memory 1 forgotten" out &&
	nsh memory list >out &&
	grep -q "^no memories" out &&
	expect_code 1 nsh memory promote 1 2>err &&
	grep -q "memory 1 is forgotten" err &&
	old=$(( $(date +%s) * 1000 - 10 * 86400000 )) &&
	learn "text=Prefer small pull requests" repo=acme/api reviewer=carol now=$old >/dev/null &&
	env NIGHTSHIFT_MEMORY_TTL_DAYS=7 "$NSH_BIN" memory list --json >out &&
	jq -e "length == 0" out >/dev/null &&
	nsh memory list --all --json >out &&
	jq -e "length == 2 and .[0].state == \"expired\"" out >/dev/null
'

test_expect_success 'errors: unknown ids' '
	use_db &&
	expect_code 1 nsh memory show 12 2>err &&
	test "$(cat err)" = "nightshift: error: no memory 12" &&
	expect_code 1 nsh memory forget 12 2>err &&
	grep -q "no memory 12" err
'

test_done
