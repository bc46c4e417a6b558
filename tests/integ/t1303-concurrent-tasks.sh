#!/bin/sh
# The plan's concurrent_tasks limit in the daemon (docs/limits.md, "Queue"):
# five tasks under a limit of two wait in FIFO order instead of being
# dropped; at no moment do more than two run; the waiting ones get queue
# positions 1, 2, 3 that only go down; all five complete. Each task is a real llm-brain task
# on the local forge whose agents finish at once, against the scripted
# provider answering each request after 700 ms.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

sql() {
	nsh_sql "$1"
}

# slow_llm: the scripted provider, every request answered with finish after 700 ms.
slow_llm() {
	cat >finish.json <<-'EOF' &&
	{ "name": "every agent finishes at once", "mode": "turn",
	  "steps": [ { "reply": { "tool_calls": [ { "name": "finish",
	    "args": { "summary": "nothing to change" } } ], "usage": { "input": 10, "output": 5 } } } ] }
	EOF
	node "$AGENT_DIR/server.js" --scenario finish.json --port-file port --log requests.jsonl \
		--latency-ms 700 >server.log 2>&1 &
	echo $! >server.pid
	wait_until 10 test -s port || return 1
	NIGHTSHIFT_LLM_API=openai
	NIGHTSHIFT_LLM_URL=http://127.0.0.1:$(cat port)/v1
	NIGHTSHIFT_LLM_MODEL=test-model
	NIGHTSHIFT_LLM_KEY=sk-test-123
	export NIGHTSHIFT_LLM_API NIGHTSHIFT_LLM_URL NIGHTSHIFT_LLM_MODEL NIGHTSHIFT_LLM_KEY
}

worker_alive() {
	test "$(sql "SELECT count(*) FROM workers")" -ge 1
}

all_ended() {
	test "$(sql "SELECT count(*) FROM tasks WHERE state IN ('completed', 'failed')")" = 5
}

# The most tasks running at one moment: each task runs from its claim to
# its last state change.
max_running() {
	sql "WITH spans AS (
		SELECT t.id AS id,
			(SELECT min(e.created_at) FROM events e
				WHERE e.task_id = t.id AND e.kind = 'task.claimed') AS s,
			(SELECT max(e.created_at) FROM events e
				WHERE e.task_id = t.id AND e.kind = 'task.state') AS e
		FROM tasks t)
	SELECT max((SELECT count(*) FROM spans b WHERE b.s <= a.s AND a.s < b.e)) FROM spans a"
}

# why MSG: say what went wrong in a line the CI summary shows, with the
# tasks' states, and fail.
why() {
	echo "ERROR: $1; tasks: $(sql "SELECT id || ' ' || state FROM tasks" | paste -sd, - | sed 's/,/, /g')" >&2
	false
}

test_expect_success 'five tasks under a limit of two: FIFO, at most two at once, none dropped' '
	fixture login-service &&
	nsh forge init acme >/dev/null &&
	nsh forge import acme login-service >/dev/null &&
	slow_llm &&
	trap "nsh_daemon_stop; kill \$(cat server.pid) 2>/dev/null" EXIT &&
	NIGHTSHIFT_LIMITS_CONCURRENT_TASKS=2 &&
	export NIGHTSHIFT_LIMITS_CONCURRENT_TASKS &&
	nsh_daemon_start --rate-limit 0 &&
	wait_until 20 worker_alive &&
	for i in 1 2 3 4 5; do
		nsh run "task $i: $TASK_TEXT" --repo acme/login-service --detach --no-start \
			>>ids || exit 1
		sleep 0.05
	done &&
	test "$(wc -l <ids)" = 5 &&
	{ wait_until 120 all_ended || why "not all ended in 120 s"; } &&
	{ test "$(sql "SELECT count(*) FROM tasks WHERE state = '"'"'completed'"'"'")" = 5 ||
		why "not all completed"; } &&
	m=$(max_running) &&
	{ test "$m" = 2 || why "$m tasks ran at once, expected 2"; } &&
	# claimed in creation order
	sql "SELECT task_id FROM events WHERE kind = '"'"'task.claimed'"'"' ORDER BY id" >claimed &&
	{ cmp ids claimed || why "claimed out of order: $(tr "\n" " " <claimed)"; } &&
	# the last three waited with positions 1, 2, 3 first, and their
	# positions only went down (two tasks ending in one tick free two
	# slots at once, so a task may be claimed from position 2)
	for i in 3 4 5; do
		id=$(sed -n "${i}p" ids)
		sql "SELECT json_extract(data, '"'"'$.position'"'"') FROM events
			WHERE task_id = '"'"'$id'"'"' AND kind = '"'"'task.queued'"'"' ORDER BY id" >pos &&
		first=$(head -n 1 pos) &&
		{ test "$first" = $((i - 2)) || why "task $i queued at $first first"; } &&
		{ sort -rnu pos | cmp -s - pos ||
			why "task $i went through positions $(tr "\n" " " <pos)"; } || exit 1
	done &&
	{ test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'task.queued'"'"'
		AND task_id IN (SELECT id FROM tasks ORDER BY created_at LIMIT 2)")" = 0 ||
		why "one of the first two tasks was queued"; }
'

test_done
