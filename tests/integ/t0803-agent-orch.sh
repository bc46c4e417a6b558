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
	test "$(sqlite3 "$NIGHTSHIFT_HOME/nightshift.db" "SELECT uses FROM memories WHERE id = $mid")" = 1 &&
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
	task=$(sqlite3 "$NIGHTSHIFT_HOME/nightshift.db" "SELECT id FROM tasks") &&
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
	test "$(sqlite3 "$NIGHTSHIFT_HOME/nightshift.db" "SELECT kind || '"'"'|'"'"'|| rule FROM memories")" = \
		"text|Please document the limiter in docs/rate-limit.md" &&
	nsh pr show acme/login-service#1 --diff >diff &&
	grep -q "^+++ b/docs/rate-limit.md" diff &&
	grep -q "^+++ b/src/middleware/rateLimit.js" diff
'

test_done
