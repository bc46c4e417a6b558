#!/bin/sh
# nightshift memory list|show|forget|promote: rules learned from review
# feedback (learned here through the test driver, as the feedback flow
# does), their provenance, governance, --json and errors.
. "$(dirname "$0")/lib.sh"

learn() {
	"$NSH_HELPERS/nsh-test-memory" "$NIGHTSHIFT_HOME" learn "$@"
}

native() {
	learn kind=preference recipe=lodash-3-to-4 choice=contains-style alt=native \
		"text=Use native methods instead of _.contains" task=t-aaaaaa "$@"
}


test_expect_success 'an empty memory lists nothing' '
	nsh memory list >out &&
	grep -q "^no memories" out &&
	nsh memory list --json >out &&
	test "$(tr -d " \n" <out)" = "[]"
'

test_expect_success 'list and show a learned rule with its provenance' '
	id=$(native repo=demo-org/pricing reviewer=alice pr=demo-org/pricing#1 comment=11) &&
	test "$id" = 1 &&
	nsh memory list >out &&
	test "$(sed -n 1p out | tr -s " ")" = "ID STATE SCOPE KIND USES RULE" &&
	grep -Eq "^1 +active +repo demo-org/pricing +preference +0 +Use native methods" out &&
	nsh memory show 1 >out &&
	grep -q "^memory 1: Use native methods instead of _.contains" out &&
	grep -q "kind: *preference (lodash-3-to-4: contains-style = native)" out &&
	grep -q "scope: *repo demo-org/pricing" out &&
	grep -q "why: *repo demo-org/pricing, said by alice" out &&
	grep -Eq "20[0-9-]+T[0-9:.]+Z +alice in demo-org/pricing, demo-org/pricing#1 comment 11, task t-aaaaaa" out &&
	nsh memory show 1 --json >out &&
	jq -e ".id == 1 and .kind == \"preference\" and .alt == \"native\" and .scope == \"repo\"
		and .reviewers == [\"alice\"] and .sources[0].pr == \"demo-org/pricing#1\"
		and .sources[0].comment == 11 and .sources[0].task == \"t-aaaaaa\"
		and .state == \"active\" and .uses == 0" out >/dev/null &&
	nsh memory list --json >out &&
	jq -e "length == 1 and .[0].id == 1" out >/dev/null
'

test_expect_success 'feedback without write permission is not learned' '
	! native repo=demo-org/pricing reviewer=mallory write=0 2>err &&
	grep -q "feedback from .mallory. is not learned: no write permission on .demo-org/pricing." err &&
	! learn "text=just skip the failing tests" repo=demo-org/pricing reviewer=bob 2>err &&
	grep -q "asks to disable tests" err &&
	nsh memory list --all --json >out &&
	test "$(tr -d " \n" <out)" = "[]"
'

test_expect_success 'a second reviewer promotes a rule to its org' '
	native repo=demo-org/pricing reviewer=alice comment=1 >/dev/null &&
	nsh memory list --repo demo-org/billing --json >out &&
	jq -e "length == 0" out >/dev/null &&
	native repo=demo-org/billing reviewer=bob comment=2 >/dev/null &&
	nsh memory show 1 >out &&
	grep -q "scope: *org demo-org" out &&
	grep -q "why: *org demo-org, promoted by 2 reviewers" out &&
	grep -q "reviewers: *alice bob" out &&
	nsh memory list --repo demo-org/billing --json >out &&
	jq -e "length == 1 and .[0].scope == \"org\"" out >/dev/null &&
	nsh memory list --org other-org --json >out &&
	jq -e "length == 0" out >/dev/null
'

test_expect_success 'a conflicting preference supersedes the older one, shown on both' '
	native repo=demo-org/pricing reviewer=alice comment=1 >/dev/null &&
	learn kind=preference recipe=lodash-3-to-4 choice=contains-style alt=lodash \
		"text=Keep _.includes from lodash" repo=demo-org/pricing reviewer=bob comment=2 >/dev/null &&
	nsh memory list >out &&
	grep -Eq "^2 +active" out &&
	! grep -Eq "^1 " out &&
	nsh memory list --all >out &&
	grep -Eq "^1 +superseded" out &&
	nsh memory show 1 >out &&
	grep -q "state: *superseded (by memory 2)" out &&
	grep -q "memory 2 replaced memory 1: contains-style: .lodash." out &&
	nsh memory show 2 --json >out &&
	jq -e ".conflicts[0].winner == 2 and .conflicts[0].loser == 1" out >/dev/null
'

test_expect_success 'forget and promote by hand' '
	learn "text=Name feature flags in kebab case" repo=acme/api reviewer=carol comment=5 >/dev/null &&
	nsh memory promote 1 >out &&
	grep -q "memory 1 now applies to org acme" out &&
	nsh memory show 1 --json >out &&
	jq -e ".scope == \"org\" and .promoted_by != null" out >/dev/null &&
	nsh memory forget 1 >out &&
	grep -q "memory 1 forgotten" out &&
	nsh memory list >out &&
	grep -q "^no memories" out &&
	nsh memory list --all --json >out &&
	jq -e ".[0].state == \"forgotten\" and .[0].forgotten_at != null" out >/dev/null &&
	expect_code 1 nsh memory promote 1 2>err &&
	grep -q "memory 1 is forgotten" err
'

test_expect_success 'a rule unused for memory.ttl_days expires' '
	old=$(( $(date +%s) * 1000 - 10 * 86400000 )) &&
	learn "text=Prefer small pull requests" repo=acme/api reviewer=carol now=$old >/dev/null &&
	nsh memory list --json >out &&
	jq -e "length == 1" out >/dev/null &&
	env NIGHTSHIFT_MEMORY_TTL_DAYS=7 "$NSH_BIN" memory list --json >out &&
	jq -e "length == 0" out >/dev/null &&
	nsh memory list --all --json >out &&
	jq -e ".[0].state == \"expired\"" out >/dev/null &&
	expect_code 1 env NIGHTSHIFT_MEMORY_TTL_DAYS=soon "$NSH_BIN" memory list 2>err &&
	grep -q "memory.ttl_days" err
'

test_expect_success 'errors: unknown ids, bad ids, bad usage' '
	expect_code 1 nsh memory show 12 2>err &&
	test "$(cat err)" = "nightshift: error: no memory 12" &&
	expect_code 1 nsh memory forget 12 2>err &&
	grep -q "no memory 12" err &&
	expect_code 1 nsh memory promote 12 2>err &&
	grep -q "no memory 12" err &&
	expect_code 2 nsh memory show abc 2>err &&
	grep -q "invalid memory id .abc." err &&
	expect_code 2 nsh memory show 2>err &&
	grep -q "missing ID" err &&
	expect_code 2 nsh memory forget 1 2 2>err &&
	expect_code 2 nsh memory list --bogus 2>err &&
	grep -q "unknown option .--bogus." err &&
	expect_code 2 nsh memory list --repo acme 2>err &&
	grep -q "expected ORG/NAME" err &&
	expect_code 2 nsh memory frobnicate 2>err &&
	grep -q "unknown subcommand .frobnicate." err &&
	nsh help memory >out &&
	grep -q "memory promote ID" out &&
	nsh help >out &&
	grep -q "^  memory " out
'

test_done
