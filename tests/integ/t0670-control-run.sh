#!/bin/sh
# Control of running tasks, with the real pipeline and real sandboxes: a
# pause freezes a job's tests (no CPU used until resume), a cancel leaves
# no process, mount or workspace behind, and with three tasks on a daemon
# limited to two sandboxes the queue positions follow the task order.
#
# The fixture repositories spin the CPU in their tests. Installing them
# needs the npm registry; without it the checks are skipped, not passed.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/integ/spin.sh"

sql() {
	nsh_sql "$1"
}

# wait_for SQL VALUE [TENTHS]: poll until the query gives VALUE (30 s by default).
wait_for() {
	i=0
	while [ "$(sql "$1")" != "$2" ] && [ $i -lt "${3:-300}" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(sql "$1")" = "$2" ]
}

registry=yes
npm ping >/dev/null 2>&1 || registry=no
if [ $registry = no ]; then
	test_skip "control of running tasks" "npm registry unreachable"
	test_done
	exit
fi

test_expect_success 'pause freezes the running tests (no CPU used); resume lets them finish' '
	make_repo spin 6 && recipe || exit 1
	"$NSH_BIN" run "move lodash" --recipe lodash-bump --repo acme/spin >out 2>&1 &
	pid=$!
	wait_for "SELECT step FROM jobs" install &&
	i=0 && while [ -z "$(spin_cpu)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done &&
	task=$(sql "SELECT id FROM tasks") &&
	nsh pause "$task" >/dev/null &&
	sleep 0.5 &&
	a=$(spin_cpu) && sleep 1.5 && b=$(spin_cpu) &&
	echo "cpu ticks while paused: $a -> $b" &&
	test -n "$a" && test "$a" -eq "$b" &&
	nsh resume "$task" >/dev/null &&
	sleep 1 && c=$(spin_cpu || true) &&
	echo "after resume: $c" &&
	{ test -z "$c" || test "$c" -gt "$b"; } &&
	{ wait $pid; rc=$?; } &&
	test $rc -eq 0 || { cat out; exit 1; }
	grep -q "Paused" out && grep -q "Resumed" out &&
	test "$(sql "SELECT state FROM jobs")" = pr_open
'

test_expect_success 'cancel kills the sandbox: no process, mount or workspace is left' '
	make_repo spin 30 && recipe || exit 1
	"$NSH_BIN" run "move lodash" --recipe lodash-bump --repo acme/spin >out 2>&1 &
	pid=$!
	wait_for "SELECT step FROM jobs" install &&
	i=0 && while [ -z "$(spin_cpu)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done &&
	test -n "$(spin_cpu)" &&
	job=$(sql "SELECT id FROM jobs") &&
	task=$(sql "SELECT id FROM tasks") &&
	nsh cancel "$task" >/dev/null &&
	{ wait $pid; rc=$?; } &&
	test $rc -eq 1 &&
	grep -q "Task cancelled" out &&
	test "$(sql "SELECT state FROM jobs")" = cancelled &&
	test -z "$(spin_cpu)" &&
	! grep -q "$NIGHTSHIFT_HOME" /proc/self/mountinfo &&
	test ! -e "$NIGHTSHIFT_HOME/work/$job" &&
	! find /sys/fs/cgroup -maxdepth 6 -name "*sbx-$job" 2>/dev/null | grep -q .
'

test_expect_success 'three tasks, two sandboxes: FIFO queue positions' '
	make_repo a1 2 && make_repo a2 2 && make_repo b1 2 && make_repo b2 2 &&
	make_repo c1 2 && make_repo c2 2 && recipe || exit 1
	"$NSH_BIN" serve --listen 127.0.0.1:0 --max-sandboxes 2 >serve.log 2>&1 &
	spid=$!
	wait_for "SELECT CASE WHEN count(*) > 0 THEN 1 ELSE 0 END FROM workers" 1 &&
	for t in a b c; do
		nsh run "move lodash $t" --recipe lodash-bump --repo acme/${t}1 --repo acme/${t}2 \
			--detach >/dev/null || exit 1
		sleep 0.2
	done
	# while the first two jobs run, the other four wait in task order
	wait_for "SELECT count(*) FROM jobs" 6 &&
	i=0 && while [ "$(sql "SELECT count(*) FROM jobs WHERE state = '"'"'queued'"'"'")" != 4 ] &&
		[ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done &&
	for t in $(sql "SELECT id FROM tasks ORDER BY created_at"); do
		nsh show "$t" --json
	done >shows &&
	node -e "
		const fs = require(\"fs\");
		const txt = fs.readFileSync(\"shows\", \"utf8\");
		const objs = JSON.parse(\"[\" + txt.replace(/\\}\\s*\\{/g, \"},{\") + \"]\");
		const q = [];
		for (const o of objs) for (const j of o.jobs)
			if (j.state === \"queued\") q.push([j.repo, j.queue_position]);
		console.log(JSON.stringify(q));
		if (q.length !== 4) process.exit(1);
		q.forEach(([r, p], i) => { if (p !== i) process.exit(2); });
	" &&
	# six jobs two at a time, each installing from the registry: minutes on a busy machine
	wait_for "SELECT count(*) FROM tasks WHERE state = '"'"'completed'"'"'" 3 6000 &&
	test "$(sql "SELECT count(*) FROM prs")" -eq 6 &&
	kill $spid && wait $spid
'

test_done
