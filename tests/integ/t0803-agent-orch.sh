#!/bin/sh
# The llm brain through the real orchestrator (nightshift run): a task no
# recipe fits goes to the agents, on a repository of the local forge, and
# ends in a pull request whose body has the agents' summary, verdict and
# usage; verification findings go back to the code agent first.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"

setup() {
	fixture login-service &&
	nsh forge init acme >/dev/null &&
	nsh forge import acme login-service >/dev/null
}

test_expect_success 'the rate-limiting task through nightshift run ends in a pull request' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	mid=$("$NSH_HELPERS/nsh-test-memory" "$NIGHTSHIFT_HOME" learn kind=text \
		"text=Name middleware files in camelCase" repo=acme/login-service reviewer=alice \
		pr=acme/login-service#7 comment=1) &&
	"$NSH_HELPERS/nsh-test-memory" "$NIGHTSHIFT_HOME" learn kind=text \
		"text=Other repositories only" repo=acme/billing reviewer=alice \
		pr=acme/billing#2 comment=1 >/dev/null &&
	nsh run "$TASK_TEXT" --repo acme/login-service >out 2>err &&
	grep -q "No recipe fits: the llm agents take 1 repositories" out &&
	test "$(logq "JSON.stringify(l[0].body).includes(\"Name middleware files in camelCase (rule $mid\")")" = true &&
	test "$(logq "JSON.stringify(l[4].body).includes(\"Rules learned from review feedback\")")" = true &&
	test "$(logq "JSON.stringify(l).includes(\"Other repositories only\")")" = false &&
	test "$(nsh_sql "SELECT uses FROM memories WHERE id = $mid")" = 1 &&
	grep -q "acme/login-service: baseline, .*3 passed, 0 failed" out &&
	grep -q "pull request #1 opened" out &&
	grep -q "Task completed" out &&
	test "$(logq "l.length")" = 13 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	logq "newest(l[8])" | grep -q "not ok" &&
	test "$(logq "l[4].body.tools.some(t => t.function.name === \"apply_recipe\")")" = true &&
	test "$(logq "l[0].body.tools.some(t => t.function.name === \"apply_recipe\")")" = false &&
	nsh pr show acme/login-service#1 >pr &&
	grep -q "^state    open" pr &&
	grep -q "## What changed" pr &&
	grep -q "Passed: The checks pass" pr &&
	grep -q "| code | done | 7 | 26770 |" pr &&
	grep -q "| \*\*whole task\*\* | | | 45610 |" pr &&
	grep -q "| after the change | 6 | 0 | 0 |" pr &&
	nsh pr show acme/login-service#1 --diff >diff &&
	grep -q "^+++ b/src/middleware/rateLimit.js" diff &&
	grep -q "^+.*if (entry.count > max) {" diff
'

test_expect_success 'verification findings go back to the code agent, then the pull request' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/orch-rounds.json" &&
	nsh run "$TASK_TEXT" --repo acme/login-service >out 2>err &&
	grep -q "verify, .*back to the code agent" out &&
	grep -q "pull request #1 opened" out &&
	test "$(logq "l.length")" = 8 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	nsh pr show acme/login-service#1 >pr &&
	grep -q "^state    open" pr &&
	grep -q "Passed: all green" pr
'

test_expect_success 'review feedback reaches the code agent, which revises the pull request' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/orch-feedback.json" &&
	nsh run "$TASK_TEXT" --repo acme/login-service >out 2>err &&
	grep -q "pull request #1 opened" out &&
	task=$(nsh_sql "SELECT id FROM tasks") &&
	nsh pr comment acme/login-service#1 "Please document the limiter in docs/rate-limit.md" \
		--file src/middleware/rateLimit.js --line 1 --author alice >c.out &&
	grep -q "it revises the pull request now" c.out &&
	nsh run --resume "$task" >out2 2>err2 &&
	grep -q "research of the first run stands" out2 &&
	test "$(logq "l.length")" = 11 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	logq "newest(l[8])" | grep -q "The pull request.s diff now" &&
	nsh pr show acme/login-service#1 >pr &&
	grep -q "^state    open" pr &&
	grep -q "nightshift replied to #1" pr &&
	grep -q "Done in [0-9a-f]*" pr &&
	grep -q "Remembered for future tasks as rule [0-9]* (repo acme/login-service)" pr &&
	test "$(nsh_sql "SELECT kind || '"'"'|'"'"'|| rule FROM memories")" = \
		"text|Please document the limiter in docs/rate-limit.md" &&
	nsh pr show acme/login-service#1 --diff >diff &&
	grep -q "^+++ b/docs/rate-limit.md" diff &&
	grep -q "^+++ b/src/middleware/rateLimit.js" diff
'

# Two repositories, one job at a time so that the scripted requests come in
# order: the first repository's agents, the second's, the revision of the
# first pull request, then the second's. Prints the first pull request to
# "first" and the second to "second" (files), after the comment @1 on the first.
two_prs_and_comment() {
	setup &&
	cp -r login-service signup-service &&
	nsh forge import acme signup-service >/dev/null &&
	start_llm "$1" &&
	nsh run "$TASK_TEXT" --repo acme/login-service --repo acme/signup-service \
		--max-sandboxes 1 >out 2>err &&
	test "$(grep -c "pull request #1 opened" out)" = 2 &&
	nsh pr list --json | jq -r "sort_by(.created_at) | .[] | \"\(.org)/\(.repo)#\(.number)\"" >prs &&
	sed -n 1p prs >first &&
	sed -n 2p prs >second &&
	task=$(nsh_sql "SELECT id FROM tasks") &&
	nsh pr comment "$(cat first)" "$2" --author alice >/dev/null &&
	nsh run --resume "$task" >out2 2>err2 &&
	test "$(logq "l.length")" = 14 &&
	test "$(logq "l.filter(e => e.error).length")" = 0
}

# sibling_revised HOW: the second pull request got the feedback, carried
# (HOW: the event's reason), and the first says where it went.
sibling_revised() {
	first=$(cat first) && second=$(cat second) &&
	grep -q "carried to 1 sibling pull request, $1" out2 &&
	nsh pr show "$first" >pr1 &&
	grep -q "The same feedback is applied to the other pull requests of this change: $second\." pr1 &&
	grep -q "Remembered for future tasks as rule" pr1 &&
	nsh pr show "$second" >pr2 &&
	grep -q "Carried over from review feedback by alice on $first (comment #[0-9][0-9]*), which applies to the whole change" pr2 &&
	grep -q "carried over: alice on $second" pr2 &&
	nsh pr show "$second" --diff >diff2 &&
	grep -q "^+++ b/docs/limits.md" diff2 &&
	test "$(nsh_sql "SELECT count(*) FROM memories")" = 1
}

test_expect_success 'feedback the code agent marks general reaches the sibling pull request' '
	two_prs_and_comment "$AGENT_DIR/scenarios/orch-general.json" \
		"Every service documents its limits in docs/limits.md" &&
	sibling_revised "the code agent took it for a rule of the whole change"
'

test_expect_success '/nightshift all carries feedback to the siblings with the llm brain too' '
	sed "s/\"general\": true/\"general\": false/" "$AGENT_DIR/scenarios/orch-general.json" \
		>all.json &&
	! grep -q "\"general\": true" all.json &&
	two_prs_and_comment "$PWD/all.json" \
		"Every service documents its limits in docs/limits.md. /nightshift all" &&
	sibling_revised "as asked with /nightshift all"
'

test_done
