#!/bin/sh
# The storage quota enforced while a step runs (docs/limits.md, "Storage"):
# each job's workspace is a file system of storage_per_job bytes, so a
# command that writes past it gets ENOSPC; that job ends the step with the
# finding naming the quota and the command, while its sibling job goes on
# to its pull request. With enforce_storage = off the same job is caught
# only after the step, its workspace past the quota. Needs root and loop
# devices (the workspace images); skipped without them.
. "$(dirname "$0")/lib.sh"
. "$NSH_TOP/tests/agent/lib.sh"

sql() {
	nsh_sql "$1"
}

# filler: a service whose only test writes 40 MB into its workspace.
filler() {
	mkdir -p filler/test &&
	cat >filler/package.json <<-'EOF' &&
	{ "name": "filler", "version": "1.0.0", "scripts": { "test": "node --test" } }
	EOF
	cat >filler/test/fill.test.js <<-'EOF' &&
	const test = require('node:test');
	const fs = require('node:fs');
	test('writes 40 MB', () => {
	  const chunk = Buffer.alloc(1 << 20, 120);
	  const fd = fs.openSync('fill.bin', 'w');
	  try { for (let i = 0; i < 40; i++) fs.writeSync(fd, chunk); } finally { fs.closeSync(fd); }
	});
	EOF
	git -C filler init -q -b main &&
	git -C filler add -A &&
	git -C filler -c user.name=t -c user.email=t@t commit -q -m init &&
	nsh forge import acme filler >/dev/null
}

setup() {
	fixture login-service &&
	nsh forge init acme >/dev/null &&
	nsh forge import acme login-service >/dev/null &&
	filler &&
	NIGHTSHIFT_LIMITS_STORAGE_PER_JOB=20M &&
	export NIGHTSHIFT_LIMITS_STORAGE_PER_JOB
}

# job_of REPO: the job id of the repository
job_of() {
	sql "SELECT id FROM jobs WHERE repo = '$1'"
}

if [ "$(id -u)" != 0 ] || ! [ -w /dev/loop-control ]; then
	test_skip "a job that fills its quota ends the step while its sibling goes on" \
		"needs root and /dev/loop-control"
	test_done
	exit
fi

test_expect_success 'a job that fills its quota ends the step while its sibling goes on' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	nsh run "$TASK_TEXT" --repo acme/login-service --repo acme/filler >out 2>err;
	task=$(sql "SELECT id FROM tasks") &&
	big=$(job_of acme/filler) &&
	test "$(sql "SELECT state FROM jobs WHERE id = '"'"'$big'"'"'")" = failed &&
	grep -q "acme/filler: failed: storage quota of 20 MB reached while running .node --test --test-reporter=tap. (the workspace holds" out &&
	# (JSON true is 1 on SQLite, '"'"'true'"'"' on PostgreSQL: compared with the same)
	test "$(sql "SELECT json_extract(data, '"'"'$.step'"'"') || '"'"' '"'"' ||
		CASE WHEN json_extract(data, '"'"'$.enforced'"'"') =
			json_extract('"'"'{\"b\":true}'"'"', '"'"'$.b'"'"') THEN 1 ELSE 0 END FROM events
		WHERE kind = '"'"'job.storage_exceeded'"'"'")" = "baseline 1" &&
	# the command itself hit the wall: ENOSPC, not a workspace past the quota
	grep -q "ENOSPC" "$NIGHTSHIFT_HOME/artifacts/$task/$big/baseline.log" &&
	# the sibling job went on to its pull request
	grep -q "pull request #1 opened" out &&
	test "$(sql "SELECT state FROM jobs WHERE repo = '"'"'acme/login-service'"'"'")" = pr_open &&
	test "$(logq "l.length")" = 13 &&
	# the workspaces and their images are gone, nothing is left mounted
	! grep -q "$NIGHTSHIFT_HOME" /proc/self/mountinfo &&
	test -z "$(ls "$NIGHTSHIFT_HOME/work")"
'

test_expect_success 'with enforce_storage = off the job is caught only after the step' '
	setup &&
	start_llm "$AGENT_DIR/scenarios/rate-limit.json" &&
	NIGHTSHIFT_LIMITS_ENFORCE_STORAGE=off &&
	export NIGHTSHIFT_LIMITS_ENFORCE_STORAGE &&
	nsh run "$TASK_TEXT" --repo acme/filler >out 2>err;
	big=$(job_of acme/filler) &&
	test "$(sql "SELECT state FROM jobs WHERE id = '"'"'$big'"'"'")" = failed &&
	grep -q "storage quota of 20 MB reached while running the .baseline. step (the workspace holds 40 MB)" out &&
	test ! -s requests.jsonl
'

test_done
