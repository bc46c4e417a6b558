#!/bin/sh
# Talking to a running agent: a steering message reaches the model at the
# next tool boundary; ask_user puts the task in waiting_input until
# `nightshift answer`; a reached budget asks instead of failing.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"

test_expect_success 'a steering message mid-task reaches the model at the next tool boundary' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/steer.json" &&
	agent_bg --role code --workspace ws "$TASK_TEXT" &&
	task=$(cat task) &&
	wait_until 20 test -s requests.jsonl &&
	nsh steer "$task" "use a sliding window, not a fixed one" >steer.out &&
	wait "$(cat agent.pid)" &&
	test "$(logq "l.length")" = 2 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	logq "newest(l[1])" >turn &&
	grep -q "slept" turn &&
	grep -q "use a sliding window, not a fixed one" turn &&
	nsh follow "$task" --json >events &&
	grep -q "\"kind\": *\"agent.steered\"" events
'

test_expect_success 'a deadline warning mid-task reaches the model as steering from nightshift' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/deadline.json" &&
	agent_bg --role code --workspace ws "$TASK_TEXT" &&
	task=$(cat task) &&
	wait_until 20 test -s requests.jsonl &&
	now=$(date +%s000) &&
	nsh_sql "INSERT INTO events (task_id, kind, data, created_at) VALUES ('"'"'$task'"'"', '"'"'task.deadline_warning'"'"', '"'"'{\"percent\":80,\"message\":\"80% of the time of this task is used\"}'"'"', $now)" &&
	wait "$(cat agent.pid)" &&
	test "$(logq "l.length")" = 2 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	logq "newest(l[1])" >turn &&
	grep -q "nightshift: 80% of the time of this task is used. Finish the current change in small, complete steps." turn
'

test_expect_success 'ask_user waits in waiting_input until nightshift answer' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/ask.json" &&
	agent_bg --role research --workspace ws "$TASK_TEXT" &&
	task=$(cat task) &&
	wait_until 30 state_is "$task" waiting_input &&
	nsh show "$task" --json >show &&
	grep -q "Should the limit be 5 or 10 logins per minute?" show &&
	test "$(logq "l.length")" = 1 &&
	nsh answer "$task" "10 per minute" &&
	wait "$(cat agent.pid)" &&
	test "$(logq "l.length")" = 3 &&
	test "$(logq "l.filter(e => e.error).length")" = 0 &&
	test "$(task_state "$task")" = completed &&
	nsh_sql \
		"select body from specs order by version desc limit 1" | grep -q "10 logins per minute"
'

# The question looks for an answer, then at the task's state; an answer
# moves the task on after its event. NIGHTSHIFT_STALL holds the question
# between the two reads so that the answer lands there: an answer taken for
# a resume put the task back to waiting_input for good.
test_expect_success 'an answer that comes between the looks of the question is not lost' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/ask.json" &&
	NIGHTSHIFT_STALL=agent.ask.poll:1500 &&
	export NIGHTSHIFT_STALL &&
	agent_bg --role research --workspace ws "$TASK_TEXT" &&
	task=$(cat task) &&
	wait_until 30 state_is "$task" waiting_input &&
	sleep 0.5 &&
	nsh answer "$task" "10 per minute" &&
	pid=$(cat agent.pid) &&
	if ! wait_until 30 sh -c "! kill -0 $pid"; then
		echo "the run did not end; the task is $(task_state "$task")"
		kill "$pid"
		exit 1
	fi &&
	wait "$pid" &&
	test "$(task_state "$task")" = completed
'

test_expect_success 'at the budget the task asks: stop ends the job for review' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/budget.json" &&
	NIGHTSHIFT_LLM_BUDGET_TOKENS=1000 &&
	export NIGHTSHIFT_LLM_BUDGET_TOKENS &&
	agent_bg --role research --workspace ws "$TASK_TEXT" &&
	task=$(cat task) &&
	wait_until 30 state_is "$task" waiting_input &&
	nsh show "$task" --json | grep -q "token budget of 1000 reached (1100 used)" &&
	nsh answer "$task" stop &&
	{ wait "$(cat agent.pid)"; test $? = 1; } &&
	grep -q "needs_human_review: the research agent ended: budget: stopped at the user.s word" out &&
	test "$(logq "l.length")" = 1
'

test_expect_success 'at the budget the task asks: continue goes on' '
	fixture ws &&
	start_llm "$AGENT_DIR/scenarios/budget.json" &&
	NIGHTSHIFT_LLM_BUDGET_TOKENS=1000 &&
	export NIGHTSHIFT_LLM_BUDGET_TOKENS &&
	agent_bg --role research --workspace ws "$TASK_TEXT" &&
	task=$(cat task) &&
	wait_until 30 state_is "$task" waiting_input &&
	nsh answer "$task" continue &&
	wait "$(cat agent.pid)" &&
	grep -q "^| research | done | 2 |" out &&
	test "$(logq "l.length")" = 2 &&
	nsh follow "$task" --json | grep -q "\"max_tokens\": *2100"
'

test_done
