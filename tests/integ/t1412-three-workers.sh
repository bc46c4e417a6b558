#!/bin/sh
# Three worker processes (serve --role worker) share one store and the
# jobs of one task: the demo's lodash upgrade across demo-org. Every job is
# done exactly once and every pull request opened once; the jobs are spread
# over the workers. A worker killed with -9 while it runs jobs loses them:
# the others finish them after its lease, from their last completed step,
# with no second pull request and no second push of a head.
#
# Both stores: the SQLite file of the home, then a PostgreSQL cluster the
# script starts on loopback (tests/integ/pgcluster.sh), each test with a
# database of its own, as several machines would share it.
#
# The jobs install from the npm registry; without it the checks are
# skipped, not passed. Without the PostgreSQL server binaries the second
# pass is skipped, not passed.
nsh_own_pg=1 # starts its own clusters, whatever NSH_TEST_DB says
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

PGDIR=$(mktemp -u "${TMPDIR:-/tmp}/nsh-pg-XXXXXX")
trap 'sh "$NSH_TOP/tests/integ/pgcluster.sh" stop "$PGDIR" 2>/dev/null; t_cleanup' EXIT

sql() {
	nsh_sql "$1"
}

# use_store: the store for the next test: a new PostgreSQL database during
# the PostgreSQL pass ($PGURL set), else the home's SQLite file.
# (Tests run in subshells: the database is named after the test's number.)
use_store() {
	if [ -n "${PGURL:-}" ]; then
		psql -qAtX -d "$PGURL" -c "CREATE DATABASE w$t_count" >/dev/null || return 1
		NIGHTSHIFT_DB=${PGURL%/*}/w$t_count
		export NIGHTSHIFT_DB
	fi
}

# until_sql TENTHS SQL VALUE: poll until the query gives VALUE.
until_sql() {
	i=0
	while [ "$(sql "$2")" != "$3" ]; do
		i=$((i + 1))
		[ $i -lt "$1" ] || return 1
		sleep 0.1
	done
}

# start_workers: three workers with two sandboxes each; their pids in $W1 $W2 $W3.
start_workers() {
	for n in 1 2 3; do
		"$NSH_BIN" serve --role worker --max-sandboxes 2 >"worker$n.log" 2>&1 &
		eval "W$n=\$!"
	done
	until_sql 300 "SELECT count(*) FROM workers" 3
}

stop_workers() {
	for p in $W1 $W2 $W3; do
		kill -TERM "$p" 2>/dev/null
	done
	wait
}

# the task: lodash 3 to 4 on SERVICES of demo-org, queued for the workers
start_task() {
	args=
	for s in $SERVICES; do
		args="$args --repo demo-org/$s"
	done
	# shellcheck disable=SC2086
	nsh run "upgrade lodash from 3 to 4" --recipe lodash-3-to-4 --network common \
		$args --detach --no-start
}

# expect WHAT SQL VALUE: the query gives VALUE, or say what was wrong.
expect() {
	got=$(sql "$2")
	[ "$got" = "$3" ] || { echo "ERROR: $1: got '$got', want '$3'"; return 1; }
}

# check_once [DEAD-WORKER]: exactly once: every job settled and let go
# (a worker killed after a job's last step but before letting its run go
# may keep it, harmlessly), one PR for each job in pr_open and none twice
# for a repository, one head per PR, one step event per job, attempt and
# step.
check_once() {
	expect "jobs not settled" "SELECT count(*) FROM jobs WHERE state NOT IN
		('pr_open', 'needs_human_review', 'failed')" 0 &&
	kept="SELECT count(*) FROM jobs WHERE runner IS NOT NULL AND runner <> '${1:-none}'" &&
	{ until_sql 50 "$kept" 0; expect "jobs still held" "$kept" 0; } &&
	expect "repositories with two PRs" "SELECT count(*) FROM (SELECT repo_id FROM prs
		GROUP BY repo_id HAVING count(*) > 1) AS x" 0 &&
	expect "pr_open jobs without exactly one PR" "SELECT count(*) FROM jobs j
		WHERE state = 'pr_open' AND (SELECT count(*) FROM prs p WHERE p.job_id = j.id) != 1" 0 &&
	expect "PRs pushed twice" "SELECT count(*) FROM (SELECT pr_id FROM pr_heads
		GROUP BY pr_id HAVING count(*) > 1) AS x" 0 &&
	expect "steps recorded twice" "SELECT count(*) FROM (SELECT job_id FROM events
		WHERE kind = 'job.step' GROUP BY job_id, json_extract(data, '$.attempt'),
		json_extract(data, '$.step') HAVING count(*) > 1) AS x" 0
}

if ! npm ping >/dev/null 2>&1; then
	test_skip "three workers" "npm registry unreachable"
	test_done
	exit
fi

SERVICES="rate-limiter billing notifications pricing"

# the tests, on the store chosen by use_store
run_tests() {
test_expect_success "three workers share the jobs of a task: each done once ($store)" '
	use_store && nsh demo init >/dev/null && start_workers || exit 1
	# an api process streams what the workers do (SSE; on PostgreSQL, woken by NOTIFY)
	nsh_daemon_start --role api || { stop_workers; exit 1; }
	curl -sN --max-time 600 -H "Authorization: Bearer $NSH_TOKEN" \
		"$NSH_URL/api/events/stream" >stream &
	cpid=$!
	task=$(start_task) &&
	until_sql 3000 "SELECT state FROM tasks" completed || {
		sql "SELECT id, state, step, runner FROM jobs"; tail worker*.log; stop_workers; exit 1; }
	i=0 && while ! grep -q "\"to\":\"completed\"" stream && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1)); done
	kill $cpid; nsh_daemon_stop
	grep -q "^event: job.claimed" stream &&
	grep -q "^event: pr.opened" stream &&
	grep -q "\"to\":\"completed\"" stream || { echo "ERROR: the stream lacks events"; cat stream; exit 1; }
	test "$(sql "SELECT count(*) FROM jobs")" = 4 &&
	check_once &&
	test "$(sql "SELECT count(DISTINCT json_extract(data, '"'"'$.worker'"'"')) FROM events
		WHERE kind = '"'"'job.claimed'"'"'")" -ge 2 &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'task.claimed'"'"'")" = 1 || {
		sql "SELECT id, state, step FROM jobs"
		sql "SELECT job_id, data FROM events WHERE kind = '"'"'job.claimed'"'"'"
		stop_workers; exit 1; }
	stop_workers &&
	! grep -q "Sanitizer\|runtime error" worker*.log
'

test_expect_success "kill -9 of a worker running jobs: the others finish them, once ($store)" '
	use_store && nsh demo init >/dev/null && start_workers || exit 1
	task=$(start_task) &&
	# a worker that runs a job and has completed a step of it
	until_sql 1200 "SELECT min(1) FROM jobs j JOIN workers w ON w.id = j.runner
		WHERE j.step IS NOT NULL" 1 || { stop_workers; exit 1; }
	victim=$(sql "SELECT w.pid FROM jobs j JOIN workers w ON w.id = j.runner
		WHERE j.step IS NOT NULL LIMIT 1") &&
	vid=$(sql "SELECT id FROM workers WHERE pid = $victim") &&
	held=$(sql "SELECT id FROM jobs WHERE runner = '"'"'$vid'"'"'" | tr "\n" " ") &&
	echo "killing worker $vid (pid $victim), running: $held" &&
	kill -9 "$victim" &&
	until_sql 3000 "SELECT state FROM tasks" completed || {
		sql "SELECT id, state, step, runner FROM jobs"; tail worker*.log; stop_workers; exit 1; }
	check_once "$vid" &&
	for j in $held; do
		# claimed again by a live worker after the kill
		test "$(sql "SELECT count(DISTINCT json_extract(data, '"'"'$.worker'"'"'))
			FROM events WHERE kind = '"'"'job.claimed'"'"' AND job_id = '"'"'$j'"'"'")" -ge 2 ||
			exit 1
	done &&
	stop_workers &&
	! grep -q "Sanitizer\|runtime error" worker*.log
'
}

store=sqlite
run_tests

URL=$(sh "$NSH_TOP/tests/integ/pgcluster.sh" start "$PGDIR" 2>"$T_TRASH/pg.err")
case $? in
0)
	PGURL=$URL
	store=postgresql
	run_tests
	;;
3)
	why=$(sed 's/^skip: //' "$T_TRASH/pg.err")
	test_skip "three workers share the jobs of a task (postgresql)" "$why"
	test_skip "kill -9 of a worker running jobs (postgresql)" "$why"
	;;
*)
	cat "$T_TRASH/pg.err" >&2
	echo "postgresql did not start" >&2
	exit 1
	;;
esac

test_done
