#!/bin/sh
# "nightshift serve --role worker|api|all": an api process serves HTTP and
# drives no task; a worker process drives tasks and serves no HTTP; all
# does both. Bad combinations are usage errors (exit 2).
#
# Each daemon gets one paused task to find: a scheduler claims every
# unfinished task (tasks.owner), and a paused one stays put, so the claim
# is visible without running analysis.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

REPO=$T_TRASH/svc
git init -q "$REPO" && echo hi >"$REPO/a.txt" &&
	git -C "$REPO" add . &&
	git -C "$REPO" -c user.email=t@example.com -c user.name=t commit -qm init || exit 1
export REPO

# paused_task: make a task and pause it; prints its id. --no-start: no
# daemon of its own may claim it first.
paused_task() {
	nsh forge import acme "$REPO" >/dev/null &&
		t=$(nsh run "rename foo to bar" --repo acme/svc --detach --no-start) &&
		nsh pause "$t" >/dev/null &&
		echo "$t"
}

# owner_pid TASK: the process id of the worker that owns TASK, or nothing.
owner_pid() {
	nsh_sql \
		"SELECT w.pid FROM tasks t JOIN workers w ON w.id = t.owner WHERE t.id = '$1'"
}

# listens PID: whether process PID holds a listening TCP socket (from /proc).
listens() {
	inodes=$(awk '$4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
	for fd in /proc/"$1"/fd/*; do
		link=$(readlink "$fd" 2>/dev/null) || continue
		case $link in
		socket:*)
			ino=${link#socket:[}
			ino=${ino%]}
			for i in $inodes; do
				[ "$i" = "$ino" ] && return 0
			done
			;;
		esac
	done
	return 1
}

# wait_owner TASK PID: until PID's worker owns TASK (20 s at most).
wait_owner() {
	n=0
	while [ "$(owner_pid "$1")" != "$2" ]; do
		n=$((n + 1))
		[ "$n" -lt 200 ] || { echo "task $1 not claimed by $2" >&2; return 1; }
		sleep 0.1
	done
}

test_expect_success 'bad roles and combinations are usage errors' '
	expect_code 2 nsh serve --role bogus 2>err &&
	grep -q "invalid --role '"'"'bogus'"'"' (worker, api or all)" err &&
	expect_code 2 nsh serve --role worker --listen 127.0.0.1:0 2>err &&
	grep -q "serves no HTTP" err &&
	expect_code 2 nsh serve --role worker --rate-limit 5 2>err &&
	expect_code 2 nsh serve --role worker --no-scheduler 2>err &&
	grep -q "cannot take --no-scheduler" err &&
	expect_code 2 nsh serve --role 2>err &&
	nsh help serve >help &&
	grep -q -- "--role ROLE" help
'

test_expect_success 'run --detach --no-start only queues the task' '
	expect_code 2 nsh run "rename foo to bar" --repo acme/svc --no-start 2>err &&
	grep -q "no-start goes with --detach" err &&
	t=$(paused_task) || exit 1
	sleep 1 &&
	test ! -e "$NIGHTSHIFT_HOME/serve.log" &&
	test -z "$(owner_pid "$t")" &&
	test "$(nsh_sql "SELECT count(*) FROM workers")" = 0
'

test_expect_success 'a worker drives tasks and serves no HTTP' '
	t=$(paused_task) || exit 1
	"$NSH_BIN" serve --role worker >log 2>&1 &
	pid=$!
	wait_owner "$t" "$pid" || { kill $pid; cat log; exit 1; }
	grep -q "worker on .*no HTTP server" log &&
	test ! -e "$NIGHTSHIFT_HOME/serve.json" &&
	! listens $pid &&
	kill -TERM $pid && wait $pid &&
	! grep -q "Sanitizer\|runtime error" log
'

test_expect_success 'an api process serves HTTP and drives no task' '
	t=$(paused_task) || exit 1
	nsh_daemon_start --role api || exit 1
	curl -sf -H "Authorization: Bearer $NSH_TOKEN" "$NSH_URL/api/tasks" >tasks.json &&
	grep -q "$t" tasks.json &&
	listens $NSH_DAEMON_PID &&
	sleep 2 &&
	test -z "$(owner_pid "$t")" &&
	grep -q "scheduler off" "$NIGHTSHIFT_HOME/daemon.log" &&
	nsh_daemon_stop
'

test_expect_success 'all (the default) serves HTTP and drives tasks' '
	t=$(paused_task) || exit 1
	nsh_daemon_start --role all || exit 1
	wait_owner "$t" "$NSH_DAEMON_PID" &&
	curl -sf -H "Authorization: Bearer $NSH_TOKEN" "$NSH_URL/api/tasks" >tasks.json &&
	grep -q "$t" tasks.json &&
	nsh_daemon_stop
'

test_done
