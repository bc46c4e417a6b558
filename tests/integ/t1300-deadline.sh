#!/bin/sh
# Task limits with the real pipeline and the test clock (NIGHTSHIFT_CLOCK_FILE,
# docs/limits.md): the deadline passes while a job runs its tests; the job
# checkpoints (its branch pushed, a draft pull request labelled in-progress)
# and the task expires; extend continues it from the checkpoint to a
# finished pull request without doing a step twice. An extend after the
# grace period is refused, and gc removes exactly what is past retention.
#
# The pipeline part installs from the npm registry; without it, skipped.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/integ/spin.sh"

sql() {
	nsh_sql "$1"
}

# new_task ID: a task row that no worker drives (the store made by "tasks").
new_task() {
	nsh tasks >/dev/null &&
	now=$(($(date +%s) * 1000)) &&
	sql "INSERT INTO tasks (id, title, state, created_at, updated_at) VALUES ('$1', 't', 'queued', $now, $now)"
}

wait_for() {
	i=0
	while [ "$(sql "$1")" != "$2" ] && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(sql "$1")" = "$2" ]
}

test_expect_success 'an extend after the grace period is refused with the reason' '
	NIGHTSHIFT_CLOCK_FILE=$PWD/clock && export NIGHTSHIFT_CLOCK_FILE &&
	echo 0 >clock &&
	new_task t-late00 &&
	id=t-late00 &&
	now=$(($(date +%s) * 1000)) &&
	sql "UPDATE tasks SET state = '"'"'expired'"'"', expired_at = $now WHERE id = '"'"'$id'"'"'" &&
	echo $((3 * 86400 * 1000)) >clock &&
	expect_code 1 nsh extend "$id" 2h 2>err &&
	grep -q "task .$id. expired 3d 0h ago; its workspaces were removed after the 1d 0h grace period; start a new task" err &&
	test "$(sql "SELECT state FROM tasks")" = expired &&
	echo 0 >clock &&
	nsh extend "$id" 2h >out &&
	grep -q "extended by 2h" out &&
	test "$(sql "SELECT state FROM tasks")" = queued
'

test_expect_success 'gc removes what is past retention; --dry-run removes nothing' '
	NIGHTSHIFT_CLOCK_FILE=$PWD/clock && export NIGHTSHIFT_CLOCK_FILE &&
	echo 0 >clock &&
	new_task t-old000 &&
	id=t-old000 &&
	sql "UPDATE tasks SET state = '"'"'cancelled'"'"' WHERE id = '"'"'$id'"'"'" &&
	mkdir -p "$NIGHTSHIFT_HOME/artifacts/$id/j-x" "$NIGHTSHIFT_HOME/work/j-gone/repo" &&
	head -c 10000 /dev/zero >"$NIGHTSHIFT_HOME/artifacts/$id/j-x/install.log" &&
	echo x >"$NIGHTSHIFT_HOME/work/j-gone/repo/f" &&
	nsh gc --json >out &&
	grep -q "\"kind\": \"stale\"" out &&
	! grep -q artifacts out &&
	test -f "$NIGHTSHIFT_HOME/artifacts/$id/j-x/install.log" &&
	test ! -e "$NIGHTSHIFT_HOME/work/j-gone" &&
	echo $((15 * 86400 * 1000)) >clock &&
	nsh gc --dry-run >out &&
	grep -q "would remove artifacts" out &&
	test -f "$NIGHTSHIFT_HOME/artifacts/$id/j-x/install.log" &&
	nsh gc >out &&
	grep -q "freed 1 files" out &&
	test ! -e "$NIGHTSHIFT_HOME/artifacts/$id"
'

registry=yes
npm ping >/dev/null 2>&1 || registry=no
if [ $registry = no ]; then
	test_skip "the deadline checkpoints a running job; extend completes it" \
		"npm registry unreachable"
	test_done
	exit
fi

test_expect_success 'the deadline checkpoints a running job; extend completes it' '
	NIGHTSHIFT_CLOCK_FILE=$PWD/clock && export NIGHTSHIFT_CLOCK_FILE &&
	echo 0 >clock &&
	printf "[limits]\ntask_duration = 10h\n" >"$NIGHTSHIFT_HOME/config" &&
	make_repo svc 6 && recipe || exit 1
	"$NSH_BIN" run "move lodash" --recipe lodash-bump --repo acme/svc >run.out 2>&1 &
	pid=$!
	wait_for "SELECT step FROM jobs" reinstall &&
	started=$(sql "SELECT started_at FROM tasks") &&
	deadline=$(sql "SELECT deadline_at FROM tasks") &&
	test $((deadline - started)) = 36000000 &&
	echo $((deadline - $(date +%s) * 1000 + 60000)) >clock &&
	wait $pid
	id=$(sql "SELECT id FROM tasks") &&
	test "$(sql "SELECT state FROM tasks")" = expired &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'task.deadline_warning'"'"'")" = 2 &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'job.checkpoint'"'"'")" = 1 &&
	test "$(sql "SELECT step FROM jobs")" = verify &&
	test "$(sql "SELECT state FROM prs")" = draft &&
	sql "SELECT labels FROM prs" | grep -q in-progress &&
	sql "SELECT body FROM prs" | grep -q "Work in progress" &&
	git -C "$NIGHTSHIFT_HOME/forge/acme/svc.git" log -1 --format=%B "nightshift/$id/lodash-bump" >msg &&
	grep -q "Nightshift-Checkpoint: yes" msg &&
	git -C "$NIGHTSHIFT_HOME/forge/acme/svc.git" show "nightshift/$id/lodash-bump:package.json" |
		grep -q "4.17.21" &&
	nsh show "$id" >show.out &&
	grep -q "^plan     pro (10h 0m per task" show.out &&
	grep -q "^expired  " show.out &&
	nsh extend "$id" 2h &&
	test "$(sql "SELECT state FROM tasks")" = running &&
	{ nsh run --resume "$id" >resume.out 2>&1 || { cat resume.out; false; }; } &&
	test "$(sql "SELECT state FROM tasks")" = completed &&
	test "$(sql "SELECT state FROM prs")" = open &&
	! sql "SELECT labels FROM prs" | grep -q in-progress &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'job.step'"'"' AND json_extract(data, '"'"'$.step'"'"') = '"'"'clone'"'"'")" = 1 &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'job.step'"'"' AND json_extract(data, '"'"'$.step'"'"') = '"'"'verify'"'"'")" = 1 &&
	git -C "$NIGHTSHIFT_HOME/forge/acme/svc.git" log -1 --format=%B "nightshift/$id/lodash-bump" >msg &&
	! grep -q "Nightshift-Checkpoint" msg &&
	grep -q "Nightshift-Attempt: 0" msg
'

test_done
