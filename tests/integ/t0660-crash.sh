#!/bin/sh
# Crash safety: the process driving a task is killed with SIGKILL at named
# points (NIGHTSHIFT_FAULT, see src/core/fault.h) and at random moments;
# "nightshift run --resume" then finishes the task. The end state must be
# the one of an uninterrupted run: the same jobs and pull requests, no pull
# request opened twice, no head pushed twice, every step's event once.
#
# The jobs install from the npm registry; without it the checks are
# reported as skipped, never as passed.
. "$(dirname "$0")/lib.sh"

TEMPLATE=$T_TRASH/template

sql() {
	nsh_sql "$1"
}

# The end state, as text to compare between runs.
end_state() {
	sql "SELECT state FROM tasks"
	sql "SELECT repo || ' ' || state || ' attempt ' || attempt FROM jobs ORDER BY repo"
	sql "SELECT r.name || '#' || p.number || ' ' || p.state || ' ' || p.labels FROM prs p
	     JOIN repos r ON r.id = p.repo_id ORDER BY r.name"
	sql "SELECT 'heads ' || count(*) FROM pr_heads"
	sql "SELECT 'pr.opened ' || count(*) FROM events WHERE kind = 'pr.opened'"
	sql "SELECT 'steps ' || count(*) FROM steps WHERE job_id != ''"
	# every step of every attempt reported once
	sql "SELECT 'duplicate step events ' || count(*) FROM (SELECT job_id,
	     json_extract(data, '$.step') s, json_extract(data, '$.attempt') a, count(*) n
	     FROM events WHERE kind = 'job.step' GROUP BY 1, 2, 3 HAVING count(*) > 1) AS x"
	sql "SELECT 'step events ' || count(*) FROM events WHERE kind = 'job.step'"
}

# run_task [ENV...]: the task of every test, on two services.
run_task() {
	env "$@" "$NSH_BIN" run "upgrade lodash" --recipe lodash-small \
		--repo demo-org/rate-limiter --repo demo-org/billing
}

registry=yes
npm ping >/dev/null 2>&1 || registry=no

if [ $registry = no ]; then
	test_skip "crash safety" "npm registry unreachable"
	test_done
	exit
fi

# A home with demo-org and the recipe, copied for each run.
mkdir -p "$TEMPLATE" &&
nsh_template_store "$TEMPLATE" &&
NIGHTSHIFT_HOME=$TEMPLATE NIGHTSHIFT_DB=$NSH_TEMPLATE_URL "$NSH_BIN" demo init >/dev/null &&
mkdir -p "$TEMPLATE/recipes" &&
cat >"$TEMPLATE/recipes/lodash-small.yml" <<'EOF'
id: lodash-small
title: Upgrade lodash from 3 to 4 (small)
applies:
  dependency: lodash
  range: "<4.0.0"
manifest:
  - bump: lodash
    to: ^4.17.21
rules:
  - id: pluck
    languages: [javascript]
    match: "_.pluck(:[c], :[p])"
    rewrite: "_.map(:[c], :[p])"
    class: removed
post:
  - id: lockfile
    description: refresh the lock file
    run: [npm, install, --package-lock-only, --ignore-scripts]
    when: package-lock.json
    timeout: 600
pr:
  title: Upgrade lodash to 4
EOF

fresh_home() {
	rm -rf "$NIGHTSHIFT_HOME" && cp -a "$TEMPLATE" "$NIGHTSHIFT_HOME"
}

test_expect_success 'an uninterrupted run, for reference' '
	fresh_home &&
	{ run_task >out 2>&1 || { cat out; exit 1; }; } &&
	end_state >"$T_TRASH/reference" &&
	cat "$T_TRASH/reference" &&
	grep -q "^completed$" "$T_TRASH/reference" &&
	grep -q "^demo-org/rate-limiter pr_open" "$T_TRASH/reference" &&
	grep -q "^demo-org/billing needs_human_review" "$T_TRASH/reference" &&
	grep -q "^duplicate step events 0$" "$T_TRASH/reference"
'

for point in plan.committed step.clone.done exec.install step.install.recorded \
	step.baseline.done step.change.done step.reinstall.recorded step.verify.done \
	step.commit.done step.push.done step.pr.done step.pr.recorded task.settled; do
	test_expect_success "killed at $point, resumed: the same end state" '
		fresh_home &&
		{ run_task NIGHTSHIFT_FAULT='"$point"' >out 2>&1; rc=$?; } &&
		test $rc -eq 137 || { echo "exit $rc, not killed"; cat out; exit 1; }
		task=$(sql "SELECT id FROM tasks") &&
		"$NSH_BIN" run --resume "$task" >resumed 2>&1 ||
			{ cat out resumed; exit 1; }
		end_state >state &&
		diff "$T_TRASH/reference" state
	'
done

for delay in 2.5 5; do
	test_expect_success "killed at random ($delay s in), resumed: the same end state" '
		fresh_home
		"$NSH_BIN" run "upgrade lodash" --recipe lodash-small --repo demo-org/rate-limiter \
			--repo demo-org/billing >out 2>&1 &
		pid=$!
		sleep '"$delay"'
		kill -9 $pid 2>/dev/null
		wait $pid
		task=$(sql "SELECT id FROM tasks") &&
		"$NSH_BIN" run --resume "$task" >resumed 2>&1 ||
			{ cat out resumed; exit 1; }
		end_state >state &&
		diff "$T_TRASH/reference" state
	'
done

test_done
