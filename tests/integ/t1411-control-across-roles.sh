#!/bin/sh
# Control requests reach the worker that holds the job, wherever the
# request arrives: an api process (serve --role api) takes the HTTP
# requests and a separate worker process (serve --role worker) drives the
# task in a real sandbox. Pause freezes the job's running tests, resume
# lets them go on, cancel kills them; the api process never drives it.
#
# The fixture's tests spin the CPU. Installing it needs the npm registry;
# without it the checks are skipped, not passed.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"
. "$NSH_TOP/tests/integ/spin.sh"

sql() {
	nsh_sql "$1"
}

# until_true TENTHS CMD...: run CMD every 0.1 s until it succeeds.
until_true() {
	n=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -lt "$n" ] || return 1
		sleep 0.1
	done
}

spinning() {
	test -n "$(spin_cpu)"
}

not_spinning() {
	test -z "$(spin_cpu)"
}

# The worker releases a job's workspace (unmounts it) in the background
# once the job has ended, and goes on running.
no_workspace_mount() {
	! grep -q "$NIGHTSHIFT_HOME/work" /proc/self/mountinfo
}

# api POST-PATH: a control request to the api process; prints the body.
api() {
	curl -sf -X POST -H "Authorization: Bearer $NSH_TOKEN" \
		-H "Content-Type: application/json" -d '{}' "$NSH_URL/api/tasks/$1"
}

if ! npm ping >/dev/null 2>&1; then
	test_skip "control across roles" "npm registry unreachable"
	test_done
	exit
fi

test_expect_success 'pause, resume and cancel sent to the api reach the worker' '
	make_repo spin 60 && recipe || exit 1
	nsh_daemon_start --role api || exit 1
	# a slow release of the workspace, which the checks must wait for
	NIGHTSHIFT_STALL=disk.release:1000 "$NSH_BIN" serve --role worker >worker.log 2>&1 &
	wpid=$!
	curl -sf -X POST -H "Authorization: Bearer $NSH_TOKEN" \
		-H "Content-Type: application/json" \
		-d "{\"text\":\"move lodash\",\"repos\":[\"acme/spin\"],\"recipe\":\"lodash-bump\",\"network\":\"common\"}" \
		"$NSH_URL/api/tasks" >created.json &&
	task=$(jq -r .task.id created.json) &&
	until_true 1200 spinning &&
	test "$(sql "SELECT w.pid FROM tasks t JOIN workers w ON w.id = t.owner")" = "$wpid" &&
	api "$task/pause" >paused.json &&
	jq -e ".task.state == \"paused\"" paused.json >/dev/null &&
	sleep 1 &&
	a=$(spin_cpu) && sleep 1.5 && b=$(spin_cpu) &&
	echo "cpu ticks while paused: $a -> $b" &&
	test -n "$a" && test "$a" -eq "$b" &&
	api "$task/resume" >/dev/null &&
	sleep 1.5 && c=$(spin_cpu) &&
	echo "after resume: $c" &&
	test "$c" -gt "$b" &&
	api "$task/cancel" >/dev/null &&
	until_true 300 not_spinning &&
	until_true 300 test "$(sql "SELECT state FROM jobs")" = cancelled &&
	test "$(sql "SELECT state FROM tasks")" = cancelled &&
	kill -0 "$wpid" && echo "cancelled; the worker is alive" &&
	until_true 50 no_workspace_mount &&
	echo "no workspace mount left" &&
	kill -TERM "$wpid" && { wait "$wpid"; rc=$?; } &&
	echo "the worker stopped: exit $rc" && test $rc -eq 0 &&
	nsh_daemon_stop &&
	! grep -q "Sanitizer\|runtime error" worker.log "$NIGHTSHIFT_HOME/daemon.log" || {
		tail -n 20 worker.log "$NIGHTSHIFT_HOME/daemon.log"
		cat created.json
		sql "SELECT id, state, owner FROM tasks; SELECT id, state, step FROM jobs"
		sql "SELECT kind, data FROM events ORDER BY id DESC LIMIT 8"
		kill "$wpid" 2>/dev/null
		nsh_daemon_stop
		exit 1
	}
'

test_done
