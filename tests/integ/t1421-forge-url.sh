#!/bin/sh
# A worker on "another machine" (issue 14): its home has no forge
# repositories, only [forge] url and a token. The forge node (serve --role
# api) holds the demo org's bare repositories and serves them over git's
# smart HTTP; both share the store: the forge node's SQLite file (as one
# machine allows), then a PostgreSQL database on a cluster the script
# starts on loopback (tests/integ/pgcluster.sh), as machines would share
# it. The worker claims the task, plans it from mirrors
# fetched over HTTP, clones, pushes the job branches back and opens the
# pull requests. A push of any other ref with the same token is refused,
# a wrong token fails with a clear message, and the token shows up in no
# log, event or process list.
#
# The jobs install from the npm registry; without it the checks are
# skipped, not passed. Without the PostgreSQL server binaries the second
# pass is skipped, not passed.
nsh_own_pg=1 # starts its own cluster, whatever NSH_TEST_DB says
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/e2e/daemon.sh"

GIT_CONFIG_GLOBAL=/dev/null
GIT_CONFIG_NOSYSTEM=1
GIT_TERMINAL_PROMPT=0
GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM GIT_TERMINAL_PROMPT GIT_AUTHOR_NAME \
	GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

if ! npm ping >/dev/null 2>&1; then
	test_skip "a worker with only [forge] url runs the jobs" "npm registry unreachable"
	test_done
	exit
fi

PGDIR=$(mktemp -u "${TMPDIR:-/tmp}/nsh-pg-XXXXXX")
trap 'kill $(cat "$T_TRASH"/*.pid 2>/dev/null) 2>/dev/null; nsh_daemon_stop
	sh "$NSH_TOP/tests/integ/pgcluster.sh" stop "$PGDIR" 2>/dev/null; t_cleanup' EXIT
SERVICES="rate-limiter billing"
export SERVICES

# sql QUERY: on the shared store (psql during the PostgreSQL pass)
sql() {
	if [ "$store" = postgresql ]; then
		psql -qAtX -d "$NIGHTSHIFT_DB" -c "$1"
	else
		sqlite3 "$NIGHTSHIFT_DB" "$1"
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

# worker TOKEN LOG: start a worker in $WHOME that reaches the forge over HTTP
# with TOKEN (from the environment, never an argument); its pid in $WPID.
worker() {
	NIGHTSHIFT_HOME=$WHOME NIGHTSHIFT_DB=$NIGHTSHIFT_DB NIGHTSHIFT_FORGE_URL=$NSH_URL \
		NIGHTSHIFT_FORGE_TOKEN=$1 "$NSH_BIN" serve --role worker --max-sandboxes 2 \
		>"$2" 2>&1 &
	WPID=$!
	echo $WPID >"$T_TRASH/worker.pid"
}

stop_worker() {
	[ -f "$T_TRASH/worker.pid" ] || return 0
	kill "$(cat "$T_TRASH/worker.pid")" 2>/dev/null
	while kill -0 "$(cat "$T_TRASH/worker.pid")" 2>/dev/null; do sleep 0.1; done
	rm -f "$T_TRASH/worker.pid"
}

# queue DESCRIPTION: a task for the workers (the forge node runs no scheduler)
queue() {
	args=
	for s in $SERVICES; do
		args="$args --repo demo-org/$s"
	done
	# shellcheck disable=SC2086
	NIGHTSHIFT_HOME=$FHOME nsh run "$1" --recipe lodash-3-to-4 --network common $args --detach --no-start
}

# every process's command line, sampled while the worker runs
sample_ps() {
	while :; do
		ps -eo args >>"$P/ps.txt" 2>/dev/null
		sleep 0.2
	done
}

# run_tests: one pass on the store in $NIGHTSHIFT_DB ($store): the forge
# node's home with the demo org and its daemon (api role: no scheduler), an
# empty worker home, the tests.
run_tests() {
P=$T_TRASH/$store
FHOME=$P/forge-node
WHOME=$P/worker-node
mkdir -p "$FHOME" "$WHOME"
NIGHTSHIFT_HOME=$FHOME
export NIGHTSHIFT_HOME NIGHTSHIFT_DB FHOME WHOME P store
nsh demo init >/dev/null || exit 1
nsh_daemon_start --role api --rate-limit 0 || exit 1

test_expect_success "a worker with only [forge] url plans the task and runs its jobs ($store)" '
	worker "$NSH_TOKEN" "$P/worker.log" &&
	{ sample_ps & echo $! >"$T_TRASH/ps.pid"; } &&
	task=$(queue "upgrade lodash from 3 to 4") &&
	until_sql 3000 "SELECT state FROM tasks WHERE id = '"'"'$task'"'"'" completed || {
		sql "SELECT id, state, step, error FROM jobs"; tail -20 "$P/worker.log"; exit 1; }
	kill "$(cat "$T_TRASH/ps.pid")" && rm "$T_TRASH/ps.pid" &&
	wid=$(sql "SELECT id FROM workers WHERE pid = $WPID") && test -n "$wid" &&
	# the worker claimed the task and every job
	test "$(sql "SELECT json_extract(data, '"'"'$.worker'"'"') FROM events
		WHERE kind = '"'"'task.claimed'"'"'")" = "$wid" &&
	test "$(sql "SELECT count(*) FROM jobs")" = 2 &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'job.claimed'"'"'
		AND json_extract(data, '"'"'$.worker'"'"') = '"'"'$wid'"'"'")" -ge 2 &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'job.claimed'"'"'
		AND json_extract(data, '"'"'$.worker'"'"') <> '"'"'$wid'"'"'")" = 0 &&
	# its home holds no forge repository, only mirrors
	! ls "$WHOME/forge/demo-org" 2>/dev/null | grep -q . &&
	test -d "$WHOME/forge-mirror/demo-org/billing.git"
'

test_expect_success "each pull request was opened once, with its head in the forge node's bare repository ($store)" '
	test "$(sql "SELECT count(*) FROM jobs WHERE state = '"'"'pr_open'"'"'")" = 2 &&
	test "$(sql "SELECT count(*) FROM prs")" = 2 &&
	test "$(sql "SELECT count(*) FROM pr_heads")" = 2 &&
	test "$(sql "SELECT count(*) FROM events WHERE kind = '"'"'pr.opened'"'"'")" = 2 &&
	for s in $SERVICES; do
		bare=$FHOME/forge/demo-org/$s.git &&
		head=$(sql "SELECT p.head FROM prs p JOIN repos r ON r.id = p.repo_id
			WHERE r.name = '"'"'$s'"'"'") &&
		num=$(sql "SELECT p.number FROM prs p JOIN repos r ON r.id = p.repo_id
			WHERE r.name = '"'"'$s'"'"'") &&
		sha=$(sql "SELECT h.sha FROM pr_heads h JOIN prs p ON p.id = h.pr_id
			JOIN repos r ON r.id = p.repo_id WHERE r.name = '"'"'$s'"'"'") &&
		case $head in nightshift/*) ;; *) exit 1 ;; esac &&
		test "$(git -C "$bare" rev-parse "refs/heads/$head")" = "$sha" &&
		test "$(git -C "$bare" rev-parse "refs/pull/$num/heads/1")" = "$sha" &&
		git -C "$bare" merge-base --is-ancestor main "$sha" &&
		test "$(git -C "$bare" rev-parse main)" != "$sha" &&
		git -C "$bare" show "$sha:package.json" | grep -q "\"lodash\": \"^4" || exit 1
	done &&
	# the forge node can show and merge them as its own
	NIGHTSHIFT_HOME=$FHOME nsh pr show "demo-org/billing#1" --diff | grep -q lodash
'

# push REF TOKEN: force-push a new commit on top of billing main to REF with
# TOKEN, given to git in its environment.
push() {
	git -C "$P/c" commit -q --allow-empty -m "try $1" &&
	GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader \
		GIT_CONFIG_VALUE_0="Authorization: Bearer $2" \
		git -C "$P/c" push "${NSH_URL}/git/demo-org/billing.git" "+HEAD:$1"
}

test_expect_success "with the worker's token, a push of any other ref is refused ($store)" '
	GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader \
		GIT_CONFIG_VALUE_0="Authorization: Bearer $NSH_TOKEN" \
		git clone -q "${NSH_URL}/git/demo-org/billing.git" "$P/c" &&
	bare=$FHOME/forge/demo-org/billing.git &&
	before=$(git -C "$bare" for-each-ref) &&
	! push refs/heads/main "$NSH_TOKEN" 2>err && grep -q "remote rejected" err &&
	grep -q "may be pushed" err &&
	! push refs/heads/other "$NSH_TOKEN" 2>err && grep -q "remote rejected" err &&
	! push refs/tags/v9 "$NSH_TOKEN" 2>err && grep -q "remote rejected" err &&
	! push refs/pull/1/heads/2 "$NSH_TOKEN" 2>err && grep -q "remote rejected" err &&
	# the branch of a finished job (no worker runs it) is refused too
	head=$(sql "SELECT p.head FROM prs p JOIN repos r ON r.id = p.repo_id
		WHERE r.name = '"'"'billing'"'"'") &&
	! push "refs/heads/$head" "$NSH_TOKEN" 2>err && grep -q "not running" err &&
	! push refs/heads/nightshift/t-none/x "$NSH_TOKEN" 2>err && grep -q "no job" err &&
	# a delete of a job branch
	! GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader \
		GIT_CONFIG_VALUE_0="Authorization: Bearer $NSH_TOKEN" \
		git -C "$P/c" push "${NSH_URL}/git/demo-org/billing.git" ":refs/heads/$head" 2>err &&
	grep -q "not deleted" err &&
	test "$(git -C "$bare" for-each-ref)" = "$before" &&
	! push refs/heads/nightshift/x/y wrong-token 2>err &&
	grep -q "could not read Username\|401\|Authentication" err
'

test_expect_success "a worker with a wrong token fails the task with a clear message ($store)" '
	stop_worker &&
	worker "not-the-token" "$P/worker2.log" &&
	task=$(queue "upgrade lodash again") &&
	until_sql 1200 "SELECT state FROM tasks WHERE id = '"'"'$task'"'"'" failed || {
		sql "SELECT id, state, error FROM tasks"; tail -20 "$P/worker2.log"; exit 1; }
	stop_worker
	sql "SELECT data FROM events WHERE task_id = '"'"'$task'"'"'" >events &&
	grep -q "refused the token" events
'

test_expect_success "the token is in no log, event, process list or workspace configuration ($store)" '
	test -s "$P/ps.txt" &&
	grep -q "serve --role worker" "$P/ps.txt" &&
	! grep -qF "$NSH_TOKEN" "$P/ps.txt" &&
	! grep -qF "$NSH_TOKEN" "$P/worker.log" "$P/worker2.log" "$FHOME/daemon.log" &&
	! sql "SELECT kind, data FROM events" | grep -qF "$NSH_TOKEN" &&
	! grep -rqF "$NSH_TOKEN" "$WHOME" &&
	! grep -q "Sanitizer\|runtime error" "$P/worker.log" "$P/worker2.log" \
		"$FHOME/daemon.log"
'

stop_worker
nsh_daemon_stop
}

store=sqlite
NIGHTSHIFT_DB=$T_TRASH/sqlite/forge-node/nightshift.db
run_tests

URL=$(sh "$NSH_TOP/tests/integ/pgcluster.sh" start "$PGDIR" 2>"$T_TRASH/pg.err")
case $? in
0)
	psql -qAtX -d "$URL" -c "CREATE DATABASE forgeurl" >/dev/null || exit 1
	NIGHTSHIFT_DB=${URL%/*}/forgeurl
	store=postgresql
	run_tests
	;;
3)
	why=$(sed 's/^skip: //' "$T_TRASH/pg.err")
	test_skip "a worker with only [forge] url (postgresql)" "$why"
	;;
*)
	cat "$T_TRASH/pg.err" >&2
	echo "postgresql did not start" >&2
	exit 1
	;;
esac

test_done
