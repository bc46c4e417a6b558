#!/bin/sh
# The plan's token budget in the llm brain (docs/limits.md, docs/agents.md):
# a task under a plan whose budget is small stops spending when it is
# reached, says so naming the plan and the figure, and waits for an answer
# that raises it; under a larger budget the same task completes untouched.
# The scripted provider replays the rate-limiting scenario of t0803 (its
# turns use 3340, then 1850 tokens, 45610 in all).
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"

setup() {
	fixture login-service &&
	nsh forge init acme >/dev/null &&
	nsh forge import acme login-service >/dev/null
}

sql() {
	nsh_sql "$1"
}

# the task of this test's home (one task per test)
the_task() {
	sql "SELECT id FROM tasks"
}

# "PLAN MAX_TOKENS" of each agent.budget event that says a cap was reached
budget_events() {
	sql "SELECT json_extract(data, '$.plan') || ' ' || json_extract(data, '$.max_tokens')
		FROM events WHERE kind = 'agent.budget' AND json_extract(data, '$.reached') IS NOT NULL"
}

has_task() {
	test -n "$(the_task)"
}

test_expect_success 'a small plan budget stops the task at the figure; an answer continues it' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	NIGHTSHIFT_LIMITS_TOKEN_BUDGET=5000 &&
	export NIGHTSHIFT_LIMITS_TOKEN_BUDGET &&
	{ nsh run "$TASK_TEXT" --repo acme/login-service >out 2>err & echo $! >agent.pid; } &&
	wait_until 30 has_task &&
	task=$(the_task) &&
	wait_until 60 state_is "$task" waiting_input &&
	nsh show "$task" --json >show &&
	grep -q "token budget of 5000 (plan .pro.) reached (5190 used)" show &&
	test "$(logq "l.length")" = 2 &&
	test "$(budget_events)" = "pro 5000" &&
	# no turn is spent while it waits
	sleep 1 &&
	test "$(logq "l.length")" = 2 &&
	nsh answer "$task" 100k &&
	wait "$(cat agent.pid)" &&
	grep -q "The task.s token budget of 5000 (plan .pro.) reached (5190 used)" out &&
	grep -q "pull request #1 opened" out &&
	grep -q "Task completed" out &&
	test "$(logq "l.length")" = 13 &&
	nsh follow "$task" --json | grep -q "\"max_tokens\": *105190"
'

test_expect_success 'under a larger plan budget the same task completes without asking' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	NIGHTSHIFT_LIMITS_PLAN=power &&
	NIGHTSHIFT_LIMITS_TOKEN_BUDGET=50000 &&
	export NIGHTSHIFT_LIMITS_PLAN NIGHTSHIFT_LIMITS_TOKEN_BUDGET &&
	nsh run "$TASK_TEXT" --repo acme/login-service >out 2>err &&
	grep -q "pull request #1 opened" out &&
	grep -q "Task completed" out &&
	test "$(logq "l.length")" = 13 &&
	task=$(the_task) &&
	nsh show "$task" --json | grep -q "\"token_budget\": *50000" &&
	! nsh follow "$task" --json | grep -q "\"kind\": *\"agent.budget\""
'

test_expect_success 'the stricter [llm] budget_tokens is not named as the plan' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	NIGHTSHIFT_LIMITS_TOKEN_BUDGET=50000 &&
	NIGHTSHIFT_LLM_BUDGET_TOKENS=3000 &&
	export NIGHTSHIFT_LIMITS_TOKEN_BUDGET NIGHTSHIFT_LLM_BUDGET_TOKENS &&
	{ nsh run "$TASK_TEXT" --repo acme/login-service >out 2>err & echo $! >agent.pid; } &&
	wait_until 30 has_task &&
	task=$(the_task) &&
	wait_until 60 state_is "$task" waiting_input &&
	nsh show "$task" --json >show &&
	grep -q "token budget of 3000 reached (3340 used)" show &&
	test "$(logq "l.length")" = 1 &&
	nsh answer "$task" stop &&
	{ wait "$(cat agent.pid)" || :; } &&
	test "$(sql "SELECT state FROM jobs")" = needs_human_review &&
	grep -q "needs_human_review: .*stopped at the user.s word: the task.s token budget of 3000 reached (3340 used)" out &&
	test "$(logq "l.length")" = 1
'

test_done
