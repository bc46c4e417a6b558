#!/bin/sh
# Control requests from the command line: pause, resume, cancel, steer,
# answer and extend, on a task no daemon drives (they work through the
# store), with their refusals and usage errors.
. "$(dirname "$0")/lib.sh"
EV=$NSH_HELPERS/nsh-test-events

sql() {
	nsh_sql "$1"
}

test_expect_success 'pause and resume a queued task, each once' '
	task=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash") &&
	nsh pause "$task" >out &&
	grep -q "task .$task. paused" out &&
	test "$(sql "SELECT state FROM tasks")" = paused &&
	expect_code 1 nsh pause "$task" 2>err &&
	grep -q "already paused" err &&
	nsh resume "$task" >out &&
	grep -q resumed out &&
	test "$(sql "SELECT state FROM tasks")" = queued &&
	expect_code 1 nsh resume "$task" 2>err &&
	grep -q "is not paused (queued)" err &&
	test "$(sql "SELECT count(*) FROM control_requests WHERE state = '"'"'done'"'"'")" -eq 2 &&
	test "$(sql "SELECT count(*) FROM control_requests WHERE state = '"'"'rejected'"'"'")" -eq 2
'

test_expect_success 'steer records the instruction; answer needs a question' '
	task=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash") &&
	nsh steer "$task" "prefer native includes" &&
	test "$(sql "SELECT json_extract(data, '"'"'$.text'"'"') FROM events WHERE kind = '"'"'task.steer'"'"'")" = "prefer native includes" &&
	expect_code 1 nsh answer "$task" "lodash-3-to-4" 2>err &&
	grep -q "not waiting for an answer" err
'

test_expect_success 'extend moves the deadline; a bad duration is refused' '
	task=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash") &&
	expect_code 1 nsh extend "$task" soon 2>err &&
	grep -q "invalid duration .soon." err &&
	nsh extend "$task" 2h --json >out &&
	grep -q "\"state\": \"done\"" out &&
	now=$(($(date +%s) * 1000)) &&
	d=$(sql "SELECT deadline_at FROM tasks") &&
	test $((d - now)) -gt 7000000 && test $((d - now)) -lt 7300000
'

test_expect_success 'cancel ends the task and its jobs; nothing applies after' '
	task=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash") &&
	nsh cancel "$task" "changed my mind" >out &&
	grep -q cancelled out &&
	test "$(sql "SELECT state FROM tasks")" = cancelled &&
	test "$(sql "SELECT json_extract(data, '"'"'$.reason'"'"') FROM events WHERE kind = '"'"'task.state'"'"' ORDER BY id DESC LIMIT 1")" = "changed my mind" &&
	expect_code 1 nsh pause "$task" 2>err &&
	grep -q "has already ended (cancelled)" err
'

test_expect_success 'follow renders the log as it grows and exits with the outcome' '
	task=$($EV "$NIGHTSHIFT_HOME" create "upgrade lodash") || exit 1
	"$NSH_BIN" follow "$task" >out 2>err &
	fpid=$!
	"$NSH_BIN" follow "$task" --json >json 2>jerr &
	jpid=$!
	nsh pause "$task" >/dev/null &&
	nsh steer "$task" "go native" >/dev/null &&
	nsh cancel "$task" >/dev/null &&
	{ wait $fpid; rc=$?; } &&
	test $rc -eq 1 &&
	{ wait $jpid; jrc=$?; } &&
	test $jrc -eq 1 &&
	grep -q "Task $task: upgrade lodash" out &&
	grep -q "Paused" out &&
	grep -q "Steered: go native" out &&
	grep -q "Task cancelled" out &&
	test "$(grep -c "\"kind\":\"task.state\"" json)" -eq 2 &&
	expect_code 1 nsh follow "$task" >again &&
	grep -q "Task cancelled" again
'

test_expect_success 'unknown tasks and bad usage' '
	expect_code 1 nsh pause t-ffffff 2>err &&
	grep -q "no task .t-ffffff." err &&
	expect_code 2 nsh pause 2>err &&
	grep -q "missing TASK" err &&
	expect_code 2 nsh steer t-ffffff 2>err &&
	grep -q "missing TEXT" err &&
	expect_code 2 nsh resume t-ffffff extra 2>err &&
	grep -q "unexpected argument .extra." err &&
	expect_code 2 nsh cancel --now t-ffffff 2>err &&
	grep -q "unknown option .--now." err
'

test_done
